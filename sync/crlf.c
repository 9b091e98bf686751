#include "sync/crlf.h"

#include <string.h>

/* Bodies are mostly long runs between line ends: each run is found with
 * memchr and copied whole, instead of testing every byte in a loop. */

size_t crlf_dec_step(struct crlf_dec *d, const char *in, size_t n, char *out)
{
	const char *end = in + n;
	size_t o = 0;

	if (n && d->pending_cr) {
		d->pending_cr = 0;
		if (*in != '\n')
			out[o++] = '\r';
	}
	while (in < end) {
		const char *cr = memchr(in, '\r', (size_t)(end - in));
		size_t run = (size_t)((cr ? cr : end) - in);

		memcpy(out + o, in, run);
		o += run;
		if (!cr)
			break;
		if (cr + 1 == end) {
			d->pending_cr = 1;
			break;
		}
		if (cr[1] != '\n')
			out[o++] = '\r';
		in = cr + 1;
	}
	return o;
}

size_t crlf_dec_end(struct crlf_dec *d, char *out)
{
	if (!d->pending_cr)
		return 0;
	d->pending_cr = 0;
	out[0] = '\r';
	return 1;
}

size_t crlf_enc_step(struct crlf_enc *e, const char *in, size_t n, char *out)
{
	const char *end = in + n;
	size_t o = 0;

	while (in < end) {
		const char *lf = memchr(in, '\n', (size_t)(end - in));
		size_t run = (size_t)((lf ? lf : end) - in);

		memcpy(out + o, in, run);
		o += run;
		if (run)
			e->last_cr = in[run - 1] == '\r';
		if (!lf)
			break;
		if (!e->last_cr)
			out[o++] = '\r';
		out[o++] = '\n';
		e->last_cr = 0;
		in = lf + 1;
	}
	return o;
}

uint64_t crlf_enc_size(struct crlf_enc *e, const char *in, size_t n)
{
	const char *end = in + n;
	uint64_t size = n;

	while (in < end) {
		const char *lf = memchr(in, '\n', (size_t)(end - in));
		size_t run = (size_t)((lf ? lf : end) - in);

		if (run)
			e->last_cr = in[run - 1] == '\r';
		if (!lf)
			break;
		size += !e->last_cr;
		e->last_cr = 0;
		in = lf + 1;
	}
	return size;
}
