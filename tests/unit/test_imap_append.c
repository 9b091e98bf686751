/* Pipelined APPEND (imap_append_many) against the scripted fake server:
 * depth honoured, per-message NO not stopping the others, skipped
 * messages, TRYCREATE stopping the batch, synchronizing literals one at a
 * time, LITERAL- only for small bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/imap_t.h"

struct batch {
	const size_t *sizes;  /* per message; (size_t)-1: next() skips it */
	struct fct_buf log;   /* "next i;" and "done i ...;" in call order */
	uint64_t left;        /* bytes the current source still produces */
	char fill;
	int stop_on_folder;
};

static long b_read(void *ctx, char *buf, size_t n, struct fct_err *err)
{
	struct batch *b = ctx;
	size_t k = n < b->left ? n : (size_t)b->left;

	(void)err;
	memset(buf, b->fill, k);
	b->left -= k;
	return (long)k;
}

static int b_next(void *ctx, size_t i, struct imap_upload *u, struct fct_err *err)
{
	struct batch *b = ctx;

	fct_buf_printf(&b->log, "next %zu;", i);
	if (b->sizes[i] == (size_t)-1)
		return fct_err_set(err, FCT_E_MSG, "message %zu vanished", i), 1;
	if (b->sizes[i] == (size_t)-2)
		return fct_err_set(err, FCT_E_IO, "cannot read message %zu", i);
	b->left = b->sizes[i];
	b->fill = (char)('a' + i);
	u->flags = i == 0 ? FCT_F_SEEN : 0;
	u->date = 0;
	u->src.read = b_read;
	u->src.ctx = b;
	u->src.size = b->sizes[i];
	return 0;
}

static int b_done(void *ctx, size_t i, int ok, uint32_t uidvalidity, uint32_t uid,
                  const struct fct_err *e, struct fct_err *err)
{
	struct batch *b = ctx;

	if (ok) {
		assert_null(e);
		fct_buf_printf(&b->log, "done %zu ok %u/%u;", i, uidvalidity, uid);
		return 0;
	}
	fct_buf_printf(&b->log, "done %zu k%d %s;", i, (int)e->kind, e->msg);
	if (b->stop_on_folder && e->kind == FCT_E_FOLDER) {
		*err = *e;
		return -1;
	}
	return 0;
}

static void batch_init(struct batch *b, const size_t *sizes)
{
	memset(b, 0, sizeof *b);
	b->sizes = sizes;
	fct_buf_init(&b->log);
	fct_buf_puts(&b->log, "");
}

static void pipelined(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("LITERAL+ UIDPLUS"),
		"C:A2 APPEND \"Box\" (\\Seen) {5+}",
		"R:5",
		"C:",
		"C:A3 APPEND \"Box\" {3+}",
		"R:3",
		"C:",
		"N:150", /* depth 2: the third waits for a completion */
		"S:A2 OK [APPENDUID 7 100] done",
		"C:A4 APPEND \"Box\" {4+}",
		"R:4",
		"C:",
		"N:150",
		"S:A3 NO [OVERQUOTA] too big",
		"C:A5 APPEND \"Box\" {2+}",
		"R:2",
		"C:",
		"S:A4 OK [APPENDUID 7 101] done",
		"S:A5 OK [APPENDUID 7 102] done",
		/* A missing mailbox stops the batch when done() says so. */
		"C:A6 APPEND \"Nope\" (\\Seen) {1+}",
		"R:1",
		"C:",
		"C:A7 APPEND \"Nope\" {1+}",
		"R:1",
		"C:",
		"S:A6 NO [TRYCREATE] no such mailbox",
		"S:A7 NO [TRYCREATE] no such mailbox",
		"C:A8 LOGOUT",
		"S:A8 OK",
		NULL};
	static const size_t sizes[] = {5, 3, (size_t)-1, 4, 2};
	static const size_t sizes2[] = {1, 1, 1};
	struct batch b;
	struct imap_append_cbs cb = {b_next, b_done, &b};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	t.o.pipeline_depth = 2;
	CONNECT_OK(&t, script);
	batch_init(&b, sizes);
	assert_int_equal(imap_append_many(t.im, "Box", 5, &cb, &t.err), 0);
	assert_string_equal(b.log.data,
	                    "next 0;next 1;done 0 ok 7/100;next 2;done 2 k1 message 2 vanished;"
	                    "next 3;done 1 k1 APPEND to \"Box\": server said: NO [OVERQUOTA] too big;"
	                    "next 4;done 3 ok 7/101;done 4 ok 7/102;");
	fct_buf_free(&b.log);

	batch_init(&b, sizes2);
	b.stop_on_folder = 1;
	assert_int_equal(imap_append_many(t.im, "Nope", 3, &cb, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_FOLDER);
	assert_true(strncmp(t.err.msg, "TRYCREATE", 9) == 0);
	/* Stopped: no third message, no report of the drained second. */
	assert_string_equal(b.log.data, "next 0;next 1;done 0 k2 TRYCREATE: APPEND to \"Nope\": "
	                                "server said: NO [TRYCREATE] no such mailbox;");
	fct_buf_free(&b.log);
	t_finish(&t, 1);
	/* Each body follows its own command, streamed as announced. */
	assert_non_null(strstr(received(&t), "{5+}\r\naaaaa\r\nA3 APPEND \"Box\" {3+}\r\nbbb\r\n"));
	assert_non_null(strstr(received(&t), "{2+}\r\nee\r\n"));
	assert_null(strstr(received(&t), "ccc"));
	t_free(&t);
}

static void synchronizing(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("LITERAL- UIDPLUS"),
		/* LITERAL- covers the small ones, pipelined. */
		"C:A2 APPEND \"Box\" (\\Seen) {3+}",
		"R:3",
		"C:",
		"C:A3 APPEND \"Box\" {2+}",
		"R:2",
		"C:",
		"N:150", /* the big one waits for the others before its command */
		"S:A2 OK [APPENDUID 9 1] done",
		"N:100",
		"S:A3 OK [APPENDUID 9 2] done",
		"C:A4 APPEND \"Box\" {5000}",
		"N:100", /* and for the continuation before its body */
		"S:+ go ahead",
		"R:5000",
		"C:",
		"S:A4 OK done",
		"C:A5 LOGOUT",
		"S:A5 OK",
		NULL};
	static const char *const script_sync[] = {
		GREET_LOGIN("UIDPLUS"),
		"C:A2 APPEND \"Box\" (\\Seen) {3}",
		"S:+ go ahead",
		"R:3",
		"C:",
		"N:100",
		"S:A2 OK [APPENDUID 9 1] done",
		"C:A3 APPEND \"Box\" {2}",
		"S:A3 NO [LIMIT] refused before the body",
		"C:A4 APPEND \"Box\" {1}",
		"S:+ go ahead",
		"R:1",
		"C:",
		"S:A4 OK done",
		"C:A5 LOGOUT",
		"S:A5 OK",
		NULL};
	static const size_t sizes[] = {3, 2, 5000};
	static const size_t sizes_sync[] = {3, 2, 1};
	struct batch b;
	struct imap_append_cbs cb = {b_next, b_done, &b};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	batch_init(&b, sizes);
	assert_int_equal(imap_append_many(t.im, "Box", 3, &cb, &t.err), 0);
	assert_string_equal(b.log.data,
	                    "next 0;next 1;next 2;done 0 ok 9/1;done 1 ok 9/2;done 2 ok 0/0;");
	t_finish(&t, 1);
	assert_non_null(strstr(received(&t), "A4 APPEND \"Box\" {5000}\r\nccc"));
	fct_buf_free(&b.log);
	t_free(&t);

	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script_sync);
	batch_init(&b, sizes_sync);
	assert_int_equal(imap_append_many(t.im, "Box", 3, &cb, &t.err), 0);
	assert_string_equal(b.log.data,
	                    "next 0;next 1;done 0 ok 9/1;done 1 k1 APPEND to \"Box\": server said: "
	                    "NO [LIMIT] refused before the body;next 2;done 2 ok 0/0;");
	fct_buf_free(&b.log);
	t_finish(&t, 1);
	assert_null(strstr(received(&t), "{2}\r\nbb"));
	t_free(&t);
}

/* next() stopping the batch, and a server answering one APPEND twice. */
static void stops(void **state)
{
	static const char *const script[] = {
		GREET_LOGIN("LITERAL+"),
		"C:A2 APPEND \"Box\" (\\Seen) {1+}",
		"R:1",
		"C:",
		"N:100",
		"S:A2 OK done",
		"C:A3 NOOP",
		"S:A3 OK",
		"C:A4 APPEND \"Box\" (\\Seen) {1+}",
		"R:1",
		"C:",
		"C:A5 APPEND \"Box\" {1+}",
		"R:1",
		"C:",
		"S:A4 OK done",
		"S:A4 OK done again",
		NULL};
	static const size_t sizes[] = {1, (size_t)-2, 1};
	static const size_t sizes2[] = {1, 1};
	struct batch b;
	struct imap_append_cbs cb = {b_next, b_done, &b};
	struct t t;

	(void)state;
	t_init(&t, IMAP_TLS_NONE);
	CONNECT_OK(&t, script);
	batch_init(&b, sizes);
	assert_int_equal(imap_append_many(t.im, "Box", 3, &cb, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_IO);
	assert_string_equal(t.err.msg, "cannot read message 1");
	/* Message 0 was drained without a report; nothing after 1 was asked. */
	assert_string_equal(b.log.data, "next 0;next 1;");
	fct_buf_free(&b.log);
	assert_int_equal(imap_simple(t.im, FCT_E_STORE, "NOOP", &t.err, "NOOP"), 0);
	batch_init(&b, sizes2);
	assert_int_equal(imap_append_many(t.im, "Box", 2, &cb, &t.err), -1);
	assert_int_equal(t.err.kind, FCT_E_PROTO);
	assert_string_equal(b.log.data, "next 0;next 1;done 0 ok 0/0;");
	fct_buf_free(&b.log);
	t_finish(&t, 1);
	t_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipelined),
		cmocka_unit_test(synchronizing),
		cmocka_unit_test(stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
