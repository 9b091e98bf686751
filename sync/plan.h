/* The sync planner: a pure function from (far listing, near listing, journal
 * records, settings) to an ordered list of actions for one folder pair.
 * It does no I/O and keeps no state between calls; it owns only the action
 * array it returns.  The executor performs the actions, recording an intent
 * in the journal before each side effect and confirming after.
 *
 * Vocabulary: "far" is the IMAP side (messages named by UID), "near" the
 * Maildir side (messages named by their unique name).  A journal record
 * links one far UID and/or one near uniq, with the flags both sides agreed
 * on at the last sync (the "base") and a state.
 *
 * SEMANTICS (mbsync style)
 *
 * Both sides present, record SYNCED: per-flag three-way merge against the
 * base.  A flag changed on one side only is copied to the other side, far ->
 * near only with PLAN_PULL_FLAGS, near -> far only with PLAN_PUSH_FLAGS.  A
 * flag changed on both sides necessarily has the same value on both (flags
 * are bits), so they agree.  The record's new base, per bit, is the value
 * both sides hold afterwards when they agree, otherwise the old base bit:
 * with a direction off the change stays visible as a change and will be
 * propagated by a later run that allows it, never lost nor reverted.
 * Output: FLAGS_FAR / FLAGS_NEAR (add/del sets, flags = resulting set) and a
 * JR_UPDATE when the base or the state changes.
 *
 * Deletion.  A record whose far UID is gone from the far listing while the
 * near message exists: with PULL_DELETE, DELETE_NEAR + JR_FORGET; otherwise
 * JR_UPDATE to NEAR_ONLY (kept near, never uploaded again).  Near gone, far
 * present: with PUSH_DELETE, DELETE_FAR (set \Deleted) and, with
 * expunge_far, EXPUNGE_FAR + JR_FORGET; without expunge_far the far copy
 * stays flagged \Deleted and the record becomes FAR_ONLY (so it is not
 * downloaded again).  Without PUSH_DELETE: JR_UPDATE to FAR_ONLY.  Both gone:
 * JR_FORGET.  FAR_ONLY / NEAR_ONLY records are forgotten once their side is
 * gone too, and are never transferred.
 *
 * Expunge.  With expunge_far, every far message that will carry \Deleted
 * after this run's flag propagation is expunged (EXPUNGE_FAR, preceded by
 * DELETE_FAR if the flag is not already set on the server); with
 * expunge_near, every near message that will carry T is removed
 * (DELETE_NEAR).  The other side then follows the deletion rules above in
 * the same run (far expunged -> near deleted if PULL_DELETE, else the record
 * becomes NEAR_ONLY; and symmetrically).
 *
 * New messages.  A far UID unknown to the journal is "new" if it is >=
 * cfg->far_uidnext_journal (needs PULL_NEW) and "old" below it (needs
 * PULL_RENEW; so with PULL_RENEW but not PULL_NEW a new message is left
 * for the next run, where it is old).  A near message unknown to the
 * journal is new (PUSH_NEW).
 * Records in state SKIPPED are re-tried under PULL_RENEW / PUSH_RENEW when
 * they now fit max_size.  A transfer is DOWNLOAD / UPLOAD (flags = the
 * source's flags; the record ends SYNCED) unless:
 *   - the source is flagged deleted and the destination would expunge it
 *     (far \Deleted with expunge_near, near T with expunge_far): no action;
 *     and a deleted-flagged unknown message is expunged on its own side when
 *     that side expunges (EXPUNGE_FAR / DELETE_NEAR marked unsynced,
 *     nothing else);
 *   - size > max_size (max_size != 0): SKIP_TOO_BIG, which the executor
 *     records as a SKIPPED record, so it is reported once, not every run;
 *   - (download only) the far UID is outside the max_messages window.
 *
 * max_messages (N > 0).  The window is the N highest UIDs among far
 * messages not flagged \Deleted in the far listing.  Far
 * messages below it are not downloaded; synced messages below it are
 * removed near (DELETE_NEAR, never on the far side) and their record
 * becomes FAR_ONLY so they are never downloaded again -- unless the near
 * copy is flagged, or unread (no Seen) and !expire_unread.  A missing near
 * copy of a far message that would expire is taken as expired (FAR_ONLY),
 * not as a deletion to push.
 *
 * UIDVALIDITY change (cfg->uidvalidity_changed) and adoption (empty
 * journal): every far UID in the journal is meaningless.  All far and near
 * messages are matched by
 * (Message-ID, size): a key held by exactly one far and exactly one near
 * message is a PAIR (no transfer; flags merged with the old record's flags
 * as base if the near message had one, else with the intersection of both
 * sides as base, i.e. a flag set on either side is kept).  A key held by 2+
 * messages on a side, or a message without Message-ID, is never merged: it
 * is transferred as new per the ops (and counted in plan->ambiguous when it
 * had a Message-ID).  Records linking a far UID are rewritten by the PAIR or
 * forgotten; NEAR_ONLY and near-side SKIPPED records survive unchanged
 * unless their near message is matched (then they are rewritten too).
 * No deletion is inferred from a message's absence in this mode (expunge
 * of flagged messages still applies).  Under uidvalidity_changed every far
 * message counts as new (PULL_NEW).
 *
 * ORDER.  The plan is deterministic.  Actions are grouped per message, a
 * group's actions contiguous and listed in a valid execution order.  Groups
 * come as: journal records sorted by (far UID, near uniq, id) -- far_uid 0
 * last --, then matched pairs by far UID, then unknown far messages by UID,
 * then unknown near messages by uniq.  The executor may batch by kind across
 * groups (one UID STORE, one UID EXPUNGE) and run the near and far side
 * effects of a group in either order, provided: PAIR and SKIP_TOO_BIG come
 * before the group's side effects; FLAGS_FAR / DELETE_FAR before the
 * group's EXPUNGE_FAR; JR_UPDATE / JR_FORGET after the group's side
 * effects; DOWNLOAD / UPLOAD record their own intents.  A crash anywhere in
 * between leaves a state the rules resolve without losing a message: e.g.
 * a near copy removed by max_messages expiry whose JR_UPDATE (FAR_ONLY) was
 * not written is not taken for a deletion, since a missing near copy of a
 * message that would expire is never pushed as one.
 *
 * RECORD IDENTITY.  A record-writing action (DOWNLOAD, UPLOAD, PAIR,
 * SKIP_TOO_BIG, JR_UPDATE, JR_FORGET) names an existing record by jr, or,
 * when jr == PLAN_NONE, the record that an earlier action in the same group
 * created (found by its far UID / near uniq).  DOWNLOAD / UPLOAD /
 * SKIP_TOO_BIG / PAIR with jr == PLAN_NONE create a record.
 *
 * PAIR sets the record's far UID (when far != PLAN_NONE) and near uniq
 * (when near != PLAN_NONE), its base flags and state; the actions after it
 * in the group treat the record as linked.  It is emitted before any side
 * effect of its group so a crash in between leaves a linked record, which
 * the next run resolves by the ordinary three-way rules.
 *
 * CRASH RESOLUTION.  The executor records an intent (a PENDING_* state,
 * with the target's name when known) before each side effect and confirms
 * (SYNCED, or the state the action names) after.  The planner decides for
 * each leftover whether the side effect happened; if it did, the record is
 * handled as if it had been confirmed (PAIR, then the usual rules, with the
 * recorded flags as base); if not, as if the intent had never been written
 * (the transfer is planned again when the rules still ask for it, else the
 * record is forgotten).  Never duplicate, never lose:
 *   PENDING_DOWNLOAD  near_uniq recorded and in the near listing: landed.
 *                     near_uniq NULL: landed if a near message unknown to
 *                     the journal has the record's Message-ID and size
 *                     (the first by name is taken).
 *                     Otherwise not landed: DOWNLOAD again (reusing the
 *                     record) or JR_FORGET if the far message is gone.
 *   PENDING_UPLOAD    far_uid recorded (APPENDUID seen): landed, even if the
 *                     far copy is gone since (then the far-gone rules run).
 *                     Otherwise the far messages unknown to the journal
 *                     with UID >= upload_uidnext, the same size and the
 *                     same Message-ID (or both without one) are candidates;
 *                     the lowest UID is taken as the landed copy (it was
 *                     the first APPEND; another candidate, if any, stays
 *                     unknown and is downloaded as a new message: visible,
 *                     never lost).  No candidate: UPLOAD again, or
 *                     JR_FORGET when the near file is gone too.
 *   PENDING_MOVE      a rename of the near file keeps its uniq, so the
 *                     near listing shows where it is now: handled as SYNCED
 *                     (a missing file was deleted, rename is atomic).
 *   SYNCED / FAR_ONLY / NEAR_ONLY / SKIPPED are final states: the rules
 *                     above apply as usual.  A FAR_ONLY record whose near
 *                     file is listed again (restored by hand) is handled
 *                     as SYNCED.  A NEAR_ONLY record's far UID does not
 *                     link: it may belong to an older UID space.  A listed
 *                     far message with that UID that no other record links
 *                     is left alone (not fetched as new): it is the gone
 *                     message echoed by a listing rebuilt from the journal.
 *                     Executors should not list NEAR_ONLY UIDs at all.
 * A crash between a side effect and a later action of the same group
 * (e.g. after EXPUNGE_FAR, before DELETE_NEAR) leaves a record that the
 * ordinary rules finish next time (far gone -> PULL_DELETE -> delete near).
 * Under uidvalidity_changed, PENDING_* records are void like the others.
 *
 * INPUT CHECKS.  far must be sorted by strictly increasing uid (no 0), near
 * by strictly increasing strcmp(uniq); the journal may come in any order but
 * must not link one far UID or one near uniq twice, and each record must
 * link what its state needs (SYNCED, PENDING_MOVE: both; PENDING_DOWNLOAD,
 * FAR_ONLY: a far UID; PENDING_UPLOAD, NEAR_ONLY: a near uniq; SKIPPED:
 * either).  Violations return -1 with FCT_E_FOLDER and a message; nothing
 * is planned from bad input.
 */
#ifndef FACTEUR_PLAN_H
#define FACTEUR_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "store/journal.h"
#include "sync/util.h"

/* Operations allowed by the channel (Sync ... in the config). */
enum {
	PLAN_PULL_NEW = 1 << 0,
	PLAN_PULL_RENEW = 1 << 1,
	PLAN_PULL_DELETE = 1 << 2,
	PLAN_PULL_FLAGS = 1 << 3,
	PLAN_PUSH_NEW = 1 << 4,
	PLAN_PUSH_RENEW = 1 << 5,
	PLAN_PUSH_DELETE = 1 << 6,
	PLAN_PUSH_FLAGS = 1 << 7,
};
#define PLAN_ALL 0xffu
#define PLAN_PULL_ALL (PLAN_PULL_NEW | PLAN_PULL_RENEW | PLAN_PULL_DELETE | PLAN_PULL_FLAGS)

struct plan_cfg {
	unsigned ops;          /* PLAN_* bits */
	int expunge_far;       /* Expunge Far|Both */
	int expunge_near;      /* Expunge Near|Both */
	uint64_t max_size;     /* bytes; 0 = no limit; both directions */
	uint32_t max_messages; /* near keeps the newest N (by far UID); 0 = all */
	int expire_unread;     /* 1: unread messages may expire too */
	int uidvalidity_changed; /* far UIDs in the journal are meaningless */
	/* Far UIDNEXT recorded at the last sync: far UIDs below it that the
	 * journal does not know are "old" (ReNew), not "new".  0 = all new. */
	uint32_t far_uidnext_journal;
};

/* Journal record states: the values of enum jrnl_state, named for the
 * rules below. */
enum plan_jr_state {
	PLAN_JR_SYNCED = 0,           /* both sides hold it; flags = base */
	PLAN_JR_PENDING_DOWNLOAD = 1, /* intent: far_uid -> near_uniq */
	PLAN_JR_PENDING_UPLOAD = 2,   /* intent: near_uniq -> far (uid unknown) */
	PLAN_JR_PENDING_MOVE = 3,     /* intent: near file being renamed */
	PLAN_JR_FAR_ONLY = 4,         /* near copy absent on purpose */
	PLAN_JR_NEAR_ONLY = 5,        /* far copy absent on purpose */
	PLAN_JR_SKIPPED = 6,          /* too big: reported once, not moved */
};

/* Inputs are borrowed for the duration of plan_build only; actions refer
 * to them by index. */
struct plan_far {
	uint32_t uid;
	unsigned flags;       /* FCT_F_* */
	uint64_t size;
	const char *msgid;    /* Message-ID, may be NULL */
	const char *emailid;  /* RFC 8474 EMAILID, may be NULL (not used by the planner) */
};

struct plan_near {
	const char *uniq;     /* Maildir unique name (no info part) */
	unsigned flags;
	uint64_t size;
	const char *msgid;    /* may be NULL */
};

/* Journal records are read as the journal loads them (struct jrnl_msg):
 * a folder's records are its largest listing, so the planner takes no copy.
 * It reads id, far_uid, near_uniq, flags (the base), state, size, msgid
 * and upload_uidnext, and never writes them. */

enum plan_kind {
	PLAN_DOWNLOAD,    /* far -> near; flags for the new near copy */
	PLAN_UPLOAD,      /* near -> far; flags for the new far copy */
	PLAN_FLAGS_FAR,   /* UID STORE add/del on far */
	PLAN_FLAGS_NEAR,  /* rename near with add/del applied */
	PLAN_DELETE_FAR,  /* set \Deleted on far (deletion propagated) */
	PLAN_EXPUNGE_FAR, /* expunge far (it carries \Deleted by now) */
	PLAN_DELETE_NEAR, /* remove the near file */
	PLAN_PAIR,        /* journal: link far uid + near uniq already present */
	PLAN_JR_UPDATE,   /* journal: set flags and state only */
	PLAN_JR_FORGET,   /* journal: drop the record */
	PLAN_SKIP_TOO_BIG, /* report; journal: record as SKIPPED */
	PLAN_KIND_COUNT
};

#define PLAN_NONE ((size_t)-1)

struct plan_action {
	enum plan_kind kind;
	size_t far;      /* index into plan_in.far, or PLAN_NONE */
	size_t near;     /* index into plan_in.near, or PLAN_NONE */
	size_t jr;       /* index into plan_in.jr, or PLAN_NONE */
	/* DOWNLOAD/UPLOAD: flags of the new copy.  FLAGS_*: the side's flags
	 * afterwards.  PAIR/JR_UPDATE/SKIP_TOO_BIG: the record's base.  */
	unsigned flags;
	unsigned add, del; /* FLAGS_*: bits to add / remove; DELETE_FAR: add = \Deleted */
	int state;       /* record-writing kinds: the record's state afterwards */
	/* EXPUNGE_FAR / DELETE_NEAR: the message never reached the other side
	 * (no record, or one still pending or skipped), so this removal is its
	 * last copy's; TrashRemoteNew saves it to the other store's Trash. */
	int unsynced;
};

struct plan_in {
	const struct plan_far *far;
	size_t nfar;
	const struct plan_near *near;
	size_t nnear;
	const struct jrnl_msg *jr;
	size_t njr;
	const struct plan_cfg *cfg;
};

struct plan {
	struct plan_action *acts; /* owned; free with plan_free */
	size_t n;
	size_t count[PLAN_KIND_COUNT]; /* actions per kind, for summaries */
	size_t ambiguous; /* messages with a Message-ID not paired (matching) */
	size_t too_big;   /* SKIPPED records still too big (not re-reported) */
};

/* Builds the plan for one folder pair.  `out` is overwritten (not freed);
 * on success the caller owns out->acts and frees it with plan_free.  On
 * error returns -1, out is empty and err says which input is bad. */
int plan_build(const struct plan_in *in, struct plan *out, struct fct_err *err);

/* Frees the actions; safe on an empty or zeroed plan. */
void plan_free(struct plan *p);

/* Stable lower-case name ("download", "flags-far", ...) for logs/JSON. */
const char *plan_kind_name(enum plan_kind k);

#endif
