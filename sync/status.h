/* `facteur status [CHANNEL...]`: what the journal of each channel says,
 * read-only: when the channel was last synchronized, per box the number of
 * messages it pairs (and POP3 UIDLs), records left pending by an interrupted
 * run, whether a run holds the channel's lock, and whether the journal opens
 * cleanly (its health).  With dump, the journal's full content (jrnl_dump).
 * Never creates a journal or a state directory: a channel never
 * synchronized is reported as such.  Borrows everything it is given. */
#ifndef FACTEUR_STATUS_H
#define FACTEUR_STATUS_H

#include <stdio.h>

#include "sync/config.h"
#include "sync/run.h"

struct status_opts {
	int dump; /* --dump: print every record */
	int json; /* one JSON object per channel instead of text */
};

/* Reports the channels of r->targets (box restrictions are ignored) on out;
 * problems on r->log.  Returns 0 if every journal could be read (a channel
 * never synchronized is not an error), 1 otherwise. */
int status_run(const struct fct_config *cfg, const struct run_opts *r, const struct status_opts *so,
               FILE *out);

#endif
