#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sync/pattern.h"

static void wildcards(void **state)
{
	(void)state;
	assert_true(box_wildmatch("*", "a/b/c"));
	assert_true(box_wildmatch("%", "abc"));
	assert_false(box_wildmatch("%", "a/b"));
	assert_true(box_wildmatch("a/%", "a/b"));
	assert_false(box_wildmatch("a/%", "a/b/c"));
	assert_true(box_wildmatch("a/*", "a/b/c"));
	assert_true(box_wildmatch("*c", "a/b/c"));
	assert_false(box_wildmatch("*d", "a/b/c"));
	assert_true(box_wildmatch("%/%", "x/y"));
	assert_false(box_wildmatch("Arch", "Archive"));
}

static void last_match_wins(void **state)
{
	const char *const p1[] = {"*", "!Trash", NULL};
	const char *const p2[] = {"!Trash", "*", NULL};
	const char *const p3[] = {"%", "!Lists", "Lists/keep", NULL};
	const char *const p4[] = {"inbox", NULL};

	(void)state;
	assert_true(box_selected(p1, "INBOX"));
	assert_false(box_selected(p1, "Trash"));
	assert_true(box_selected(p2, "Trash"));
	assert_false(box_selected(p3, "Lists"));
	assert_true(box_selected(p3, "Lists/keep"));
	assert_false(box_selected(p3, "Lists/other"));
	assert_true(box_selected(p4, "INBOX"));
	assert_false(box_selected(p4, "Sent"));
	assert_true(box_selected(NULL, "INBOX"));
	assert_false(box_selected(NULL, "Sent"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wildcards),
		cmocka_unit_test(last_match_wins),
	};
	return cmocka_run_group_tests_name("pattern", tests, NULL, NULL);
}
