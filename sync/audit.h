/* `facteur check [CHANNEL...]`: audits each channel's journal against both
 * sides without changing anything.  The server is only EXAMINEd (read-only
 * SELECT) and FETCHed for UIDs and flags; the Maildir is only scanned; the
 * journal is only read (a channel never synchronized has no journal and is
 * reported, not created).  The channel's run lock is held meanwhile (waiting
 * for it with --wait), so the picture is not one half-way through a sync.
 *
 * Each difference is one line "CHANNEL BOX: what" on out (at most
 * AUDIT_MAX_LINES per box, then a count); a summary line per channel
 * follows.  A difference is anything the next sync would act on or could
 * not explain: messages or flags changed on one side since the last sync,
 * records left pending, a changed UIDVALIDITY, boxes known to only one of
 * the journal and the two sides. */
#ifndef FACTEUR_AUDIT_H
#define FACTEUR_AUDIT_H

#include <stdio.h>

#include "sync/config.h"
#include "sync/run.h"

#define AUDIT_MAX_LINES 50

/* Audits r->targets (CHANNEL:BOX restrictions honoured).  Returns 0 when the
 * journal matches both sides everywhere, 1 when a difference was found or a
 * channel could not be audited (errors on r->log, one line each). */
int audit_run(const struct fct_config *cfg, const struct run_opts *r, FILE *out);

#endif
