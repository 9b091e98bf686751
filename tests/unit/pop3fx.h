/* Shared fixture of the POP3 client tests: a fake server (fakepop3.h) on a
 * socketpair and the options to reach it.  Included by test_pop3.c and
 * test_pop3_login.c only (static inline: each uses what it needs). */
#ifndef POP3FX_H
#define POP3FX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakepop3.h"
#include "proto/pop3.h"
#include "proto/transport.h"

struct fx {
	char dir[128];
	struct fakepop3_cfg cfg;
	struct fakepop3 srv;
	struct pop3_opts po;
	struct fct_log log;
	struct pop3 *p;
	struct fct_err err;
};

static inline int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(fakepop3_tmpdir(f->dir, sizeof f->dir, "pop3"));
	f->cfg.dir = f->dir;
	f->cfg.user = "bob";
	f->cfg.pass = "s3cret";
	f->cfg.capa = "USER\r\nUIDL\r\nTOP\r\nSASL PLAIN\r\nRESP-CODES\r\n";
	f->log.level = 0;
	f->log.fp = tmpfile();
	assert_non_null(f->log.fp);
	f->po.net.host = "fake.test";
	f->po.net.timeout_ms = 5000;
	f->po.net.log = &f->log;
	f->po.tls = POP3_TLS_NONE;
	f->po.user = "bob";
	f->po.pass = "s3cret";
	f->po.log = &f->log;
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	char *cmd;

	pop3_close(f->p);
	if (f->srv.pid > 0)
		fakepop3_stop(&f->srv);
	fclose(f->log.fp);
	cmd = fct_xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* Starts the server and connects; returns pop3_connect_xport's result. */
static inline int fx_connect(struct fx *f)
{
	struct xport *x = NULL;
	int fd;

	assert_int_equal(fakepop3_pair(&f->srv, &f->cfg, &fd), 0);
	assert_int_equal(xport_from_fds(&x, fd, fd, &f->po.net, &f->err), 0);
	return pop3_connect_xport(&f->p, x, &f->po, &f->err);
}

static inline char *fx_received(struct fx *f)
{
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	return fakepop3_slurp(f->dir, "received.log", NULL);
}

/* Everything logged so far. */
static inline char *fx_logged(struct fx *f)
{
	long n;
	char *s;

	fflush(f->log.fp);
	n = ftell(f->log.fp);
	s = fct_xcalloc(1, (size_t)n + 1);
	rewind(f->log.fp);
	assert_int_equal(fread(s, 1, (size_t)n, f->log.fp), (size_t)n);
	return s;
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

#endif
