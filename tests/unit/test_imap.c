/* IMAP session against the scripted fake server: login flows and their
 * security checks (asserting on the bytes the server received), greetings,
 * capabilities, mailbox commands and name encoding, error reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <cmocka.h>

#include "tests/unit/imap_t.h"

/* ---- login flows ---- */

static void login_command(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 LITERAL+ LOGIN-REFERRALS] ready",
		"C:A1 LOGIN \"joe\" \"s3cret!\"",
		"S:A1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] logged in",
		"C:A2 LOGOUT",
		"S:* BYE bye",
		"S:A2 OK done",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	/* Capabilities are the post-login ones. */
	assert_int_equal(imap_caps(t.im), IMAP_CAP_IDLE | IMAP_CAP_UIDPLUS);
	assert_non_null(strstr(t_log(&t), "without TLS"));
	t_finish(&t, 1);
	t_free(&t);
}

static void login_plain_sasl_ir(void **state)
{
	static const char *const script[] = {
		"S:* OK hello",
		"C:A1 CAPABILITY",
		"S:* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN SASL-IR",
		"S:A1 OK",
		"C:A2 AUTHENTICATE PLAIN AGpvZQBzM2NyZXQh",
		"S:A2 OK welcome",
		"C:A3 CAPABILITY",
		"S:* CAPABILITY IMAP4rev1 NAMESPACE MOVE",
		"S:A3 OK",
		"C:A4 NAMESPACE",
		"S:* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL",
		"S:A4 OK",
		"C:A5 LOGOUT",
		"S:A5 OK",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_caps(t.im), IMAP_CAP_NAMESPACE | IMAP_CAP_MOVE);
	assert_string_equal(imap_namespace(t.im), "INBOX.");
	t_finish(&t, 1);
	t_free(&t);
}

static void login_plain_challenge(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hello",
		"C:A1 AUTHENTICATE PLAIN",
		"S:+ ",
		"C:AGpvZQBzM2NyZXQh",
		"S:A1 OK [CAPABILITY IMAP4rev1] welcome",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	t_finish(&t, 1);
	t_free(&t);
}

/* SCRAM is preferred over PLAIN; the server refusing gives FCT_E_AUTH with its text. */
static void login_prefers_scram_and_refusal(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256 SASL-IR] hi",
		"C:A1 AUTHENTICATE SCRAM-SHA-256 *",
		"S:A1 NO [AUTHENTICATIONFAILED] Invalid credentials",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	assert_int_equal(t_connect(&t, script), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	assert_non_null(strstr(t.err.msg, "login refused by server: Invalid credentials"));
	t_finish(&t, 1);
	t_free(&t);
}

/* SCRAM-SHA-256 with the RFC 7677 example exchange; the server's
 * signature is checked. */
#define SCRAM_C1 "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8="
#define SCRAM_S1 "cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY="
#define SCRAM_C2 "Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ=="
#define SCRAM_S2 "dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ=="
#define SCRAM_S2_BAD "dj1BQUFBVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ=="

static void login_scram(void **state)
{
	static const char *const good[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256 AUTH=PLAIN SASL-IR] hi",
		"C:A1 AUTHENTICATE SCRAM-SHA-256 " SCRAM_C1,
		"S:+ " SCRAM_S1,
		"C:" SCRAM_C2,
		"S:+ " SCRAM_S2,
		"C:",
		"S:A1 OK [CAPABILITY IMAP4rev1] in",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	static const char *const forged[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256] hi",
		"C:A1 AUTHENTICATE SCRAM-SHA-256",
		"S:+ ",
		"C:" SCRAM_C1,
		"S:+ " SCRAM_S1,
		"C:" SCRAM_C2,
		"S:+ " SCRAM_S2_BAD,
		"C:*",
		"S:A1 BAD cancelled",
		NULL};
	static const char *const unverified[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256 SASL-IR] hi",
		"C:A1 AUTHENTICATE SCRAM-SHA-256 " SCRAM_C1,
		"S:+ " SCRAM_S1,
		"C:" SCRAM_C2,
		"S:A1 OK no signature for you",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.user = "user";
	t.o.pass = "pencil";
	t.o.scram_nonce = "rOprNGfwEbeRWgbNEkqO";
	CONNECT_OK(&t, good);
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	t.o.user = "user";
	t.o.pass = "pencil";
	t.o.scram_nonce = "rOprNGfwEbeRWgbNEkqO";
	assert_int_equal(t_connect(&t, forged), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	t.o.user = "user";
	t.o.pass = "pencil";
	t.o.scram_nonce = "rOprNGfwEbeRWgbNEkqO";
	assert_int_equal(t_connect(&t, unverified), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	t_finish(&t, 1);
	t_free(&t);
}

static void login_mech_preference(void **state)
{
	static const char *const mechs[] = {"PLAIN", NULL};
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=SCRAM-SHA-256 AUTH=XOAUTH2] hi",
		"C:A1 AUTHENTICATE PLAIN",
		"S:+",
		"C:AGpvZQBzM2NyZXQh",
		"S:A1 NO nope",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.auth_mechs = mechs;
	assert_int_equal(t_connect(&t, script), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	t_finish(&t, 1);
	t_free(&t);
}

/* Passwords a quoted string cannot carry go as literals. */
static void login_literal_password(void **state)
{
	static const char *const sync[] = {
		"S:* OK [CAPABILITY IMAP4rev1] hi",
		"C:A1 LOGIN \"joe\" {10}",
		"S:+ go ahead",
		"C:p4ss w\xc3\xb6rd",
		"S:A1 OK [CAPABILITY IMAP4rev1] in",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	static const char *const nonsync[] = {
		"S:* OK [CAPABILITY IMAP4rev1 LITERAL+] hi",
		"C:A1 LOGIN \"joe\" {10+}",
		"C:p4ss w\xc3\xb6rd",
		"S:A1 OK [CAPABILITY IMAP4rev1] in",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	static const char *const refused[] = {
		"S:* OK [CAPABILITY IMAP4rev1] hi",
		"C:A1 LOGIN \"joe\" {10}",
		"S:A1 NO [AUTHENTICATIONFAILED] no literals here",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.pass = "p4ss w\xc3\xb6rd";
	CONNECT_OK(&t, sync);
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	t.o.pass = "p4ss w\xc3\xb6rd";
	CONNECT_OK(&t, nonsync);
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	t.o.pass = "p4ss w\xc3\xb6rd";
	assert_int_equal(t_connect(&t, refused), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	assert_string_equal(t.err.msg, "login refused by server: no literals here");
	t_finish(&t, 1);
	assert_null(strstr(received(&t), "p4ss"));
	t_free(&t);
}

static void login_disabled(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=GSSAPI AUTH=XOAUTH2] hi", NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	assert_int_equal(t_connect(&t, script), -1);
	assert_int_equal(t.err.kind, FCT_E_AUTH);
	assert_non_null(strstr(t.err.msg, "no usable authentication mechanism"));
	t_finish(&t, 1);
	assert_string_equal(received(&t), "");
	t_free(&t);
}

/* ---- TLS policy: no credentials without TLS ---- */

static void starttls_missing(void **state)
{
	static const char *const script1[] = {"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi", NULL};
	static const char *const script2[] = {"S:* OK hi", "C:A1 CAPABILITY",
	                                      "S:* CAPABILITY IMAP4rev1 AUTH=PLAIN", "S:A1 OK", NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_STARTTLS);
	assert_int_equal(t_connect(&t, script1), -1);
	assert_int_equal(t.err.kind, FCT_E_TLS);
	assert_non_null(strstr(t.err.msg, "does not offer STARTTLS"));
	t_finish(&t, 1);
	assert_string_equal(received(&t), "");
	t_free(&t);

	t_init(&t, IMAP_TLS_STARTTLS);
	assert_int_equal(t_connect(&t, script2), -1);
	assert_non_null(strstr(t.err.msg, "does not offer STARTTLS"));
	t_finish(&t, 1);
	assert_string_equal(received(&t), "A1 CAPABILITY\r\n");
	t_free(&t);
}

static void starttls_refused_or_injected(void **state)
{
	static const char *const refused[] = {"S:* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi",
	                                      "C:A1 STARTTLS", "S:A1 NO not today", NULL};
	static const char *const injected[] = {
		"S:* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi", "C:A1 STARTTLS",
		"W:A1 OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n", NULL};
	static const char *const preauth[] = {"S:* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi", NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_STARTTLS);
	assert_int_equal(t_connect(&t, refused), -1);
	assert_int_equal(t.err.kind, FCT_E_TLS);
	assert_non_null(strstr(t.err.msg, "refused STARTTLS: not today"));
	t_finish(&t, 1);
	assert_string_equal(received(&t), "A1 STARTTLS\r\n");
	t_free(&t);

	t_init(&t, IMAP_TLS_STARTTLS);
	assert_int_equal(t_connect(&t, injected), -1);
	assert_int_equal(t.err.kind, FCT_E_TLS);
	assert_non_null(strstr(t.err.msg, "injection"));
	t_finish(&t, 1);
	assert_string_equal(received(&t), "A1 STARTTLS\r\n");
	t_free(&t);

	t_init(&t, IMAP_TLS_STARTTLS);
	assert_int_equal(t_connect(&t, preauth), -1);
	assert_int_equal(t.err.kind, FCT_E_TLS);
	t_finish(&t, 1);
	assert_string_equal(received(&t), "");
	t_free(&t);
}

/* STARTTLS done: capabilities from before TLS are forgotten (here the
 * pre-TLS list lacks SASL-IR and says LOGINDISABLED; only the list read over
 * TLS counts), and the password only ever travels encrypted. */
static void starttls_rereads_caps(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN LOGINDISABLED] hi",
		"C:A1 STARTTLS",
		"S:A1 OK begin TLS",
		"T:",
		"C:A2 CAPABILITY",
		"S:* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR",
		"S:A2 OK",
		"C:A3 AUTHENTICATE PLAIN AGpvZQBzM2NyZXQh",
		"S:A3 OK [CAPABILITY IMAP4rev1 IDLE] in",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	static const char *const implicit[] = {
		"T:",
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi",
		"C:A1 AUTHENTICATE PLAIN",
		"S:+ ",
		"C:AGpvZQBzM2NyZXQh",
		"S:A1 OK [CAPABILITY IMAP4rev1 MOVE] in",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	struct t t;
	size_t len;
	const char *rx;

	(void)state;
	t_init(&t, IMAP_TLS_STARTTLS);
	t.o.tlso.verify = 0;
	CONNECT_OK(&t, script);
	assert_int_equal(imap_caps(t.im), IMAP_CAP_IDLE);
	assert_null(strstr(t_log(&t), "without TLS"));
	t_finish(&t, 1);
	rx = fake_server_received(t.fs, &len);
	assert_int_equal(fake_server_tls_offset(t.fs), 13);
	assert_memory_equal(rx, "A1 STARTTLS\r\n", 13);
	t_free(&t);

	t_init(&t, IMAP_TLS_IMPLICIT);
	t.o.tlso.verify = 0;
	CONNECT_OK(&t, implicit);
	assert_int_equal(imap_caps(t.im), IMAP_CAP_MOVE);
	t_finish(&t, 1);
	assert_int_equal(fake_server_tls_offset(t.fs), 0);
	t_free(&t);
}

/* A certificate that does not verify stops everything before login. */
static void tls_verify_failure(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi",
		"C:A1 STARTTLS",
		"S:A1 OK begin TLS",
		"T:",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_STARTTLS);
	t.o.tlso.verify = 1;
	t.o.tlso.system_certs = 1;
	assert_int_equal(t_connect(&t, script), -1);
	assert_int_equal(t.err.kind, FCT_E_TLS);
	t_finish(&t, 0);
	assert_string_equal(received(&t), "A1 STARTTLS\r\n");
	t_free(&t);
}

static void compress_deflate(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("COMPRESS=DEFLATE"),
		"C:A2 COMPRESS DEFLATE",
		"S:A2 OK compressing",
		"Z:",
		"C:A3 LIST \"\" \"\"",
		"S:* LIST (\\Noselect) \"/\" \"\"",
		"S:A3 OK",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	static const char *const injected[] = {
		GREET_LOGIN("COMPRESS=DEFLATE"),
		"C:A2 COMPRESS DEFLATE",
		"W:A2 OK compressing\r\n* 1 EXISTS\r\n",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.compress = 1;
	CONNECT_OK(&t, script);
	assert_int_equal(imap_delimiter(t.im, &t.err), '/');
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	t.o.compress = 1;
	assert_int_equal(t_connect(&t, injected), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_non_null(strstr(t.err.msg, "injection"));
	t_finish(&t, 1);
	t_free(&t);

	/* Not asked for: not used. */
	t_init(&t, IMAP_TLS_NONE);
	{
		static const char *const plain[] = {GREET_LOGIN("COMPRESS=DEFLATE"), "C:A2 LOGOUT",
		                                    "S:A2 OK", NULL};
		CONNECT_OK(&t, plain);
	}
	t_finish(&t, 1);
	t_free(&t);
}

static void greeting_variants(void **state)
{
	static const char *const preauth[] = {"S:* PREAUTH [CAPABILITY IMAP4rev1 IDLE] as joe",
	                                      "C:A1 LOGOUT", "S:A1 OK", NULL};
	static const char *const bye[] = {"S:* BYE [UNAVAILABLE] too many connections", NULL};
	static const char *const garbage[] = {"S:HTTP/1.1 400 Bad Request", NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, preauth);
	assert_int_equal(imap_caps(t.im), IMAP_CAP_IDLE);
	t_finish(&t, 1);
	assert_null(strstr(received(&t), PASS));
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	assert_int_equal(t_connect(&t, bye), -1);
	assert_int_equal(t.err.kind, FCT_E_STORE);
	assert_true(t.err.temporary);
	assert_non_null(strstr(t.err.msg, "too many connections"));
	t_finish(&t, 1);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	assert_int_equal(t_connect(&t, garbage), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	t_finish(&t, 1);
	t_free(&t);
}

static void xoauth2_only_when_asked(void **state)
{
	static const char *const mechs[] = {"XOAUTH2", NULL};
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=PLAIN SASL-IR] hi",
		"C:A1 AUTHENTICATE XOAUTH2 *",
		"S:A1 OK [CAPABILITY IMAP4rev1] in",
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.auth_mechs = mechs;
	CONNECT_OK(&t, script);
	t_finish(&t, 1);
	t_free(&t);
}

static void helpers(void **state)
{
	struct fct_buf b;
	int64_t t;
	char d[40];

	(void)state;
	assert_int_equal(imap_parse_date("17-Jul-1996 02:44:25 -0700", &t), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(imap_parse_date(" 1-Mar-2026 00:00:00 +0100", &t), 0);
	assert_int_equal(t, 1772319600);
	assert_int_equal(imap_parse_date("1-Mar-2026 00:00:00 +0100", &t), 0);
	assert_int_equal(t, 1772319600);
	assert_int_equal(imap_parse_date("17-Jux-1996 02:44:25 -0700", &t), -1);
	assert_int_equal(imap_parse_date("17-Jul-1996 02:44:25", &t), -1);
	assert_int_equal(imap_parse_date("", &t), -1);
	imap_format_date(1700000000, d, sizeof d);
	assert_string_equal(d, "14-Nov-2023 22:13:20 +0000");
	assert_int_equal(imap_parse_date(d, &t), 0);
	assert_int_equal(t, 1700000000);

	fct_buf_init(&b);
	assert_int_equal(imap_extract_msgid("Message-Id: <a@b>\r\n", 19, &b), 0);
	assert_string_equal(b.data, "<a@b>");
	assert_int_equal(imap_extract_msgid("X: y\r\nMESSAGE-ID:\r\n\t<c@d>\r\n\r\n", 29, &b), 0);
	assert_string_equal(b.data, "<c@d>");
	assert_int_equal(imap_extract_msgid("Message-ID: nobrackets\r\n", 24, &b), -1);
	assert_int_equal(imap_extract_msgid("\r\n", 2, &b), -1);
	fct_buf_free(&b);

	assert_int_equal(imap_cap_from_name("condstore"), IMAP_CAP_CONDSTORE);
	assert_int_equal(imap_cap_from_name("COMPRESS"), IMAP_CAP_COMPRESS);
	assert_int_equal(imap_cap_from_name("LITERAL+"), IMAP_CAP_LITERALPLUS);
	assert_int_equal(imap_cap_from_name("X-NOPE"), 0);
}

/* disable_caps hides capabilities the server offers. */
static void disabled_caps(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("ENABLE QRESYNC CONDSTORE MOVE"),
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.disable_caps = IMAP_CAP_QRESYNC | IMAP_CAP_MOVE;
	CONNECT_OK(&t, script);
	assert_int_equal(imap_caps(t.im), IMAP_CAP_ENABLE | IMAP_CAP_CONDSTORE);
	t_finish(&t, 1);
	t_free(&t);
}

static void select_qresync(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("ENABLE CONDSTORE QRESYNC"),
		"C:A2 ENABLE QRESYNC",
		"S:* ENABLED QRESYNC",
		"S:A2 OK",
		"C:A3 SELECT \"INBOX\" (QRESYNC (67890007 90060115194045000))",
		"S:* 5 EXISTS",
		"S:* OK [CLOSED] previous mailbox closed",
		"S:* 317 EXISTS",
		"S:* OK [UIDVALIDITY 67890007] ok",
		"S:* OK [UIDNEXT 30013] Predicted next UID",
		"S:* OK [HIGHESTMODSEQ 90060115205545359] Highest",
		"S:* VANISHED (EARLIER) 41,43:116,118",
		"S:* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))",
		"S:* 50 FETCH (UID 119 FLAGS (\\Draft $MDNSent \\Recent) MODSEQ (90060115194045308))",
		"S:A3 OK [READ-WRITE] selected",
		"C:A4 EXAMINE \"Archive\"",
		"S:* 0 EXISTS",
		"S:* OK [UIDVALIDITY 9] ok",
		"S:* OK [NOMODSEQ] no modseq here",
		"S:A4 OK [READ-ONLY] done",
		"C:A5 SELECT \"Gone\"",
		"S:A5 NO [NONEXISTENT] Mailbox doesn't exist: Gone",
		"C:A6 LOGOUT",
		"S:A6 OK",
		NULL};
	struct imap_qresync qr = {67890007, 90060115194045000ULL};
	struct imap_box box;
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_true(imap_caps(t.im) & IMAP_CAP_QRESYNC);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(
		imap_select(t.im, "INBOX", 0, &qr, &box, rec_vanished, rec_msg, &r, &t.err), 0);
	assert_int_equal(box.exists, 317);
	assert_int_equal(box.uidvalidity, 67890007);
	assert_int_equal(box.uidnext, 30013);
	assert_true(box.highestmodseq == 90060115205545359ULL);
	assert_int_equal(box.nomodseq, 0);
	assert_int_equal(box.readonly, 0);
	assert_string_equal(r.b.data, "V41-41;V43-116;V118-118;"
	                              "M117 f18 o0 s0 d0 m90060115194045001 id- e-;"
	                              "M119 f1 o1 s0 d0 m90060115194045308 id- e-;");
	assert_int_equal(imap_select(t.im, "Archive", 1, NULL, &box, NULL, NULL, NULL, &t.err), 0);
	assert_int_equal(box.uidvalidity, 9);
	assert_int_equal(box.nomodseq, 1);
	assert_int_equal(box.readonly, 1);
	assert_int_equal(imap_select(t.im, "Gone", 0, NULL, &box, NULL, NULL, NULL, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_non_null(strstr(t.err.msg, "Mailbox doesn't exist: Gone"));
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}


/* select_meta's meanwhile: runs once both commands are out (the server
 * could answer only then: its answer is waiting), before anything is read. */
struct mw {
	struct t *t;
	int calls, fail;
	size_t seen_len; /* the recorder's length when called */
	struct rec *r;
};

static int mw_run(void *ctx, struct fct_err *err)
{
	struct mw *m = ctx;
	struct pollfd p = {xport_fd(m->t->im->x), POLLIN, 0};

	m->calls++;
	m->seen_len = m->r->b.len;
	assert_int_equal(poll(&p, 1, 5000), 1);
	if (m->fail)
		return fct_err_set(err, FCT_E_FOLDER, "local listing failed");
	return 0;
}

static void select_meta_meanwhile(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("IMAP4rev1"),
		"C:A2 SELECT \"INBOX\"",
		"C:A3 UID FETCH 1:* (UID FLAGS)",
		"S:* 1 EXISTS",
		"S:* OK [UIDVALIDITY 5] ok",
		"S:A2 OK [READ-WRITE] done",
		"S:* 1 FETCH (UID 3 FLAGS (\\Seen))",
		"S:A3 OK",
		"C:A4 SELECT \"Other\"",
		"C:A5 UID FETCH 1:* (UID FLAGS)",
		"S:* 1 EXISTS",
		"S:* OK [UIDVALIDITY 6] ok",
		"S:A4 OK [READ-WRITE] done",
		"S:* 1 FETCH (UID 8 FLAGS ())",
		"S:A5 OK",
		"C:A6 CREATE \"x\"",
		"S:A6 OK",
		NULL};
	struct imap_box box;
	struct rec r;
	struct t t;
	struct mw m = {&t, 0, 0, 0, &r};
	struct imap_meta_req req = {.lo = 1, .what = IMAP_META_FLAGS, .cb = rec_msg, .ctx = &r,
	                            .meanwhile = mw_run, .mctx = &m};

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_select_meta(t.im, "INBOX", 0, NULL, &box, NULL, NULL, NULL, &req, &t.err),
	                 0);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.seen_len, 0); /* nothing read before it ran */
	assert_int_equal(box.uidvalidity, 5);
	assert_non_null(strstr(r.b.data, "M3 "));
	/* A failing meanwhile fails the call with its error; the answers are
	 * read all the same, so the session stays usable. */
	m.fail = 1;
	assert_int_equal(imap_select_meta(t.im, "Other", 0, NULL, &box, NULL, NULL, NULL, &req, &t.err),
	                 -1);
	assert_int_equal(m.calls, 2);
	assert_string_equal(t.err.msg, "local listing failed");
	assert_null(strstr(r.b.data, "M8 "));
	assert_int_equal(imap_create(t.im, "x", &t.err), 0);
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

static void list_status_names(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("CONDSTORE"),
		"C:A2 LIST \"\" \"*\"",
		"S:* LIST (\\HasNoChildren) \"/\" INBOX",
		"S:* LIST (\\Noselect \\HasChildren) \"/\" \"Foo &AOQ-\"",
		"S:* LIST (\\Sent) \"/\" {8}",
		"W:a \"q\" b/\r\n",
		"S:* LIST () NIL \"Bad &AOQ\"",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"\"",
		"S:* LIST (\\Noselect) \".\" \"\"",
		"S:A3 OK",
		"C:A4 STATUS \"Foo &AOQ-/Bar\" (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)",
		"S:* STATUS \"Foo &AOQ-/Bar\" (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 7 HIGHESTMODSEQ 9)",
		"S:A4 OK",
		"C:A5 CREATE \"INBOX\"",
		"S:A5 NO [ALREADYEXISTS] exists",
		"C:A6 DELETE \"x\\\"y\"",
		"S:A6 NO [INUSE] busy",
		"C:A7 RENAME \"a\" \"b\"",
		"S:A7 OK",
		"C:A8 LSUB \"\" \"*\"",
		"S:* LSUB () \"/\" Sub",
		"S:* LSUB () \"/\" Gone",
		"S:A8 OK",
		"C:A9 LIST \"\" \"*\"",
		"S:* LIST (\\HasNoChildren) \"/\" Sub",
		"S:* LIST (\\HasNoChildren) \"/\" Other",
		"S:A9 OK",
		"C:A10 LOGOUT",
		"S:A10 OK",
		NULL};
	struct imap_box box;
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list(t.im, "*", 0, rec_list, &r, &t.err), 0);
	assert_string_equal(r.b.data, "INBOX|/|20;Foo \xc3\xa4|/|11;a \"q\" b/|/|4000;");
	assert_non_null(strstr(t_log(&t), "invalid name"));
	fct_err_clear(&t.err);
	assert_int_equal(imap_delimiter(t.im, &t.err), '.');
	assert_int_equal(imap_delimiter(t.im, &t.err), '.'); /* cached: no second LIST */
	assert_int_equal(imap_status(t.im, "Foo \xc3\xa4/Bar", &box, &t.err), 0);
	assert_int_equal(box.exists, 231);
	assert_int_equal(box.uidnext, 44292);
	assert_int_equal(box.uidvalidity, 7);
	assert_true(box.highestmodseq == 9);
	assert_int_equal(imap_create(t.im, "inbox", &t.err), 0);
	assert_int_equal(imap_delete(t.im, "x\"y", &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_non_null(strstr(t.err.msg, "[INUSE] busy"));
	assert_int_equal(imap_rename(t.im, "a", "b", &t.err), 0);
	fct_buf_reset(&r.b);
	assert_int_equal(imap_list(t.im, "*", 1, rec_list, &r, &t.err), 0);
	/* LSUB names subscriptions to deleted mailboxes too: LIST tells. */
	assert_string_equal(r.b.data, "Sub|/|28;Gone|/|c;");
	/* Names that cannot be sent never reach the server. */
	assert_int_equal(imap_create(t.im, "a\r\nA9 LOGOUT", &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

static void utf8_accept(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("ENABLE UTF8=ACCEPT"),
		"C:A2 ENABLE UTF8=ACCEPT",
		"S:* ENABLED UTF8=ACCEPT",
		"S:A2 OK",
		"C:A3 CREATE \"T\xc3\xabst\"",
		"S:A3 OK",
		"C:A4 LIST \"\" \"*\"",
		"S:* LIST () \"/\" \"T\xc3\xabst/&AOQ-\"",
		"S:A4 OK",
		"C:A5 LOGOUT",
		"S:A5 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_true(imap_caps(t.im) & IMAP_CAP_UTF8);
	assert_int_equal(imap_create(t.im, "T\xc3\xabst", &t.err), 0);
	fct_buf_init(&r.b);
	assert_int_equal(imap_list(t.im, "*", 0, rec_list, &r, &t.err), 0);
	/* No mUTF-7 decoding once UTF8=ACCEPT is on. */
	assert_string_equal(r.b.data, "T\xc3\xabst/&AOQ-|/|0;");
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}


static void server_drops(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("IMAP4rev1"),
		"C:A2 CREATE \"a\"",
		"S:* BYE going down",
		"E:",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_create(t.im, "a", &t.err), -1);
	assert_non_null(strstr(t.err.msg, "going down"));
	/* Later calls fail at once with the same reason. */
	fct_err_clear(&t.err);
	assert_int_equal(imap_create(t.im, "b", &t.err), -1);
	assert_non_null(strstr(t.err.msg, "going down"));
	assert_int_equal(t.err.kind, FCT_E_IO);
	assert_true(t.err.temporary);
	t_finish(&t, 1);
	t_free(&t);
}

static void unknown_tag(void **state)
{
	static const char *const script[] = {GREET_LOGIN("IMAP4rev1"), "C:A2 CREATE \"a\"",
	                                     "S:A7 OK what", NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_create(t.im, "a", &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_non_null(strstr(t.err.msg, "never sent"));
	t_finish(&t, 1);
	t_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(login_command),
		cmocka_unit_test(login_plain_sasl_ir),
		cmocka_unit_test(login_plain_challenge),
		cmocka_unit_test(login_prefers_scram_and_refusal),
		cmocka_unit_test(login_scram),
		cmocka_unit_test(login_mech_preference),
		cmocka_unit_test(login_literal_password),
		cmocka_unit_test(login_disabled),
		cmocka_unit_test(starttls_missing),
		cmocka_unit_test(starttls_refused_or_injected),
		cmocka_unit_test(starttls_rereads_caps),
		cmocka_unit_test(tls_verify_failure),
		cmocka_unit_test(compress_deflate),
		cmocka_unit_test(greeting_variants),
		cmocka_unit_test(xoauth2_only_when_asked),
		cmocka_unit_test(disabled_caps),
		cmocka_unit_test(select_qresync),
		cmocka_unit_test(select_meta_meanwhile),
		cmocka_unit_test(list_status_names),
		cmocka_unit_test(utf8_accept),
		cmocka_unit_test(server_drops),
		cmocka_unit_test(unknown_tag),
		cmocka_unit_test(helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
