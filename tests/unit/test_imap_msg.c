/* IMAP session against the scripted fake server: message commands
 * (metadata and body FETCH, pipelining depth, APPEND, STORE, EXPUNGE,
 * COPY, MOVE), sequence sets, IDLE, and corrupted server responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/imap_t.h"

/* ---- FETCH ---- */

static void fetch_meta(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("CONDSTORE OBJECTID"),
		"C:A2 UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ "
		"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] EMAILID) (CHANGEDSINCE 5)",
		"S:* 1 FETCH (UID 4 FLAGS (\\Seen $Forwarded) RFC822.SIZE 1234 INTERNALDATE "
		"\"17-Jul-1996 02:44:25 -0700\" MODSEQ (7) EMAILID (M6d99ac3275bb4e) "
		"BODY[HEADER.FIELDS (MESSAGE-ID)] {25}",
		"W:Message-ID:\r\n <x.y@z>\r\n\r\n)\r\n",
		"S:* 2 FETCH (FLAGS (\\Deleted))",
		"S:* 3 FETCH (UID 9 FLAGS () RFC822.SIZE 5 INTERNALDATE \" 1-Feb-2026 00:00:00 +0100\" "
		"MODSEQ (8) BODY[HEADER.FIELDS (MESSAGE-ID)] \"\" EMAILID (M1))",
		"S:A2 OK",
		"C:A3 UID FETCH 10:20 (UID FLAGS MODSEQ)",
		"S:* 1 FETCH (UID 11 FLAGS (\\Seen) MODSEQ (x))",
		"S:A3 OK",
		NULL};
	struct rec r;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_fetch_meta(t.im, 1, 0, 5,
	                                 IMAP_META_FLAGS | IMAP_META_SIZE | IMAP_META_DATE |
	                                     IMAP_META_MSGID | IMAP_META_EMAILID,
	                                 rec_msg, &r, &t.err),
	                 0);
	/* 837596665 = 1996-07-17 09:44:25 UTC; 1769900400 = 2026-01-31 23:00 UTC. */
	assert_string_equal(r.b.data, "M4 f14 o0 s1234 d837596665 m7 id<x.y@z> eM6d99ac3275bb4e;"
	                              "M9 f0 o0 s5 d1769900400 m8 id- eM1;");
	/* A malformed FETCH is a protocol error and kills the session. */
	assert_int_equal(imap_fetch_meta(t.im, 10, 20, 0, IMAP_META_FLAGS, rec_msg, &r, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_int_equal(imap_create(t.im, "x", &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	fct_buf_free(&r.b);
	t_finish(&t, 0);
	t_free(&t);
}

/* Flag changes in one flight: every STORE is sent before any answer is
 * read; one refused fails the call. */
static void store_many_one_flight(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("CONDSTORE"),
		"C:A2 UID STORE 3:4 +FLAGS.SILENT (\\Seen)",
		"C:A3 UID STORE 7 -FLAGS.SILENT (\\Flagged)",
		"S:* 1 FETCH (UID 3 MODSEQ (13))",
		"S:A2 OK",
		"S:A3 OK",
		"C:A4 UID STORE 3 +FLAGS.SILENT (\\Draft)",
		"C:A5 UID STORE 8 -FLAGS.SILENT (\\Draft)",
		"S:A4 NO [CANNOT] read-only",
		"S:A5 OK",
		"C:A6 LOGOUT",
		"S:A6 OK",
		NULL};
	struct imap_flag_change ch[] = {
		{(const uint32_t[]){4, 3}, 2, 1, FCT_F_SEEN},
		{(const uint32_t[]){7}, 1, 0, FCT_F_FLAGGED},
		{(const uint32_t[]){8}, 1, 1, 0}, /* no flag: nothing sent */
	};
	struct imap_flag_change draft[] = {
		{(const uint32_t[]){3}, 1, 1, FCT_F_DRAFT},
		{(const uint32_t[]){8}, 1, 0, FCT_F_DRAFT},
	};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_store_many(t.im, ch, 3, &t.err), 0);
	assert_int_equal(imap_store_many(t.im, ch + 2, 1, &t.err), 0); /* nothing to do */
	assert_int_equal(imap_store_many(t.im, draft, 2, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_non_null(strstr(t.err.msg, "read-only"));
	t_finish(&t, 1);
	t_free(&t);
}

/* Several EXAMINEs (QRESYNC) in one flight: each box's answer to its own
 * request, a refused box only not ok, a name that cannot be sent skipped. */
static void examine_many(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("ENABLE CONDSTORE QRESYNC"),
		"C:A2 ENABLE QRESYNC",
		"S:* ENABLED QRESYNC",
		"S:A2 OK",
		"C:A3 EXAMINE \"INBOX\" (QRESYNC (7 12))",
		"C:A4 EXAMINE \"Gone\" (QRESYNC (8 3))",
		"C:A5 EXAMINE \"Lists\" (QRESYNC (9 40))",
		"S:* 4 EXISTS",
		"S:* OK [UIDVALIDITY 7] ok",
		"S:* OK [UIDNEXT 20] ok",
		"S:* OK [HIGHESTMODSEQ 15] ok",
		"S:* VANISHED (EARLIER) 5:6",
		"S:* 1 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (14))",
		"S:A3 OK [READ-ONLY] done",
		"S:A4 NO [NONEXISTENT] no such box",
		"S:* OK [CLOSED] closed",
		"S:* 9 EXISTS",
		"S:* OK [UIDVALIDITY 9] ok",
		"S:* OK [UIDNEXT 30] ok",
		"S:* OK [HIGHESTMODSEQ 41] ok",
		"S:* 2 FETCH (UID 11 FLAGS () MODSEQ (41))",
		"S:A5 OK [READ-ONLY] done",
		"C:A6 LOGOUT",
		"S:A6 OK",
		NULL};
	struct imap_select_req q[4];
	struct rec r[4];
	struct t t;

	(void)state;
	memset(q, 0, sizeof q);
	q[0] = (struct imap_select_req){"INBOX", {7, 12}, rec_vanished, rec_msg, &r[0], {0}, 0};
	q[1] = (struct imap_select_req){"Gone", {8, 3}, rec_vanished, rec_msg, &r[1], {0}, 0};
	q[2] = (struct imap_select_req){"Bad\001", {1, 1}, rec_vanished, rec_msg, &r[2], {0}, 0};
	q[3] = (struct imap_select_req){"Lists", {9, 40}, rec_vanished, rec_msg, &r[3], {0}, 0};
	for (int i = 0; i < 4; i++) {
		fct_buf_init(&r[i].b);
		fct_buf_puts(&r[i].b, "");
	}
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_examine_many(t.im, q, 4, &t.err), 0);
	assert_int_equal(q[0].ok, 1);
	assert_int_equal(q[0].box.uidnext, 20);
	assert_true(q[0].box.highestmodseq == 15);
	assert_string_equal(r[0].b.data, "V5-6;M3 f10 o0 s0 d0 m14 id- e-;");
	assert_int_equal(q[1].ok, 0);
	assert_string_equal(r[1].b.data, "");
	assert_int_equal(q[2].ok, 0);
	assert_int_equal(q[3].ok, 1);
	assert_int_equal(q[3].box.exists, 9);
	assert_int_equal(q[3].box.uidvalidity, 9);
	assert_true(q[3].box.highestmodseq == 41);
	assert_string_equal(r[3].b.data, "M11 f0 o0 s0 d0 m41 id- e-;");
	for (int i = 0; i < 4; i++)
		fct_buf_free(&r[i].b);
	t_finish(&t, 1);
	t_free(&t);
}

/* Without QRESYNC enabled nothing is sent. */
static void examine_many_needs_qresync(void **state)
{
	static const char *const script[] = {GREET_LOGIN("CONDSTORE"), NULL};
	struct imap_select_req q = {"INBOX", {7, 12}, NULL, NULL, NULL, {0}, 1};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_examine_many(t.im, &q, 1, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_STORE);
	assert_int_equal(q.ok, 0);
	t_finish(&t, 0);
	t_free(&t);
}

struct bsink {
	struct fct_buf b;
	int fail_data;
};

static int bs_begin(void *ctx, uint32_t uid, uint64_t size, struct fct_err *err)
{
	struct bsink *s = ctx;

	(void)err;
	fct_buf_printf(&s->b, "<%u:%llu:", uid, (unsigned long long)size);
	return 0;
}

static int bs_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct bsink *s = ctx;

	if (s->fail_data)
		return fct_err_set(err, FCT_E_IO, "disk full");
	fct_buf_append(&s->b, p, n);
	return 0;
}

static int bs_end(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct bsink *s = ctx;

	(void)err;
	fct_buf_printf(&s->b, ":%u f%x d%lld>", m->uid, m->flags, (long long)m->internaldate);
	return 0;
}

static void fetch_bodies_pipelined(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("UIDPLUS"),
		"C:A2 UID FETCH 10 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"C:A3 UID FETCH 11 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"N:100", /* depth 2: the third waits for a completion */
		"W:* 1 FETCH (UID 10 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
		"BODY[] {12}\r\nHello\r\nWorld)\r\n",
		"S:* 7 FETCH (FLAGS (\\Deleted))",
		"S:A2 OK",
		"C:A4 UID FETCH 12 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"S:A3 OK no such message",
		"W:* 3 FETCH (BODY[] {3}\r\nabc UID 12 FLAGS ())\r\n",
		"S:A4 OK",
		/* A failing sink: the rest is drained, the session stays usable. */
		"C:A5 UID FETCH 20 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"W:* 4 FETCH (UID 20 BODY[] {5}\r\nabcde)\r\n",
		"S:A5 OK",
		"C:A6 EXPUNGE",
		"S:A6 OK",
		/* Small bodies may come as quoted strings. */
		"C:A7 UID FETCH 30 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"S:* 5 FETCH (UID 30 FLAGS (\\Flagged) BODY[] \"tiny\")",
		"S:A7 OK",
		"C:A8 LOGOUT",
		"S:A8 OK",
		NULL};
	static const uint32_t uids[] = {10, 0, 11, 12}; /* 0: skipped */
	static const uint32_t uids2[] = {20, 21, 22};
	struct bsink s;
	struct imap_body_sink sink = {bs_begin, bs_data, bs_end, &s};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.pipeline_depth = 2;
	CONNECT_OK(&t, script);
	memset(&s, 0, sizeof s);
	fct_buf_init(&s.b);
	fct_buf_puts(&s.b, "");
	assert_int_equal(imap_fetch_bodies(t.im, uids, 4, &sink, &t.err), 0);
	assert_string_equal(s.b.data, "<10:12:Hello\r\nWorld:10 f10 d837596665><12:3:abc:12 f0 d0>");
	s.fail_data = 1;
	assert_int_equal(imap_fetch_bodies(t.im, uids2, 1, &sink, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_IO);
	assert_string_equal(t.err.msg, "disk full");
	assert_int_equal(imap_expunge_all(t.im, &t.err), 0);
	s.fail_data = 0;
	fct_buf_reset(&s.b);
	assert_int_equal(imap_fetch_bodies(t.im, (const uint32_t[]){30}, 1, &sink, &t.err), 0);
	assert_string_equal(s.b.data, "<30:4:tiny:30 f2 d0>");
	fct_buf_free(&s.b);
	t_finish(&t, 1);
	t_free(&t);
}

/* ---- APPEND ---- */

struct src {
	const char *p;
	size_t left;
};

static long src_read(void *ctx, char *buf, size_t n, struct fct_err *err)
{
	struct src *s = ctx;
	size_t k = n < s->left ? n : s->left;

	(void)err;
	if (k > 4)
		k = 4; /* short reads on purpose */
	memcpy(buf, s->p, k);
	s->p += k;
	s->left -= k;
	return (long)k;
}

static void append(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("LITERAL+ UIDPLUS"),
		"C:A2 APPEND \"Sent\" (\\Seen) \"14-Nov-2023 22:13:20 +0000\" {11+}",
		"R:11",
		"C:",
		"S:A2 OK [APPENDUID 38505 3955] APPEND completed",
		"C:A3 APPEND \"Nope\" {11+}",
		"R:11",
		"C:",
		"S:A3 NO [TRYCREATE] no such mailbox",
		NULL};
	static const char *const script_sync[] = {
		GREET_LOGIN("IMAP4rev1"),
		"C:A2 APPEND \"Sent\" {11}",
		"S:+ Ready",
		"R:11",
		"C:",
		"S:A2 OK appended",
		"C:A3 APPEND \"Nope\" {11}",
		"S:A3 NO [TRYCREATE] no such mailbox",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	struct src sr = {"Hi\r\nthere\r\n", 11};
	struct imap_source src = {src_read, &sr, 11};
	uint32_t uv = 1, uid = 1;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(
		imap_append(t.im, "Sent", FCT_F_SEEN, 1700000000, &src, &uv, &uid, &t.err), 0);
	assert_int_equal(uv, 38505);
	assert_int_equal(uid, 3955);
	sr.p = "Hi\r\nthere\r\n";
	sr.left = 11;
	assert_int_equal(imap_append(t.im, "Nope", 0, 0, &src, &uv, &uid, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_true(strncmp(t.err.msg, "TRYCREATE", 9) == 0);
	assert_int_equal(uid, 0);
	/* The source produces fewer bytes than announced: the session is lost. */
	sr.p = "Hi";
	sr.left = 2;
	assert_int_equal(imap_append(t.im, "Sent", 0, 0, &src, &uv, &uid, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_MSG);
	assert_int_equal(imap_create(t.im, "x", &t.err), -1);
	t_finish(&t, 1);
	assert_non_null(strstr(received(&t), "+0000\" {11+}\r\nHi\r\nthere\r\n\r\n"));
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script_sync);
	sr.p = "Hi\r\nthere\r\n";
	sr.left = 11;
	assert_int_equal(imap_append(t.im, "Sent", 0, 0, &src, &uv, &uid, &t.err), 0);
	assert_int_equal(uid, 0);
	sr.p = "Hi\r\nthere\r\n";
	sr.left = 11;
	assert_int_equal(imap_append(t.im, "Nope", 0, 0, &src, &uv, &uid, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	t_finish(&t, 1);
	/* Refused before the continuation: the body never went out. */
	assert_null(strstr(received(&t), "A3 APPEND \"Nope\" {11}\r\nHi"));
	t_free(&t);
}

/* ---- STORE, EXPUNGE, COPY, MOVE ---- */

static void store_expunge_copy(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("UIDPLUS"),
		"C:A2 UID STORE 1:3,5,7,9:10 +FLAGS.SILENT (\\Flagged \\Seen)",
		"S:* 3 FETCH (FLAGS (\\Seen \\Flagged \\Answered))",
		"S:A2 OK",
		"C:A3 UID STORE 4 -FLAGS.SILENT (\\Deleted)",
		"S:A3 NO [CANNOT] read-only",
		"C:A4 UID EXPUNGE 3:4",
		"S:* 3 EXPUNGE",
		"S:* 3 EXPUNGE",
		"S:A4 OK",
		"C:A5 UID COPY 304,319:320 \"Trash\"",
		"S:A5 OK [COPYUID 38505 304,319:320 3956:3958] Done",
		/* No MOVE: COPY, STORE \Deleted, UID EXPUNGE. */
		"C:A6 UID COPY 7:8 \"Arch\"",
		"S:A6 OK [COPYUID 1 8,7 100:101] Done",
		"C:A7 UID STORE 7:8 +FLAGS.SILENT (\\Deleted)",
		"S:A7 OK",
		"C:A8 UID EXPUNGE 7:8",
		"S:* VANISHED 7:8",
		"S:A8 OK",
		"C:A9 UID COPY 1 \"Missing\"",
		"S:A9 NO [TRYCREATE] no",
		"C:A10 LOGOUT",
		"S:A10 OK",
		NULL};
	static const uint32_t u1[] = {5, 1, 2, 3, 9, 10, 7, 3, 0};
	static const uint32_t u2[] = {320, 304, 319};
	static const uint32_t u3[] = {7, 8};
	static const uint32_t u4[] = {1};
	uint32_t dest[3], d2[2];
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_store_flags(t.im, u1, 9, 1, FCT_F_SEEN | FCT_F_FLAGGED, &t.err), 0);
	assert_int_equal(imap_store_flags(t.im, u1, 9, 1, 0, &t.err), 0); /* nothing to do */
	assert_int_equal(imap_store_flags(t.im, (const uint32_t[]){4}, 1, 0, FCT_F_DELETED, &t.err),
	                 -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_non_null(strstr(t.err.msg, "read-only"));
	assert_int_equal(imap_expunge_uids(t.im, (const uint32_t[]){4, 3}, 2, &t.err), 0);
	assert_int_equal(imap_copy(t.im, u2, 3, "Trash", dest, &t.err), 0);
	assert_int_equal(dest[0], 3958);
	assert_int_equal(dest[1], 3956);
	assert_int_equal(dest[2], 3957);
	assert_int_equal(imap_move(t.im, u3, 2, "Arch", d2, &t.err), 0);
	assert_int_equal(d2[0], 101);
	assert_int_equal(d2[1], 100);
	assert_int_equal(imap_copy(t.im, u4, 1, "Missing", NULL, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_true(strncmp(t.err.msg, "TRYCREATE", 9) == 0);
	t_finish(&t, 1);
	t_free(&t);
}

static void move_and_no_uidplus(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("MOVE"),
		"C:A2 UID MOVE 5 \"Trash\"",
		"S:* OK [COPYUID 432432 5 42] Moved UIDs.",
		"S:* 2 EXPUNGE",
		"S:A2 OK Done",
		"C:A3 LOGOUT",
		"S:A3 OK",
		NULL};
	uint32_t d = 7;
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_move(t.im, (const uint32_t[]){5}, 1, "Trash", &d, &t.err), 0);
	assert_int_equal(d, 42);
	assert_int_equal(imap_expunge_uids(t.im, (const uint32_t[]){5}, 1, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_non_null(strstr(t.err.msg, "UIDPLUS"));
	t_finish(&t, 1);
	t_free(&t);
}

static int collect_set(void *ctx, const char *set, struct fct_err *err)
{
	struct rec *r = ctx;

	(void)err;
	assert_true(strlen(set) <= 40);
	fct_buf_printf(&r->b, "%s|", set);
	return 0;
}

struct cover {
	unsigned char seen[3000];
};

static int cover_range(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	struct cover *c = ctx;

	(void)err;
	for (; lo <= hi; lo++) {
		assert_true(lo < sizeof c->seen);
		c->seen[lo]++;
	}
	return 0;
}

/* Sequence sets are bounded in length and cover exactly the UIDs given. */
static void seqsets_split(void **state)
{
	uint32_t u[1000];
	struct rec r;
	struct cover c;
	struct fct_err err;
	size_t i, n = 0;
	char *p, *bar;

	(void)state;
	for (i = 1; i < 2500; i++)
		if (i % 3 != 0 && n < 1000)
			u[n++] = (uint32_t)i;
	fct_buf_init(&r.b);
	fct_buf_puts(&r.b, "");
	assert_int_equal(imap_seqsets(u, n, 40, collect_set, &r, &err), 0);
	memset(&c, 0, sizeof c);
	for (p = r.b.data; (bar = strchr(p, '|')) != NULL; p = bar + 1)
		assert_int_equal(imap_seqset_each(p, (size_t)(bar - p), cover_range, &c, &err), 0);
	assert_string_equal(p, "");
	for (i = 0; i < sizeof c.seen; i++)
		assert_int_equal(c.seen[i], (i >= 1 && i <= u[n - 1] && i % 3 != 0) ? 1 : 0);
	fct_buf_free(&r.b);
}

/* ---- IDLE, alerts, failures ---- */

static void idle(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("IDLE"),
		"C:A2 IDLE",
		"S:+ idling",
		"S:* OK [ALERT] System shutdown in 10 minutes",
		"S:* 4 EXISTS",
		"C:DONE",
		"S:A2 OK",
		"C:A3 IDLE",
		"S:+ idling",
		"C:DONE",
		"S:A3 OK",
		"C:A4 LOGOUT",
		"S:A4 OK",
		NULL};
	struct t t;
	int changed = -1;
	int64_t t0;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	assert_int_equal(imap_idle(t.im, 5000, -1, &changed, &t.err), 0);
	assert_int_equal(changed, 1);
	assert_non_null(strstr(t_log(&t), "System shutdown in 10 minutes"));
	t0 = fct_now_ms();
	assert_int_equal(imap_idle(t.im, 100, -1, &changed, &t.err), 0);
	assert_int_equal(changed, 0);
	assert_true(fct_now_ms() - t0 >= 90);
	t_finish(&t, 1);
	t_free(&t);
}

static void idle_wake(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("IDLE"),
		"C:A2 IDLE",
		"S:+ idling",
		"C:DONE",
		"S:* 9 EXISTS",
		"S:A2 OK",
		"C:A3 LOGOUT",
		"S:A3 OK",
		NULL};
	struct t t;
	int pfd[2], changed = -1;
	int64_t t0;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], "x", 1), 1);
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	t0 = fct_now_ms();
	assert_int_equal(imap_idle(t.im, 5000, pfd[0], &changed, &t.err), 0);
	assert_true(fct_now_ms() - t0 < 2000);
	/* An EXISTS after DONE still counts. */
	assert_int_equal(changed, 1);
	t_finish(&t, 1);
	t_free(&t);
	close(pfd[0]);
	close(pfd[1]);
}

/* Corrupted server responses: every call either works or fails with a
 * message; nothing crashes, leaks or hangs (ASan and the timeouts watch). */
static int ignore_msg(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	(void)ctx;
	(void)err;
	assert_non_null(m);
	return 0;
}

static int ignore_range(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	(void)ctx;
	(void)err;
	assert_true(lo <= hi);
	return 0;
}

static void corrupted_responses(void **state)
{
	static const char *const base[] = {
		GREET_LOGIN("ENABLE QRESYNC CONDSTORE UIDPLUS"),
		"C:A2 ENABLE QRESYNC",
		"S:* ENABLED QRESYNC",
		"S:A2 OK",
		"C:A3 SELECT \"INBOX\" (QRESYNC (5 6))",
		"S:* 3 EXISTS",
		"S:* OK [UIDVALIDITY 5] ok",
		"S:* OK [UIDNEXT 30] ok",
		"S:* OK [HIGHESTMODSEQ 9] ok",
		"S:* VANISHED (EARLIER) 1:3,7",
		"S:* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (8))",
		"S:A3 OK [READ-WRITE] ok",
		"C:A4 UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ "
		"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
		"W:* 1 FETCH (UID 4 FLAGS (\\Seen) RFC822.SIZE 12 INTERNALDATE "
		"\"17-Jul-1996 02:44:25 -0700\" MODSEQ (8) BODY[HEADER.FIELDS (MESSAGE-ID)] {19}\r\n"
		"Message-ID: <a@b>\r\n)\r\n",
		"S:A4 OK",
		"C:A5 UID FETCH 4 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"W:* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[] {12}\r\nHello\r\nWorld)\r\n",
		"S:A5 OK",
		"C:A6 UID COPY 4 \"T\"",
		"S:A6 OK [COPYUID 5 4 9] ok",
		"C:A7 LOGOUT",
		"S:A7 OK",
		NULL};
	enum { N = sizeof base / sizeof base[0] };
	const char *script[N];
	char *mutated;
	uint32_t seed = 777, uid = 4, dest;
	int iter, fails = 0;

	(void)state;
	for (iter = 0; iter < 120; iter++) {
		struct imap_qresync qr = {5, 6};
		struct imap_box box;
		struct bsink bs;
		struct imap_body_sink sink = {bs_begin, bs_data, bs_end, &bs};
		struct t t;
		size_t k, victim, len;
		int rc;

		memcpy(script, base, sizeof script);
		do {
			seed = seed * 1103515245u + 12345u;
			victim = 3 + (seed >> 8) % (N - 4);
		} while (script[victim][0] != 'S' && script[victim][0] != 'W');
		len = strlen(script[victim]);
		mutated = fct_xstrdup(script[victim]);
		for (k = 0; k < 1 + (unsigned)iter % 3; k++) {
			seed = seed * 1103515245u + 12345u;
			mutated[2 + (seed >> 8) % (len - 2)] = (char)(1 + (seed >> 24) % 255);
		}
		script[victim] = mutated;
		memset(&bs, 0, sizeof bs);
		fct_buf_init(&bs.b);
		t_init(&t, IMAP_TLS_NONE);
		t.o.net.timeout_ms = 300;
		rc = t_connect(&t, script);
		if (rc == 0)
			rc = imap_select(t.im, "INBOX", 0, &qr, &box, ignore_range, ignore_msg, NULL, &t.err);
		if (rc == 0)
			rc = imap_fetch_meta(t.im, 1, 0, 0,
			                     IMAP_META_FLAGS | IMAP_META_SIZE | IMAP_META_DATE |
			                         IMAP_META_MSGID,
			                     ignore_msg, NULL, &t.err);
		if (rc == 0)
			rc = imap_fetch_bodies(t.im, &uid, 1, &sink, &t.err);
		if (rc == 0)
			rc = imap_copy(t.im, &uid, 1, "T", &dest, &t.err);
		if (rc < 0) {
			fails++;
			assert_true(t.err.kind != FCT_E_NONE);
			assert_true(t.err.msg[0] != '\0');
		}
		t_finish(&t, 0);
		t_free(&t);
		fct_buf_free(&bs.b);
		free(mutated);
	}
	assert_true(fails > 10);
}

/* Sizes a hostile server may announce: clean protocol errors, no huge
 * allocation (ASan would notice a 5 GB malloc failing or succeeding). */
static void hostile_sizes(void **state)
{
	static const char *const meta[] = {
		GREET_LOGIN("IMAP4rev1"),
		"C:A2 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
		"S:* 1 FETCH (UID 1 BODY[HEADER.FIELDS (MESSAGE-ID)] {2000000}",
		NULL};
	static const char *const body[] = {
		GREET_LOGIN("IMAP4rev1"),
		"C:A2 UID FETCH 7 (UID FLAGS INTERNALDATE BODY.PEEK[])",
		"S:* 1 FETCH (UID 7 BODY[] {5000000000}",
		NULL};
	const char *longline[] = {GREET_LOGIN("IMAP4rev1"), "C:A2 UID FETCH 1:* (UID FLAGS)", NULL,
	                          NULL};
	struct fct_buf big;
	struct bsink bs;
	struct imap_body_sink sink = {bs_begin, bs_data, bs_end, &bs};
	struct t t;
	uint32_t uid = 7;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, meta);
	assert_int_equal(imap_fetch_meta(t.im, 1, 0, 0, IMAP_META_MSGID, rec_msg, NULL, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_non_null(strstr(t.err.msg, "too large"));
	t_finish(&t, 1);
	t_free(&t);

	memset(&bs, 0, sizeof bs);
	fct_buf_init(&bs.b);
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, body);
	assert_int_equal(imap_fetch_bodies(t.im, &uid, 1, &sink, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_non_null(strstr(t.err.msg, "literal too large"));
	assert_null(bs.b.data); /* the sink never saw it */
	t_finish(&t, 1);
	t_free(&t);

	fct_buf_init(&big);
	fct_buf_puts(&big, "S:* 1 FETCH (UID 1 FLAGS (");
	while (big.len < (1u << 20) + 100)
		fct_buf_puts(&big, "$kw ");
	fct_buf_puts(&big, "))");
	longline[4] = big.data;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, longline);
	assert_int_equal(imap_fetch_meta(t.im, 1, 0, 0, IMAP_META_FLAGS, rec_msg, NULL, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	t_finish(&t, 0);
	t_free(&t);
	fct_buf_free(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fetch_meta),
		cmocka_unit_test(store_many_one_flight),
		cmocka_unit_test(examine_many),
		cmocka_unit_test(examine_many_needs_qresync),
		cmocka_unit_test(fetch_bodies_pipelined),
		cmocka_unit_test(append),
		cmocka_unit_test(store_expunge_copy),
		cmocka_unit_test(move_and_no_uidplus),
		cmocka_unit_test(seqsets_split),
		cmocka_unit_test(idle),
		cmocka_unit_test(idle_wake),
		cmocka_unit_test(corrupted_responses),
		cmocka_unit_test(hostile_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
