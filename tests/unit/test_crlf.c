#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/crlf.h"

/* Decodes `in` split at `cut` and checks the result against `want`. */
static void dec_split(const char *in, size_t cut, const char *want)
{
	struct crlf_dec d = {0};
	char out[256];
	size_t n = strlen(in), o;

	o = crlf_dec_step(&d, in, cut, out);
	o += crlf_dec_step(&d, in + cut, n - cut, out + o);
	o += crlf_dec_end(&d, out + o);
	assert_int_equal(o, strlen(want));
	assert_memory_equal(out, want, o);
}

static void decode_every_split(void **state)
{
	const char *in = "a\r\nb\r\r\n\rc\r\n\r";
	const char *want = "a\nb\r\n\rc\n\r";
	size_t cut;

	(void)state;
	for (cut = 0; cut <= strlen(in); cut++)
		dec_split(in, cut, want);
}

static void encode_round_trip(void **state)
{
	const char *lf = "From: a\nSubject: b\n\nbody\r\nmixed\n";
	struct crlf_enc e = {0}, s = {0};
	struct crlf_dec d = {0};
	char enc[128], dec[128];
	size_t i, n = strlen(lf), o = 0, back;
	uint64_t size = 0;

	(void)state;
	for (i = 0; i < n; i++) { /* one byte at a time: state crosses pieces */
		o += crlf_enc_step(&e, lf + i, 1, enc + o);
		size += crlf_enc_size(&s, lf + i, 1);
	}
	assert_int_equal(size, o);
	assert_memory_equal(enc, "From: a\r\nSubject: b\r\n\r\nbody\r\nmixed\r\n", o);
	back = crlf_dec_step(&d, enc, o, dec);
	back += crlf_dec_end(&d, dec + back);
	/* CRLF already in the file comes back as LF: Maildir holds LF. */
	assert_int_equal(back, n - 1);
	assert_memory_equal(dec, "From: a\nSubject: b\n\nbody\nmixed\n", back);
}

/* Byte-at-a-time references: what the converters must agree with. */
static size_t ref_dec(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++)
		if (!(in[i] == '\r' && i + 1 < n && in[i + 1] == '\n'))
			out[o++] = in[i];
	return o;
}

static size_t ref_enc(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	return o;
}

/* Random mixes of CR, LF and text, cut into random pieces. */
static void random_pieces_match_reference(void **state)
{
	static const char alphabet[] = "\r\nab";
	char in[64], out[256], want[256];
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		struct crlf_dec d = {0};
		struct crlf_enc e = {0}, s = {0};
		size_t n, i, o, w, cut;
		uint64_t size = 0;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof in;
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % 4];
		}
		seed = seed * 1103515245u + 12345u;
		cut = n ? (seed >> 16) % (n + 1) : 0;

		o = crlf_dec_step(&d, in, cut, out);
		o += crlf_dec_step(&d, in + cut, n - cut, out + o);
		o += crlf_dec_end(&d, out + o);
		w = ref_dec(in, n, want);
		assert_int_equal(o, w);
		assert_memory_equal(out, want, o);

		o = crlf_enc_step(&e, in, cut, out);
		o += crlf_enc_step(&e, in + cut, n - cut, out + o);
		size = crlf_enc_size(&s, in, cut) + crlf_enc_size(&s, in + cut, n - cut);
		w = ref_enc(in, n, want);
		assert_int_equal(o, w);
		assert_int_equal(size, w);
		assert_memory_equal(out, want, o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_every_split),
		cmocka_unit_test(encode_round_trip),
		cmocka_unit_test(random_pieces_match_reference),
	};
	return cmocka_run_group_tests_name("crlf", tests, NULL, NULL);
}
