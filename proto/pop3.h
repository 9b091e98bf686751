/* POP3 client (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034,
 * response codes RFC 2449/3206): connection and login, UIDL and LIST,
 * pipelined RETR streamed to a sink, pipelined DELE, QUIT.
 *
 * Ownership: struct pop3 owns its transport (and the TLS/tunnel under it),
 * its read buffer and copies of nothing else; pop3_close() releases all of
 * it.  Options are borrowed for the duration of pop3_connect() only.
 *
 * Security: credentials are never written on a connection that is not TLS,
 * except with tls == POP3_TLS_NONE, which logs one warning per connection.
 * With POP3_TLS_STLS a server that does not offer STLS, refuses it, or sends
 * bytes after its +OK to STLS is abandoned before any credential is sent.
 *
 * Errors: every call returns 0 or -1 with err filled; FCT_E_AUTH for refused
 * logins (server text included), FCT_E_TLS for TLS failures, FCT_E_PROTO
 * when the server breaks the protocol, FCT_E_IO / FCT_E_TIMEOUT from the
 * transport.  After a failure other than a per-message -ERR reported through
 * a callback, the session is unusable: only pop3_close() is allowed. */
#ifndef FACTEUR_POP3_H
#define FACTEUR_POP3_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/transport.h"
#include "sync/util.h"

/* RFC 1939: a unique-id is 1 to 70 characters in 0x21..0x7E. */
#define POP3_UIDL_MAX 70
/* Longest status or listing line accepted (RFC 2449 says 512; we are lenient). */
#define POP3_LINE_MAX 4096
/* Commands in flight when the server offers PIPELINING and depth is unset.
 * While a batch is made durable no answer is read; the commands already
 * sent keep the server writing meanwhile (64 left it idle part of the time:
 * ingestion took ~11% longer on a loopback Dovecot).  Commands are ~10 bytes,
 * so even the deepest window fits any server's input buffer. */
#define POP3_PIPELINE_DEFAULT 256

enum pop3_tls_mode {
	POP3_TLS_IMPLICIT = 0, /* POP3S: TLS from the first byte (port 995) */
	POP3_TLS_STLS,         /* plain connection upgraded by STLS, mandatory */
	POP3_TLS_NONE,         /* no TLS at all: credentials in clear (warned) */
};

struct pop3_opts {
	struct xport_opts net;
	enum pop3_tls_mode tls;
	struct tls_opts tls_opts;
	const char *user;
	const char *pass;       /* password, or OAuth token for XOAUTH2/OAUTHBEARER */
	/* Space-separated, case-insensitive, in order of preference: "USER"
	 * (USER/PASS), "APOP", or a SASL mechanism name (PLAIN, SCRAM-SHA-256,
	 * SCRAM-SHA-1, XOAUTH2, OAUTHBEARER...).  NULL or "*": the best the
	 * server offers among SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, USER, APOP
	 * (never an OAuth mechanism unless named).  Exactly one is tried. */
	const char *auth_mechs;
	int pipeline_depth;     /* max commands in flight; <= 0: default; 1: none */
	const struct fct_log *log;
};

enum pop3_cap_bit {
	POP3_CAP_CAPA = 1u << 0,        /* the server answered CAPA at all */
	POP3_CAP_UIDL = 1u << 1,
	POP3_CAP_TOP = 1u << 2,
	POP3_CAP_PIPELINING = 1u << 3,
	POP3_CAP_USER = 1u << 4,
	POP3_CAP_SASL = 1u << 5,
	POP3_CAP_RESP_CODES = 1u << 6,
	POP3_CAP_STLS = 1u << 7,
	POP3_CAP_AUTH_RESP_CODE = 1u << 8,
	POP3_CAP_APOP = 1u << 9,        /* the greeting carried an APOP timestamp */
};

struct pop3_caps {
	unsigned bits;      /* enum pop3_cap_bit */
	char sasl[512];     /* the SASL capability's mechanisms, space-separated */
};

struct pop3_uidl_ent {
	unsigned num;                     /* message number in this session */
	char uidl[POP3_UIDL_MAX + 1];
};

struct pop3_list_ent {
	unsigned num;
	uint64_t size;                    /* octets as the server counts them */
};

/* Receives message bodies from pop3_retr_many(): begin, then data pieces
 * (already dot-unstuffed, CRLF turned into LF), then end.  A nonzero return
 * from any callback stops the transfer with that error and leaves the
 * session unusable.  refused (optional) is told about a message the server
 * answered -ERR for; it may return 0 to go on with the others.  Without it,
 * such a message fails the call with FCT_E_MSG (session still usable). */
struct pop3_sink {
	int (*begin)(void *ctx, unsigned num, struct fct_err *err);
	int (*data)(void *ctx, const char *p, size_t n, struct fct_err *err);
	int (*end)(void *ctx, unsigned num, struct fct_err *err);
	int (*refused)(void *ctx, unsigned num, const char *server_text, struct fct_err *err);
	void *ctx;
};

struct pop3;

/* Connects (net, then TLS per opts->tls), reads the greeting, CAPA, STLS if
 * asked, CAPA again, then logs in.  *out is set only on success. */
int pop3_connect(struct pop3 **out, const struct pop3_opts *o, struct fct_err *err);
/* Same over a transport the caller opened (tests, tunnels); takes ownership
 * of x even on failure.  POP3_TLS_IMPLICIT means x is already TLS (or the
 * caller accepts it as such: tests). */
int pop3_connect_xport(struct pop3 **out, struct xport *x, const struct pop3_opts *o,
                       struct fct_err *err);

/* Capabilities after login (or before, if CAPA was only answered then). */
const struct pop3_caps *pop3_caps(const struct pop3 *p);
/* The authentication that succeeded: "USER", "APOP" or the SASL name. */
const char *pop3_auth_used(const struct pop3 *p);

/* UIDL for every message: *out (malloc'd, caller frees) sorted by number.
 * Fails with FCT_E_PROTO on a malformed line, a unique-id outside RFC 1939's
 * alphabet or length, or two messages with the same unique-id. */
int pop3_uidl(struct pop3 *p, struct pop3_uidl_ent **out, size_t *n, struct fct_err *err);
/* LIST: sizes of every message, sorted by number, *out malloc'd. */
int pop3_list(struct pop3 *p, struct pop3_list_ent **out, size_t *n, struct fct_err *err);

/* RETR each of nums[0..n) in that order, streaming to sink; pipelined in a
 * bounded window when the server offers PIPELINING. */
int pop3_retr_many(struct pop3 *p, const unsigned *nums, size_t n,
                   const struct pop3_sink *sink, struct fct_err *err);
/* DELE each of nums (pipelined likewise).  Marks only: nothing is removed
 * unless pop3_quit() succeeds.  Every response is read; if some were -ERR,
 * returns -1 naming the first (FCT_E_MSG) and the session stays usable;
 * *ndeleted (optional) counts the accepted ones. */
int pop3_dele(struct pop3 *p, const unsigned *nums, size_t n, size_t *ndeleted,
              struct fct_err *err);
/* RSET: unmarks every DELE of this session. */
int pop3_rset(struct pop3 *p, struct fct_err *err);
/* QUIT: the server removes marked messages now; -ERR (or no answer) means it
 * did not, which is reported (FCT_E_STORE).  The session is then finished;
 * call pop3_close() in every case. */
int pop3_quit(struct pop3 *p, struct fct_err *err);
/* Closes the connection and frees everything.  Without a successful QUIT
 * the server removes nothing.  NULL is allowed. */
void pop3_close(struct pop3 *p);

/* Incremental multi-line body decoder (dot-unstuffing, CRLF -> LF, the
 * "." terminator), exposed so it can be tested at every byte boundary.
 * A bare LF also ends a line; a lone CR inside a line is kept. */
struct pop3_dec {
	int state;
	int done;
	uint64_t out_bytes;   /* decoded bytes handed to the sink so far */
	size_t nout;
	char out[8192];
};

typedef int (*pop3_data_fn)(void *ctx, const char *p, size_t n, struct fct_err *err);

void pop3_dec_init(struct pop3_dec *d);
/* Consumes in[0..n) up to and including the terminator; returns the number
 * of bytes consumed (all of them unless d->done became 1), or -1 if the
 * sink failed.  Decoded bytes are flushed to data before returning. */
ssize_t pop3_dec_feed(struct pop3_dec *d, const char *in, size_t n, pop3_data_fn data,
                      void *ctx, struct fct_err *err);

#endif
