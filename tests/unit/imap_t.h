/* Shared by the IMAP session tests: a session against the scripted fake
 * server (tests/unit/fakeserver.h) over a socketpair, with the log captured
 * in memory, and recorders for callbacks. */
#ifndef FACTEUR_TEST_IMAP_T_H
#define FACTEUR_TEST_IMAP_T_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/imap.h"
#include "proto/imap_int.h"
#include "tests/unit/fakeserver.h"

#define PASS "s3cret!"

struct t {
	struct fake_server *fs;
	struct imap *im;
	struct imap_opts o;
	struct fct_err err;
	struct fct_log log;
	char *logtext;
	size_t loglen;
	char why[512];
};

static inline void t_init(struct t *t, enum imap_tls tls)
{
	memset(t, 0, sizeof *t);
	t->log.level = 1;
	t->log.fp = open_memstream(&t->logtext, &t->loglen);
	t->o.net.host = "fake.example";
	t->o.net.port = 143;
	t->o.net.timeout_ms = 5000;
	t->o.net.log = &t->log;
	t->o.tls = tls;
	t->o.tlso.verify = 1;
	t->o.user = "joe";
	t->o.pass = PASS;
	t->o.log = &t->log;
	fct_err_clear(&t->err);
}

/* Starts the fake server with script and connects; returns imap_connect's value. */
static inline int t_connect(struct t *t, const char *const *script)
{
	struct xport *x;
	int fd;

	assert_int_equal(fake_server_start(&t->fs, script, &fd), 0);
	assert_int_equal(xport_from_fds(&x, fd, fd, &t->o.net, &t->err), 0);
	return imap_connect_xport(&t->im, x, &t->o, &t->err);
}

static inline const char *t_log(struct t *t)
{
	fflush(t->log.fp);
	return t->logtext ? t->logtext : "";
}

/* Closes the session, checks the script ran to its end, frees. */
static inline void t_finish(struct t *t, int script_must_pass)
{
	imap_close(t->im);
	t->im = NULL;
	if (fake_server_finish(t->fs, t->why, sizeof t->why) < 0 && script_must_pass)
		fail_msg("fake server: %s", t->why);
}

static inline void t_free(struct t *t)
{
	fake_server_free(t->fs);
	fclose(t->log.fp);
	free(t->logtext);
}

static inline const char *received(struct t *t)
{
	return fake_server_received(t->fs, NULL);
}

#define CONNECT_OK(t, script)                                                                  \
	do {                                                                                       \
		if (t_connect(t, script) < 0)                                                          \
			fail_msg("connect: %s", (t)->err.msg);                                             \
	} while (0)

/* ---- mailbox commands ---- */

#define GREET_LOGIN(caps)                                                                      \
	"S:* OK [CAPABILITY IMAP4rev1 " caps "] hi", "C:A1 LOGIN \"joe\" \"s3cret!\"",              \
		"S:A1 OK [CAPABILITY IMAP4rev1 " caps "] in"

struct rec {
	struct fct_buf b;
};

static inline int rec_vanished(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	struct rec *r = ctx;

	(void)err;
	fct_buf_printf(&r->b, "V%u-%u;", lo, hi);
	return 0;
}

static inline int rec_msg(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct rec *r = ctx;

	(void)err;
	fct_buf_printf(&r->b, "M%u f%x o%u s%llu d%lld m%llu id%s e%s;", m->uid, m->flags,
	               m->other_flags_present, (unsigned long long)m->size,
	               (long long)m->internaldate, (unsigned long long)m->modseq,
	               m->msgid ? m->msgid : "-", m->emailid ? m->emailid : "-");
	return 0;
}

static inline int rec_list(void *ctx, const char *name, char delim, unsigned attrs)
{
	struct rec *r = ctx;

	fct_buf_printf(&r->b, "%s|%c|%x;", name, delim ? delim : '0', attrs);
	return 0;
}

#endif
