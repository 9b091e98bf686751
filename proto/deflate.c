/* DEFLATE layer (RFC 4978): raw deflate streams (no zlib header) in both
 * directions, on top of TLS or the raw descriptors.  Buffers are fixed; a
 * compressed stream never makes us allocate in proportion to its size. */
#include "proto/xport_int.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct xport_z {
	z_stream in, out;
	int in_ok, out_ok; /* initialized, so End is due */
	int ended;         /* server ended its stream: EOF from now on */
	int more_out;      /* last inflate filled pbuf: it may hold more */
	int dirty;         /* bytes deflated since the last sync flush */
	size_t ppos, plen; /* decompressed bytes not yet read: pbuf[ppos..plen) */
	unsigned char ibuf[XPORT_IOBUF];
	unsigned char pbuf[XPORT_IOBUF];
	unsigned char obuf[XPORT_IOBUF];
};

int xport_z_push(struct xport *x, struct fct_err *err)
{
	struct xport_z *z = fct_xcalloc(1, sizeof *z);

	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		return fct_err_set(err, FCT_E_IO, "%s: cannot start decompression", x->name);
	}
	z->in_ok = 1;
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		xport_z_free(z);
		return fct_err_set(err, FCT_E_IO, "%s: cannot start compression", x->name);
	}
	z->out_ok = 1;
	x->z = z;
	return 0;
}

/* Inflates into pbuf until it holds something; 0 at EOF, -1 on error.
 * Decoding into our own buffer, rather than the caller's, lets
 * xport_z_pending() be exact whenever the stream is drained. */
static ssize_t z_fill(struct xport *x, struct fct_err *err)
{
	struct xport_z *z = x->z;

	z->ppos = z->plen = 0;
	for (;;) {
		if (z->in.avail_in == 0 && !z->more_out) {
			ssize_t r = xport_below_z_read(x, z->ibuf, sizeof z->ibuf, err);
			if (r <= 0)
				return r;
			z->in.next_in = z->ibuf;
			z->in.avail_in = (uInt)r;
		}
		z->in.next_out = z->pbuf;
		z->in.avail_out = sizeof z->pbuf;
		int rc = inflate(&z->in, Z_SYNC_FLUSH);
		z->plen = sizeof z->pbuf - z->in.avail_out;
		z->more_out = z->in.avail_out == 0;
		if (rc == Z_STREAM_END) {
			z->ended = 1;
			z->more_out = 0;
			return (ssize_t)z->plen;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return fct_err_set(err, FCT_E_PROTO, "corrupt compressed data from %s: %s", x->name,
			                   z->in.msg ? z->in.msg : zError(rc));
		if (z->plen > 0)
			return (ssize_t)z->plen;
	}
}

ssize_t xport_z_read(struct xport *x, void *buf, size_t n, struct fct_err *err)
{
	struct xport_z *z = x->z;

	if (z->ppos == z->plen) {
		if (z->ended)
			return 0;
		ssize_t r = z_fill(x, err);
		if (r <= 0)
			return r;
	}
	size_t k = z->plen - z->ppos < n ? z->plen - z->ppos : n;
	memcpy(buf, z->pbuf + z->ppos, k);
	z->ppos += k;
	return (ssize_t)k;
}

int xport_z_write(struct xport *x, const void *p, size_t n, int sync, struct fct_err *err)
{
	struct xport_z *z = x->z;
	const unsigned char *c = p;

	if (n == 0 && (!sync || !z->dirty))
		return 0;
	do {
		/* zlib counts in uInt; slice very large writes. */
		size_t k = n > (1u << 30) ? (1u << 30) : n;
		int flush = sync && k == n ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		z->out.next_in = (unsigned char *)(uintptr_t)c;
		z->out.avail_in = (uInt)k;
		do {
			z->out.next_out = z->obuf;
			z->out.avail_out = sizeof z->obuf;
			int rc = deflate(&z->out, flush);
			if (rc != Z_OK && rc != Z_BUF_ERROR)
				return fct_err_set(err, FCT_E_IO, "%s: compression failed: %s", x->name,
				                   zError(rc));
			size_t have = sizeof z->obuf - z->out.avail_out;
			if (have && xport_below_z_write(x, z->obuf, have, err) < 0)
				return -1;
		} while (z->out.avail_out == 0 || z->out.avail_in > 0);
		c += k;
		n -= k;
	} while (n > 0);
	z->dirty = !sync;
	return 0;
}

int xport_z_pending(const struct xport *x)
{
	const struct xport_z *z = x->z;

	return z->ppos < z->plen || (!z->ended && (z->in.avail_in > 0 || z->more_out));
}

void xport_z_free(struct xport_z *z)
{
	if (!z)
		return;
	if (z->in_ok)
		inflateEnd(&z->in);
	if (z->out_ok)
		deflateEnd(&z->out);
	free(z);
}
