/* Internals shared by the IMAP session files (imap.c: I/O, tags, connect
 * and authentication; imap_cmd.c: mailbox and message commands).  Not for
 * other modules: use proto/imap.h. */
#ifndef FACTEUR_IMAP_INT_H
#define FACTEUR_IMAP_INT_H

#include "proto/imap.h"
#include "proto/imap_parse.h"
#include "proto/wire.h"

#define IMAP_MAX_LINE (1u << 20)
/* Longest command we compose (sequence sets are split to stay below). */
#define IMAP_MAX_SET 900
#define IMAP_TEXT_MAX 400
/* Sent in ID (RFC 2971); kept in step with the program's version. */
#define IMAP_CLIENT_VERSION "0.1"

/* Handler for untagged responses of the command(s) in progress. */
typedef int (*imap_untagged_fn)(struct imap *im, const struct imap_resp *r, struct fct_err *err);

/* A tagged completion, copied out of the parser. */
struct imap_done {
	unsigned tag;
	enum imap_status st;
	char code[32];      /* upper case, "" if none */
	struct fct_buf arg; /* code arguments (may be long: COPYUID) */
	char text[IMAP_TEXT_MAX];
};

struct imap {
	const struct fct_log *log;
	struct xport *x;
	struct wire *w;
	struct imap_parser *p;
	char *host;
	int port;
	int depth;            /* pipeline depth */
	int body_uid_first;   /* server names the UID before BODY[]: bodies can be grouped */
	uint32_t sel_uidvalidity; /* of the selected mailbox, 0 when none */
	unsigned disable;
	unsigned caps;        /* server capabilities (minus disable) */
	unsigned enabled;     /* QRESYNC / UTF8 after ENABLE */
	int rev1;             /* the last capability list names IMAP4rev1 */
	int caps_known;
	struct fct_buf auth;  /* " MECH1 MECH2 " offered with AUTH= */
	unsigned tagno;       /* last tag used */
	unsigned inflight;    /* commands sent, completion not read */
	int dead;             /* connection unusable */
	struct fct_err dead_err; /* why, repeated by every later call */
	char bye[IMAP_TEXT_MAX]; /* text of an untagged BYE, "" if none */
	struct fct_buf cont;  /* text of the last continuation request */
	unsigned caps_gen;    /* bumped whenever a capability list arrives */
	int delim_known;
	char delim;
	char *ns;             /* personal namespace prefix, UTF-8 */
	uint32_t exists;
	int changed;          /* untagged EXISTS/EXPUNGE/FETCH/VANISHED seen (IDLE) */

	/* Command in progress. */
	imap_untagged_fn on_untagged;
	void *hctx;
	int cb_failed;        /* a caller callback failed: drain, then report */
	struct fct_err cb_err;
	/* Streaming literal hooks of the command in progress (NULL: buffer). */
	int (*lit_begin)(struct imap *im, const struct imap_resp *r, uint64_t size,
	                 struct fct_err *err);
	int (*lit_data)(struct imap *im, const char *p, size_t n, struct fct_err *err);
};

/* imap.c */
/* Marks the session unusable with err's message (kept for later calls). */
int imap_fail(struct imap *im, struct fct_err *err);
/* -1 with the saved error if the session is unusable. */
int imap_check(struct imap *im, struct fct_err *err);
/* Sends the command line "A<n> " body "\r\n" in one piece (masked under -D
 * when secret); returns the new tag number, 0 on error (session dead). */
unsigned imap_cmd(struct imap *im, const char *body, int secret, struct fct_err *err);
unsigned imap_cmdf(struct imap *im, struct fct_err *err, const char *fmt, ...) FCT_PRINTF(3, 4);
/* Raw bytes (literal data, the CRLF ending a command with a literal). */
int imap_send(struct imap *im, const char *s, size_t n, int secret, struct fct_err *err);
int imap_flush(struct imap *im, struct fct_err *err);
/* Mailbox name as a quoted string ready for a command: UTF-8 to mUTF-7
 * (unless UTF8=ACCEPT), escaped.  Malloc'd; NULL with FCT_E_FOLDER if the
 * name cannot be sent (control characters, bad UTF-8). */
char *imap_quote_mailbox(struct imap *im, const char *utf8, struct fct_err *err);
/* Reads responses until a tagged one (returns 0, d filled) or a
 * continuation request when want_cont (returns 1).  Untagged responses go
 * through generic handling and on_untagged. */
int imap_next(struct imap *im, struct imap_done *d, int want_cont, struct fct_err *err);
/* Waits for the completion of every command in flight; returns -1 if any
 * was not OK (err from the first failure, kind given) or on I/O error. */
int imap_wait_all(struct imap *im, enum fct_err_kind kind, const char *what,
                  struct fct_err *err);
/* Runs one simple command and waits for it; NO/BAD become `kind` errors
 * "what: server said: text". */
int imap_simple(struct imap *im, enum fct_err_kind kind, const char *what, struct fct_err *err,
                const char *fmt, ...) FCT_PRINTF(5, 6);
int imap_done_err(const struct imap_done *d, enum fct_err_kind kind, const char *what,
                  struct fct_err *err);
void imap_done_init(struct imap_done *d);
void imap_done_free(struct imap_done *d);
/* Records a callback failure for draining (see cb_failed). */
void imap_cb_fail(struct imap *im, const struct fct_err *err);
/* Clears the per-command handlers; returns -1 with cb_err if a callback failed. */
int imap_cmd_end(struct imap *im, int rc, struct fct_err *err);
/* Mailbox name from the wire (mUTF-7 unless UTF8) to UTF-8 in out. */
int imap_decode_mailbox(struct imap *im, const char *s, size_t n, struct fct_buf *out);

/* imap_msg.c: a metadata UID FETCH sent now (tag, 0 if the session died),
 * its answers collected later by imap_meta_collect, which waits for every
 * command in flight. */
unsigned imap_meta_send(struct imap *im, uint32_t lo, uint32_t hi, uint64_t changedsince,
                        unsigned what, struct fct_err *err);
int imap_meta_collect(struct imap *im, imap_msg_cb cb, void *ctx, struct fct_err *err);

/* Appends s as a quoted string; -1 if it holds bytes a quoted string cannot
 * carry (8-bit bytes only when allow8). */
int imap_put_quoted(struct fct_buf *b, const char *s, int allow8);
/* 1 if the server offered AUTH=mech. */
int imap_has_auth(const struct imap *im, const char *mech);

/* imap_auth.c */
/* Logs in with the best mechanism both sides support (see imap.h). */
int imap_authenticate(struct imap *im, const struct imap_opts *o, struct fct_err *err);

/* imap_cmd.c, imap_msg.c */
/* FETCH response tokens to a message; msgid/emailid point into bufs;
 * *body is the BODY[] value token (STREAMED, QUOTED, NIL...) or NULL. */
int imap_parse_fetch(const struct imap_resp *r, struct imap_msg *m, struct fct_buf *msgid,
                     struct fct_buf *emailid, const struct imap_tok **body, struct fct_err *err);
/* "17-Jul-1996 02:44:25 -0700" to unix time; -1 if malformed. */
int imap_parse_date(const char *s, int64_t *out);
/* Unix time to "17-Jul-1996 02:44:25 +0000" (out >= 32 bytes). */
void imap_format_date(int64_t t, char *out, size_t outsz);
/* Message-ID header block to the bare "<id>" in out; 0, or -1 if absent. */
int imap_extract_msgid(const char *h, size_t n, struct fct_buf *out);
/* Sorted, deduplicated uids to sequence sets of at most max chars, one per
 * call of emit; returns what emit returned if nonzero. */
int imap_seqsets(const uint32_t *sorted, size_t n, size_t max,
                 int (*emit)(void *ctx, const char *set, struct fct_err *err), void *ctx,
                 struct fct_err *err);

#endif
