/* POP3 client: the body decoder at every byte boundary, then whole sessions
 * against the scripted fake server (tests/unit/fakepop3.c) over a
 * socketpair, asserting on what the server received. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "fakepop3.h"
#include "proto/pop3.h"
#include "proto/sasl.h"
#include "proto/transport.h"

/* ---- decoder --------------------------------------------------------- */

struct collect {
	struct fct_buf b;
	int fail_after; /* > 0: fail on the call that crosses this many bytes */
};

static int collect_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct collect *c = ctx;

	fct_buf_append(&c->b, p, n);
	if (c->fail_after > 0 && c->b.len >= (size_t)c->fail_after)
		return fct_err_set(err, FCT_E_IO, "disk full");
	return 0;
}

/* Feeds in[] in the pieces given by cuts (ascending offsets). */
static size_t feed_pieces(struct pop3_dec *d, const char *in, size_t n, const size_t *cuts,
                          size_t ncuts, struct collect *c)
{
	struct fct_err err;
	size_t pos = 0, i;
	ssize_t r;

	for (i = 0; i <= ncuts && !d->done; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		r = pop3_dec_feed(d, in + pos, end - pos, collect_data, c, &err);
		assert_true(r >= 0);
		pos += (size_t)r;
		if (!d->done)
			assert_int_equal(pos, end);
	}
	return pos;
}

/* Wire form -> expected decoded form, with bytes after the terminator. */
static const char dec_wire[] =
	"From: a@b\r\n"
	"Subject: dots\r\n"
	"\r\n"
	"..leading dot\r\n"
	"...two dots\r\n"
	".\rnot the end\r\n"
	"lone\rCR inside\r\n"
	"..\r\n"
	"\r\n"
	"last line\r\n"
	".\r\n"
	"+OK next response\r\n";
static const char dec_text[] =
	"From: a@b\n"
	"Subject: dots\n"
	"\n"
	".leading dot\n"
	"..two dots\n"
	"\rnot the end\n"
	"lone\rCR inside\n"
	".\n"
	"\n"
	"last line\n";

static void dec_every_boundary(void **state)
{
	size_t n = strlen(dec_wire), term = strstr(dec_wire, "\r\n.\r\n") - dec_wire + 5;
	size_t i, j, used;
	struct pop3_dec d;
	struct collect c;

	(void)state;
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j += 7) {
			size_t cuts[2] = {i, j};
			fct_buf_init(&c.b);
			c.fail_after = 0;
			pop3_dec_init(&d);
			used = feed_pieces(&d, dec_wire, n, cuts, 2, &c);
			assert_true(d.done);
			assert_int_equal(used, term);
			assert_int_equal(c.b.len, strlen(dec_text));
			assert_memory_equal(c.b.data, dec_text, c.b.len);
			assert_int_equal(d.out_bytes, strlen(dec_text));
			fct_buf_free(&c.b);
		}
	}
}

static void dec_byte_by_byte(void **state)
{
	size_t n = strlen(dec_wire), i, used = 0;
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;

	(void)state;
	fct_buf_init(&c.b);
	c.fail_after = 0;
	pop3_dec_init(&d);
	for (i = 0; i < n && !d.done; i++)
		used += (size_t)pop3_dec_feed(&d, dec_wire + i, 1, collect_data, &c, &err);
	assert_true(d.done);
	assert_string_equal(c.b.data, dec_text);
	assert_string_equal(dec_wire + used, "+OK next response\r\n");
	fct_buf_free(&c.b);
}

static void dec_terminators(void **state)
{
	static const struct {
		const char *wire, *text;
		size_t used;
	} cases[] = {
		{".\r\nX", "", 3},
		{".\nX", "", 2},              /* lenient bare LF */
		{"a\n.\nX", "a\n", 4},
		{"a\r\n..\r\n.\r\n", "a\n.\n", 10},
		{"a\r\r\n.\r\n", "a\r\n", 7}, /* CR before CRLF is data */
	};
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fct_buf_init(&c.b);
		c.fail_after = 0;
		pop3_dec_init(&d);
		assert_int_equal(pop3_dec_feed(&d, cases[i].wire, strlen(cases[i].wire), collect_data,
		                               &c, &err),
		                 (ssize_t)cases[i].used);
		assert_true(d.done);
		assert_string_equal(c.b.data ? c.b.data : "", cases[i].text);
		fct_buf_free(&c.b);
	}
}

static void dec_large_and_sink_failure(void **state)
{
	struct fct_buf w;
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;
	size_t i;

	(void)state;
	fct_buf_init(&w);
	for (i = 0; i < 5000; i++)
		fct_buf_puts(&w, ".line of text that is dot-stuffed\r\n");
	fct_buf_puts(&w, ".\r\n");
	fct_buf_init(&c.b);
	c.fail_after = 0;
	pop3_dec_init(&d);
	assert_int_equal(pop3_dec_feed(&d, w.data, w.len, collect_data, &c, &err), (ssize_t)w.len);
	assert_true(d.done);
	assert_int_equal(c.b.len, 5000 * strlen("line of text that is dot-stuffed\n"));
	assert_null(memchr(c.b.data, '\r', c.b.len));
	fct_buf_free(&c.b);

	fct_buf_init(&c.b);
	c.fail_after = 10000;
	pop3_dec_init(&d);
	assert_int_equal(pop3_dec_feed(&d, w.data, w.len, collect_data, &c, &err), -1);
	assert_string_equal(err.msg, "disk full");
	fct_buf_free(&c.b);
	fct_buf_free(&w);
}

/* ---- sessions against the fake server ---------------------------------- */

struct fx {
	char dir[64];
	struct fakepop3_cfg cfg;
	struct fakepop3 srv;
	struct pop3_opts po;
	struct fct_log log;
	struct pop3 *p;
	struct fct_err err;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	snprintf(f->dir, sizeof f->dir, "/tmp/fct-pop3-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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

static int fx_teardown(void **state)
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
static int fx_connect(struct fx *f)
{
	struct xport *x = NULL;
	int fd;

	assert_int_equal(fakepop3_pair(&f->srv, &f->cfg, &fd), 0);
	assert_int_equal(xport_from_fds(&x, fd, fd, &f->po.net, &f->err), 0);
	return pop3_connect_xport(&f->p, x, &f->po, &f->err);
}

static char *fx_received(struct fx *f)
{
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	return fakepop3_slurp(f->dir, "received.log", NULL);
}

/* Everything logged so far. */
static char *fx_logged(struct fx *f)
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

static void login_user_pass(void **state)
{
	struct fx *f = *state;
	char *rx, *logged, *w;

	f->po.auth_mechs = "USER";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "USER");
	assert_true(pop3_caps(f->p)->bits & POP3_CAP_UIDL);
	assert_true(pop3_caps(f->p)->bits & POP3_CAP_APOP);
	assert_string_equal(pop3_caps(f->p)->sasl, "PLAIN");
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	rx = fx_received(f);
	assert_non_null(strstr(rx, "CAPA\r\nUSER bob\r\nPASS s3cret\r\nCAPA\r\n"));
	assert_non_null(strstr(rx, "QUIT\r\n"));
	free(rx);
	/* Clear-text login is warned about, once. */
	logged = fx_logged(f);
	w = strstr(logged, "without TLS");
	assert_non_null(w);
	assert_null(strstr(w + 1, "without TLS"));
	free(logged);
}

static void login_auth_plain_initial_response(void **state)
{
	struct fx *f = *state;
	char *rx, *b64, *want;

	f->po.auth_mechs = NULL; /* best available: PLAIN */
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "PLAIN");
	rx = fx_received(f);
	b64 = fct_b64_encode((const unsigned char *)"\0bob\0s3cret", 11);
	want = fct_xasprintf("AUTH PLAIN %s\r\n", b64);
	assert_non_null(strstr(rx, want));
	assert_null(strstr(rx, "PASS"));
	free(want);
	free(b64);
	free(rx);
}

/* RFC 5034: an AUTH line with initial response may not pass 255 octets;
 * a longer one waits for the server's empty challenge instead. */
static void login_auth_plain_long_credentials(void **state)
{
	struct fx *f = *state;
	char user[240], *rx;

	memset(user, 'u', sizeof user - 1);
	user[sizeof user - 1] = '\0';
	f->cfg.user = user;
	f->po.user = user;
	f->po.auth_mechs = "PLAIN";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "PLAIN");
	rx = fx_received(f);
	assert_non_null(strstr(rx, "AUTH PLAIN\r\n"));
	free(rx);
}

static void debug_log_masks_secrets(void **state)
{
	struct fx *f = *state;
	char *logged;

	f->log.debug = 1;
	f->po.auth_mechs = "USER";
	assert_int_equal(fx_connect(f), 0);
	logged = fx_logged(f);
	assert_non_null(strstr(logged, "pop3> USER bob"));
	assert_non_null(strstr(logged, "pop3> PASS <secret masked>"));
	assert_non_null(strstr(logged, "pop3< +OK Logged in."));
	assert_null(strstr(logged, "s3cret"));
	free(logged);
}

static void greeting_refused(void **state)
{
	struct fx *f = *state;

	f->cfg.greeting = "-ERR [SYS/TEMP] too many connections";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_STORE);
	assert_true(f->err.temporary);
	assert_non_null(strstr(f->err.msg, "too many connections"));
}

static void login_apop(void **state)
{
	struct fx *f = *state;
	char *rx;

	f->po.auth_mechs = "APOP";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "APOP");
	rx = fx_received(f);
	assert_non_null(strstr(rx, "APOP bob "));
	assert_null(strstr(rx, "s3cret"));
	free(rx);
}

static void login_without_capa_uses_user(void **state)
{
	struct fx *f = *state;

	f->cfg.capa = NULL;
	f->cfg.greeting = "+OK old server";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "USER");
	assert_false(pop3_caps(f->p)->bits & (POP3_CAP_CAPA | POP3_CAP_APOP));
}

static void login_refused_reports_server_text(void **state)
{
	struct fx *f = *state;

	f->po.pass = "wrong";
	f->po.auth_mechs = "USER";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_non_null(strstr(f->err.msg, "Authentication failed"));
	assert_non_null(strstr(f->err.msg, "credentials refused"));
}

static void login_response_codes(void **state)
{
	struct fx *f = *state;

	f->po.auth_mechs = "USER";
	f->cfg.login_err_code = 1;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_STORE);
	assert_true(f->err.temporary);
	assert_non_null(strstr(f->err.msg, "in use"));
	fakepop3_stop(&f->srv);

	f->cfg.login_err_code = 2;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_true(f->err.temporary);
	assert_non_null(strstr(f->err.msg, "delay"));
}

static void no_usable_mechanism(void **state)
{
	struct fx *f = *state;
	char *rx;

	f->po.auth_mechs = "XOAUTH2 CRAM-MD5";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_non_null(strstr(f->err.msg, "no usable login"));
	rx = fx_received(f);
	assert_null(strstr(rx, "AUTH"));
	free(rx);
}

/* With STLS required, nothing secret may ever reach the server. */
static void assert_no_credentials(struct fx *f)
{
	char *rx = fx_received(f);

	assert_null(strstr(rx, "USER"));
	assert_null(strstr(rx, "PASS"));
	assert_null(strstr(rx, "AUTH"));
	assert_null(strstr(rx, "APOP"));
	assert_null(strstr(rx, "s3cret"));
	assert_null(strstr(rx, "bob"));
	free(rx);
}

static void stls_missing_sends_no_credentials(void **state)
{
	struct fx *f = *state;

	f->po.tls = POP3_TLS_STLS;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_TLS);
	assert_non_null(strstr(f->err.msg, "STLS"));
	assert_no_credentials(f);
}

static void stls_refused_sends_no_credentials(void **state)
{
	struct fx *f = *state;

	f->po.tls = POP3_TLS_STLS;
	f->cfg.capa = "USER\r\nSTLS\r\nUIDL\r\n";
	f->cfg.stls = 0;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_TLS);
	assert_no_credentials(f);
}

static void stls_injected_bytes_abort(void **state)
{
	struct fx *f = *state;

	f->po.tls = POP3_TLS_STLS;
	f->cfg.capa = "USER\r\nSTLS\r\nUIDL\r\n";
	f->cfg.stls = 2;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_PROTO);
	assert_non_null(strstr(f->err.msg, "after accepting STLS"));
	assert_no_credentials(f);
}

static void login_scram_sha256(void **state)
{
	struct fx *f = *state;
	char *rx;

	f->cfg.capa = "USER\r\nUIDL\r\nSASL PLAIN SCRAM-SHA-256\r\n";
	f->cfg.scram = 1;
	f->po.auth_mechs = NULL; /* SCRAM preferred over PLAIN */
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "SCRAM-SHA-256");
	rx = fx_received(f);
	assert_non_null(strstr(rx, "AUTH SCRAM-SHA-256 "));
	assert_null(strstr(rx, "s3cret"));
	assert_null(strstr(rx, "PASS"));
	free(rx);
}

static void login_scram_wrong_password(void **state)
{
	struct fx *f = *state;

	f->cfg.capa = "SASL SCRAM-SHA-256\r\n";
	f->cfg.scram = 1;
	f->po.pass = "not it";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_non_null(strstr(f->err.msg, "SCRAM-SHA-256"));
}

/* A server that cannot prove it knows the password is not trusted, even
 * though it would accept us. */
static void login_scram_bad_server_signature(void **state)
{
	struct fx *f = *state;
	char *rx;

	f->cfg.capa = "SASL SCRAM-SHA-256\r\n";
	f->cfg.scram = 2;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_null(f->p);
	rx = fx_received(f);
	/* We cancelled instead of completing the exchange. */
	assert_non_null(strstr(rx, "\r\n*\r\n"));
	free(rx);
}

static void stls_upgrade_then_login(void **state)
{
	struct fx *f = *state;
	char *rx, *cert, *tls, *auth;

	assert_int_equal(fakepop3_make_cert(f->dir), 0);
	cert = fct_xasprintf("%s/cert.pem", f->dir);
	f->cfg.capa = "USER\r\nSTLS\r\n";
	f->cfg.capa_tls = "USER\r\nUIDL\r\nSASL PLAIN\r\n";
	f->cfg.stls = 3;
	f->po.tls = POP3_TLS_STLS;
	f->po.net.host = "localhost";
	f->po.tls_opts.system_certs = 0;
	f->po.tls_opts.ca_file = cert;
	f->po.tls_opts.verify = 1;
	assert_int_equal(fx_connect(f), 0);
	/* Capabilities are the ones given over TLS. */
	assert_true(pop3_caps(f->p)->bits & POP3_CAP_UIDL);
	assert_false(pop3_caps(f->p)->bits & POP3_CAP_STLS);
	assert_string_equal(pop3_auth_used(f->p), "PLAIN");
	rx = fx_received(f);
	tls = strstr(rx, "STLS\r\n--TLS--\nCAPA\r\n");
	auth = strstr(rx, "AUTH PLAIN");
	assert_non_null(tls);
	assert_non_null(auth);
	assert_true(auth > tls);
	free(rx);
	free(cert);
}

static void stls_untrusted_certificate(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fakepop3_make_cert(f->dir), 0);
	f->cfg.capa = "USER\r\nSTLS\r\n";
	f->cfg.stls = 3;
	f->po.tls = POP3_TLS_STLS;
	f->po.net.host = "localhost";
	f->po.tls_opts.system_certs = 0;
	f->po.tls_opts.verify = 1;
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_TLS);
	assert_no_credentials(f);
}

static void implicit_tls_connect(void **state)
{
	struct fx *f = *state;
	char *cert;

	assert_int_equal(fakepop3_make_cert(f->dir), 0);
	cert = fct_xasprintf("%s/cert.pem", f->dir);
	f->cfg.tls_implicit = 1;
	assert_int_equal(fakepop3_listen(&f->srv, &f->cfg), 0);
	f->po.tls = POP3_TLS_IMPLICIT;
	f->po.net.host = "localhost";
	f->po.net.port = f->srv.port;
	f->po.tls_opts.system_certs = 0;
	f->po.tls_opts.ca_file = cert;
	f->po.tls_opts.verify = 1;
	assert_int_equal(pop3_connect(&f->p, &f->po, &f->err), 0);
	assert_string_equal(pop3_auth_used(f->p), "PLAIN");
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	free(cert);
}

static void uidl_and_list(void **state)
{
	struct fx *f = *state;
	struct pop3_uidl_ent *u = NULL;
	struct pop3_list_ent *l = NULL;
	size_t nu = 0, nl = 0;
	char seventy[71];

	memset(seventy, 'z', 70);
	seventy[70] = '\0';
	assert_int_equal(fakepop3_add(f->dir, "a1", "Subject: one\n\nbody\n"), 0);
	assert_int_equal(fakepop3_add(f->dir, "b~!", "x\n"), 0);
	assert_int_equal(fakepop3_add(f->dir, seventy, ".dot\n"), 0);
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 3);
	assert_int_equal(u[0].num, 1);
	assert_string_equal(u[0].uidl, "a1");
	assert_string_equal(u[1].uidl, "b~!");
	assert_string_equal(u[2].uidl, seventy);
	assert_int_equal(pop3_list(f->p, &l, &nl, &f->err), 0);
	assert_int_equal(nl, 3);
	assert_int_equal(l[0].size, strlen("Subject: one\r\n\r\nbody\r\n"));
	assert_int_equal(l[1].size, 3);
	assert_int_equal(l[2].num, 3);
	free(u);
	free(l);
}

static void empty_mailbox(void **state)
{
	struct fx *f = *state;
	struct pop3_uidl_ent *u = NULL;
	struct pop3_list_ent *l = NULL;
	size_t nu = 1, nl = 1;

	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 0);
	assert_int_equal(pop3_list(f->p, &l, &nl, &f->err), 0);
	assert_int_equal(nl, 0);
	assert_int_equal(pop3_retr_many(f->p, NULL, 0, NULL, &f->err), 0);
	assert_int_equal(pop3_dele(f->p, NULL, 0, NULL, &f->err), 0);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	free(u);
	free(l);
}

static void uidl_rejects(struct fx *f, const char *raw, const char *why)
{
	struct pop3_uidl_ent *u = NULL;
	size_t nu = 0;

	f->cfg.uidl_raw = raw;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), -1);
	assert_null(u);
	assert_int_equal(f->err.kind, FCT_E_PROTO);
	assert_non_null(strstr(f->err.msg, why));
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
}

static void uidl_validation(void **state)
{
	struct fx *f = *state;
	char longid[100];

	uidl_rejects(f, "1 ok\r\n2 bad\x01id\r\n", "invalid unique-id");
	uidl_rejects(f, "1 ok\r\n2 caf\xc3\xa9\r\n", "invalid unique-id");
	snprintf(longid, sizeof longid, "1 %071d\r\n", 7);
	uidl_rejects(f, longid, "invalid unique-id");
	uidl_rejects(f, "1 same\r\n2 other\r\n3 same\r\n", "share the unique-id \"same\"");
	uidl_rejects(f, "1 a\r\n1 b\r\n", "listed twice");
	uidl_rejects(f, "x a\r\n", "malformed");
	uidl_rejects(f, "0 a\r\n", "malformed");
	uidl_rejects(f, "1\r\n", "malformed");
	uidl_rejects(f, "-1 a\r\n", "malformed");
	{
		/* A line past the bound is an error, not an allocation. */
		char *huge = fct_xcalloc(1, POP3_LINE_MAX + 16);
		memcpy(huge, "1 ", 2);
		memset(huge + 2, 'x', POP3_LINE_MAX + 8);
		memcpy(huge + POP3_LINE_MAX + 10, "\r\n", 2);
		uidl_rejects(f, huge, "longer than");
		free(huge);
	}
}

struct rsink {
	unsigned order[16];
	size_t norder;
	struct fct_buf bodies[16];
	unsigned refused[16];
	size_t nrefused;
	int in_body;
};

static int rs_begin(void *ctx, unsigned num, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_false(r->in_body);
	r->in_body = 1;
	r->order[r->norder] = num;
	fct_buf_init(&r->bodies[r->norder]);
	return 0;
}

static int rs_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_true(r->in_body);
	fct_buf_append(&r->bodies[r->norder], p, n);
	return 0;
}

static int rs_end(void *ctx, unsigned num, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_int_equal(r->order[r->norder], num);
	r->in_body = 0;
	r->norder++;
	return 0;
}

static int rs_refused(void *ctx, unsigned num, const char *text, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_non_null(strstr(text, "no such message"));
	r->refused[r->nrefused++] = num;
	return 0;
}

static void rs_free(struct rsink *r)
{
	size_t i;

	for (i = 0; i < r->norder; i++)
		fct_buf_free(&r->bodies[i]);
}

static const char *const bodies[] = {
	"Subject: 1\n\n.hidden dot\n..two\n.\n",
	"Subject: 2\n\nplain\n",
	"Subject: 3\n\n. space\nend without newline",
	"Subject: 4\n\n\n\n",
	"Subject: 5\n\n.\n.\n.x\n",
};

static void add_bodies(struct fx *f)
{
	char name[8];
	size_t i;

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "m%zu", i + 1);
		assert_int_equal(fakepop3_add(f->dir, name, bodies[i]), 0);
	}
}

/* The expected LF text of body i (the server adds a final newline). */
static void assert_body(const struct fct_buf *b, size_t i)
{
	size_t n = strlen(bodies[i]);
	int nl = bodies[i][n - 1] != '\n';

	assert_int_equal(b->len, n + (size_t)nl);
	assert_memory_equal(b->data, bodies[i], n);
}

static int max_read_lines(struct fx *f)
{
	char *r = fakepop3_slurp(f->dir, "reads.log", NULL), *p = r;
	int m = 0;

	while (*p) {
		int v = atoi(p);
		if (v > m)
			m = v;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	free(r);
	return m;
}

static void retr_order(struct fx *f, int pipelined)
{
	static const unsigned nums[] = {3, 1, 5, 2, 4};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, NULL, NULL};
	struct rsink r;
	size_t i;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.capa = pipelined ? "USER\r\nUIDL\r\nPIPELINING\r\n" : "USER\r\nUIDL\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 5, &sink, &f->err), 0);
	assert_int_equal(r.norder, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(r.order[i], nums[i]);
		assert_body(&r.bodies[i], nums[i] - 1);
	}
	/* The session is still in step: a command after the bodies works. */
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	if (pipelined)
		assert_true(max_read_lines(f) > 1);
	else
		assert_int_equal(max_read_lines(f), 1);
	rs_free(&r);
}

static void retr_pipelined_in_order(void **state)
{
	retr_order(*state, 1);
}

static void retr_unpipelined_in_order(void **state)
{
	retr_order(*state, 0);
}

static void retr_small_server_writes(void **state)
{
	struct fx *f = *state;

	f->cfg.chunk = 3;
	retr_order(f, 1);
}

static void retr_refused_message(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2, 3};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, rs_refused, NULL};
	struct pop3_uidl_ent *u = NULL;
	size_t nu = 0;
	struct rsink r;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.retr_refuse = "m2";
	f->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), 0);
	assert_int_equal(r.norder, 2);
	assert_int_equal(r.order[1], 3);
	assert_int_equal(r.nrefused, 1);
	assert_int_equal(r.refused[0], 2);
	rs_free(&r);

	/* Without a handler: FCT_E_MSG, and the session stays usable. */
	memset(&r, 0, sizeof r);
	sink.refused = NULL;
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), -1);
	assert_int_equal(f->err.kind, FCT_E_MSG);
	assert_non_null(strstr(f->err.msg, "RETR 2"));
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 5);
	free(u);
	rs_free(&r);
}

static void retr_connection_lost(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2, 3};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, NULL, NULL};
	struct rsink r;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.close_after_retr = 1;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), -1);
	assert_int_equal(r.norder, 1);
	assert_int_equal(pop3_quit(f->p, &f->err), -1);
	assert_non_null(strstr(f->err.msg, "unusable"));
	rs_free(&r);
}

static void dele_then_quit(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {2, 4, 9};
	size_t ok = 0;

	add_bodies(f);
	f->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 3, &ok, &f->err), -1);
	assert_int_equal(ok, 2);
	assert_int_equal(f->err.kind, FCT_E_MSG);
	assert_non_null(strstr(f->err.msg, "DELE 9"));
	/* Marked only: nothing gone before QUIT. */
	assert_int_equal(fakepop3_count(f->dir), 5);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 3);
}

static void dele_without_quit_keeps_mail(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2};

	add_bodies(f);
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 2, NULL, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 5);
}

static void quit_failure_reported(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1};

	add_bodies(f);
	f->cfg.quit_err = 1;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 1, NULL, &f->err), 0);
	assert_int_equal(pop3_quit(f->p, &f->err), -1);
	assert_int_equal(f->err.kind, FCT_E_STORE);
	assert_non_null(strstr(f->err.msg, "failed to remove"));
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 5);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dec_every_boundary),
		cmocka_unit_test(dec_byte_by_byte),
		cmocka_unit_test(dec_terminators),
		cmocka_unit_test(dec_large_and_sink_failure),
		FX(login_user_pass),
		FX(login_auth_plain_initial_response),
		FX(login_auth_plain_long_credentials),
		FX(debug_log_masks_secrets),
		FX(greeting_refused),
		FX(login_apop),
		FX(login_without_capa_uses_user),
		FX(login_refused_reports_server_text),
		FX(login_response_codes),
		FX(no_usable_mechanism),
		FX(login_scram_sha256),
		FX(login_scram_wrong_password),
		FX(login_scram_bad_server_signature),
		FX(stls_upgrade_then_login),
		FX(stls_untrusted_certificate),
		FX(implicit_tls_connect),
		FX(stls_missing_sends_no_credentials),
		FX(stls_refused_sends_no_credentials),
		FX(stls_injected_bytes_abort),
		FX(uidl_and_list),
		FX(uidl_validation),
		FX(empty_mailbox),
		FX(retr_pipelined_in_order),
		FX(retr_unpipelined_in_order),
		FX(retr_small_server_writes),
		FX(retr_refused_message),
		FX(retr_connection_lost),
		FX(dele_then_quit),
		FX(dele_without_quit_keeps_mail),
		FX(quit_failure_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
