/* A live progress line on a terminal: one line on stderr per active
 * channel/folder, redrawn in place (messages and bytes done/total, rate,
 * ETA), at most PROGRESS_HZ times a second.  It draws only when the caller
 * enables it, stderr (or log->fp) is a terminal and the log level is >= 1;
 * otherwise calls only count (cheap), so callers never test conditions
 * themselves and plain (non-tty) output stays free of control characters.
 *
 * Ownership: struct progress is the caller's (progress_free); it borrows the
 * log context and copies the channel and box names.  Not thread-safe. */
#ifndef FACTEUR_PROGRESS_H
#define FACTEUR_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "sync/util.h"

#define PROGRESS_HZ 10

struct progress;

/* Never NULL.  enabled = 0 (e.g. --json, --dry-run) makes every call a no-op.
 * log must outlive the object. */
struct progress *progress_new(const struct fct_log *log, int enabled);
/* Ends a line still drawn (as progress_done) and frees p; NULL is fine. */
void progress_free(struct progress *p);
/* 1 if p draws at all (terminal, level >= 1, enabled). */
int progress_active(const struct progress *p);

/* Starts a folder: totals are what this folder's transfers will move.  A
 * folder with nothing to move (both totals 0) draws nothing. */
void progress_box(struct progress *p, const char *channel, const char *box, uint64_t total_msgs,
                  uint64_t total_bytes);
/* Adds done work (deltas, not totals); redraws if the last draw is older
 * than 1/PROGRESS_HZ s. */
void progress_step(struct progress *p, uint64_t msgs, uint64_t bytes);
/* Ends the folder: draws the final state once and moves to a new line, so
 * the terminal keeps one line per folder that moved something. */
void progress_done(struct progress *p);

/* The line as it would be drawn at now_ms (no control characters), for
 * tests: "CHAN BOX: 3/10 msgs, 1.2/4.0 MiB, 512 KiB/s, ETA 0:07". */
void progress_format(const struct progress *p, int64_t now_ms, char *out, size_t outsz);

#endif
