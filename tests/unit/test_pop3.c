/* POP3 client: the body decoder at every byte boundary, then listings,
 * RETR, DELE and QUIT against the fake server (tests/unit/fakepop3.c) over
 * a socketpair.  Login is tested in test_pop3_login.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "pop3fx.h"

/* ---- decoder --------------------------------------------------------- */

struct collect {
	struct fct_buf b;
	int fail_after; /* > 0: fail on the call that crosses this many bytes */
};

static int collect_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct collect *c = ctx;

	fct_buf_append(&c->b, p, n);
	if (c->fail_after > 0 && c->b.len >= (size_t)c->fail_after)
		return fct_err_set(err, FCT_E_IO, "disk full");
	return 0;
}

/* Feeds in[] in the pieces given by cuts (ascending offsets). */
static size_t feed_pieces(struct pop3_dec *d, const char *in, size_t n, const size_t *cuts,
                          size_t ncuts, struct collect *c)
{
	struct fct_err err;
	size_t pos = 0, i;
	ssize_t r;

	for (i = 0; i <= ncuts && !d->done; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		r = pop3_dec_feed(d, in + pos, end - pos, collect_data, c, &err);
		assert_true(r >= 0);
		pos += (size_t)r;
		if (!d->done)
			assert_int_equal(pos, end);
	}
	return pos;
}

/* Wire form -> expected decoded form, with bytes after the terminator. */
static const char dec_wire[] =
	"From: a@b\r\n"
	"Subject: dots\r\n"
	"\r\n"
	"..leading dot\r\n"
	"...two dots\r\n"
	".\rnot the end\r\n"
	"lone\rCR inside\r\n"
	"..\r\n"
	"\r\n"
	"last line\r\n"
	".\r\n"
	"+OK next response\r\n";
static const char dec_text[] =
	"From: a@b\n"
	"Subject: dots\n"
	"\n"
	".leading dot\n"
	"..two dots\n"
	"\rnot the end\n"
	"lone\rCR inside\n"
	".\n"
	"\n"
	"last line\n";

static void dec_every_boundary(void **state)
{
	size_t n = strlen(dec_wire), term = strstr(dec_wire, "\r\n.\r\n") - dec_wire + 5;
	size_t i, j, used;
	struct pop3_dec d;
	struct collect c;

	(void)state;
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j += 7) {
			size_t cuts[2] = {i, j};
			fct_buf_init(&c.b);
			c.fail_after = 0;
			pop3_dec_init(&d);
			used = feed_pieces(&d, dec_wire, n, cuts, 2, &c);
			assert_true(d.done);
			assert_int_equal(used, term);
			assert_int_equal(c.b.len, strlen(dec_text));
			assert_memory_equal(c.b.data, dec_text, c.b.len);
			assert_int_equal(d.out_bytes, strlen(dec_text));
			fct_buf_free(&c.b);
		}
	}
}

static void dec_byte_by_byte(void **state)
{
	size_t n = strlen(dec_wire), i, used = 0;
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;

	(void)state;
	fct_buf_init(&c.b);
	c.fail_after = 0;
	pop3_dec_init(&d);
	for (i = 0; i < n && !d.done; i++)
		used += (size_t)pop3_dec_feed(&d, dec_wire + i, 1, collect_data, &c, &err);
	assert_true(d.done);
	assert_string_equal(c.b.data, dec_text);
	assert_string_equal(dec_wire + used, "+OK next response\r\n");
	fct_buf_free(&c.b);
}

static void dec_terminators(void **state)
{
	static const struct {
		const char *wire, *text;
		size_t used;
	} cases[] = {
		{".\r\nX", "", 3},
		{".\nX", "", 2},              /* lenient bare LF */
		{"a\n.\nX", "a\n", 4},
		{"a\r\n..\r\n.\r\n", "a\n.\n", 10},
		{"a\r\r\n.\r\n", "a\r\n", 7}, /* CR before CRLF is data */
	};
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fct_buf_init(&c.b);
		c.fail_after = 0;
		pop3_dec_init(&d);
		assert_int_equal(pop3_dec_feed(&d, cases[i].wire, strlen(cases[i].wire), collect_data,
		                               &c, &err),
		                 (ssize_t)cases[i].used);
		assert_true(d.done);
		assert_string_equal(c.b.data ? c.b.data : "", cases[i].text);
		fct_buf_free(&c.b);
	}
}

static void dec_large_and_sink_failure(void **state)
{
	struct fct_buf w;
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;
	size_t i;

	(void)state;
	fct_buf_init(&w);
	for (i = 0; i < 5000; i++)
		fct_buf_puts(&w, ".line of text that is dot-stuffed\r\n");
	fct_buf_puts(&w, ".\r\n");
	fct_buf_init(&c.b);
	c.fail_after = 0;
	pop3_dec_init(&d);
	assert_int_equal(pop3_dec_feed(&d, w.data, w.len, collect_data, &c, &err), (ssize_t)w.len);
	assert_true(d.done);
	assert_int_equal(c.b.len, 5000 * strlen("line of text that is dot-stuffed\n"));
	assert_null(memchr(c.b.data, '\r', c.b.len));
	fct_buf_free(&c.b);

	fct_buf_init(&c.b);
	c.fail_after = 10000;
	pop3_dec_init(&d);
	assert_int_equal(pop3_dec_feed(&d, w.data, w.len, collect_data, &c, &err), -1);
	assert_string_equal(err.msg, "disk full");
	fct_buf_free(&c.b);
	fct_buf_free(&w);
}

/* RFC 1939 encoding of body, as a server does it: LF -> CRLF (a CR already
 * there is kept), a '.' starting a line doubled, a final CRLF, "." CRLF. */
static void encode_body(const char *body, size_t n, struct fct_buf *w)
{
	size_t i;
	int bol = 1;

	for (i = 0; i < n; i++) {
		if (bol && body[i] == '.')
			fct_buf_putc(w, '.');
		if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
			fct_buf_putc(w, '\r');
		fct_buf_putc(w, body[i]);
		bol = body[i] == '\n';
	}
	if (!bol)
		fct_buf_puts(w, "\r\n");
	fct_buf_puts(w, ".\r\n");
}

/* Random bodies over the troublesome alphabet, fed in random pieces,
 * against what the encoding implies: CRLF -> LF, a final LF. */
static void dec_random_differential(void **state)
{
	static const char alpha[] = ".\r\na";
	struct fct_buf w, want;
	struct pop3_dec d;
	struct collect c;
	struct fct_err err;
	char body[64];
	unsigned seed = 1939;
	size_t i, n, k, pos;
	int round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		n = (size_t)(rand_r(&seed) % (int)sizeof body);
		for (i = 0; i < n; i++)
			body[i] = alpha[rand_r(&seed) % 4];
		fct_buf_init(&w);
		fct_buf_init(&want);
		encode_body(body, n, &w);
		for (i = 0; i < n; i++)
			if (!(body[i] == '\r' && i + 1 < n && body[i + 1] == '\n'))
				fct_buf_putc(&want, body[i]);
		if (want.len > 0 && want.data[want.len - 1] != '\n')
			fct_buf_putc(&want, '\n');
		fct_buf_puts(&w, "+OK after");
		fct_buf_init(&c.b);
		c.fail_after = 0;
		pop3_dec_init(&d);
		for (pos = 0; !d.done;) {
			k = 1 + (size_t)(rand_r(&seed) % 9);
			if (k > w.len - pos)
				k = w.len - pos;
			assert_true(k > 0);
			pos += (size_t)pop3_dec_feed(&d, w.data + pos, k, collect_data, &c, &err);
		}
		assert_string_equal(w.data + pos, "+OK after");
		assert_int_equal(c.b.len, want.len);
		if (want.len)
			assert_memory_equal(c.b.data, want.data, want.len);
		fct_buf_free(&c.b);
		fct_buf_free(&w);
		fct_buf_free(&want);
	}
}

/* ---- sessions against the fake server ---------------------------------- */

static void uidl_and_list(void **state)
{
	struct fx *f = *state;
	struct pop3_uidl_ent *u = NULL;
	struct pop3_list_ent *l = NULL;
	size_t nu = 0, nl = 0;
	char seventy[71];

	memset(seventy, 'z', 70);
	seventy[70] = '\0';
	assert_int_equal(fakepop3_add(f->dir, "a1", "Subject: one\n\nbody\n"), 0);
	assert_int_equal(fakepop3_add(f->dir, "b~!", "x\n"), 0);
	assert_int_equal(fakepop3_add(f->dir, seventy, ".dot\n"), 0);
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 3);
	assert_int_equal(u[0].num, 1);
	assert_string_equal(u[0].uidl, "a1");
	assert_string_equal(u[1].uidl, "b~!");
	assert_string_equal(u[2].uidl, seventy);
	assert_int_equal(pop3_list(f->p, &l, &nl, &f->err), 0);
	assert_int_equal(nl, 3);
	assert_int_equal(l[0].size, strlen("Subject: one\r\n\r\nbody\r\n"));
	assert_int_equal(l[1].size, 3);
	assert_int_equal(l[2].num, 3);
	free(u);
	free(l);
}

static void empty_mailbox(void **state)
{
	struct fx *f = *state;
	struct pop3_uidl_ent *u = NULL;
	struct pop3_list_ent *l = NULL;
	size_t nu = 1, nl = 1;

	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 0);
	assert_int_equal(pop3_list(f->p, &l, &nl, &f->err), 0);
	assert_int_equal(nl, 0);
	assert_int_equal(pop3_retr_many(f->p, NULL, 0, NULL, &f->err), 0);
	assert_int_equal(pop3_dele(f->p, NULL, 0, NULL, &f->err), 0);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	free(u);
	free(l);
}

static void uidl_rejects(struct fx *f, const char *raw, const char *why)
{
	struct pop3_uidl_ent *u = NULL;
	size_t nu = 0;

	f->cfg.uidl_raw = raw;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), -1);
	assert_null(u);
	assert_int_equal(f->err.kind, FCT_E_PROTO);
	assert_non_null(strstr(f->err.msg, why));
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
}

static void uidl_validation(void **state)
{
	struct fx *f = *state;
	char longid[100];

	uidl_rejects(f, "1 ok\r\n2 bad\x01id\r\n", "invalid unique-id");
	uidl_rejects(f, "1 ok\r\n2 caf\xc3\xa9\r\n", "invalid unique-id");
	snprintf(longid, sizeof longid, "1 %071d\r\n", 7);
	uidl_rejects(f, longid, "invalid unique-id");
	uidl_rejects(f, "1 same\r\n2 other\r\n3 same\r\n", "share the unique-id \"same\"");
	uidl_rejects(f, "1 a\r\n1 b\r\n", "listed twice");
	uidl_rejects(f, "x a\r\n", "malformed");
	uidl_rejects(f, "0 a\r\n", "malformed");
	uidl_rejects(f, "1\r\n", "malformed");
	uidl_rejects(f, "-1 a\r\n", "malformed");
	{
		/* A line past the bound is an error, not an allocation. */
		char *huge = fct_xcalloc(1, POP3_LINE_MAX + 16);
		memcpy(huge, "1 ", 2);
		memset(huge + 2, 'x', POP3_LINE_MAX + 8);
		memcpy(huge + POP3_LINE_MAX + 10, "\r\n", 2);
		uidl_rejects(f, huge, "longer than");
		free(huge);
	}
}

struct rsink {
	unsigned order[16];
	size_t norder;
	struct fct_buf bodies[16];
	unsigned refused[16];
	size_t nrefused;
	int in_body;
};

static int rs_begin(void *ctx, unsigned num, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_false(r->in_body);
	r->in_body = 1;
	r->order[r->norder] = num;
	fct_buf_init(&r->bodies[r->norder]);
	return 0;
}

static int rs_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_true(r->in_body);
	fct_buf_append(&r->bodies[r->norder], p, n);
	return 0;
}

static int rs_end(void *ctx, unsigned num, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_int_equal(r->order[r->norder], num);
	r->in_body = 0;
	r->norder++;
	return 0;
}

static int rs_refused(void *ctx, unsigned num, const char *text, struct fct_err *err)
{
	struct rsink *r = ctx;

	(void)err;
	assert_non_null(strstr(text, "no such message"));
	r->refused[r->nrefused++] = num;
	return 0;
}

static void rs_free(struct rsink *r)
{
	size_t i;

	for (i = 0; i < r->norder; i++)
		fct_buf_free(&r->bodies[i]);
}

static const char *const bodies[] = {
	"Subject: 1\n\n.hidden dot\n..two\n.\n",
	"Subject: 2\n\nplain\n",
	"Subject: 3\n\n. space\nend without newline",
	"Subject: 4\n\n\n\n",
	"Subject: 5\n\n.\n.\n.x\n",
};

static void add_bodies(struct fx *f)
{
	char name[8];
	size_t i;

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "m%zu", i + 1);
		assert_int_equal(fakepop3_add(f->dir, name, bodies[i]), 0);
	}
}

/* The expected LF text of body i (the server adds a final newline). */
static void assert_body(const struct fct_buf *b, size_t i)
{
	size_t n = strlen(bodies[i]);
	int nl = bodies[i][n - 1] != '\n';

	assert_int_equal(b->len, n + (size_t)nl);
	assert_memory_equal(b->data, bodies[i], n);
}

static int max_read_lines(struct fx *f)
{
	char *r = fakepop3_slurp(f->dir, "reads.log", NULL), *p = r;
	int m = 0;

	while (*p) {
		int v = atoi(p);
		if (v > m)
			m = v;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	free(r);
	return m;
}

static void retr_order(struct fx *f, int pipelined)
{
	static const unsigned nums[] = {3, 1, 5, 2, 4};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, NULL, NULL};
	struct rsink r;
	size_t i;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.capa = pipelined ? "USER\r\nUIDL\r\nPIPELINING\r\n" : "USER\r\nUIDL\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 5, &sink, &f->err), 0);
	assert_int_equal(r.norder, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(r.order[i], nums[i]);
		assert_body(&r.bodies[i], nums[i] - 1);
	}
	/* The session is still in step: a command after the bodies works. */
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	if (pipelined)
		assert_true(max_read_lines(f) > 1);
	else
		assert_int_equal(max_read_lines(f), 1);
	rs_free(&r);
}

static void retr_pipelined_in_order(void **state)
{
	retr_order(*state, 1);
}

static void retr_unpipelined_in_order(void **state)
{
	retr_order(*state, 0);
}

/* Counts answers in order, bodies ignored: for many messages. */
static int cnt_begin(void *ctx, unsigned num, struct fct_err *err)
{
	unsigned *next = ctx;

	(void)err;
	assert_int_equal(num, *next + 1);
	return 0;
}

static int cnt_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	(void)ctx, (void)p, (void)n, (void)err;
	return 0;
}

static int cnt_end(void *ctx, unsigned num, struct fct_err *err)
{
	unsigned *next = ctx;

	(void)err;
	*next = num;
	return 0;
}

/* With PIPELINING and no PipelineDepth, the whole default window leaves in
 * one write (the server reads it at once) and never more than that. */
static void retr_default_window(void **state)
{
	struct fx *f = *state;
	enum { N = POP3_PIPELINE_DEFAULT + 40 };
	unsigned nums[N], got = 0;
	struct pop3_sink sink = {cnt_begin, cnt_data, cnt_end, NULL, &got};
	char name[16];

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof name, "w%u", i + 1);
		assert_int_equal(fakepop3_add(f->dir, name, "Subject: w\n\nx\n"), 0);
		nums[i] = i + 1;
	}
	f->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\n";
	assert_int_equal(fx_connect(f), 0);
	if (pop3_retr_many(f->p, nums, N, &sink, &f->err) < 0)
		fail_msg("%s", f->err.msg);
	assert_int_equal(got, N);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(max_read_lines(f), POP3_PIPELINE_DEFAULT);
}

static void retr_small_server_writes(void **state)
{
	struct fx *f = *state;

	f->cfg.chunk = 3;
	retr_order(f, 1);
}

static void retr_refused_message(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2, 3};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, rs_refused, NULL};
	struct pop3_uidl_ent *u = NULL;
	size_t nu = 0;
	struct rsink r;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.retr_refuse = "m2";
	f->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), 0);
	assert_int_equal(r.norder, 2);
	assert_int_equal(r.order[1], 3);
	assert_int_equal(r.nrefused, 1);
	assert_int_equal(r.refused[0], 2);
	rs_free(&r);

	/* Without a handler: FCT_E_MSG, and the session stays usable. */
	memset(&r, 0, sizeof r);
	sink.refused = NULL;
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), -1);
	assert_int_equal(f->err.kind, FCT_E_MSG);
	assert_non_null(strstr(f->err.msg, "RETR 2"));
	assert_int_equal(pop3_uidl(f->p, &u, &nu, &f->err), 0);
	assert_int_equal(nu, 5);
	free(u);
	rs_free(&r);
}

static void retr_connection_lost(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2, 3};
	struct pop3_sink sink = {rs_begin, rs_data, rs_end, NULL, NULL};
	struct rsink r;

	memset(&r, 0, sizeof r);
	sink.ctx = &r;
	add_bodies(f);
	f->cfg.close_after_retr = 1;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_retr_many(f->p, nums, 3, &sink, &f->err), -1);
	assert_int_equal(r.norder, 1);
	assert_int_equal(pop3_quit(f->p, &f->err), -1);
	assert_non_null(strstr(f->err.msg, "unusable"));
	rs_free(&r);
}

static void dele_then_quit(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {2, 4, 9};
	size_t ok = 0;

	add_bodies(f);
	f->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\n";
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 3, &ok, &f->err), -1);
	assert_int_equal(ok, 2);
	assert_int_equal(f->err.kind, FCT_E_MSG);
	assert_non_null(strstr(f->err.msg, "DELE 9"));
	/* Marked only: nothing gone before QUIT. */
	assert_int_equal(fakepop3_count(f->dir), 5);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 3);
}

static void dele_without_quit_keeps_mail(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2};

	add_bodies(f);
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 2, NULL, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 5);
}

static void rset_unmarks(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1, 2, 3};

	add_bodies(f);
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 3, NULL, &f->err), 0);
	assert_int_equal(pop3_rset(f->p, &f->err), 0);
	assert_int_equal(pop3_quit(f->p, &f->err), 0);
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 5);
}

static void quit_failure_reported(void **state)
{
	struct fx *f = *state;
	static const unsigned nums[] = {1};

	add_bodies(f);
	f->cfg.quit_err = 1;
	assert_int_equal(fx_connect(f), 0);
	assert_int_equal(pop3_dele(f->p, nums, 1, NULL, &f->err), 0);
	assert_int_equal(pop3_quit(f->p, &f->err), -1);
	assert_int_equal(f->err.kind, FCT_E_STORE);
	assert_non_null(strstr(f->err.msg, "failed to remove"));
	pop3_close(f->p);
	f->p = NULL;
	fakepop3_stop(&f->srv);
	assert_int_equal(fakepop3_count(f->dir), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dec_every_boundary),
		cmocka_unit_test(dec_byte_by_byte),
		cmocka_unit_test(dec_terminators),
		cmocka_unit_test(dec_large_and_sink_failure),
		cmocka_unit_test(dec_random_differential),
		FX(uidl_and_list),
		FX(uidl_validation),
		FX(empty_mailbox),
		FX(retr_pipelined_in_order),
		FX(retr_unpipelined_in_order),
		FX(retr_default_window),
		FX(retr_small_server_writes),
		FX(retr_refused_message),
		FX(retr_connection_lost),
		FX(dele_then_quit),
		FX(dele_without_quit_keeps_mail),
		FX(rset_unmarks),
		FX(quit_failure_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
