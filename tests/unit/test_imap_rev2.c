/* IMAP4rev2 (RFC 9051) servers against the scripted fake server.  One that
 * offers only IMAP4rev2 need not list what that version includes (NAMESPACE,
 * LIST-EXTENDED, LIST-STATUS, UIDPLUS, MOVE, LITERAL-...) and speaks UTF-8
 * mailbox names; it sends no \Recent, no RECENT in STATUS, and may add
 * extended data (CHILDINFO, OLDNAME) and \NonExistent to LIST replies.  One
 * offering both versions is used as IMAP4rev1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/imap_t.h"

#define GREET_REV2                                                                             \
	"S:* OK [CAPABILITY IMAP4rev2] hi", "C:A1 LOGIN \"joe\" \"s3cret!\"",            \
		"S:A1 OK [CAPABILITY IMAP4rev2] in"

static int rec_ls(void *ctx, const char *name, char delim, unsigned attrs,
                  const struct imap_box *st)
{
	struct rec *r = ctx;

	fct_buf_printf(&r->b, "%s|%c|%x", name, delim ? delim : '-', attrs);
	if (st)
		fct_buf_printf(&r->b, "|v%u n%u m%u", st->uidvalidity, st->uidnext, st->exists);
	fct_buf_puts(&r->b, ";");
	return 0;
}

struct mem_src {
	const char *p;
	size_t left;
};

static long mem_read(void *ctx, char *buf, size_t n, struct fct_err *err)
{
	struct mem_src *m = ctx;

	(void)err;
	if (n > m->left)
		n = m->left;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (long)n;
}

/* Listing: LIST-STATUS and LIST (SUBSCRIBED) without them being listed,
 * UTF-8 names both ways, extended data and \NonExistent understood. */
static void rev2_only_listing(void **state)
{
	static const char *const script[] = {
		GREET_REV2,
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"\" \"/\")) NIL NIL",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"*\" RETURN (STATUS (UIDVALIDITY UIDNEXT MESSAGES))",
		"S:* LIST (\\HasNoChildren) \"/\" INBOX",
		"S:* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 9 SIZE 100 DELETED 0)",
		"S:* LIST (\\NonExistent \\HasChildren) \"/\" \"Fr\xc3\xbch\"",
		"S:* LIST (\\HasNoChildren) \"/\" \"Fr\xc3\xbch/\xc3\x84rger\" (\"OLDNAME\" (\"Old\"))",
		"S:* STATUS \"Fr\xc3\xbch/\xc3\x84rger\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 4)",
		"S:A3 OK done",
		"C:A4 LIST (SUBSCRIBED) \"\" \"*\"",
		"S:* LIST (\\Subscribed \\NonExistent) \"/\" Gone",
		"S:* LIST (\\Subscribed) \"/\" \"Fr\xc3\xbch\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
		"S:A4 OK done",
		"C:A5 CREATE \"\xc3\x84rger\"",
		"S:A5 OK done",
		"C:A6 LOGOUT",
		"S:A6 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_true(imap_caps(t.im) & IMAP_CAP_LIST_STATUS);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list_status(t.im, "*", rec_ls, &r, &t.err), 0);
	assert_string_equal(r.b.data, "INBOX|/|20|v9 n3 m2;"
	                              "Fr\xc3\xbch|/|14;"
	                              "Fr\xc3\xbch/\xc3\x84rger|/|20|v4 n2 m1;");
	fct_buf_reset(&r.b);
	assert_int_equal(imap_list(t.im, "*", 1, rec_list, &r, &t.err), 0);
	assert_string_equal(r.b.data, "Gone|/|c;Fr\xc3\xbch|/|8;");
	assert_int_equal(imap_create(t.im, "\xc3\x84rger", &t.err), 0);
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

/* Messages: UID EXPUNGE, UID MOVE and LITERAL- without their capability
 * names; no \Recent in SELECT or FETCH. */
static void rev2_only_messages(void **state)
{
	static const char *const script[] = {
		GREET_REV2,
		"C:A2 NAMESPACE",
		"S:* NAMESPACE NIL NIL NIL",
		"S:A2 OK done",
		"C:A3 SELECT \"\xc3\x84rger\"",
		"S:* 2 EXISTS",
		"S:* OK [UIDVALIDITY 9] ok",
		"S:* OK [UIDNEXT 5] ok",
		"S:* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
		"S:* LIST () \"/\" \"\xc3\x84rger\"",
		"S:A3 OK [READ-WRITE] selected",
		"C:A4 UID FETCH 1:* *",
		"S:* 1 FETCH (UID 3 FLAGS (\\Seen \\Deleted))",
		"S:* 2 FETCH (UID 4 FLAGS ())",
		"S:A4 OK done",
		"C:A5 UID EXPUNGE 3",
		"S:* 1 EXPUNGE",
		"S:A5 OK done",
		"C:A6 UID MOVE 4 \"Fr\xc3\xbch\"",
		"S:* OK [COPYUID 7 4 11] moving",
		"S:* 1 EXPUNGE",
		"S:A6 OK done",
		"C:A7 APPEND \"Fr\xc3\xbch\" (\\Seen) {5+}",
		"R:5",
		"C:",
		"S:A7 OK [APPENDUID 7 12] done",
		"C:A8 LOGOUT",
		"S:A8 OK",
		NULL};
	struct t t;
	struct imap_box box;
	struct rec r;
	uint32_t uid = 3, dest = 0, uv = 0, nu = 0;
	struct mem_src m = {"hello", 5};
	struct imap_source src = {mem_read, &m, 5};

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_select(t.im, "\xc3\x84rger", 0, NULL, &box, NULL, NULL, NULL, &t.err),
	                 0);
	assert_int_equal(box.uidvalidity, 9);
	assert_int_equal(box.uidnext, 5);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_fetch_meta(t.im, 1, 0, 0, IMAP_META_FLAGS, rec_msg, &r, &t.err), 0);
	assert_non_null(strstr(r.b.data, "M3 f30 o0"));
	assert_non_null(strstr(r.b.data, "M4 f0 o0"));
	fct_buf_free(&r.b);
	assert_int_equal(imap_expunge_uids(t.im, &uid, 1, &t.err), 0);
	uid = 4;
	assert_int_equal(imap_move(t.im, &uid, 1, "Fr\xc3\xbch", &dest, &t.err), 0);
	assert_int_equal(dest, 11);
	assert_int_equal(imap_append(t.im, "Fr\xc3\xbch", FCT_F_SEEN, 0, &src, &uv, &nu, &t.err), 0);
	assert_int_equal(uv, 7);
	assert_int_equal(nu, 12);
	t_finish(&t, 1);
	t_free(&t);
}

/* Both versions offered: IMAP4rev1 as before -- nothing assumed, modified
 * UTF-7 names, LSUB for subscriptions. */
static void rev1_and_rev2(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 IMAP4rev2] hi",
		"C:A1 LOGIN \"joe\" \"s3cret!\"",
		"S:A1 OK [CAPABILITY IMAP4rev1 IMAP4rev2] in",
		"C:A2 LSUB \"\" \"*\"",
		"S:* LSUB () \"/\" \"Fr&APw-h\"",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"*\"",
		"S:* LIST () \"/\" \"Fr&APw-h\"",
		"S:A3 OK done",
		"C:A4 CREATE \"&AMQ-rger\"",
		"S:A4 OK done",
		"C:A5 LOGOUT",
		"S:A5 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_false(imap_caps(t.im) & (IMAP_CAP_LIST_STATUS | IMAP_CAP_UIDPLUS | IMAP_CAP_UTF8));
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list(t.im, "*", 1, rec_list, &r, &t.err), 0);
	assert_string_equal(r.b.data, "Fr\xc3\xbch|/|8;");
	assert_int_equal(imap_create(t.im, "\xc3\x84rger", &t.err), 0);
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

/* DisableExtension still applies to what IMAP4rev2 implies; LIST-STATUS
 * goes with LIST-EXTENDED. */
static void rev2_only_disabled(void **state)
{
	static const char *const script[] = {
		GREET_REV2,
		"C:A2 NAMESPACE",
		"S:* NAMESPACE NIL NIL NIL",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"*\"",
		"S:* LIST () \"/\" \"Fr\xc3\xbch\"",
		"S:A3 OK done",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.disable_caps = IMAP_CAP_LIST_EXTENDED | IMAP_CAP_UIDPLUS;
	CONNECT_OK(&t, script);
	assert_false(imap_caps(t.im) & (IMAP_CAP_LIST_STATUS | IMAP_CAP_UIDPLUS));
	assert_true(imap_caps(t.im) & IMAP_CAP_MOVE);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_list(t.im, "*", 0, rec_list, &r, &t.err), 0);
	assert_string_equal(r.b.data, "Fr\xc3\xbch|/|0;");
	fct_buf_free(&r.b);
	t_finish(&t, 1);
	t_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rev2_only_listing),
		cmocka_unit_test(rev2_only_messages),
		cmocka_unit_test(rev1_and_rev2),
		cmocka_unit_test(rev2_only_disabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
