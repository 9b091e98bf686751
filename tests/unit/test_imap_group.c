/* Body fetches are grouped into one UID FETCH per run of UIDs once the
 * server has shown it names the UID before the body. */
#include "tests/unit/imap_t.h"

struct brec {
	struct fct_buf b;
};

static int r_begin(void *ctx, uint32_t uid, uint64_t size, struct fct_err *err)
{
	struct brec *r = ctx;

	(void)err;
	fct_buf_printf(&r->b, "<%u:%llu:", uid, (unsigned long long)size);
	return 0;
}

static int r_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct brec *r = ctx;

	(void)err;
	fct_buf_append(&r->b, p, n);
	return 0;
}

static int r_end(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct brec *r = ctx;

	(void)err;
	fct_buf_printf(&r->b, ":%u>", m->uid);
	return 0;
}

static void grouped_after_uid_first(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("UIDPLUS"),
		"C:A2 UID FETCH 3 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"W:* 1 FETCH (UID 3 BODY[] {1}\r\na)\r\n",
		"S:A2 OK",
		"C:A3 UID FETCH 4:5,9 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"W:* 2 FETCH (UID 4 BODY[] {1}\r\nb)\r\n",
		"W:* 4 FETCH (UID 9 BODY[] {1}\r\nd)\r\n",
		"S:A3 OK",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	struct brec r;
	struct imap_body_sink sink = {r_begin, r_data, r_end, &r};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_fetch_bodies(t.im, (const uint32_t[]){3}, 1, &sink, &t.err), 0);
	/* UID 5 vanished meanwhile: simply absent from the answer. */
	assert_int_equal(imap_fetch_bodies(t.im, (const uint32_t[]){4, 5, 9}, 3, &sink, &t.err), 0);
	assert_string_equal(r.b.data, "<3:1:a:3><4:1:b:4><9:1:d:9>");
	t_finish(&t, 1);
	t_free(&t);
	fct_buf_free(&r.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grouped_after_uid_first),
	};
	return cmocka_run_group_tests_name("imap_group", tests, NULL, NULL);
}
