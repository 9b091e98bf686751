/* libFuzzer target: modified UTF-7 (proto/mutf7.c).
 *
 * Decoding arbitrary bytes never crashes; whatever decodes re-encodes and
 * decodes to the same UTF-8; whatever UTF-8 encodes decodes back to itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fct_buf a, b, c;

	fct_buf_init(&a);
	fct_buf_init(&b);
	fct_buf_init(&c);
	if (mutf7_to_utf8((const char *)data, size, &a) == 0) {
		if (utf8_to_mutf7(a.data ? a.data : "", a.len, &b) != 0)
			__builtin_trap(); /* decoded text must be encodable */
		if (mutf7_to_utf8(b.data ? b.data : "", b.len, &c) != 0)
			__builtin_trap();
		if (c.len != a.len || (a.len && memcmp(a.data, c.data, a.len)))
			__builtin_trap();
	}
	fct_buf_reset(&a);
	fct_buf_reset(&b);
	if (utf8_to_mutf7((const char *)data, size, &a) == 0) {
		if (mutf7_to_utf8(a.data ? a.data : "", a.len, &b) != 0)
			__builtin_trap();
		if (b.len != size || (size && memcmp(b.data, data, size)))
			__builtin_trap();
	}
	fct_buf_free(&a);
	fct_buf_free(&b);
	fct_buf_free(&c);
	return 0;
}
