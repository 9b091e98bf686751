/* IMAP extensions against the scripted fake server: LIST-STATUS (RFC 5819)
 * and ID (RFC 2971). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/imap_t.h"

static int rec_ls(void *ctx, const char *name, char delim, unsigned attrs,
                  const struct imap_box *st)
{
	struct rec *r = ctx;

	fct_buf_printf(&r->b, "%s|%c|%x", name, delim ? delim : '-', attrs);
	if (st)
		fct_buf_printf(&r->b, "|v%u n%u m%u h%llu%s", st->uidvalidity, st->uidnext, st->exists,
		               (unsigned long long)st->highestmodseq, st->nomodseq ? " nomodseq" : "");
	fct_buf_puts(&r->b, ";");
	return strcmp(name, "Stop") == 0;
}

static void list_status(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("LIST-STATUS CONDSTORE"),
		"C:A2 LIST \"\" \"*\" RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))",
		"S:* LIST (\\HasNoChildren) \"/\" INBOX",
		"S:* STATUS INBOX (MESSAGES 3 UIDNEXT 10 UIDVALIDITY 77 HIGHESTMODSEQ 12)",
		"S:* LIST (\\Noselect \\HasChildren) \"/\" \"Foo &AOQ-\"",
		"S:* LIST (\\HasNoChildren) \"/\" \"Foo &AOQ-/Bar\"",
		"S:* STATUS \"Other\" (MESSAGES 99)", /* not the one just listed */
		"S:* STATUS \"Foo &AOQ-/Bar\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 5 HIGHESTMODSEQ 0)",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"%\" RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))",
		"S:* LIST () \"/\" Stop",
		"S:* LIST () \"/\" After",
		"S:A3 OK done",
		"C:A4 LIST \"\" \"*\" RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ))",
		"S:* LIST () \"/\" INBOX",
		"S:* STATUS INBOX (MESSAGES x)",
		"S:A4 OK done",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list_status(t.im, "*", rec_ls, &r, &t.err), 0);
	assert_string_equal(r.b.data, "INBOX|/|20|v77 n10 m3 h12;"
	                              "Foo \xc3\xa4|/|11;"
	                              "Foo \xc3\xa4/Bar|/|20|v5 n1 m0 h0 nomodseq;");
	/* The callback stops the listing: drained, FCT_E_CANCEL, no more calls. */
	fct_buf_reset(&r.b);
	assert_int_equal(imap_list_status(t.im, "%", rec_ls, &r, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_CANCEL);
	assert_string_equal(r.b.data, "Stop|/|0;");
	/* A malformed STATUS is a protocol error. */
	assert_int_equal(imap_list_status(t.im, "*", rec_ls, &r, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

static void list_status_absent(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("SPECIAL-USE"),
		"C:A2 LOGOUT",
		"S:A2 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list_status(t.im, "*", rec_ls, &r, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_STORE);
	assert_string_equal(r.b.data, "");
	fct_buf_free(&r.b);
	t_finish(&t, 1); /* nothing was sent but LOGOUT */
	t_free(&t);
}

static void id_after_login(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("ID"),
		"C:A2 ID (\"name\" \"facteur\" \"version\" \"" IMAP_CLIENT_VERSION "\")",
		"S:* ID (\"name\" \"Dovecot\")",
		"S:A2 OK ID completed",
		"C:A3 CREATE \"x\"",
		"S:A3 OK",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	static const char *const refused[] = {
		GREET_LOGIN("ID"),
		"C:A2 ID (*",
		"S:A2 BAD what is that",
		"C:A3 LOGOUT",
		"S:A3 OK",
		NULL};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_create(t.im, "x", &t.err), 0);
	t_finish(&t, 1);
	t_free(&t);
	/* A refusal does not stop the session. */
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, refused);
	assert_int_equal(t.err.kind, FCT_E_NONE);
	t_finish(&t, 1);
	t_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_status),
		cmocka_unit_test(list_status_absent),
		cmocka_unit_test(id_after_login),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
