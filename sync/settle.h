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

/* The far side's counterpart.  The HIGHESTMODSEQ a folder's record keeps
 * is the one seen at SELECT, behind the run's own UID STOREs, so the next
 * run would find every folder it pushed flags to changed and plan it
 * again.  settle_far_note keeps, for a plan that changed far flags and
 * nothing else there, the flags it set; at the channel's end settle_far
 * asks the server what changed in each such folder since (EXAMINE with
 * QRESYNC, all folders in one flight: one round trip).  When that is
 * exactly the flags the plan set, each message once, with no expunge and
 * no new message, the folder's HIGHESTMODSEQ as the server gives it now is
 * recorded.  Anything else leaves the old one: whatever the answer did not
 * show came after it, with a higher mod-sequence, and the next run sees
 * it. */

/* After a job's plan ran without error. */
void settle_far_note(struct box_job *j);
/* For the jobs of a run, best effort as settle_stamps; leaves no box
 * selected (c->selected is cleared when it asked anything). */
void settle_far(struct chan *c, struct box_job *jobs, size_t n);

#endif
