/* Line reader and literal streamer over a transport, with -D logging.  The
 * read buffer is sized once from max_line; nothing grows with the input. */
#include "proto/wire.h"
#include "proto/redact.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_MIN_BUF 8192
#define WIRE_MAX_LINE (64u << 20) /* sanity cap on the caller's max_line */
#define LOG_MAX 200 /* characters of a line shown under -D */

struct wire {
	struct xport *x;
	const struct fct_log *log;
	char tag[16];
	size_t max_line;
	size_t start, end, cap; /* unconsumed bytes are buf[start..end) */
	uint64_t lit_left;      /* bytes of an announced outgoing literal */
	char *buf;
	struct redact red;      /* what was sent as secret, never shown back */
};

struct wire *wire_new(struct xport *x, size_t max_line, const struct fct_log *log,
                      const char *debug_tag)
{
	struct wire *w = fct_xcalloc(1, sizeof *w);

	w->x = x;
	w->log = log;
	snprintf(w->tag, sizeof w->tag, "%s", debug_tag ? debug_tag : "wire");
	w->max_line = max_line == 0 ? 1 : max_line > WIRE_MAX_LINE ? WIRE_MAX_LINE : max_line;
	/* Room for a maximal line plus CRLF, so "too long" is always decidable. */
	w->cap = w->max_line + 2 < WIRE_MIN_BUF ? WIRE_MIN_BUF : w->max_line + 2;
	w->buf = fct_xmalloc(w->cap + 1);
	return w;
}

void wire_free(struct wire *w)
{
	if (!w)
		return;
	redact_free(&w->red);
	free(w->buf);
	free(w);
}

struct redact *wire_redactor(struct wire *w)
{
	return &w->red;
}

struct xport *wire_xport(struct wire *w)
{
	return w->x;
}

size_t wire_buffered(const struct wire *w)
{
	return w->end - w->start;
}

static int fill(struct wire *w, struct fct_err *err)
{
	ssize_t r;

	if (w->start > 0) {
		memmove(w->buf, w->buf + w->start, w->end - w->start);
		w->end -= w->start;
		w->start = 0;
	}
	r = xport_read(w->x, w->buf + w->end, w->cap - w->end, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return fct_err_set(err, FCT_E_IO, "connection closed by server");
	w->end += (size_t)r;
	return 0;
}

/* Logs at most LOG_MAX characters of p[0..n) with a prefix. */
static void log_line(const struct wire *w, const char *dir, const char *p, size_t n)
{
	char *shown, *safe;

	if (!w->log || !w->log->debug)
		return;
	shown = fct_xstrndup(p, n > LOG_MAX ? LOG_MAX : n);
	safe = redact_text(&w->red, shown);
	fct_log_debug(w->log, "%s%s %s%s", w->tag, dir, safe, n > LOG_MAX ? "..." : "");
	free(safe);
	free(shown);
}

int wire_getline(struct wire *w, const char **line, size_t *len, struct fct_err *err)
{
	size_t scanned = 0;
	int64_t deadline = 0;

	for (;;) {
		char *s = w->buf + w->start;
		size_t avail = w->end - w->start;
		char *nl = memchr(s + scanned, '\n', avail - scanned);
		if (nl) {
			size_t n = (size_t)(nl - s);
			w->start += n + 1;
			if (n > 0 && s[n - 1] == '\r')
				n--;
			if (n > w->max_line)
				return fct_err_set(err, FCT_E_PROTO, "server line longer than %zu bytes",
				                   w->max_line);
			s[n] = '\0';
			log_line(w, "<", s, n);
			*line = s;
			*len = n;
			return 0;
		}
		/* max_line content plus a CR may still be waiting for its LF. */
		if (avail > w->max_line + 1)
			return fct_err_set(err, FCT_E_PROTO, "server line longer than %zu bytes",
			                   w->max_line);
		scanned = avail;
		/* Timeout bounds each wait; a peer trickling a byte at a time must
		 * not stretch one line past it either. */
		if (!deadline && xport_timeout_ms(w->x) > 0)
			deadline = fct_now_ms() + xport_timeout_ms(w->x);
		if (fill(w, err) < 0)
			return -1;
		if (deadline && fct_now_ms() > deadline)
			return fct_err_set(err, FCT_E_TIMEOUT, "server line not complete after %d s",
			                   xport_timeout_ms(w->x) / 1000);
	}
}

int wire_read_n(struct wire *w, uint64_t n, wire_sink_fn sink, void *ctx, struct fct_err *err)
{
	if (w->log && w->log->debug)
		fct_log_debug(w->log, "%s< <literal, %llu bytes>", w->tag, (unsigned long long)n);
	while (n > 0) {
		if (w->start == w->end) {
			/* Ask for no more than the literal so the next line stays unread. */
			size_t want = n < w->cap ? (size_t)n : w->cap;
			w->start = w->end = 0;
			ssize_t r = xport_read(w->x, w->buf, want, err);
			if (r < 0)
				return -1;
			if (r == 0)
				return fct_err_set(err, FCT_E_IO,
				                   "connection closed by server with %llu literal bytes unread",
				                   (unsigned long long)n);
			w->end = (size_t)r;
		}
		size_t k = w->end - w->start;
		if (k > n)
			k = (size_t)n;
		if (sink && sink(ctx, w->buf + w->start, k, err) != 0) {
			if (err && err->kind == FCT_E_NONE)
				fct_err_set(err, FCT_E_IO, "literal consumer failed");
			return -1;
		}
		w->start += k;
		n -= k;
	}
	return 0;
}

/* "...{123}" or "...{123+}" at the end of a line: the literal's size. */
static int literal_size(const char *p, size_t n, uint64_t *size)
{
	size_t i;
	uint64_t v = 0;

	if (n < 3 || p[n - 1] != '}')
		return 0;
	n--;
	if (p[n - 1] == '+')
		n--;
	for (i = n; i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9'; i--)
		;
	if (i == n || i == 0 || p[i - 1] != '{' || n - i > 19)
		return 0;
	for (; i < n; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	*size = v;
	return 1;
}

/* Logs the first line of a send; tracks announced literals so their bodies
 * are shown only as a size. */
static void log_send(struct wire *w, const char *p, size_t n, int secret)
{
	int logged = 0;

	while (n > 0) {
		if (w->lit_left > 0) {
			size_t k = w->lit_left < n ? (size_t)w->lit_left : n;
			w->lit_left -= k;
			p += k;
			n -= k;
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) + 1 : n, text = seg;
		if (text > 0 && p[text - 1] == '\n')
			text--;
		if (text > 0 && p[text - 1] == '\r')
			text--;
		if (!logged) {
			if (secret)
				fct_log_debug(w->log, "%s> <secret masked>", w->tag);
			else
				log_line(w, ">", p, text);
			logged = 1;
		}
		uint64_t size;
		if (nl && literal_size(p, text, &size) && size > 0) {
			w->lit_left = size;
			fct_log_debug(w->log, "%s> <literal, %llu bytes>", w->tag, (unsigned long long)size);
		}
		p += seg;
		n -= seg;
	}
}

int wire_send(struct wire *w, const void *p, size_t n, int secret, struct fct_err *err)
{
	if (secret)
		redact_add_line(&w->red, p, n);
	if (w->log && w->log->debug)
		log_send(w, p, n, secret);
	return xport_write(w->x, p, n, err);
}

int wire_sendf(struct wire *w, struct fct_err *err, const char *fmt, ...)
{
	struct fct_buf b;
	va_list ap;
	int r;

	fct_buf_init(&b);
	va_start(ap, fmt);
	fct_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	r = wire_send(w, b.data ? b.data : "", b.len, 0, err);
	fct_buf_free(&b);
	return r;
}

int wire_flush(struct wire *w, struct fct_err *err)
{
	return xport_flush(w->x, err);
}
