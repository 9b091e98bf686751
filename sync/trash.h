/* TrashRemoteNew (mbsync): a store with a Trash and TrashRemoteNew keeps
 * there the messages the other store removes before they ever reached this
 * one -- otherwise their only copy would be gone.  Called by exec.c before
 * the removals a plan marks `unsynced` (sync/plan.h). */
#ifndef FACTEUR_TRASH_H
#define FACTEUR_TRASH_H

#include "sync/engine.h"

/* Before the far EXPUNGE: downloads the unsynced far messages the plan
 * expunges into the near store's Trash, durably.  Nothing to do (0) unless
 * the near store has Trash and TrashRemoteNew and the far store no Trash. */
int trash_far_new(struct box_run *r, const struct plan *p, struct fct_err *err);
/* Before the near removals: appends the unsynced near messages the plan
 * removes to the far store's Trash (created when missing), symmetrically. */
int trash_near_new(struct box_run *r, const struct plan *p, struct fct_err *err);

#endif
