/* The wire engine shared by IMAP and POP3: a bounded line reader and a
 * literal streamer over a transport, plus sending with -D logging in which
 * secrets are masked.  A line longer than max_line is a protocol error, never
 * an unbounded allocation.  struct wire owns its read buffer only; the
 * transport belongs to the caller and must outlive it. */
#ifndef FACTEUR_WIRE_H
#define FACTEUR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/transport.h"

struct wire;

/* Called with consecutive pieces of a streamed body; nonzero stops with error. */
typedef int (*wire_sink_fn)(void *ctx, const char *p, size_t n, struct fct_err *err);

struct wire *wire_new(struct xport *x, size_t max_line, const struct fct_log *log,
                      const char *debug_tag /* e.g. "imap" */);
void wire_free(struct wire *w);
struct xport *wire_xport(struct wire *w);

/* Reads one line, CRLF (or bare LF) removed; the line is NUL-terminated in
 * place (it may itself contain NUL bytes: trust len).  *line stays valid
 * until the next wire call.  Returns 0, or -1: EOF (FCT_E_IO "connection
 * closed by server"), I/O error, timeout, or a line longer than max_line
 * (FCT_E_PROTO "server line longer than N bytes"). */
int wire_getline(struct wire *w, const char **line, size_t *len, struct fct_err *err);
/* Reads exactly n bytes and hands them to sink in pieces of at most the
 * buffer size (never allocating n); reads nothing beyond the n bytes. */
int wire_read_n(struct wire *w, uint64_t n, wire_sink_fn sink, void *ctx, struct fct_err *err);
/* Bytes already read from the transport but not yet consumed (must be 0
 * before STARTTLS/STLS/COMPRESS take effect, or the peer injected data). */
size_t wire_buffered(const struct wire *w);

/* Sends (queues) bytes.  Under -D each call logs its first line as
 * "TAG> line" (up to the first CRLF, at most ~200 characters); secret != 0
 * logs "TAG> <secret masked>" instead.  After a line ending in an IMAP
 * literal announcement "{N}" or "{N+}", the next N bytes sent are logged only
 * as "TAG> <literal, N bytes>".  Received lines are logged as "TAG< line" and
 * bodies read with wire_read_n as "TAG< <literal, N bytes>". */
int wire_send(struct wire *w, const void *p, size_t n, int secret, struct fct_err *err);
int wire_sendf(struct wire *w, struct fct_err *err, const char *fmt, ...) FCT_PRINTF(3, 4);
int wire_flush(struct wire *w, struct fct_err *err);

/* Secrets this session sent (wire_send with secret, plus what the protocol
 * layer adds, e.g. the password): the -D trace of received lines and error
 * texts built from server replies go through redact_text() with it. */
struct redact *wire_redactor(struct wire *w);

#endif
