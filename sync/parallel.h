/* Several folders of one channel applied at once (sync/parallel.c): after
 * the survey and the moves pass, folders with enough to transfer are
 * handed to worker processes, each with its own IMAP session. */
#ifndef FACTEUR_PARALLEL_H
#define FACTEUR_PARALLEL_H

#include <stddef.h>

#include "sync/engine.h"

#define PAR_MAX_WORKERS (CFG_MAX_PARALLEL_FOLDERS - 1)

/* Applies the folders that stay in this process; returns -1 if any failed
 * (having logged it, counted it and set *stop on a fatal error). */
typedef int (*par_light_fn)(void *ctx);

/* Orders ready[] heaviest first and returns how many lead it that are worth
 * a session of their own; 0 when folders are to be applied in turn (one or
 * none heavy, ParallelFolders 1, dry run): then ready[] is left as it was. */
size_t par_split(const struct chan *c, struct box_job **ready, size_t n);

/* Applies heavy[0..n) across worker processes and this one, then runs
 * light in this process.  Returns 0, -1 if a folder failed (err: the last
 * failure; *stop on a fatal one), or 1 if nothing could be started (the
 * caller then applies everything in turn). */
int par_apply(struct chan *c, struct box_job **heavy, size_t n, par_light_fn light,
              void *light_ctx, int *stop, struct fct_err *err);

/* A first sync, where nothing can have moved: jobs[0..n) are surveyed and
 * applied whole by whichever process (workers and this one) takes them
 * first, so that no process holds more than one folder's listings.  Returns
 * as par_apply; 1 also when parallel sessions are not to be used
 * (ParallelFolders 1, one folder, dry run). */
int par_first_sync(struct chan *c, struct box_job *jobs, size_t n, int *stop,
                   struct fct_err *err);

#endif
