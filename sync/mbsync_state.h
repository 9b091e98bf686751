/* Importing an mbsync (isync 1.x) sync state, so that a user switching from
 * mbsync keeps every message pair and transfers nothing on facteur's first
 * run.  Owns the parser of mbsync's per-box state file and the one-time
 * import of such a file into facteur's journal.
 *
 * mbsync's state file (isync 1.4; older headers accepted):
 *     FarUidValidity 1700000000          (pre-1.4: MasterUidValidity)
 *     NearUidValidity 1700000001         (pre-1.4: SlaveUidValidity)
 *     MaxPulledUid 42
 *     MaxPushedUid 17
 *     MaxExpiredFarUid 3                 (optional)
 *     <empty line>
 *     <far uid> <near uid> [<|>][^|~]<flags DFPRST>     one line per pair
 * (pre-1.1: a single header line "fuv:fmax nuv:nxmax:nmax").  Near UIDs are
 * the ",U=<n>" numbers in the Maildir file names, valid under the folder's
 * .uidvalidity.  Where the file lives (SyncState):
 *     "*"            <near Maildir folder>/.mbsyncstate
 *     a prefix P     P<near box> (a channel's SyncState) or
 *                    P:<far store>:<far box>_:<near store>:<near box> (the
 *                    global one); boxes with '/' written '!'
 *     unset          the latter with P = ~/.mbsync/
 * A "<file>.journal" beside it means mbsync was interrupted; such a state is
 * not imported (its pairs are not final).
 *
 * Nothing here holds global state; the parser is pure and bounded (lines of
 * at most MBS_LINE_MAX bytes, at most MBS_PAIRS_MAX pairs) and reports the
 * first problem as FCT_E_STORE "FILE:LINE: what". */
#ifndef FACTEUR_MBSYNC_STATE_H
#define FACTEUR_MBSYNC_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sync/util.h"

#define MBS_LINE_MAX 256
#define MBS_PAIRS_MAX (8u << 20)

/* Per-pair status, as mbsync writes it before the flags. */
enum {
	MBS_DUMMY_FAR = 1,  /* '<': the far copy is a MaxSize placeholder */
	MBS_DUMMY_NEAR = 2, /* '>': the near copy is a placeholder */
	MBS_SKIPPED = 4,    /* '^' (pre-1.4): not propagated, too big */
	MBS_EXPIRED = 8,    /* '~' or 'X': expired near (MaxMessages) */
};

struct mbs_pair {
	uint32_t far_uid;  /* 0: no far copy */
	uint32_t near_uid; /* 0: no near copy */
	unsigned flags;    /* FCT_F_* last synchronized */
	unsigned status;   /* MBS_* bits */
};

struct mbs_state {
	uint32_t far_uidvalidity, near_uidvalidity;
	uint32_t max_pulled, max_pushed, max_expired_far;
	struct mbs_pair *pairs; /* in file order */
	size_t npairs;
};

/* Parses an mbsync state from fp; name is used in error messages only.
 * On success *out is filled (free with mbs_state_free); on failure *out is
 * left empty and err says "NAME:LINE: what" (FCT_E_STORE): a missing or
 * unknown header key, a malformed or overflowing number, a line too long,
 * a NUL byte, an incomplete last line, bad flag letters, too many pairs. */
int mbs_parse(FILE *fp, const char *name, struct mbs_state *out, struct fct_err *err);
/* Same, reading the file at path (FCT_E_IO if it cannot be opened). */
int mbs_load(const char *path, struct mbs_state *out, struct fct_err *err);
void mbs_state_free(struct mbs_state *s);

/* The near UID in a Maildir base name (",U=<n>" before the info part, as
 * mbsync and OfflineIMAP write it), or 0 when there is none. */
uint32_t mbs_name_uid(const char *name);

/* mbsync inserts an "X-TUID: <12 chars>" header line into every message it
 * copies, so its copies are 22 wire bytes bigger than the originals.  For
 * adoption by (Message-ID, size) the near size is counted without it: feed a
 * file's bytes through mbs_tuid_step (zeroed struct first); `found` is then
 * the wire size (CRLF line ends) of the X-TUID lines of its header.  Only
 * the header is looked at; a lone CR is not counted. */
struct mbs_tuid {
	int done;       /* the header is over */
	int match;      /* bytes of "X-TUID:" matched on this line; -1: not one */
	uint64_t len;   /* bytes of this line so far, CR excluded */
	uint64_t found; /* wire bytes of the X-TUID lines seen */
};
void mbs_tuid_step(struct mbs_tuid *t, const char *p, size_t n);

/* The size a local message has as its server original: read from the file
 * with CRLF line ends counted and mbsync's X-TUID line left out, so copies
 * and originals compare equal when matched by (Message-ID, size). */
struct md_folder;
int mbs_identity_size(struct md_folder *f, const char *uniq, uint64_t *size,
                      struct fct_err *err);

struct chan;
struct box_job;

/* The hook of box_survey() (sync/box.c) for a box the journal does not know
 * yet (j->found == 0) that exists on both sides.  If an mbsync state for it
 * is found, complete (no pending mbsync journal), its near UIDVALIDITY
 * matches the folder's .uidvalidity and its far UIDVALIDITY matches the
 * server's (read with STATUS), writes in one journal transaction: one SYNCED
 * record per pair present on both sides whose near file is found by its
 * ",U=" number (far UID, the file's uniq, the state's flags, the file's
 * wire size and Message-ID), and the box record (that UIDVALIDITY,
 * UIDNEXT = highest far UID + 1, HIGHESTMODSEQ 0 so the next listing is
 * complete).  Then re-reads the box into j->jb / j->found.
 * Anything that makes the state unusable (unreadable, corrupt, stale) is
 * logged as a warning and leaves the journal untouched: the planner then
 * adopts the messages by Message-ID and size.  Nothing is written in a dry
 * run.  Returns -1 only when the journal itself fails. */
int mbsync_import_box(struct chan *c, struct box_job *j, struct fct_err *err);
/* Whether mbsync_import_box would find a state file to look at for j
 * (before any survey: j's names and where only). */
int mbsync_state_present(struct chan *c, const struct box_job *j);

#endif
