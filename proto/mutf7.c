/* Modified UTF-7 (RFC 3501 5.1.3).  Decoding is strict so that one mailbox
 * name has exactly one spelling: a non-canonical name from a server is an
 * error rather than a second, aliasing folder. */
#include "proto/mutf7.h"

#include <stdint.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static void put_utf8(struct fct_buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	fct_buf_append(out, b, n);
}

/* Decodes one shift sequence in[0..n) (between '&' and '-', non-empty). */
static int decode_shift(const char *in, size_t n, struct fct_buf *out)
{
	uint32_t bits = 0, hi = 0;
	int nbits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (hi) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if (u >= 0x20 && u <= 0x7e) {
			return -1; /* printable ASCII must be written directly */
		} else if (u == 0) {
			return -1;
		} else {
			put_utf8(out, u);
		}
	}
	/* Leftover bits must be padding: fewer than 6 of them, all zero. */
	if (hi || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

int mutf7_to_utf8(const char *in, size_t n, struct fct_buf *out)
{
	size_t i = 0;
	int prev_shift = 0;

	fct_buf_append(out, "", 0);
	while (i < n) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			fct_buf_putc(out, (char)c);
			prev_shift = 0;
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < n && in[j] != '-')
			j++;
		if (j >= n)
			return -1; /* unterminated shift */
		if (j == i + 1) {
			fct_buf_putc(out, '&');
			prev_shift = 0;
		} else {
			/* Two adjacent shifts should have been one. */
			if (prev_shift || decode_shift(in + i + 1, j - i - 1, out) < 0)
				return -1;
			prev_shift = 1;
		}
		i = j + 1;
	}
	return 0;
}

/* Decodes one UTF-8 sequence at in[*i]; returns the code point or -1. */
static int32_t next_utf8(const unsigned char *in, size_t n, size_t *i)
{
	unsigned char c = in[*i];
	uint32_t cp, min;
	size_t len, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (n - *i < len)
		return -1;
	for (k = 1; k < len; k++) {
		if ((in[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (in[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += len;
	return (int32_t)cp;
}

static void flush_bits(struct fct_buf *out, uint32_t *bits, int *nbits)
{
	while (*nbits >= 6) {
		*nbits -= 6;
		fct_buf_putc(out, b64chars[(*bits >> *nbits) & 0x3f]);
	}
	*bits &= (1u << *nbits) - 1;
}

int utf8_to_mutf7(const char *in, size_t n, struct fct_buf *out)
{
	const unsigned char *s = (const unsigned char *)in;
	uint32_t bits = 0;
	int nbits = 0, shifted = 0;
	size_t i = 0;

	fct_buf_append(out, "", 0);
	while (i < n) {
		int32_t cp = next_utf8(s, n, &i);

		if (cp <= 0)
			return -1; /* invalid UTF-8, or NUL */
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted) {
				if (nbits)
					fct_buf_putc(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
				fct_buf_putc(out, '-');
				bits = 0, nbits = 0, shifted = 0;
			}
			if (cp == '&')
				fct_buf_puts(out, "&-");
			else
				fct_buf_putc(out, (char)cp);
			continue;
		}
		if (!shifted) {
			fct_buf_putc(out, '&');
			shifted = 1;
		}
		uint32_t units[2];
		int nu = 1;
		if (cp >= 0x10000) {
			units[0] = 0xd800 + (((uint32_t)cp - 0x10000) >> 10);
			units[1] = 0xdc00 + (((uint32_t)cp - 0x10000) & 0x3ff);
			nu = 2;
		} else {
			units[0] = (uint32_t)cp;
		}
		for (int k = 0; k < nu; k++) {
			bits = (bits << 16) | units[k];
			nbits += 16;
			flush_bits(out, &bits, &nbits);
		}
	}
	if (shifted) {
		if (nbits)
			fct_buf_putc(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
		fct_buf_putc(out, '-');
	}
	return 0;
}
