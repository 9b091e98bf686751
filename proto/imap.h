/* IMAP client session (RFC 9051 / RFC 3501 and the extensions a mail
 * synchronizer needs: CONDSTORE, QRESYNC, UIDPLUS, MOVE, LITERAL+/-,
 * COMPRESS, ENABLE, SASL-IR, UTF8=ACCEPT, SPECIAL-USE, LIST-STATUS).
 *
 * Ownership: struct imap owns its transport, wire engine, parser and every
 * string it hands out; imap_close() releases all of it.  Strings passed to
 * callbacks are valid during the callback only.  Mailbox names cross this
 * API as UTF-8; the session converts to and from modified UTF-7 unless the
 * server accepted UTF8=ACCEPT.
 *
 * Errors: every call returns 0 or -1 with err filled.  A tagged NO/BAD gives
 * FCT_E_FOLDER (or FCT_E_MSG where one message is concerned) with the
 * server's text; a broken or hostile server gives FCT_E_PROTO; a refused
 * login FCT_E_AUTH; transport failures keep the transport's kind (FCT_E_IO,
 * FCT_E_TIMEOUT, FCT_E_TLS).  After FCT_E_PROTO, FCT_E_IO or FCT_E_TIMEOUT
 * the session is unusable: only imap_close() may follow.
 *
 * Callbacks return 0 to go on, or -1 with err filled to stop; the session
 * then drains the command's remaining responses (if the connection allows)
 * and returns -1 with the callback's error. */
#ifndef FACTEUR_IMAP_H
#define FACTEUR_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/transport.h"
#include "sync/util.h"

enum imap_tls { IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS, IMAP_TLS_NONE };

enum {
	IMAP_CAP_CONDSTORE = 1 << 0,
	IMAP_CAP_QRESYNC = 1 << 1,
	IMAP_CAP_MOVE = 1 << 2,
	IMAP_CAP_UIDPLUS = 1 << 3,
	IMAP_CAP_LITERALPLUS = 1 << 4,
	IMAP_CAP_LITERALMINUS = 1 << 5,
	IMAP_CAP_COMPRESS = 1 << 6,
	IMAP_CAP_LIST_STATUS = 1 << 7,
	IMAP_CAP_ESEARCH = 1 << 8,
	IMAP_CAP_IDLE = 1 << 9,
	IMAP_CAP_OBJECTID = 1 << 10,
	IMAP_CAP_SPECIAL_USE = 1 << 11,
	IMAP_CAP_NAMESPACE = 1 << 12,
	IMAP_CAP_ENABLE = 1 << 13,
	IMAP_CAP_UTF8 = 1 << 14,     /* UTF8=ACCEPT */
	IMAP_CAP_SASL_IR = 1 << 15,
	IMAP_CAP_ID = 1 << 16,
	IMAP_CAP_IMAP4REV2 = 1 << 17,
	IMAP_CAP_LIST_EXTENDED = 1 << 18,
	IMAP_CAP_STARTTLS = 1 << 19,
	IMAP_CAP_LOGINDISABLED = 1 << 20,
};

/* Capability name (case-insensitive; "COMPRESS" and "COMPRESS=DEFLATE",
 * "UTF8" and "UTF8=ACCEPT", "LITERAL+" all accepted) to its bit; 0 if
 * unknown.  For the DisableExtension configuration keyword. */
unsigned imap_cap_from_name(const char *name);

struct imap_opts {
	struct xport_opts net;
	enum imap_tls tls;
	struct tls_opts tlso;
	const char *user;
	const char *pass;                /* secret: password or OAuth token */
	const char *const *auth_mechs;   /* NULL-terminated preference list; NULL or
	                                  * {"*"}: any we support, strongest first.
	                                  * "LOGIN" means the LOGIN command
	                                  * (AUTHENTICATE LOGIN if the server says
	                                  * LOGINDISABLED but offers AUTH=LOGIN).
	                                  * XOAUTH2/OAUTHBEARER only if named here.
	                                  * Only the first usable mechanism is
	                                  * tried (no guessing: lockouts). */
	int pipeline_depth;              /* max commands in flight; <= 0: 32 */
	unsigned disable_caps;           /* IMAP_CAP_* bits treated as absent (CONDSTORE
	                                  * takes QRESYNC along, LIST-EXTENDED
	                                  * LIST-STATUS) */
	int compress;                    /* COMPRESS=DEFLATE if offered: 1 always,
	                                  * 0 never, -1 unless the server is on
	                                  * loopback (no link to save bytes on; both
	                                  * ends would only spend CPU) */
	const struct fct_log *log;
	const char *scram_nonce;         /* tests only: fixed SCRAM client nonce; NULL */
};

struct imap; /* one authenticated session */

/* Connects, reads the greeting (PREAUTH accepted), does STARTTLS when asked
 * (refusing to go on if the server does not offer it), re-reads
 * CAPABILITY after TLS, authenticates (honouring LOGINDISABLED, using
 * SASL-IR when offered), turns on COMPRESS when asked and offered, and
 * ENABLEs QRESYNC (and UTF8=ACCEPT) when offered; sends ID ("name"
 * "facteur" "version" ...) when offered (a refusal is ignored); reads
 * NAMESPACE.  *out is
 * the new session (caller frees with imap_close).
 * Errors: FCT_E_TLS "server does not offer STARTTLS", "refused STARTTLS",
 * data injected after the STARTTLS OK, PREAUTH when STARTTLS was asked for,
 * certificate failures (no credential is ever sent then); FCT_E_AUTH
 * "login refused by server: <text>" or no usable mechanism; FCT_E_STORE
 * (temporary) for a BYE greeting; FCT_E_CONFIG without user or password.
 * With IMAP_TLS_NONE credentials go out in clear after a warning (not for
 * tunnels). */
int imap_connect(struct imap **out, const struct imap_opts *o, struct fct_err *err);
/* The same over an already open transport (tests: xport_from_fds on a
 * socketpair; o->net is then used only for names in messages and SASL).
 * Takes ownership of x, also on failure. */
int imap_connect_xport(struct imap **out, struct xport *x, const struct imap_opts *o,
                       struct fct_err *err);
/* LOGOUT (best effort, each read bounded by the transport timeout; skipped
 * after a fatal error), then frees everything.  NULL is fine. */
void imap_close(struct imap *im);
/* IMAP_CAP_* of the authenticated session, minus opts.disable_caps; QRESYNC
 * and UTF8 only if the ENABLE succeeded. */
unsigned imap_caps(const struct imap *im);

/* Hierarchy delimiter (LIST "" ""), cached; '\0' for a flat server.  On
 * error returns '\0' with err->kind != FCT_E_NONE (clear err first). */
char imap_delimiter(struct imap *im, struct fct_err *err);
/* Personal namespace prefix ("" if none or NAMESPACE unsupported), UTF-8,
 * owned by the session; read at connect time. */
const char *imap_namespace(struct imap *im);

enum {
	IMAP_LIST_NOSELECT = 1 << 0,
	IMAP_LIST_NOINFERIORS = 1 << 1,
	IMAP_LIST_NONEXISTENT = 1 << 2,
	IMAP_LIST_SUBSCRIBED = 1 << 3,
	IMAP_LIST_HASCHILDREN = 1 << 4,
	IMAP_LIST_HASNOCHILDREN = 1 << 5,
	IMAP_LIST_MARKED = 1 << 6,
	IMAP_LIST_UNMARKED = 1 << 7,
	IMAP_LIST_REMOTE = 1 << 8,
	/* SPECIAL-USE (RFC 6154) */
	IMAP_LIST_ALL = 1 << 9,
	IMAP_LIST_ARCHIVE = 1 << 10,
	IMAP_LIST_DRAFTS = 1 << 11,
	IMAP_LIST_FLAGGED = 1 << 12,
	IMAP_LIST_JUNK = 1 << 13,
	IMAP_LIST_SENT = 1 << 14,
	IMAP_LIST_TRASH = 1 << 15,
};

/* name_utf8 is valid during the call only; delim '\0' if NIL.  Returns 0
 * to go on; nonzero stops the listing (imap_list then fails with
 * FCT_E_CANCEL after draining the command). */
typedef int (*imap_list_cb)(void *ctx, const char *name_utf8, char delim, unsigned attrs);
/* LIST "" pattern (or LSUB-equivalent LIST (SUBSCRIBED) when
 * subscribed_only; without LIST-EXTENDED, LSUB then LIST, so that
 * subscriptions without a mailbox come with IMAP_LIST_NONEXISTENT as
 * well).  pattern is UTF-8 and may hold % and *. */
int imap_list(struct imap *im, const char *pattern, int subscribed_only, imap_list_cb cb,
              void *ctx, struct fct_err *err);

struct imap_box {
	uint32_t uidvalidity, uidnext, exists;
	uint64_t highestmodseq;
	int nomodseq; /* server said NOMODSEQ (or no CONDSTORE) */
	int readonly; /* [READ-ONLY] */
};

struct imap_msg {
	uint32_t uid;
	unsigned flags;               /* FCT_F_* */
	unsigned other_flags_present; /* 1 if keywords other than ours were seen */
	uint64_t size;                /* RFC822.SIZE; 0 if not fetched */
	int64_t internaldate;         /* unix time, 0 unknown */
	uint64_t modseq;              /* 0 if not reported */
	const char *msgid;            /* bare "<id>" or NULL if not fetched/absent; valid
	                               * during the callback only */
	const char *emailid;          /* OBJECTID EMAILID or NULL */
	unsigned have;                /* IMAP_META_* actually present in this FETCH */
};

typedef int (*imap_msg_cb)(void *ctx, const struct imap_msg *m, struct fct_err *err);
/* One closed range of UIDs that no longer exist (uid_lo <= uid_hi). */
typedef int (*imap_vanished_cb)(void *ctx, uint32_t uid_lo, uint32_t uid_hi, struct fct_err *err);

struct imap_qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
};

/* SELECT (EXAMINE when readonly).  With qr, and QRESYNC enabled:
 * SELECT box (QRESYNC (uidvalidity modseq)), reporting VANISHED (EARLIER)
 * ranges to vcb and changed messages' FETCH to mcb (both may be NULL).
 * Without QRESYNC but with CONDSTORE: SELECT box (CONDSTORE).  A NO gives
 * FCT_E_FOLDER with the server text. */
int imap_select(struct imap *im, const char *box_utf8, int readonly, const struct imap_qresync *qr,
                struct imap_box *out, imap_vanished_cb vcb, imap_msg_cb mcb, void *ctx,
                struct fct_err *err);
/* imap_select with a metadata UID FETCH of req->lo:* (IMAP_META_* in
 * req->what) sent right behind it, in the same round trip; its messages go
 * to req->cb once the SELECT has succeeded.  The SELECT's outcome decides
 * the return as for imap_select; a failed FETCH fails it too.
 * req->meanwhile (may be NULL) is called once both commands are sent,
 * before any answer is read, so local work overlaps the server's; if it
 * fails, the answers are read and dropped and its error is returned. */
struct imap_meta_req {
	uint32_t lo;
	unsigned what;
	imap_msg_cb cb;
	void *ctx;
	int (*meanwhile)(void *mctx, struct fct_err *err);
	void *mctx;
};
int imap_select_meta(struct imap *im, const char *box_utf8, int readonly,
                     const struct imap_qresync *qr, struct imap_box *out, imap_vanished_cb vcb,
                     imap_msg_cb mcb, void *ctx, const struct imap_meta_req *req,
                     struct fct_err *err);
/* One box for imap_examine_many: its QRESYNC parameters in, the box's
 * state and whether the server answered OK out, what changed since to
 * its callbacks (as imap_select reports them; either may be NULL). */
struct imap_select_req {
	const char *box_utf8;
	struct imap_qresync qr;
	imap_vanished_cb vcb;
	imap_msg_cb mcb;
	void *ctx;
	struct imap_box box; /* out */
	int ok;              /* out: 1 if the EXAMINE succeeded */
};
/* EXAMINE box (QRESYNC (uidvalidity modseq)) for each of req[0..n), all
 * in one flight: what changed in each since its modseq, for a round trip
 * in all.  Needs QRESYNC enabled (else FCT_E_STORE, nothing sent).  A box
 * refused, or whose name cannot be sent, only keeps ok 0.  Leaves the
 * last box selected, read-only. */
int imap_examine_many(struct imap *im, struct imap_select_req *req, size_t n,
                      struct fct_err *err);
/* STATUS (UIDVALIDITY UIDNEXT MESSAGES [HIGHESTMODSEQ]). */
int imap_status(struct imap *im, const char *box_utf8, struct imap_box *out, struct fct_err *err);

/* One mailbox of imap_list_status: st is its STATUS (uidvalidity, uidnext,
 * exists = MESSAGES, highestmodseq with nomodseq set when 0 or without
 * CONDSTORE), or NULL when the server sent none (\NoSelect,
 * \NonExistent, or a mailbox it could not open).  name_utf8 and st are
 * valid during the call only.  Nonzero stops (FCT_E_CANCEL, as imap_list). */
typedef int (*imap_list_status_cb)(void *ctx, const char *name_utf8, char delim, unsigned attrs,
                                   const struct imap_box *st);
/* LIST "" pattern RETURN ([SPECIAL-USE] STATUS (UIDVALIDITY UIDNEXT MESSAGES
 * [HIGHESTMODSEQ])): every mailbox and its status in one round trip.  Needs
 * IMAP_CAP_LIST_STATUS (check imap_caps() first); without it FCT_E_STORE
 * and nothing is sent: the caller then uses imap_list and imap_status. */
int imap_list_status(struct imap *im, const char *pattern, imap_list_status_cb cb, void *ctx,
                     struct fct_err *err);

enum {
	IMAP_META_FLAGS = 1,
	IMAP_META_SIZE = 2,
	IMAP_META_DATE = 4,
	IMAP_META_MSGID = 8,
	IMAP_META_EMAILID = 16,
	IMAP_META_MODSEQ = 32, /* asked automatically when CONDSTORE is on */
};

/* UID FETCH lo:hi (hi 0 = *) of the selected mailbox with the items asked
 * (MSGID = BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)], parsed to the bare <id>;
 * EMAILID only with OBJECTID), plus (CHANGEDSINCE n) when changedsince > 0
 * (no VANISHED modifier: expunges are learnt through imap_select with QRESYNC
 * or by comparing UID lists).  Untagged FETCH without UID (unsolicited flag
 * changes) are ignored. */
int imap_fetch_meta(struct imap *im, uint32_t lo, uint32_t hi, uint64_t changedsince, unsigned what,
                    imap_msg_cb cb, void *ctx, struct fct_err *err);

struct imap_body_sink {
	/* size: the literal's length in bytes (what data() will receive). */
	int (*begin)(void *ctx, uint32_t uid, uint64_t size, struct fct_err *err);
	int (*data)(void *ctx, const char *p, size_t n, struct fct_err *err);
	/* m: uid, flags, internaldate and size of the message just streamed. */
	int (*end)(void *ctx, const struct imap_msg *m, struct fct_err *err);
	void *ctx;
};

/* UID FETCH uid (BODY.PEEK[] FLAGS INTERNALDATE) for each uid, pipelined up
 * to pipeline_depth, each body streamed to the sink as raw bytes (CRLF as
 * sent, never held whole in memory).  A uid that no longer exists is
 * skipped (no begin call), so is uid 0.  If a sink call fails, the
 * remaining commands are drained and the sink's error returned; after a
 * connection error a begun message may get no end call (the caller discards
 * what it started). */
int imap_fetch_bodies(struct imap *im, const uint32_t *uids, size_t n,
                      const struct imap_body_sink *sink, struct fct_err *err);

struct imap_source {
	/* returns bytes read (> 0), 0 at end, -1 with err */
	long (*read)(void *ctx, char *buf, size_t n, struct fct_err *err);
	void *ctx;
	uint64_t size; /* exact byte count that read() will produce */
};

/* One APPEND box (flags) date {size} (imap_append_many with n = 1): LITERAL+
 * (or LITERAL- when size <= 4096) when offered, else waits for the
 * continuation.  *uidvalidity_out and
 * *uid_out from APPENDUID (0 without UIDPLUS); either pointer may be NULL.
 * [TRYCREATE] is reported as FCT_E_FOLDER with err->msg starting
 * "TRYCREATE"; other NO as FCT_E_MSG.  A source producing a different number
 * of bytes than size is FCT_E_MSG (the connection is then unusable). */
int imap_append(struct imap *im, const char *box_utf8, unsigned flags, int64_t date,
                struct imap_source *src, uint32_t *uidvalidity_out, uint32_t *uid_out,
                struct fct_err *err);
/* One message for imap_append_many, filled in by the caller's next(). */
struct imap_upload {
	unsigned flags;          /* FCT_F_* */
	int64_t date;            /* INTERNALDATE (unix time); <= 0: the server's */
	struct imap_source src;  /* the body, CRLF line ends, exactly src.size bytes */
};

struct imap_append_cbs {
	/* Message i (called for i = 0, 1, ... n-1 in order, as the pipeline
	 * has room).  Returns 0 to send it, 1 to skip it (err filled; done(i)
	 * then gets that error), -1 to stop (err filled: nothing more is sent,
	 * the commands in flight are drained without done calls, and
	 * imap_append_many returns -1 with that error).  The source of message
	 * i is used only until next() is called again or imap_append_many
	 * returns, so the caller may keep a single source (e.g. close the
	 * previous file in next()). */
	int (*next)(void *ctx, size_t i, struct imap_upload *u, struct fct_err *err);
	/* Completion of message i, in server order (usually i's order); may be
	 * called between next(j) and the sending of j.  ok: uidvalidity and uid
	 * from APPENDUID (0 without UIDPLUS), e NULL.  !ok: e says why:
	 * FCT_E_FOLDER "TRYCREATE: ..." when the mailbox does not exist, FCT_E_MSG
	 * for a NO about this message (the others go on), or next()'s error for a
	 * skipped one.  Returns 0 to go on, -1 with err filled to stop (as for
	 * next()). */
	int (*done)(void *ctx, size_t i, int ok, uint32_t uidvalidity, uint32_t uid,
	            const struct fct_err *e, struct fct_err *err);
	void *ctx;
};

/* n APPENDs to box_utf8, pipelined up to pipeline_depth with LITERAL+ (or
 * LITERAL- for bodies up to 4096 bytes), each body streamed from its
 * source as it is sent; with synchronizing literals one message at a time
 * (the continuation is awaited, so a refusal before the body costs no
 * upload).  Returns 0 when every message got its done() call (whatever its
 * outcome), -1 with err on a callback's stop, a bad mailbox name, or a lost
 * session (FCT_E_IO, FCT_E_PROTO..., or FCT_E_MSG for a source that failed
 * or produced a different byte count than announced: the session is then
 * unusable).  After -1, messages without a done(ok) call may or may not
 * have been stored by the server. */
int imap_append_many(struct imap *im, const char *box_utf8, size_t n,
                     const struct imap_append_cbs *cb, struct fct_err *err);
/* UID STORE +FLAGS.SILENT / -FLAGS.SILENT (add != 0 / == 0) on the selected
 * mailbox, with compact sequence sets split into commands of bounded
 * length, pipelined.  uids need not be sorted. */
int imap_store_flags(struct imap *im, const uint32_t *uids, size_t n, int add, unsigned flags,
                     struct fct_err *err);
/* One flag change for imap_store_many: UID STORE +FLAGS.SILENT (add != 0)
 * or -FLAGS.SILENT of flags on uids (any order). */
struct imap_flag_change {
	const uint32_t *uids;
	size_t n;
	int add;
	unsigned flags;
};
/* The changes in ch[0..n), pipelined in one flight, as imap_store_flags
 * sends each.  A refused STORE fails the call (FCT_E_FOLDER). */
int imap_store_many(struct imap *im, const struct imap_flag_change *ch, size_t n,
                    struct fct_err *err);
/* UID EXPUNGE uids (needs UIDPLUS; without it: FCT_E_FOLDER, and the caller
 * may decide to use imap_expunge_all). */
int imap_expunge_uids(struct imap *im, const uint32_t *uids, size_t n, struct fct_err *err);
/* EXPUNGE: every \Deleted message of the selected mailbox. */
int imap_expunge_all(struct imap *im, struct fct_err *err);
/* UID MOVE, or UID COPY + UID STORE +FLAGS.SILENT (\Deleted) + UID EXPUNGE
 * (the latter needs UIDPLUS, else FCT_E_FOLDER before anything is done).
 * dest_uids (may be NULL): n entries, the new UID of uids[i] from COPYUID,
 * 0 where unknown. */
int imap_move(struct imap *im, const uint32_t *uids, size_t n, const char *dest_utf8,
              uint32_t *dest_uids, struct fct_err *err);
int imap_copy(struct imap *im, const uint32_t *uids, size_t n, const char *dest_utf8,
              uint32_t *dest_uids, struct fct_err *err);
/* CREATE succeeds also on [ALREADYEXISTS], DELETE on [NONEXISTENT]; other
 * NO/BAD are FCT_E_FOLDER with the server's text. */
int imap_create(struct imap *im, const char *box_utf8, struct fct_err *err);
int imap_delete(struct imap *im, const char *box_utf8, struct fct_err *err);
int imap_rename(struct imap *im, const char *from_utf8, const char *to_utf8, struct fct_err *err);
int imap_subscribe(struct imap *im, const char *box_utf8, int subscribe, struct fct_err *err);

/* IDLE (needs IDLE, else FCT_E_STORE) until an untagged EXISTS, EXPUNGE,
 * FETCH or VANISHED (*changed = 1), wake_fd readable (-1: none) or
 * timeout_ms (*changed = 0); then DONE and waits for the tagged OK. */
int imap_idle(struct imap *im, int timeout_ms, int wake_fd, int *changed, struct fct_err *err);

/* Bytes on the wire (below TLS and DEFLATE), in and out. */
void imap_counters(const struct imap *im, unsigned long long *in, unsigned long long *out);

#endif
