/* A fake POP3 server for unit tests, run in a forked child: either on one end
 * of a socketpair (one session) or on a 127.0.0.1 listener (sessions one
 * after another until stopped).
 *
 * The mailbox is a directory: every regular file in <dir>/box is a message,
 * its name the UIDL, numbered in name order, its content sent with LF turned
 * into CRLF and dot-stuffing applied.  DELE'd files are unlinked at QUIT, so
 * state survives across sessions and tests can add mail between runs.
 * Every byte the server receives is appended to <dir>/received.log; for each
 * read() the number of complete command lines it held goes as one line to
 * <dir>/reads.log (to observe pipelining).  When TLS starts, the line
 * "--TLS--" is logged there, so tests see what was sent before and after. */
#ifndef FAKEPOP3_H
#define FAKEPOP3_H

#include <stddef.h>
#include <sys/types.h>

struct fakepop3_cfg {
	const char *dir;        /* holds box/, received.log, reads.log */
	const char *greeting;   /* full first line; NULL: "+OK fake <1896.697170952@fake>" */
	const char *capa;       /* CAPA lines, each ending in "\r\n"; NULL: CAPA -> -ERR */
	const char *user, *pass;
	int no_user;            /* refuse USER */
	int no_apop;            /* refuse APOP */
	int no_sasl_plain;      /* refuse AUTH PLAIN */
	int stls;               /* 0: STLS -> -ERR; 1: +OK then close; 2: +OK plus junk;
	                           3: +OK then a real TLS handshake (fakepop3_make_cert) */
	int tls_implicit;       /* TLS from the first byte (POP3S) */
	const char *capa_tls;   /* CAPA lines once TLS is up; NULL: same as capa */
	int scram;              /* 1: AUTH SCRAM-SHA-256; 2: same, bad server signature */
	int xoauth2;            /* accept AUTH XOAUTH2 with pass as the token */
	int no_uidl;            /* UIDL -> -ERR */
	const char *uidl_raw;   /* UIDL listing lines to send instead of the real ones */
	const char *list_raw;   /* same for LIST */
	const char *retr_refuse;/* UIDL whose RETR answers -ERR */
	int chunk;              /* send responses in pieces of this size (0: at once) */
	int close_after_retr;   /* >0: drop the connection after that many RETR */
	int quit_err;           /* QUIT in TRANSACTION answers -ERR, deletes nothing */
	int login_err_code;     /* 1: "[IN-USE]", 2: "[LOGIN-DELAY]", 3: "[SYS/TEMP]" on PASS */
};

struct fakepop3 {
	pid_t pid;
	int port;               /* listener mode */
	char dir[512];
};

/* Creates dir/box if missing.  Listener mode: f->port is set. */
int fakepop3_listen(struct fakepop3 *f, const struct fakepop3_cfg *c);
/* Socketpair mode: *client_fd is the client's end (caller owns it). */
int fakepop3_pair(struct fakepop3 *f, const struct fakepop3_cfg *c, int *client_fd);
/* Waits for a socketpair server to finish its session (or kills a
 * listener); returns the child's exit status. */
int fakepop3_stop(struct fakepop3 *f);
/* malloc'd contents of dir/name ("" if missing), NUL-terminated. */
char *fakepop3_slurp(const char *dir, const char *name, size_t *len);
/* A fresh directory under TMPDIR (or the system default): buf, or NULL. */
char *fakepop3_tmpdir(char *buf, size_t n, const char *tag);
/* Self-signed certificate for localhost / 127.0.0.1: dir/cert.pem, dir/key.pem. */
int fakepop3_make_cert(const char *dir);
/* Writes a message file dir/box/uidl. */
int fakepop3_add(const char *dir, const char *uidl, const char *content);
/* Number of messages in dir/box. */
int fakepop3_count(const char *dir);

#endif
