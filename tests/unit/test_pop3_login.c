/* POP3 client login against the fake server (tests/unit/fakepop3.c):
 * greeting, CAPA, USER/PASS, APOP, AUTH (PLAIN, SCRAM-SHA-256, XOAUTH2),
 * STLS and implicit TLS, asserting on what the server received. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "pop3fx.h"
#include "proto/sasl.h"

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

static void login_xoauth2(void **state)
{
	struct fx *f = *state;

	f->cfg.capa = "USER\r\nSASL PLAIN XOAUTH2\r\n";
	f->cfg.xoauth2 = 1;
	f->cfg.pass = "ya29.token";
	f->po.pass = "ya29.token";
	f->po.auth_mechs = "XOAUTH2";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "XOAUTH2");
}

static void login_xoauth2_bad_token(void **state)
{
	struct fx *f = *state;

	f->cfg.capa = "SASL XOAUTH2\r\n";
	f->cfg.xoauth2 = 1;
	f->po.pass = "expired";
	f->po.auth_mechs = "XOAUTH2";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	/* The empty answer to the error challenge got the final -ERR. */
	assert_non_null(strstr(f->err.msg, "invalid token"));
}

/* "*" never picks an OAuth mechanism: the password is not a token. */
static void auto_mechs_skip_oauth(void **state)
{
	struct fx *f = *state;

	f->cfg.capa = "USER\r\nSASL XOAUTH2 OAUTHBEARER\r\n";
	f->cfg.xoauth2 = 1;
	f->po.auth_mechs = "*";
	assert_int_equal(fx_connect(f), 0);
	assert_string_equal(pop3_auth_used(f->p), "USER");
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

static void greeting_without_timestamp_has_no_apop(void **state)
{
	struct fx *f = *state;

	f->cfg.greeting = "+OK <pop.example> ready";
	f->po.auth_mechs = "APOP";
	assert_int_equal(fx_connect(f), -1);
	assert_int_equal(f->err.kind, FCT_E_AUTH);
	assert_non_null(strstr(f->err.msg, "no usable login"));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX(login_user_pass),
		FX(login_auth_plain_initial_response),
		FX(login_auth_plain_long_credentials),
		FX(login_xoauth2),
		FX(login_xoauth2_bad_token),
		FX(auto_mechs_skip_oauth),
		FX(debug_log_masks_secrets),
		FX(greeting_refused),
		FX(login_apop),
		FX(login_without_capa_uses_user),
		FX(greeting_without_timestamp_has_no_apop),
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
