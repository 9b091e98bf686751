#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include "proto/wire.h"

struct pair {
	struct xport *x;
	struct wire *w;
	int peer; /* the other end, written to directly */
};

static void pair_open(struct pair *p, int type, size_t max_line, const struct fct_log *log)
{
	struct xport_opts o = {.host = "test", .port = 1, .timeout_ms = 3000, .log = log};
	struct fct_err err;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, type, 0, sv), 0);
	if (xport_from_fds(&p->x, sv[0], sv[0], &o, &err) != 0)
		fail_msg("xport_from_fds: %s", err.msg);
	p->w = wire_new(p->x, max_line, log, "imap");
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	wire_free(p->w);
	xport_close(p->x);
	if (p->peer >= 0)
		close(p->peer);
}

static void put(int fd, const void *d, size_t n)
{
	if (n)
		assert_int_equal(send(fd, d, n, 0), (ssize_t)n);
}

static void expect_line(struct wire *w, const char *want)
{
	struct fct_err err;
	const char *l;
	size_t n;

	if (wire_getline(w, &l, &n, &err) != 0)
		fail_msg("getline: %s", err.msg);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(l, want, n);
	assert_int_equal(l[n], '\0');
}

/* SOCK_SEQPACKET keeps each send a separate read, so a split point in the
 * data is a split between two transport reads. */
static void lines_split_everywhere(void **state)
{
	const char *text = "* OK ready\r\n* 2 EXISTS\r\n\r\nbare lf\nA1 OK done\r\n";
	size_t len = strlen(text);

	(void)state;
	for (size_t k = 0; k <= len; k++) {
		struct pair p;
		pair_open(&p, SOCK_SEQPACKET, 64, NULL);
		put(p.peer, text, k);
		put(p.peer, text + k, len - k);
		expect_line(p.w, "* OK ready");
		expect_line(p.w, "* 2 EXISTS");
		expect_line(p.w, "");
		expect_line(p.w, "bare lf");
		expect_line(p.w, "A1 OK done");
		assert_int_equal(wire_buffered(p.w), 0);
		pair_close(&p);
	}
}

static void lines_one_byte_reads(void **state)
{
	const char *text = "first\r\nsecond line\r\n";
	struct pair p;

	(void)state;
	pair_open(&p, SOCK_SEQPACKET, 64, NULL);
	for (size_t i = 0; text[i]; i++)
		put(p.peer, text + i, 1);
	expect_line(p.w, "first");
	expect_line(p.w, "second line");
	pair_close(&p);
}

static void overlong_lines(void **state)
{
	struct fct_err err;
	struct pair p;
	const char *l;
	size_t n;
	char big[100];

	(void)state;
	/* Exactly max_line is fine, with CRLF or LF. */
	pair_open(&p, SOCK_STREAM, 16, NULL);
	put(p.peer, "0123456789abcdef\r\n0123456789abcdef\n", 36);
	expect_line(p.w, "0123456789abcdef");
	expect_line(p.w, "0123456789abcdef");
	/* One more byte is refused, terminated or not (no waiting for the LF). */
	put(p.peer, "0123456789abcdefg\r\n", 19);
	assert_int_equal(wire_getline(p.w, &l, &n, &err), -1);
	assert_int_equal(err.kind, FCT_E_PROTO);
	assert_string_equal(err.msg, "server line longer than 16 bytes");
	pair_close(&p);

	pair_open(&p, SOCK_STREAM, 16, NULL);
	memset(big, 'x', sizeof big);
	put(p.peer, big, sizeof big);
	assert_int_equal(wire_getline(p.w, &l, &n, &err), -1);
	assert_int_equal(err.kind, FCT_E_PROTO);
	pair_close(&p);

	/* A huge max_line still gives a bounded buffer that detects overflow. */
	pair_open(&p, SOCK_STREAM, 20000, NULL);
	for (int i = 0; i < 201; i++)
		put(p.peer, big, sizeof big);
	assert_int_equal(wire_getline(p.w, &l, &n, &err), -1);
	assert_int_equal(err.kind, FCT_E_PROTO);
	assert_string_equal(err.msg, "server line longer than 20000 bytes");
	pair_close(&p);
}

static void eof_mid_line(void **state)
{
	struct fct_err err;
	struct pair p;
	const char *l;
	size_t n;

	(void)state;
	pair_open(&p, SOCK_STREAM, 64, NULL);
	put(p.peer, "partial", 7);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(wire_getline(p.w, &l, &n, &err), -1);
	assert_int_equal(err.kind, FCT_E_IO);
	assert_non_null(strstr(err.msg, "closed"));
	pair_close(&p);
}

struct collect {
	struct fct_buf b;
	size_t calls, maxpiece;
	int fail_after;
};

static int collect_sink(void *ctx, const char *d, size_t n, struct fct_err *err)
{
	struct collect *c = ctx;

	c->calls++;
	if (n > c->maxpiece)
		c->maxpiece = n;
	fct_buf_append(&c->b, d, n);
	if (c->fail_after && (int)c->calls >= c->fail_after)
		return fct_err_set(err, FCT_E_MSG, "sink full");
	return 0;
}

static void read_n_across_buffers(void **state)
{
	enum { LIT = 20000 };
	struct collect c = {.fail_after = 0};
	struct fct_err err;
	struct pair p;
	char *body = malloc(LIT);

	(void)state;
	srand(7);
	for (int i = 0; i < LIT; i++)
		body[i] = (char)(rand() & 0xff); /* includes CR, LF, NUL */
	fct_buf_init(&c.b);
	pair_open(&p, SOCK_STREAM, 100, NULL);
	put(p.peer, "* 1 FETCH (BODY[] {20000}\r\n", 27);
	put(p.peer, body, LIT);
	put(p.peer, ")\r\nA1 OK\r\n", 10);
	expect_line(p.w, "* 1 FETCH (BODY[] {20000}");
	assert_true(wire_buffered(p.w) > 0); /* part of the body came with the line */
	assert_int_equal(wire_read_n(p.w, LIT, collect_sink, &c, &err), 0);
	assert_int_equal(c.b.len, LIT);
	assert_memory_equal(c.b.data, body, LIT);
	assert_true(c.calls >= 3);       /* 20000 bytes cannot pass an 8 KiB buffer at once */
	assert_true(c.maxpiece <= 8192);
	expect_line(p.w, ")");
	expect_line(p.w, "A1 OK");

	/* A zero-length literal calls nothing; a failing sink stops with its error. */
	fct_buf_reset(&c.b);
	c.calls = 0;
	assert_int_equal(wire_read_n(p.w, 0, collect_sink, &c, &err), 0);
	assert_int_equal(c.calls, 0);
	put(p.peer, body, LIT);
	c.fail_after = 1;
	assert_int_equal(wire_read_n(p.w, LIT, collect_sink, &c, &err), -1);
	assert_string_equal(err.msg, "sink full");
	pair_close(&p);

	/* EOF inside a literal. */
	pair_open(&p, SOCK_STREAM, 100, NULL);
	put(p.peer, body, 100);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(wire_read_n(p.w, 101, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "1 literal bytes unread"));
	pair_close(&p);
	fct_buf_free(&c.b);
	free(body);
}

static char *slurp(FILE *fp)
{
	struct fct_buf b;
	char tmp[512];
	size_t n;

	fct_buf_init(&b);
	rewind(fp);
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
		fct_buf_append(&b, tmp, n);
	return fct_buf_steal(&b);
}

static void send_and_debug_log(void **state)
{
	struct fct_log log = {.level = 1, .debug = 1, .fp = tmpfile()};
	struct fct_err err;
	struct pair p;
	char got[512], longline[301];
	ssize_t n;

	(void)state;
	assert_non_null(log.fp);
	pair_open(&p, SOCK_STREAM, 100, &log);
	assert_int_equal(wire_sendf(p.w, &err, "A1 CAPABILITY\r\n"), 0);
	assert_int_equal(wire_send(p.w, "A2 LOGIN tim hunter2\r\n", 22, 1, &err), 0);
	assert_int_equal(wire_send(p.w, "A3 APPEND INBOX {11}\r\n", 22, 0, &err), 0);
	assert_int_equal(wire_send(p.w, "Subject: x\n", 11, 0, &err), 0);
	assert_int_equal(wire_send(p.w, " (\\Seen)\r\n", 10, 0, &err), 0);
	memset(longline, 'L', 300);
	longline[300] = '\0';
	assert_int_equal(wire_sendf(p.w, &err, "A4 %s\r\nA5 NOOP\r\n", longline), 0);
	/* Queued, not sent, until the flush. */
	assert_int_equal(recv(p.peer, got, sizeof got, MSG_DONTWAIT), -1);
	assert_int_equal(wire_flush(p.w, &err), 0);
	n = recv(p.peer, got, sizeof got, 0);
	assert_true(n > 80);
	assert_memory_equal(got, "A1 CAPABILITY\r\nA2 LOGIN tim hunter2\r\n", 37);
	put(p.peer, "* OK hi\r\n", 9);
	expect_line(p.w, "* OK hi");
	assert_int_equal(wire_read_n(p.w, 0, NULL, NULL, &err), 0);

	char *text = slurp(log.fp);
	assert_non_null(strstr(text, "imap> A1 CAPABILITY\n"));
	assert_non_null(strstr(text, "imap> <secret masked>\n"));
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "imap> A3 APPEND INBOX {11}\n"));
	assert_non_null(strstr(text, "imap> <literal, 11 bytes>\n"));
	assert_null(strstr(text, "Subject"));
	assert_non_null(strstr(text, "imap>  (\\Seen)\n")); /* after the literal: logged again */
	assert_null(strstr(text, "A5 NOOP"));             /* only the first line of a send */
	char *ll = strstr(text, "imap> A4 LLL");
	assert_non_null(ll);
	assert_true(strchr(ll, '\n') - ll < 220);
	assert_non_null(strstr(text, "imap< * OK hi\n"));
	assert_non_null(strstr(text, "imap< <literal, 0 bytes>\n"));
	free(text);
	pair_close(&p);
	fclose(log.fp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_split_everywhere),
		cmocka_unit_test(lines_one_byte_reads),
		cmocka_unit_test(overlong_lines),
		cmocka_unit_test(eof_mid_line),
		cmocka_unit_test(read_n_across_buffers),
		cmocka_unit_test(send_and_debug_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
