/* `facteur probe`: looks at a mail server's IMAP and POP3 ports without ever
 * sending a credential, reports what matters to a sync (reachability, TLS and
 * certificate verdict, capabilities, authentication mechanisms), and
 * recommends one way to connect with the matching configuration lines.
 *
 * This module owns struct probe_report (plain data, no pointers: copy it,
 * free nothing) and the parsing of greetings and capability lines, which are
 * pure functions so the unit tests can drive them without a server.  It
 * speaks only greeting, CAPABILITY/CAPA, STARTTLS/STLS and LOGOUT/QUIT,
 * written directly over proto/wire.h. */
#ifndef FACTEUR_PROBE_H
#define FACTEUR_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include "proto/transport.h"
#include "sync/util.h"

enum probe_proto { PROBE_IMAP, PROBE_POP3, PROBE_UNKNOWN };
/* How TLS is reached on a port: at once (IMAPS 993, POP3S 995), or after
 * STARTTLS/STLS on a clear-text port (143, 110).  PROBE_SEC_AUTO (only for a
 * bare --port N on an unusual number) tries implicit TLS, then clear text. */
enum probe_sec { PROBE_SEC_IMPLICIT, PROBE_SEC_STARTTLS, PROBE_SEC_AUTO };

/* Capabilities that change what a sync can do. */
enum {
	PROBE_CAP_IDLE = 1 << 0,
	PROBE_CAP_CONDSTORE = 1 << 1,
	PROBE_CAP_QRESYNC = 1 << 2,
	PROBE_CAP_MOVE = 1 << 3,
	PROBE_CAP_UIDPLUS = 1 << 4,
	PROBE_CAP_COMPRESS = 1 << 5,     /* COMPRESS=DEFLATE */
	PROBE_CAP_OBJECTID = 1 << 6,
	PROBE_CAP_LIST_STATUS = 1 << 7,
	PROBE_CAP_STARTTLS = 1 << 8,     /* IMAP STARTTLS or POP3 STLS */
	PROBE_CAP_LOGINDISABLED = 1 << 9,
	PROBE_CAP_IMAP4REV2 = 1 << 10,
	PROBE_CAP_UIDL = 1 << 11,
	PROBE_CAP_TOP = 1 << 12,
	PROBE_CAP_PIPELINING = 1 << 13,
	PROBE_CAP_SASL = 1 << 14,
	PROBE_CAP_USER = 1 << 15,        /* POP3 USER/PASS */
};

#define PROBE_MAX_PORTS 4
#define PROBE_AUTH_MAX 256

/* What one port showed.  All strings are NUL-terminated and bounded. */
struct probe_port {
	enum probe_proto proto;
	enum probe_sec sec;
	int port;
	int reachable;          /* the TCP connection was accepted (see greeting, error) */
	int tls;                /* TLS established (implicit or upgraded) */
	int cafile_trusted;     /* certificate verified with --cafile in the trust store */
	struct tls_info tls_info; /* valid when tls */
	unsigned caps;          /* PROBE_CAP_* seen last (after TLS when there was TLS) */
	unsigned caps_clear;    /* PROBE_CAP_* seen before TLS on a STARTTLS port */
	/* Login methods, space separated, as AuthMechs names them: SASL
	 * mechanisms, plus LOGIN (the IMAP command, unless LOGINDISABLED) and
	 * USER (POP3 USER/PASS). */
	char auth[PROBE_AUTH_MAX];       /* after TLS (or in clear text without TLS) */
	char auth_clear[PROBE_AUTH_MAX]; /* mechanisms offered before TLS */
	char greeting[160];     /* server greeting, control characters replaced */
	char error[FCT_ERR_MAX];/* why the probe of this port stopped, or "" */
};

struct probe_report {
	char host[256];
	size_t nports;
	struct probe_port ports[PROBE_MAX_PORTS];
};

struct probe_opts {
	const char *host;
	/* One port (then the protocol and security are guessed from the number
	 * and the greeting), or 0 for the four standard ports, each replaceable
	 * for tests through ports[] (IMAPS, IMAP, POP3S, POP3; 0 = standard,
	 * -1 = skip). */
	int port;
	int ports[PROBE_MAX_PORTS];
	const char *cafile;     /* extra trust anchor (PEM), or NULL */
	int timeout_ms;         /* per port and per exchange */
	const struct fct_log *log;
};

/* ---- pure parsing (unit-tested) ---- */

/* Tokens of an IMAP capability list (the text after "CAPABILITY", from an
 * untagged response or a greeting's response code).  Returns PROBE_CAP_*
 * bits; AUTH=X mechanisms are appended to auth (space separated, truncated
 * at authsz, never duplicated).  Stops at ']' so a response code works. */
unsigned probe_imap_caps(const char *list, char *auth, size_t authsz);
/* One line of a POP3 CAPA answer; "SASL A B" appends A and B to auth. */
unsigned probe_pop3_capa(const char *line, char *auth, size_t authsz);
/* If line is an IMAP greeting or untagged response carrying "[CAPABILITY ...]"
 * or "* CAPABILITY ...", returns a pointer to the list inside line, else NULL. */
const char *probe_imap_caplist(const char *line);
/* Name of one PROBE_CAP_* bit for a protocol, or NULL if it has none there. */
const char *probe_cap_name(enum probe_proto proto, unsigned bit);

/* ---- recommendation (pure) ---- */

/* The port to use, by RFC 8314 preference: IMAP over implicit TLS, IMAP
 * with STARTTLS, then POP3 (implicit TLS, then STLS) only when no IMAP port
 * offers TLS.  Clear-text ports without TLS are never recommended.  Returns
 * the index into r->ports, or -1 when nothing secure answered. */
int probe_recommend(const struct probe_report *r);

/* Appends configuration lines for port p of host (an account named name,
 * a Maildir store under maildir, one channel for every folder) to b.  user
 * and passcmd may be NULL: placeholders are written, commented.  cafile,
 * when set, becomes CertificateFile.  oauth2 adds "AuthMechs XOAUTH2". */
struct probe_cfg {
	const char *name, *host, *user, *passcmd, *pass, *cafile, *maildir;
	enum probe_proto proto;
	enum probe_sec sec;
	int port;
	int oauth2;
};
void probe_config_lines(struct fct_buf *b, const struct probe_cfg *c);

/* Recommendation in plain words (several lines, each ending in '\n'). */
void probe_advice(struct fct_buf *b, const struct probe_report *r, int pick);

/* ---- running ---- */

/* Probes every port of o into *r (zeroed first).  Never fails as a whole:
 * each port records its own error.  Sends no credential, ever. */
void probe_run(struct probe_report *r, const struct probe_opts *o);
/* Probes one port; used by setup for candidates found in DNS or the table. */
void probe_port(struct probe_port *p, const char *host, const struct probe_opts *o);

/* Human report, then the recommendation and configuration lines. */
void probe_print(FILE *fp, const struct probe_report *r, const char *cafile);
/* The same as one JSON object (schema in the function's comment). */
void probe_print_json(FILE *fp, const struct probe_report *r, const char *cafile);

/* Names for output: "IMAPS", "IMAP", "POP3S", "POP3"; verdict text with the
 * --cafile note. */
const char *probe_kind_name(const struct probe_port *p);
void probe_verdict(const struct probe_port *p, char *out, size_t outsz);

/* `facteur probe HOST [--port N] [--imaps-port N ...] [--cafile F]
 * [--timeout S] [--json]`: args[0] is "probe".  Returns the exit status:
 * 0 when something secure was recommended, 1 otherwise or on usage errors. */
int probe_main(int argc, char **argv, const struct fct_log *log, int json);

#endif
