#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/util.h"

static void flags_letters_round_trip(void **state)
{
	char l[7];
	unsigned f;

	(void)state;
	for (f = 0; f <= FCT_F_ALL; f++) {
		fct_flags_to_letters(f, l);
		assert_int_equal(fct_flags_from_letters(l, strlen(l)), f);
	}
	fct_flags_to_letters(FCT_F_SEEN | FCT_F_DRAFT | FCT_F_ANSWERED, l);
	assert_string_equal(l, "DRS");
	assert_int_equal(fct_flags_from_letters("SRxD", 4), FCT_F_SEEN | FCT_F_ANSWERED | FCT_F_DRAFT);
}

static void flags_imap(void **state)
{
	char out[64];

	(void)state;
	fct_flags_to_imap(FCT_F_SEEN | FCT_F_FORWARDED, out, sizeof out);
	assert_string_equal(out, "$Forwarded \\Seen");
	assert_int_equal(fct_flag_from_imap("\\seen", 5), FCT_F_SEEN);
	assert_int_equal(fct_flag_from_imap("\\Recent", 7), 0);
}

static void buf_and_err(void **state)
{
	struct fct_buf b;
	struct fct_err e;
	char *s;

	(void)state;
	fct_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		fct_buf_printf(&b, "%d,", i);
	assert_true(b.len > 2000);
	assert_int_equal(b.data[b.len], '\0');
	s = fct_buf_steal(&b);
	assert_memory_equal(s, "0,1,2,", 6);
	free(s);
	assert_int_equal(fct_err_set(&e, FCT_E_FOLDER, "box %s", "A"), -1);
	fct_err_prefix(&e, "channel %s", "c");
	assert_string_equal(e.msg, "channel c: box A");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_letters_round_trip),
		cmocka_unit_test(flags_imap),
		cmocka_unit_test(buf_and_err),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
