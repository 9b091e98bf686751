/* Trusting a near folder's stamp after a run's own changes.
 *
 * A folder whose stamp (store/maildir.h md_folder_stamp) and far state are
 * as the journal recorded them is skipped without listing.  A run that
 * changed the folder cannot simply record the stamp it leaves: another
 * program may have changed the folder during the run.  This pass checks
 * that the folder holds exactly the files the journal describes (names and
 * flags), after the clock has moved past the stamp, so that any later
 * change moves the stamp; only then is the stamp recorded. */
#ifndef FACTEUR_SETTLE_H
#define FACTEUR_SETTLE_H

#include <stddef.h>

struct chan;
struct box_job;

/* For the done jobs of a run (not a dry run): records the stamps that
 * check out.  Best effort: a failure only leaves the stamp untrusted (the
 * next run lists the folder in full), so nothing is reported. */
void settle_stamps(struct chan *c, struct box_job *jobs, size_t n);

#endif
