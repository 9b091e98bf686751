/* Internals shared by the POP3 client's files (pop3.c: session, reading,
 * listings, RETR/DELE/QUIT; pop3_auth.c: login).  Not for other modules. */
#ifndef FACTEUR_POP3_INT_H
#define FACTEUR_POP3_INT_H

#include "proto/pop3.h"
#include "proto/redact.h"

/* Memory one listing (UIDL or LIST) may take: a longer one is a hostile
 * server, not a mailbox.  32 MiB hold 441,505 UIDL entries (76 bytes each,
 * room for the longest unique-id RFC 1939 allows) or 2 million sizes. */
#define POP3_LISTING_BUDGET ((size_t)32 << 20)
#define POP3_MAX_DEPTH 256
/* RFC 5034: an AUTH command with initial response must fit in 255 octets. */
#define POP3_AUTH_CMD_MAX 255

struct pop3 {
	struct xport *x;
	const struct fct_log *log;
	const char *host; /* for messages; borrowed only during connect */
	struct pop3_caps caps;
	enum pop3_tls_mode tls;
	char apop_ts[260];
	char auth_used[64];
	int depth;
	int broken;
	size_t rpos, rlen;
	char line[POP3_LINE_MAX + 1];
	char rbuf[16384];
	struct pop3_dec dec;
	struct redact red;  /* secrets sent, never shown back (proto/redact.h) */
};

/* Server text made safe for a one-line message. */
void pop3i_clean_text(char *dst, size_t dstsz, const char *s);
/* One line without its CRLF, valid until the next read. */
int pop3i_get_line(struct pop3 *p, const char **line, struct fct_err *err);
/* Sends one command and flushes; the part from secret_at on is masked in
 * the -D log ((size_t)-1: nothing secret). */
int pop3i_send_flush(struct pop3 *p, const char *cmd, size_t secret_at, struct fct_err *err);
/* A status line: 1 for +OK, 0 for -ERR (text: the rest), -1 on error. */
int pop3i_get_status(struct pop3 *p, const char **text, struct fct_err *err);
/* A -ERR as an error, with RFC 2449/3206 response codes explained. */
int pop3i_resp_error(struct fct_err *err, enum fct_err_kind kind, const char *what,
                     const char *text);
/* Picks the login method (opts->auth_mechs against the capabilities) and
 * logs in; refuses to send credentials in clear unless tls is NONE. */
int pop3i_auth(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err);

#endif
