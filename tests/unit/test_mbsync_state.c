/* The mbsync state parser: real-looking files in the formats isync writes
 * (1.4, pre-1.4 names, pre-1.1 header) and hostile ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/mbsync_state.h"

static int parse_n(const char *text, size_t n, struct mbs_state *st, struct fct_err *err)
{
	FILE *fp = fmemopen((void *)(uintptr_t)text, n, "r");
	int rc;

	assert_non_null(fp);
	fct_err_clear(err);
	rc = mbs_parse(fp, "box/.mbsyncstate", st, err);
	fclose(fp);
	return rc;
}

static int parse(const char *text, struct mbs_state *st, struct fct_err *err)
{
	return parse_n(text, strlen(text), st, err);
}

static void test_v14(void **state)
{
	static const char f[] =
		"FarUidValidity 1700000123\n"
		"NearUidValidity 1700000456\n"
		"MaxPulledUid 12\n"
		"MaxPushedUid 7\n"
		"MaxExpiredFarUid 3\n"
		"\n"
		"1 1 S\n"
		"2 2 FRS\n"
		"4 0 \n"
		"0 6 DT\n"
		"5 3 >\n"
		"9 5 <S\n"
		"10 4 ~S\n"
		"12 7 \n";
	struct mbs_state st;
	struct fct_err err;

	(void)state;
	assert_int_equal(parse(f, &st, &err), 0);
	assert_int_equal(st.far_uidvalidity, 1700000123u);
	assert_int_equal(st.near_uidvalidity, 1700000456u);
	assert_int_equal(st.max_pulled, 12);
	assert_int_equal(st.max_pushed, 7);
	assert_int_equal(st.max_expired_far, 3);
	assert_int_equal(st.npairs, 8);
	assert_int_equal(st.pairs[0].far_uid, 1);
	assert_int_equal(st.pairs[0].near_uid, 1);
	assert_int_equal(st.pairs[0].flags, FCT_F_SEEN);
	assert_int_equal(st.pairs[0].status, 0);
	assert_int_equal(st.pairs[1].flags, FCT_F_FLAGGED | FCT_F_ANSWERED | FCT_F_SEEN);
	assert_int_equal(st.pairs[2].near_uid, 0);
	assert_int_equal(st.pairs[2].flags, 0);
	assert_int_equal(st.pairs[3].far_uid, 0);
	assert_int_equal(st.pairs[3].flags, FCT_F_DRAFT | FCT_F_DELETED);
	assert_int_equal(st.pairs[4].status, MBS_DUMMY_NEAR);
	assert_int_equal(st.pairs[5].status, MBS_DUMMY_FAR);
	assert_int_equal(st.pairs[5].flags, FCT_F_SEEN);
	assert_int_equal(st.pairs[6].status, MBS_EXPIRED);
	assert_int_equal(st.pairs[7].far_uid, 12);
	mbs_state_free(&st);
}

static void test_legacy(void **state)
{
	struct mbs_state st;
	struct fct_err err;

	(void)state;
	/* pre-1.4 key names, pre-1.3 skipped entries */
	assert_int_equal(parse("MasterUidValidity 5\nSlaveUidValidity 6\nMaxPulledUid 3\n"
	                       "MaxPushedUid 1\nMaxExpiredSlaveUid 0\n\n"
	                       "1 1 PS\n2 4294967295 \n3 2 ^\n", &st, &err), 0);
	assert_int_equal(st.far_uidvalidity, 5);
	assert_int_equal(st.near_uidvalidity, 6);
	assert_int_equal(st.npairs, 3);
	assert_int_equal(st.pairs[0].flags, FCT_F_FORWARDED | FCT_F_SEEN);
	assert_int_equal(st.pairs[1].near_uid, 0);
	assert_int_equal(st.pairs[1].status, MBS_SKIPPED);
	assert_int_equal(st.pairs[2].status, MBS_SKIPPED);
	mbs_state_free(&st);
	/* pre-1.1 single-line header */
	assert_int_equal(parse("77:9 88:0:4\n1 2 S\n", &st, &err), 0);
	assert_int_equal(st.far_uidvalidity, 77);
	assert_int_equal(st.max_pulled, 9);
	assert_int_equal(st.near_uidvalidity, 88);
	assert_int_equal(st.max_pushed, 4);
	assert_int_equal(st.npairs, 1);
	assert_int_equal(st.pairs[0].near_uid, 2);
	mbs_state_free(&st);
}

static void test_empty_body(void **state)
{
	struct mbs_state st;
	struct fct_err err;

	(void)state;
	assert_int_equal(parse("FarUidValidity 1\nNearUidValidity 2\n\n", &st, &err), 0);
	assert_int_equal(st.npairs, 0);
	assert_null(st.pairs);
	mbs_state_free(&st);
}

/* Each corrupt file fails with a message naming the file and the line. */
static void expect_fail(const char *text, size_t n, const char *where)
{
	struct mbs_state st;
	struct fct_err err;

	assert_int_equal(parse_n(text, n, &st, &err), -1);
	assert_int_equal(err.kind, FCT_E_STORE);
	if (!strstr(err.msg, where))
		fail_msg("'%s' does not name '%s'", err.msg, where);
	assert_int_equal(st.npairs, 0);
	assert_null(st.pairs);
}

#define FAIL(s, where) expect_fail(s, sizeof(s) - 1, where)
#define HDR "FarUidValidity 1\nNearUidValidity 2\n\n"

static void test_corrupt(void **state)
{
	char big[600];

	(void)state;
	FAIL("", "box/.mbsyncstate:1: unterminated header");
	FAIL("FarUidValidity 1\n", "box/.mbsyncstate:2: unterminated header");
	FAIL("FarUidValidity 1\n\n", ":2: header lacks");
	FAIL("FarUidValidity 1\nBogus 3\n\n", ":2: unknown header entry");
	FAIL("FarUidValidity x\n", ":1: malformed header entry");
	FAIL("FarUidValidity 4294967296\n", ":1: malformed header entry");
	FAIL("FarUidValidity -1\n", ":1: malformed header entry");
	FAIL("FarUidValidity 1 2\n", ":1: malformed header entry");
	FAIL("FarUidValidity\n", ":1: malformed header entry");
	FAIL("1:2 3:4\n", ":1: malformed legacy header");
	FAIL(HDR "1 1 S", ":4: incomplete last line");
	FAIL(HDR "1 1 S\nfoo\n", ":5: malformed entry");
	FAIL(HDR "1\n", ":4: malformed entry");
	FAIL(HDR "1 x S\n", ":4: malformed entry");
	FAIL(HDR "1 1 Q\n", ":4: malformed entry");
	FAIL(HDR "1 1 SS\n", ":4: malformed entry");
	FAIL(HDR "1 1  S\n", ":4: malformed entry");
	FAIL(HDR "99999999999 1 S\n", ":4: malformed entry");
	FAIL(HDR "1 1 S\x00\n", ":4: NUL byte");
	memset(big, '1', sizeof big);
	memcpy(big, HDR, sizeof HDR - 1);
	big[sizeof big - 1] = '\n';
	expect_fail(big, sizeof big, ":4: line too long");
}

static void test_load_missing(void **state)
{
	struct mbs_state st;
	struct fct_err err;

	(void)state;
	assert_int_equal(mbs_load("/nonexistent/.mbsyncstate", &st, &err), -1);
	assert_int_equal(err.kind, FCT_E_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/.mbsyncstate"));
}

static void test_name_uid(void **state)
{
	(void)state;
	assert_int_equal(mbs_name_uid("1700000000.12345_1.host,U=42:2,S"), 42);
	assert_int_equal(mbs_name_uid("1700000000.12345_1.host,U=42"), 42);
	assert_int_equal(mbs_name_uid("1700000000_0.123.host,U=7,FMD5=0123abcd:2,RS"), 7);
	assert_int_equal(mbs_name_uid("1700000000.M1P2.host,S=300,U=9;2,"), 9);
	assert_int_equal(mbs_name_uid("1700000000.M1P2.host,S=300:2,S"), 0);
	assert_int_equal(mbs_name_uid("host:2,U=5"), 0);      /* after the info part */
	assert_int_equal(mbs_name_uid("host,U=:2,S"), 0);
	assert_int_equal(mbs_name_uid("host,U=12x:2,S"), 0);
	assert_int_equal(mbs_name_uid("host,U=0:2,S"), 0);
	assert_int_equal(mbs_name_uid("host,U=99999999999:2,S"), 0);
	assert_int_equal(mbs_name_uid("a,U=x,U=5:2,"), 5);
}

static uint64_t tuid_in(const char *msg, size_t step)
{
	struct mbs_tuid t;
	size_t i, n = strlen(msg);

	memset(&t, 0, sizeof t);
	for (i = 0; i < n; i += step)
		mbs_tuid_step(&t, msg + i, n - i < step ? n - i : step);
	return t.found;
}

static void test_tuid(void **state)
{
	static const char lf[] = "From: a@b\nSubject: x\nX-TUID: AbCdEfGhIjKl\n\nbody\n";
	static const char crlf[] = "From: a@b\r\nx-tuid: AbCdEfGhIjKl\r\nTo: c\r\n\r\nbody\r\n";
	static const char body_only[] = "From: a@b\n\nX-TUID: AbCdEfGhIjKl\n";
	static const char lookalike[] = "X-TUIDS: 1\nXX-TUID: 2\nSubject: X-TUID: 3\n\n";
	size_t step;

	(void)state;
	for (step = 1; step <= 64; step++) {
		assert_int_equal(tuid_in(lf, step), 22);
		assert_int_equal(tuid_in(crlf, step), 22);
		assert_int_equal(tuid_in(body_only, step), 0);
		assert_int_equal(tuid_in(lookalike, step), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v14),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_name_uid),
		cmocka_unit_test(test_tuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
