#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sync/boxes.h"

static void name_mapping(void **state)
{
	struct fct_buf b;
	struct fct_err e;

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(box_far_to_canon("INBOX.Archive.2024", "INBOX.", '.', &b, &e), 0);
	assert_string_equal(b.data, "Archive/2024");
	assert_int_equal(box_canon_to_far("Archive/2024", "INBOX.", '.', &b, &e), 0);
	assert_string_equal(b.data, "INBOX.Archive.2024");
	assert_int_equal(box_far_to_canon("inbox", "", '/', &b, &e), 0);
	assert_string_equal(b.data, "INBOX");
	assert_int_equal(box_far_to_canon("a/b", "", '/', &b, &e), 0);
	assert_string_equal(b.data, "a/b");
	assert_int_equal(box_far_to_canon("x/y.z", "", '.', &b, &e), -1);
	assert_int_equal(e.kind, FCT_E_FOLDER);
	assert_int_equal(box_canon_to_far("a.b/c", "", '.', &b, &e), -1);
	assert_int_equal(box_canon_to_far("a/b", "", '\0', &b, &e), -1);
	fct_buf_free(&b);
}

static void set_merges(void **state)
{
	struct box_set s = {0};

	(void)state;
	box_set_add(&s, "b", BOX_ON_FAR);
	box_set_add(&s, "a", BOX_ON_NEAR);
	box_set_add(&s, "b", BOX_ON_NEAR);
	box_set_finish(&s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].name, "a");
	assert_int_equal(s.v[1].where, BOX_ON_FAR | BOX_ON_NEAR);
	box_set_free(&s);
}

/* MapInbox names INBOX, exactly (mbsync compares with strcmp); a map that
 * already is INBOX or under it changes nothing. */
static void inbox_alias(void **state)
{
	(void)state;
	assert_null(box_inbox_alias(NULL));
	assert_null(box_inbox_alias(""));
	assert_null(box_inbox_alias("Inbox"));
	assert_null(box_inbox_alias("INBOX/x"));
	assert_string_equal(box_inbox_alias("INBOXES"), "INBOXES");
	assert_string_equal(box_inbox_alias("mirror"), "mirror");
	assert_string_equal(box_unmap_inbox("mirror", "mirror"), "INBOX");
	assert_string_equal(box_unmap_inbox("Lists/in", "Lists/in"), "INBOX");
	assert_string_equal(box_unmap_inbox("mirror", "Mirror"), "Mirror");
	assert_string_equal(box_unmap_inbox("mirror", "mirror/sub"), "mirror/sub");
	assert_string_equal(box_unmap_inbox(NULL, "mirror"), "mirror");
	assert_string_equal(box_unmap_inbox("Inbox", "Inbox"), "Inbox");
	assert_null(box_unmap_inbox("mirror", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_mapping),
		cmocka_unit_test(set_merges),
		cmocka_unit_test(inbox_alias),
	};
	return cmocka_run_group_tests_name("boxes", tests, NULL, NULL);
}
