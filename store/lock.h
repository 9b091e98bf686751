/* The per-channel run lock: one synchronization of a channel at a time, so
 * the journal and the Maildir are never written by two runs at once.
 *
 * The lock is an flock(2) on a small file that also holds the holder's pid
 * (for the message the loser prints).  The kernel drops it when the holder
 * dies, so a crash never leaves a stale lock behind. */
#ifndef FACTEUR_LOCK_H
#define FACTEUR_LOCK_H

#include "sync/util.h"

struct fct_lock;

/* Takes the lock on path (created 0600 if missing; its directory must exist).
 * If another process holds it: wait=0 fails with FCT_E_STORE
 * "channel NAME is being synchronized by pid N"; wait=1 blocks until it is
 * released.  On success *out owns the open file; release with
 * fct_lock_release().  Other failures: FCT_E_IO naming path. */
int fct_lock_take(struct fct_lock **out, const char *path, const char *channel, int wait, struct fct_err *err);

/* Drops the lock and frees l (NULL is fine). */
void fct_lock_release(struct fct_lock *l);

#endif
