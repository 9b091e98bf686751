/* Where POP3 ingestion keeps its state: the journal of the POP3 account
 * (cfg_pop3_state_dir: user, host and port, shared by every channel on the
 * account, as mpop keys its UIDLs), its run lock, and the takeover of the
 * per-channel journal that earlier versions kept (cfg_state_dir). */
#ifndef FACTEUR_POP3STATE_H
#define FACTEUR_POP3STATE_H

#include "store/journal.h"
#include "store/lock.h"
#include "sync/config.h"
#include "sync/pop3sync.h"

/* The journal key of the account's UIDLs and pending downloads: a POP3
 * account has one mailbox, the server's INBOX, whichever folder a channel
 * delivers it into. */
#define POP3_JOURNAL_BOX "INBOX"

/* Takes the account's lock ("<dir>/lock"; o->wait_lock: wait for it) and
 * opens its journal into *lock and *j (the caller releases and closes them,
 * also on failure).  Unless o->dry_run, a journal the channel kept under its
 * own name is then merged in, under that journal's lock (an older facteur
 * may be running the channel): a union of the UIDLs, pending downloads
 * carried over; the old journal is emptied after, so a crash in between
 * merges again to the same result.  o->state_dir, when set (tests), is the
 * journal directory as it is, with nothing to merge. */
int pop3_state_open(const struct fct_config *cfg, const struct cfg_channel *ch,
                    const struct pop3sync_opts *o, struct fct_lock **lock, struct jrnl **j,
                    struct fct_err *err);

#endif
