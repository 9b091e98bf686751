/* A byte stream to a server, built of stacked layers: a TCP socket (IPv4 or
 * IPv6) or a tunnel command's stdin/stdout at the bottom, optionally TLS
 * (OpenSSL 3) above it, optionally DEFLATE (zlib, RFC 4978) on top.  IMAP and
 * POP3 see one read/write interface whatever layers are active.
 *
 * Ownership: struct xport owns its file descriptors, its TLS and zlib state
 * and its buffers; xport_close() releases all of it (and reaps a tunnel
 * child).  Every call waits at most opts.timeout_ms for the peer and fails
 * with FCT_E_TIMEOUT after that; nothing ever hangs. */
#ifndef FACTEUR_TRANSPORT_H
#define FACTEUR_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "sync/util.h"

struct xport;

struct xport_opts {
	const char *host;   /* name or literal address; also the TLS name checked */
	int port;
	const char *tunnel; /* if set: run through `sh -c` instead of connecting */
	int timeout_ms;     /* <= 0: no timeout */
	const struct fct_log *log;
};

struct tls_opts {
	int system_certs;          /* trust the system CA store (default 1) */
	const char *ca_file;       /* extra trusted certificates (PEM), or NULL */
	const char *client_cert;   /* PEM, or NULL */
	const char *client_key;    /* PEM, or NULL */
	const char *versions;      /* e.g. "TLSv1.2 TLSv1.3", or NULL for default */
	const char *ciphers;       /* OpenSSL cipher string, or NULL */
	int verify;                /* 1 (default): chain and host name must verify */
};

/* What the TLS handshake found; filled for `probe` even when verification
 * failed (then verdict says why). */
struct tls_info {
	char version[32];      /* "TLSv1.3" */
	char cipher[64];
	char verdict[128];     /* "valid", "self-signed", "expired", "wrong host name", ... */
	char fingerprint[100]; /* SHA-256 of the leaf certificate, hex with colons */
	char subject[256];
	char not_after[64];
	int verified;          /* 1 if chain and host name verified */
};

/* Connects to o->host:o->port, trying every address getaddrinfo returns
 * (IPv4 and IPv6) with a non-blocking connect bounded by the timeout, or
 * runs o->tunnel with `sh -c` connected through a socketpair.  The options
 * are copied except o->log, which must outlive the xport.  Errors: FCT_E_IO
 * (resolution, refused, tunnel spawn), FCT_E_TIMEOUT.  Name resolution
 * itself (getaddrinfo) is not bounded by the timeout. */
int xport_open(struct xport **out, const struct xport_opts *o, struct fct_err *err);
/* Wraps existing descriptors (tests, socketpairs; rfd may equal wfd) and
 * makes them non-blocking; the xport takes ownership, and closes them even
 * when this fails. */
int xport_from_fds(struct xport **out, int rfd, int wfd, const struct xport_opts *o,
                   struct fct_err *err);

/* Pushes a TLS layer.  Fails (FCT_E_TLS, saying which check failed) unless
 * the certificate chain and host name verify, or opts->verify is 0; bad
 * options (CA file, versions, ciphers, client certificate) are
 * FCT_E_CONFIG.  A failed call leaves no TLS layer (the connection is then
 * unusable); to learn about a failing server, probe with verify = 0 and read
 * xport_tls_info()->verified and ->verdict (err then still holds the
 * one-line reason, though the call returns 0).  SNI is sent for host names,
 * not for IP literals, which are checked against IP subjectAltNames. */
int xport_start_tls(struct xport *x, const struct tls_opts *t, struct fct_err *err);
/* Pushes a DEFLATE layer (raw deflate both ways, flushed with Z_SYNC_FLUSH on
 * every xport_flush so pipelined commands are never stuck in a buffer). */
int xport_start_deflate(struct xport *x, struct fct_err *err);

int xport_is_tls(const struct xport *x);
int xport_is_deflate(const struct xport *x);
const struct tls_info *xport_tls_info(const struct xport *x); /* NULL without TLS */

/* Reads at most n bytes.  Returns the count (> 0), 0 at end of stream, -1 on
 * error (err says why, FCT_E_TIMEOUT after timeout_ms without data; corrupt
 * compressed data is FCT_E_PROTO).  Queued writes are flushed first, so a
 * forgotten flush never deadlocks with the server. */
ssize_t xport_read(struct xport *x, void *buf, size_t n, struct fct_err *err);
/* Queues bytes; they leave at xport_flush() or when the buffer fills.
 * SIGPIPE never kills the process: a vanished peer is an FCT_E_IO error. */
int xport_write(struct xport *x, const void *buf, size_t n, struct fct_err *err);
int xport_flush(struct xport *x, struct fct_err *err);
/* 1 if the stream is a TCP connection to this machine (127.0.0.0/8, ::1 or
 * an IPv4-mapped loopback address); 0 for anything else, tunnels included. */
int xport_peer_is_loopback(const struct xport *x);
/* 1 if bytes are waiting in a layer (TLS record data, compressed input), so
 * polling xport_fd() could miss them; the next read is then served mostly or
 * wholly from memory.  0 means: poll xport_fd() before reading. */
int xport_pending(const struct xport *x);
/* The per-wait timeout this transport was opened with (0: none). */
int xport_timeout_ms(const struct xport *x);
/* Descriptor to poll for readability (the socket, or the tunnel's stdout). */
int xport_fd(const struct xport *x);
/* Bytes moved on the wire below all layers, for summaries and benchmarks. */
void xport_counters(const struct xport *x, unsigned long long *in, unsigned long long *out);
/* Frees everything, closes the descriptors, and reaps a tunnel child (it gets
 * the configured timeout to exit after EOF, then SIGTERM).  NULL is a no-op. */
void xport_close(struct xport *x);

#endif
