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
#include <stdint.h>

#include "proto/imap.h"

struct chan;
struct box_job;
struct fct_err;

/* For the done jobs of a run (not a dry run): records the stamps that
 * check out.  Best effort: a failure only leaves the stamp untrusted (the
 * next run lists the folder in full), so nothing is reported. */
void settle_stamps(struct chan *c, struct box_job *jobs, size_t n);

/* The far side's counterpart.  The HIGHESTMODSEQ seen at SELECT is behind
 * a run's own UID STOREs, so the next run would find the folder changed
 * and plan it again.  For a plan that changes far flags and nothing else
 * there, the executor asks, once its STOREs are done, what changed since
 * that SELECT (UID FETCH with CHANGEDSINCE and VANISHED: one round trip);
 * when that is exactly the flags the plan set, with no expunge, the latest
 * of those mod-sequences becomes j->r.fbox.highestmodseq, which the box
 * record then keeps.  Anything else leaves it as it was: every change the
 * answer did not show came after it, so it has a higher mod-sequence and
 * the next run sees it. */
struct far_check {
	struct far_pushed *v; /* the flags the plan sets, by UID */
	size_t n;
	uint64_t latest;
	int foreign;          /* a change or an expunge the plan did not make */
	struct imap_changes req;
};

/* Before the plan runs, its box selected: fills fc and, when the check
 * applies, points j->r.far_check at fc->req. */
void settle_far_begin(struct box_job *j, struct far_check *fc);
/* After the plan ran (ok: it succeeded): takes the check's outcome, frees
 * fc and clears j->r.far_check. */
void settle_far_end(struct box_job *j, struct far_check *fc, int ok);

#endif
