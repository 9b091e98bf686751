#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/mutf7.h"

static int dec(const char *in, struct fct_buf *b)
{
	fct_buf_reset(b);
	return mutf7_to_utf8(in, strlen(in), b);
}

static int dec_n(const char *in, size_t n, struct fct_buf *b)
{
	fct_buf_reset(b);
	return mutf7_to_utf8(in, n, b);
}

static int enc(const char *in, size_t n, struct fct_buf *b)
{
	fct_buf_reset(b);
	return utf8_to_mutf7(in, n, b);
}

static void rfc_example(void **state)
{
	const char *m = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
	const char *u = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	struct fct_buf b;

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(dec(m, &b), 0);
	assert_string_equal(b.data, u);
	assert_int_equal(enc(u, strlen(u), &b), 0);
	assert_string_equal(b.data, m);
	fct_buf_free(&b);
}

static void ampersand_and_specials(void **state)
{
	struct fct_buf b;

	(void)state;
	fct_buf_init(&b);
	assert_int_equal(enc("a&b", 3, &b), 0);
	assert_string_equal(b.data, "a&-b");
	assert_int_equal(dec("a&-b&-", &b), 0);
	assert_string_equal(b.data, "a&b&");
	assert_int_equal(enc("\xf0\x9f\x98\x80", 4, &b), 0); /* U+1F600: surrogate pair */
	assert_string_equal(b.data, "&2D3eAA-");
	assert_int_equal(dec("&2D3eAA-x", &b), 0);
	assert_string_equal(b.data, "\xf0\x9f\x98\x80x");
	assert_int_equal(enc("a\tb", 3, &b), 0); /* controls go in a shift */
	assert_string_equal(b.data, "a&AAk-b");
	assert_int_equal(enc("", 0, &b), 0);
	assert_string_equal(b.data, "");
	/* Mixed runs close and reopen the shift. */
	assert_int_equal(enc("\xc3\xa9t\xc3\xa9", 5, &b), 0);
	assert_string_equal(b.data, "&AOk-t&AOk-");
	fct_buf_free(&b);
}

static void malformed_mutf7(void **state)
{
	static const char *bad[] = {
		"&U,BTFw",     /* unterminated */
		"&",           /* unterminated */
		"&U,B*Fw-",    /* bad base64 */
		"&U/BTFw-",    /* '/' is not in the modified alphabet */
		"&AGE-",       /* 'a' encoded: not minimal */
		"&U,A-&U,A-",  /* two adjacent shifts */
		"&U,B-",       /* non-zero padding bits */
		"&U,BTF-",     /* 8 leftover bits */
		"&2AA-",       /* unpaired high surrogate */
		"&3AA-",       /* lone low surrogate */
		"&2D3YPQ-",    /* high followed by high */
		"&AAA-",       /* U+0000 */
		"caf\xc3\xa9", /* raw 8-bit */
		"a\tb",        /* raw control */
	};
	struct fct_buf b;

	(void)state;
	fct_buf_init(&b);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (dec(bad[i], &b) != -1)
			fail_msg("accepted malformed \"%s\"", bad[i]);
	}
	fct_buf_free(&b);
}

static void malformed_utf8(void **state)
{
	static const char *bad[] = {
		"\xc3",             /* truncated */
		"\xc0\xaf",         /* overlong */
		"\xe0\x80\xaf",     /* overlong */
		"\xed\xa0\x80",     /* surrogate */
		"\xf4\x90\x80\x80", /* > U+10FFFF */
		"\x80",             /* stray continuation */
		"\xff",
		"\xe6\x97",         /* truncated 3-byte */
	};
	struct fct_buf b;

	(void)state;
	fct_buf_init(&b);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (enc(bad[i], strlen(bad[i]), &b) != -1)
			fail_msg("accepted invalid UTF-8 #%zu", i);
	}
	assert_int_equal(enc("a\0b", 3, &b), -1); /* NUL */
	fct_buf_free(&b);
}

static size_t put_cp(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static void random_round_trips(void **state)
{
	struct fct_buf m, u;
	char in[256];

	(void)state;
	fct_buf_init(&m);
	fct_buf_init(&u);
	srand(4978);
	for (int round = 0; round < 2000; round++) {
		size_t n = 0, k = (size_t)(rand() % 12);
		for (size_t i = 0; i < k; i++) {
			unsigned cp;
			switch (rand() % 4) {
			case 0: cp = 0x20 + (unsigned)(rand() % 95); break;
			case 1: cp = 1 + (unsigned)(rand() % 0x7ff); break;
			case 2: cp = 0x800 + (unsigned)(rand() % 0xd000); break;
			default: cp = 0x10000 + (unsigned)(rand() % 0x100000); break;
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = '&';
			n += put_cp(in + n, cp);
		}
		assert_int_equal(enc(in, n, &m), 0);
		for (size_t i = 0; i < m.len; i++)
			assert_true(m.data[i] >= 0x20 && m.data[i] <= 0x7e);
		assert_int_equal(dec(m.data, &u), 0);
		assert_int_equal(u.len, n);
		assert_memory_equal(u.data, in, n);
	}
	fct_buf_free(&m);
	fct_buf_free(&u);
}

/* Any name the decoder accepts must re-encode to exactly itself: one
 * spelling per mailbox.  Random strings over a small alphabet hit shifts,
 * padding and surrogates often. */
static void accepted_names_are_canonical(void **state)
{
	static const char alpha[] = "&-&-AAB2D3eU,+/9azQ0 x";
	struct fct_buf u, m;
	char in[24];
	int accepted = 0;

	(void)state;
	fct_buf_init(&u);
	fct_buf_init(&m);
	srand(3501);
	for (int round = 0; round < 200000; round++) {
		size_t n = 1 + (size_t)rand() % (sizeof in - 1);
		for (size_t i = 0; i < n; i++)
			in[i] = alpha[rand() % (int)(sizeof alpha - 1)];
		if (dec_n(in, n, &u) != 0)
			continue;
		accepted++;
		assert_int_equal(enc(u.data, u.len, &m), 0);
		if (m.len != n || memcmp(m.data, in, n) != 0)
			fail_msg("\"%.*s\" decodes but re-encodes as \"%s\"", (int)n, in, m.data);
	}
	assert_true(accepted > 1000);
	fct_buf_free(&u);
	fct_buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc_example),
		cmocka_unit_test(ampersand_and_specials),
		cmocka_unit_test(malformed_mutf7),
		cmocka_unit_test(malformed_utf8),
		cmocka_unit_test(random_round_trips),
		cmocka_unit_test(accepted_names_are_canonical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
