#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/sasl.h"

/* One exchange: feeds challenge (a string), expects response exactly. */
static void expect_step(struct sasl *s, const char *challenge, const char *want, size_t wantlen)
{
	struct fct_err err;
	unsigned char *out;
	size_t outlen;

	fct_err_clear(&err);
	if (sasl_step(s, (const unsigned char *)challenge, challenge ? strlen(challenge) : 0, &out,
	              &outlen, &err) != 0)
		fail_msg("sasl_step failed: %s", err.msg);
	if (outlen != wantlen || memcmp(out, want, wantlen) != 0)
		fail_msg("got \"%.*s\", want \"%.*s\"", (int)outlen, out, (int)wantlen, want);
	free(out);
}

static struct sasl *mk(const char *mech, const char *user, const char *pass)
{
	struct sasl *s;
	struct fct_err err;

	if (sasl_new(&s, mech, user, pass, "imap.example.com", 993, &err) != 0)
		fail_msg("sasl_new %s: %s", mech, err.msg);
	return s;
}

static void scram_sha1_rfc5802(void **state)
{
	struct sasl *s = mk("scram-sha-1", "user", "pencil");
	struct fct_err err;

	(void)state;
	assert_true(sasl_client_first(s));
	assert_string_equal(sasl_mech(s), "SCRAM-SHA-1");
	assert_int_equal(sasl_scram_set_nonce(s, "fyko+d2lbbFgONRv9qkxdawL"), 0);
	expect_step(s, NULL, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", 36);
	const char *c2 = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	expect_step(s, "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096", c2,
	            strlen(c2));
	assert_int_equal(sasl_done(s, &err), -1); /* not verified yet */
	expect_step(s, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", "", 0);
	assert_int_equal(sasl_done(s, &err), 0);
	sasl_free(s);
}

static const char *s256_first =
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

static struct sasl *scram256_to_final(void)
{
	struct sasl *s = mk("SCRAM-SHA-256", "user", "pencil");
	const char *c2 = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

	assert_int_equal(sasl_scram_set_nonce(s, "rOprNGfwEbeRWgbNEkqO"), 0);
	expect_step(s, "", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 32);
	expect_step(s, s256_first, c2, strlen(c2));
	return s;
}

static void scram_sha256_rfc7677(void **state)
{
	struct sasl *s = scram256_to_final();
	struct fct_err err;

	(void)state;
	expect_step(s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "", 0);
	assert_int_equal(sasl_done(s, &err), 0);
	sasl_free(s);
}

static void step_fails(struct sasl *s, const char *challenge, const char *msgpart)
{
	struct fct_err err;
	unsigned char dummy = 0, *out = &dummy;
	size_t outlen = 1;

	fct_err_clear(&err);
	assert_int_equal(sasl_step(s, (const unsigned char *)challenge, strlen(challenge), &out,
	                           &outlen, &err),
	                 -1);
	assert_null(out);
	assert_int_equal(err.kind, FCT_E_AUTH);
	if (!strstr(err.msg, msgpart))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, msgpart);
}

static void scram_bad_server(void **state)
{
	struct sasl *s = scram256_to_final();
	struct fct_err err;

	(void)state;
	/* One changed byte of the RFC 7677 signature. */
	step_fails(s, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "server signature did not verify");
	assert_int_equal(sasl_done(s, &err), -1);
	assert_int_equal(err.kind, FCT_E_AUTH);
	assert_non_null(strstr(err.msg, "server signature did not verify"));
	sasl_free(s);

	s = scram256_to_final(); /* server OK without any v= */
	assert_int_equal(sasl_done(s, &err), -1);
	assert_non_null(strstr(err.msg, "server signature did not verify"));
	sasl_free(s);

	s = scram256_to_final();
	step_fails(s, "e=invalid-proof", "invalid-proof");
	sasl_free(s);

	s = mk("SCRAM-SHA-256", "user", "pencil");
	assert_int_equal(sasl_scram_set_nonce(s, "rOprNGfwEbeRWgbNEkqO"), 0);
	expect_step(s, "", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 32);
	step_fails(s, "r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce");
	sasl_free(s);

	s = mk("SCRAM-SHA-1", "user", "pencil");
	assert_int_equal(sasl_scram_set_nonce(s, "abc"), 0);
	expect_step(s, "", "n,,n=user,r=abc", 15);
	step_fails(s, "r=abcdef,s=QSXCR+Q6sek8bf92,i=0", "iteration");
	sasl_free(s);

	s = mk("SCRAM-SHA-1", "user", "pencil");
	assert_int_equal(sasl_scram_set_nonce(s, "abc"), 0);
	expect_step(s, "", "n,,n=user,r=abc", 15);
	step_fails(s, "r=abcdef,s=!!!!,i=4096", "salt");
	sasl_free(s);
}

static void scram_random_nonce_and_escaping(void **state)
{
	struct sasl *s = mk("SCRAM-SHA-256", "a,b=c", "pw");
	struct fct_err err;
	unsigned char *o1, *o2;
	size_t l1, l2;

	(void)state;
	assert_int_equal(sasl_step(s, NULL, 0, &o1, &l1, &err), 0);
	assert_true(l1 > strlen("n,,n=a=2Cb=3Dc,r=") + 16);
	assert_memory_equal(o1, "n,,n=a=2Cb=3Dc,r=", 17);
	sasl_free(s);
	s = mk("SCRAM-SHA-256", "u", "pw");
	assert_int_equal(sasl_step(s, NULL, 0, &o2, &l2, &err), 0);
	sasl_free(s);
	/* Two random nonces differ. */
	assert_true(l1 - 17 != l2 - 9 || memcmp(o1 + 17, o2 + 9, l2 - 9) != 0);
	free(o1);
	free(o2);
	s = mk("SCRAM-SHA-1", "u", "bad\001pw");
	assert_int_equal(sasl_step(s, NULL, 0, &o1, &l1, &err), -1);
	assert_non_null(strstr(err.msg, "control"));
	sasl_free(s);
}

static void plain_login_cram(void **state)
{
	struct sasl *s;

	(void)state;
	s = mk("PLAIN", "tim", "secret");
	assert_true(sasl_client_first(s));
	expect_step(s, NULL, "\0tim\0secret", 11);
	sasl_free(s);

	s = mk("login", "tim", "secret");
	assert_false(sasl_client_first(s));
	expect_step(s, "Username:", "tim", 3);
	expect_step(s, "Password:", "secret", 6);
	step_fails(s, "What?", "LOGIN");
	sasl_free(s);

	s = mk("CRAM-MD5", "tim", "tanstaaftanstaaf"); /* RFC 2195 */
	assert_false(sasl_client_first(s));
	expect_step(s, "<1896.697170952@postoffice.reston.mci.net>",
	            "tim b913a602c7eda7a495b4e6e7334d3890", 36);
	sasl_free(s);
}

static void oauth(void **state)
{
	struct sasl *s;
	const char *x = "user=someuser@example.com\001auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";
	const char *ob = "n,a=user@example.com,\001host=imap.example.com\001port=993\001"
	                 "auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\001\001";

	(void)state;
	s = mk("XOAUTH2", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	assert_true(sasl_client_first(s));
	expect_step(s, NULL, x, strlen(x));
	expect_step(s, "{\"status\":\"401\"}", "", 0); /* error challenge: empty reply */
	sasl_free(s);

	s = mk("OAUTHBEARER", "user@example.com", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==");
	expect_step(s, NULL, ob, strlen(ob)); /* RFC 7628 4.1, with our host/port */
	expect_step(s, "{\"status\":\"invalid_token\"}", "\001", 1);
	sasl_free(s);
}

static void unsupported(void **state)
{
	struct sasl *s = (struct sasl *)&s;
	struct fct_err err;

	(void)state;
	assert_true(sasl_supported("scram-sha-256"));
	assert_false(sasl_supported("GSSAPI"));
	assert_false(sasl_supported(NULL));
	assert_int_equal(sasl_new(&s, "GSSAPI", "u", "p", NULL, 0, &err), -1);
	assert_null(s);
	assert_int_equal(err.kind, FCT_E_CONFIG);
	assert_non_null(strstr(err.msg, "GSSAPI"));
	s = mk("PLAIN", "u", "p");
	assert_int_equal(sasl_scram_set_nonce(s, "abc"), -1);
	sasl_free(s);
}

static void base64(void **state)
{
	static const struct {
		const char *raw, *enc;
	} v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
	         {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	static const char *bad[] = {"Zg=", "Zg", "Z===", "Zm9v!", "Zm 9", "=Zm9", "Zg==Zg==", "Zm=v"};
	unsigned char *out;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char *e = fct_b64_encode((const unsigned char *)v[i].raw, strlen(v[i].raw));
		assert_string_equal(e, v[i].enc);
		free(e);
		assert_int_equal(fct_b64_decode(v[i].enc, strlen(v[i].enc), &out, &n), 0);
		assert_int_equal(n, strlen(v[i].raw));
		assert_memory_equal(out, v[i].raw, n);
		free(out);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fct_b64_decode(bad[i], strlen(bad[i]), &out, &n) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(out);
	}
	/* Binary round trip, all byte values. */
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	char *e = fct_b64_encode(all, sizeof all);
	assert_int_equal(fct_b64_decode(e, strlen(e), &out, &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(out, all, 256);
	free(out);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scram_sha1_rfc5802),
		cmocka_unit_test(scram_sha256_rfc7677),
		cmocka_unit_test(scram_bad_server),
		cmocka_unit_test(scram_random_nonce_and_escaping),
		cmocka_unit_test(plain_login_cram),
		cmocka_unit_test(oauth),
		cmocka_unit_test(unsupported),
		cmocka_unit_test(base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
