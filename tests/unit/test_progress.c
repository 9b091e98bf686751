#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/progress.h"

/* Not a terminal: nothing is ever written, whatever the calls. */
static void test_silent_off_tty(void **state)
{
	struct fct_log log = {1, 0, NULL};
	struct progress *p;
	long len;

	(void)state;
	log.fp = tmpfile();
	assert_non_null(log.fp);
	p = progress_new(&log, 1);
	assert_false(progress_active(p));
	progress_box(p, "chan", "INBOX", 10, 1000);
	for (int i = 0; i < 10; i++)
		progress_step(p, 1, 100);
	progress_done(p);
	progress_free(p);
	fseek(log.fp, 0, SEEK_END);
	len = ftell(log.fp);
	assert_int_equal(len, 0);
	fclose(log.fp);
}

static void test_format_counts(void **state)
{
	struct fct_log log = {1, 0, NULL};
	struct progress *p;
	char line[256];
	int64_t t0;

	(void)state;
	log.fp = tmpfile();
	p = progress_new(&log, 1);
	progress_box(p, "work", "Lists/dev", 4, 4u << 20);
	t0 = fct_now_ms();
	progress_step(p, 1, 1u << 20);
	progress_step(p, 1, 1u << 20);
	/* 2 MiB in 2 s: 1 MiB/s, and 2 MiB left: ETA two seconds. */
	progress_format(p, t0 + 2000, line, sizeof line);
	assert_non_null(strstr(line, "work Lists/dev: 2/4 msgs"));
	assert_non_null(strstr(line, "2.0 MiB/4.0 MiB"));
	assert_non_null(strstr(line, "ETA 0:02"));
	progress_free(p);
	fclose(log.fp);
}

/* Names from a server never put control bytes on the terminal. */
static void test_format_sanitizes(void **state)
{
	struct fct_log log = {1, 0, NULL};
	struct progress *p;
	char line[256];

	(void)state;
	log.fp = tmpfile();
	p = progress_new(&log, 1);
	progress_box(p, "c", "evil\033[2Jbox\r", 1, 10);
	progress_format(p, fct_now_ms(), line, sizeof line);
	assert_null(strchr(line, '\033'));
	assert_null(strchr(line, '\r'));
	assert_non_null(strstr(line, "evil?[2Jbox?"));
	progress_free(p);
	fclose(log.fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_silent_off_tty),
		cmocka_unit_test(test_format_counts),
		cmocka_unit_test(test_format_sanitizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
