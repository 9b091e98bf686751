/* Private to proto/transport.c, proto/tls.c and proto/deflate.c: the xport
 * structure and the calls each layer makes on the layer below it.
 *
 * Layer order, bottom up: raw descriptors (socket or tunnel), TLS (memory
 * BIOs, so every wire byte passes through xport_raw_* where it is counted
 * and timed), DEFLATE.  The plaintext write queue sits above all of them. */
#ifndef FACTEUR_XPORT_INT_H
#define FACTEUR_XPORT_INT_H

#include <sys/types.h>

#include "proto/transport.h"

#define XPORT_WBUF 16384 /* top-level write queue */
#define XPORT_IOBUF 16384 /* per-layer scratch for wire/compressed bytes */

struct xport_tls;
struct xport_z;

struct xport {
	int rfd, wfd;
	int is_socket;    /* wfd is a socket: send() with MSG_NOSIGNAL */
	pid_t child;      /* tunnel command, or -1 */
	int timeout_ms;
	int broken;       /* an I/O error happened: no polite close_notify */
	const struct fct_log *log;
	char *host;       /* for TLS names; may be "" */
	char *name;       /* "host:port" or "tunnel", for messages */
	unsigned long long nin, nout;
	struct xport_tls *tls;
	struct xport_z *z;
	size_t wlen;
	unsigned char wbuf[XPORT_WBUF];
};

/* Bottom layer.  raw_read returns > 0, 0 at EOF, -1 on error or timeout;
 * raw_write sends all n bytes or fails. */
ssize_t xport_raw_read(struct xport *x, void *buf, size_t n, struct fct_err *err);
int xport_raw_write(struct xport *x, const void *p, size_t n, struct fct_err *err);

/* TLS layer (proto/tls.c). */
int xport_tls_push(struct xport *x, const struct tls_opts *t, struct fct_err *err);
ssize_t xport_tls_read(struct xport *x, void *buf, size_t n, struct fct_err *err);
int xport_tls_write(struct xport *x, const void *p, size_t n, struct fct_err *err);
int xport_tls_pending(const struct xport *x);
/* Best effort close_notify that never waits. */
void xport_tls_goodbye(struct xport *x);
const struct tls_info *xport_tls_get_info(const struct xport *x);
void xport_tls_free(struct xport_tls *t);

/* DEFLATE layer (proto/deflate.c), on top of TLS or raw. */
int xport_z_push(struct xport *x, struct fct_err *err);
ssize_t xport_z_read(struct xport *x, void *buf, size_t n, struct fct_err *err);
/* sync: end with Z_SYNC_FLUSH so the peer can decode everything sent. */
int xport_z_write(struct xport *x, const void *p, size_t n, int sync, struct fct_err *err);
int xport_z_pending(const struct xport *x);
void xport_z_free(struct xport_z *z);

/* The layer under DEFLATE: TLS if active, else raw. */
ssize_t xport_below_z_read(struct xport *x, void *buf, size_t n, struct fct_err *err);
int xport_below_z_write(struct xport *x, const void *p, size_t n, struct fct_err *err);

#endif
