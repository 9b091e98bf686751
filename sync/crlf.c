#include "sync/crlf.h"

size_t crlf_dec_step(struct crlf_dec *d, const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (d->pending_cr) {
			d->pending_cr = 0;
			if (c != '\n')
				out[o++] = '\r';
		}
		if (c == '\r')
			d->pending_cr = 1;
		else
			out[o++] = c;
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
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c == '\n' && !e->last_cr)
			out[o++] = '\r';
		out[o++] = c;
		e->last_cr = (c == '\r');
	}
	return o;
}

uint64_t crlf_enc_size(struct crlf_enc *e, const char *in, size_t n)
{
	uint64_t size = n;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in[i] == '\n' && !e->last_cr)
			size++;
		e->last_cr = (in[i] == '\r');
	}
	return size;
}
