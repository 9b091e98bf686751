#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/names.h"

struct map_case {
	enum md_layout layout;
	char flatten;
	const char *name;
	const char *path; /* NULL: refused */
	const char *back; /* name read back when it differs (INBOX case) */
};

static const struct md_names *layout(enum md_layout l, char flatten, const char *inbox)
{
	static struct md_names n;

	n.layout = l;
	n.flatten = flatten;
	n.inbox_path = inbox;
	return &n;
}

static const struct map_case cases[] = {
	{ MD_LAYOUT_VERBATIM, 0, "a", "a", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "a/b/c", "a/b/c", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "INBOX", "INBOX", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "inbox", "INBOX", "INBOX" },
	{ MD_LAYOUT_VERBATIM, 0, "Inbox/x", "INBOX/x", "INBOX/x" },
	{ MD_LAYOUT_VERBATIM, 0, "a.b", "a.b", NULL },
	{ MD_LAYOUT_VERBATIM, 0, ".hidden", "%2Ehidden", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "a/cur", "a/%63ur", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "new", "%6Eew", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "100%", "100%25", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "line\nbreak", "line%0Abreak", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "tab\there", "tab%09here", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "caf\xc3\xa9", "caf\xc3\xa9", NULL },
	{ MD_LAYOUT_VERBATIM, 0, "[Gmail]/Sent Mail", "[Gmail]/Sent Mail", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "INBOX", "", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "a", ".a", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "a/b", ".a.b", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "a.b", ".a%2Eb", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, ".hidden", ".%2Ehidden", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "cur", ".cur", NULL },
	{ MD_LAYOUT_MAILDIRPP, 0, "INBOX/x", ".INBOX.x", NULL },
	{ MD_LAYOUT_LEGACY, 0, "a", "a", NULL },
	{ MD_LAYOUT_LEGACY, 0, "a/b/c", "a/.b/.c", NULL },
	{ MD_LAYOUT_LEGACY, 0, "INBOX/b", "INBOX/.b", NULL },
	{ MD_LAYOUT_LEGACY, 0, "a/.b", "a/.%2Eb", NULL },
	{ MD_LAYOUT_VERBATIM, '.', "a/b", "a.b", NULL },
	{ MD_LAYOUT_VERBATIM, '.', "a.b", "a%2Eb", NULL },
	{ MD_LAYOUT_LEGACY, '_', "a/b_c", "a_b%5Fc", NULL },
};

/* Hostile names: refused in every layout. */
static const char *const hostile[] = {
	"", "..", "../x", "a/../../b", "/abs", "a//b", "a/./b", ".", "a/", "x/..", "a/.",
};

static void check_safe(const char *path)
{
	/* No absolute path, no "." or ".." component. */
	const char *p = path;

	assert_false(path[0] == '/');
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		assert_false(n == 1 && p[0] == '.');
		assert_false(n == 2 && p[0] == '.' && p[1] == '.');
		assert_true(n <= MD_NAME_COMPONENT_MAX);
		if (!e)
			break;
		p = e + 1;
	}
}

static void mapping_table(void **state)
{
	struct fct_buf b, r;
	struct fct_err e;
	size_t i;

	(void)state;
	fct_buf_init(&b);
	fct_buf_init(&r);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct map_case *c = &cases[i];
		const struct md_names *n = layout(c->layout, c->flatten, NULL);

		assert_int_equal(md_name_to_path(n, c->name, &b, &e), 0);
		assert_string_equal(b.data, c->path);
		check_safe(b.data);
		assert_int_equal(md_path_to_name(n, b.data, &r, &e), 0);
		assert_string_equal(r.data, c->back ? c->back : c->name);
	}
	fct_buf_free(&b);
	fct_buf_free(&r);
}

static void hostile_refused(void **state)
{
	struct fct_buf b;
	struct fct_err e;
	size_t i;
	int l;

	(void)state;
	fct_buf_init(&b);
	for (l = 0; l < 3; l++) {
		for (i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
			fct_err_clear(&e);
			assert_int_equal(md_name_to_path(layout((enum md_layout)l, 0, NULL), hostile[i], &b, &e), -1);
			assert_int_equal(e.kind, FCT_E_FOLDER);
			assert_non_null(strstr(e.msg, "folder"));
			assert_int_equal(md_name_to_path(layout((enum md_layout)l, '.', NULL), hostile[i], &b, &e), -1);
		}
	}
	fct_buf_free(&b);
}

static void overlong(void **state)
{
	struct fct_buf b;
	struct fct_err e;
	char name[700];

	(void)state;
	fct_buf_init(&b);
	memset(name, 'x', 300);
	name[300] = '\0';
	assert_int_equal(md_name_to_path(layout(MD_LAYOUT_VERBATIM, 0, NULL), name, &b, &e), -1);
	assert_non_null(strstr(e.msg, "too long"));
	/* 200 bytes is fine alone, but escaping ('%' triples) pushes it over. */
	memset(name, '%', 100);
	name[100] = '\0';
	assert_int_equal(md_name_to_path(layout(MD_LAYOUT_VERBATIM, 0, NULL), name, &b, &e), -1);
	/* Two 200-byte components: fine nested, too long when one directory. */
	memset(name, 'y', 401);
	name[200] = '/';
	name[401] = '\0';
	assert_int_equal(md_name_to_path(layout(MD_LAYOUT_VERBATIM, 0, NULL), name, &b, &e), 0);
	assert_int_equal(md_name_to_path(layout(MD_LAYOUT_MAILDIRPP, 0, NULL), name, &b, &e), -1);
	assert_int_equal(md_name_to_path(layout(MD_LAYOUT_VERBATIM, '.', NULL), name, &b, &e), -1);
	fct_buf_free(&b);
}

static void inbox_path(void **state)
{
	struct fct_buf b;
	struct fct_err e;
	const struct md_names *n = layout(MD_LAYOUT_MAILDIRPP, 0, "/var/mail/me");

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(md_name_to_path(n, "inbox", &b, &e), 0);
	assert_string_equal(b.data, "/var/mail/me");
	assert_int_equal(md_path_to_name(n, "/var/mail/me", &b, &e), 0);
	assert_string_equal(b.data, "INBOX");
	/* The root is no longer INBOX. */
	assert_int_equal(md_path_to_name(n, "", &b, &e), -1);
	assert_int_equal(md_name_to_path(n, "INBOX/sub", &b, &e), 0);
	assert_string_equal(b.data, ".INBOX.sub");
	/* Nesting layouts keep INBOX's subfolders inside the Inbox directory. */
	n = layout(MD_LAYOUT_VERBATIM, 0, "/var/mail/me");
	assert_int_equal(md_name_to_path(n, "INBOX/a/b", &b, &e), 0);
	assert_string_equal(b.data, "/var/mail/me/a/b");
	assert_int_equal(md_path_to_name(n, "/var/mail/me/a/b", &b, &e), 0);
	assert_string_equal(b.data, "INBOX/a/b");
	assert_int_equal(md_path_to_name(n, "INBOX/a", &b, &e), -1);
	assert_int_equal(md_name_to_path(n, "INBOX/..", &b, &e), -1);
	n = layout(MD_LAYOUT_LEGACY, 0, "/var/mail/me");
	assert_int_equal(md_name_to_path(n, "INBOX/a/b", &b, &e), 0);
	assert_string_equal(b.data, "/var/mail/me/.a/.b");
	assert_int_equal(md_path_to_name(n, "/var/mail/me/.a/.b", &b, &e), 0);
	assert_string_equal(b.data, "INBOX/a/b");
	assert_int_equal(md_path_to_name(n, "/var/mail/me/a", &b, &e), -1);
	fct_buf_free(&b);
}

/* Paths that no name maps to are refused, so the mapping is one-to-one. */
static void bad_paths(void **state)
{
	static const struct {
		enum md_layout l;
		char flatten;
		const char *path;
	} bad[] = {
		{ MD_LAYOUT_VERBATIM, 0, "a%zz" },  { MD_LAYOUT_VERBATIM, 0, "a%2" },
		{ MD_LAYOUT_VERBATIM, 0, "a%00b" }, { MD_LAYOUT_VERBATIM, 0, "cur" },
		{ MD_LAYOUT_VERBATIM, 0, "inbox" }, { MD_LAYOUT_VERBATIM, 0, "%61" },
		{ MD_LAYOUT_VERBATIM, 0, ".x" },    { MD_LAYOUT_VERBATIM, 0, "a//b" },
		{ MD_LAYOUT_MAILDIRPP, 0, "a" },    { MD_LAYOUT_MAILDIRPP, 0, ".a..b" },
		{ MD_LAYOUT_MAILDIRPP, 0, ".a/b" }, { MD_LAYOUT_MAILDIRPP, 0, ".." },
		{ MD_LAYOUT_LEGACY, 0, "a/b" },     { MD_LAYOUT_LEGACY, 0, "a/." },
		{ MD_LAYOUT_VERBATIM, '.', "a/b" }, { MD_LAYOUT_VERBATIM, '.', "a..b" },
	};
	struct fct_buf b;
	struct fct_err e;
	size_t i;

	(void)state;
	fct_buf_init(&b);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = md_path_to_name(layout(bad[i].l, bad[i].flatten, NULL), bad[i].path, &b, &e);
		if (rc != -1)
			fail_msg("path %s accepted as %s", bad[i].path, b.data);
		assert_int_equal(e.kind, FCT_E_FOLDER);
	}
	fct_buf_free(&b);
}

static void nul_refused(void **state)
{
	struct fct_buf b;
	struct fct_err e;

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(md_name_to_path_n(layout(MD_LAYOUT_VERBATIM, 0, NULL), "a\0b", 3, &b, &e), -1);
	assert_int_equal(e.kind, FCT_E_FOLDER);
	assert_non_null(strstr(e.msg, "NUL"));
	assert_int_equal(md_name_to_path_n(layout(MD_LAYOUT_VERBATIM, 0, NULL), "a/bc", 3, &b, &e), 0);
	assert_string_equal(b.data, "a/b");
	fct_buf_free(&b);
}

/* MapInbox: a second name of INBOX, whatever the layout; the path reads
 * back as INBOX, and a real directory of that name is no folder. */
static void map_inbox(void **state)
{
	struct md_names n = { MD_LAYOUT_VERBATIM, '.', NULL, "mirror" };
	struct fct_buf b;
	struct fct_err e;

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(md_name_to_path(&n, "mirror", &b, &e), 0);
	assert_string_equal(b.data, "INBOX");
	assert_int_equal(md_name_to_path(&n, "mirror/sub", &b, &e), 0);
	assert_string_equal(b.data, "mirror.sub");
	assert_int_equal(md_path_to_name(&n, "INBOX", &b, &e), 0);
	assert_string_equal(b.data, "INBOX");
	assert_int_equal(md_path_to_name(&n, "mirror", &b, &e), -1);
	n.inbox_path = "/home/u/Mail/INBOX";
	assert_int_equal(md_name_to_path(&n, "mirror", &b, &e), 0);
	assert_string_equal(b.data, "/home/u/Mail/INBOX");
	n.layout = MD_LAYOUT_MAILDIRPP;
	n.flatten = 0;
	n.inbox_path = NULL;
	assert_int_equal(md_name_to_path(&n, "mirror", &b, &e), 0);
	assert_string_equal(b.data, "");
	assert_string_equal(md_names_inbox_alias(&n), "mirror");
	n.map_inbox = "inbox";
	assert_null(md_names_inbox_alias(&n));
	fct_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mapping_table), cmocka_unit_test(hostile_refused), cmocka_unit_test(overlong),
		cmocka_unit_test(inbox_path),    cmocka_unit_test(bad_paths),       cmocka_unit_test(nul_refused),
		cmocka_unit_test(map_inbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
