/* POP3 ingestion: a one-way, exactly-once download of a POP3 mailbox (the
 * channel's far store) into one Maildir folder (the channel's near box,
 * INBOX by default), remembering delivered UIDLs in the POP3 account's
 * journal (cfg_pop3_state_dir: keyed by user, host and port, shared by every
 * channel on the account, as mpop does), then deleting on the server what
 * Keep / DeleteAfter allow.  A channel's journal from before (cfg_state_dir)
 * is merged into the account's on its first run, so nothing it knew is
 * downloaded again.
 *
 * A server without UIDL works with Keep no only: messages are then named
 * by a hash of their content (see pop3sync.c).  The run lock is the
 * account's, "<account state dir>/lock", taken here (with the channel's old
 * lock while merging): callers must not hold them.
 *
 * Ownership: everything passed in is borrowed for the duration of the call;
 * nothing is kept afterwards.  The crash protocol is described at the top of
 * pop3sync.c. */
#ifndef FACTEUR_POP3SYNC_H
#define FACTEUR_POP3SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "sync/config.h"
#include "sync/util.h"

struct pop3sync_opts {
	int dry_run;            /* connect and list only: no download, no DELE, no write */
	int wait_lock;          /* wait for a concurrent run instead of failing */
	const struct fct_log *log;
	const char *state_dir;  /* journal directory; NULL: cfg_state_dir() */
	/* Current time in unix seconds for DeleteAfter; 0: the environment
	 * variable FACTEUR_TEST_NOW if set (tests only), else time(). */
	int64_t now;
	size_t batch_msgs;      /* messages per durable batch; 0: 1000 */
	uint64_t batch_bytes;   /* bytes per batch (server sizes); 0: 64 MiB */
	/* Tests only: stop as a crash would at this point of the protocol
	 * (POP3SYNC_CRASH_*), after the first batch; 0 never. */
	int test_crash;
};

enum {
	POP3SYNC_CRASH_AFTER_INTENT = 1, /* intent journaled, files still in tmp/ */
	POP3SYNC_CRASH_AFTER_COMMIT,     /* files in new/, UIDLs not yet journaled */
	POP3SYNC_CRASH_AFTER_JOURNAL,    /* UIDLs journaled, nothing deleted */
};

struct pop3sync_summary {
	size_t on_server;       /* messages listed */
	size_t downloaded;      /* delivered into the Maildir this run */
	uint64_t bytes;         /* their size as written (LF line ends) */
	size_t deleted;         /* removed on the server (QUIT succeeded) */
	uint64_t deleted_bytes; /* their LIST sizes; 0 if some DELE was refused */
	size_t too_big;         /* new messages over MaxSize, left on the server */
	uint64_t too_big_bytes;
	size_t refused;         /* RETR answered -ERR (e.g. removed meanwhile) */
	size_t recovered;       /* delivered by an interrupted run, journaled now */
	size_t forgotten;       /* journaled UIDLs no longer on the server */
	int dry_run;            /* then downloaded/deleted count what a run would do */
};

/* Runs one ingestion of channel ch (its far store must be a POP3 store, its
 * near store a Maildir).  sum is zeroed then filled, also on failure (what
 * was done before the error).  Errors: FCT_E_CONFIG (wrong stores, "server
 * has no UIDL: Keep yes impossible"), FCT_E_STORE (locked by another run,
 * journal), the POP3 client's errors, Maildir errors; all prefixed with
 * "channel NAME". */
int pop3_ingest(const struct fct_config *cfg, const struct cfg_channel *ch,
                const struct pop3sync_opts *o, struct pop3sync_summary *sum,
                struct fct_err *err);

#endif
