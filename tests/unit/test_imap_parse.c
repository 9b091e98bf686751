/* IMAP response parser: transcripts from RFC 3501/9051 and real servers,
 * fed whole, split at every byte boundary and byte by byte (the results
 * must not depend on how bytes arrive), plus malformed and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/imap_parse.h"

/* Canonical rendering of parsed responses, for comparisons. */
static void dump_toks(struct fct_buf *b, const struct imap_tok *t, size_t from, size_t to)
{
	size_t i = from;

	while (i < to) {
		if (i > from)
			fct_buf_putc(b, ' ');
		switch (t[i].type) {
		case IMAP_TOK_ATOM:
			fct_buf_printf(b, "%s%s", t[i].is_num ? "#" : "", t[i].s);
			assert_int_equal(strlen(t[i].s), t[i].len);
			break;
		case IMAP_TOK_QUOTED:
			fct_buf_printf(b, "\"%s\"", t[i].s);
			assert_int_equal(strlen(t[i].s), t[i].len);
			break;
		case IMAP_TOK_LITERAL:
			fct_buf_printf(b, "{%zu}", t[i].len);
			fct_buf_append(b, t[i].s, t[i].len);
			assert_int_equal(t[i].s[t[i].len], '\0');
			break;
		case IMAP_TOK_STREAMED:
			fct_buf_printf(b, "<streamed %llu>", (unsigned long long)t[i].num);
			break;
		case IMAP_TOK_NIL:
			fct_buf_puts(b, "NIL");
			break;
		case IMAP_TOK_LIST:
			assert_true(t[i].next > i);
			fct_buf_putc(b, '(');
			dump_toks(b, t, i + 1, t[i].next);
			fct_buf_putc(b, ')');
			break;
		}
		assert_true(t[i].next > i && t[i].next <= to);
		i = t[i].next;
	}
}

static void dump(struct fct_buf *b, const struct imap_resp *r)
{
	static const char *st[] = {"", "OK", "NO", "BAD", "BYE", "PREAUTH"};

	if (r->kind == IMAP_RESP_CONT) {
		fct_buf_printf(b, "+|%s\n", r->text);
		return;
	}
	fct_buf_puts(b, r->kind == IMAP_RESP_TAGGED ? r->tag : "*");
	if (r->status != IMAP_ST_NONE) {
		fct_buf_printf(b, "|%s", st[r->status]);
		if (r->code)
			fct_buf_printf(b, "|[%s|%s]", r->code, r->code_arg);
		fct_buf_printf(b, "|%s\n", r->text);
		return;
	}
	if (r->has_num)
		fct_buf_printf(b, "|%u", r->num);
	fct_buf_printf(b, "|%s|", r->name);
	dump_toks(b, r->tok, 0, r->ntok);
	fct_buf_putc(b, '\n');
}

struct sink {
	struct fct_buf body;
	int begins;
	int fail;
};

/* Streams literals whose key is BODY[] or BINARY[], buffers the rest. */
static int t_begin(void *ctx, const struct imap_resp *r, uint64_t size, struct fct_err *err)
{
	struct sink *s = ctx;
	const struct imap_tok *key;

	(void)size;
	if (s->fail)
		return fct_err_set(err, FCT_E_MSG, "sink refused");
	if (r->ntok == 0)
		return 0;
	key = &r->tok[r->ntok - 1];
	if (imap_tok_is(key, "BODY[]") || imap_tok_is(key, "BINARY[]")) {
		s->begins++;
		fct_buf_printf(&s->body, "[%llu:", (unsigned long long)size);
		return 1;
	}
	return 0;
}

static int t_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct sink *s = ctx;

	(void)err;
	assert_true(n > 0);
	fct_buf_append(&s->body, p, n);
	return 0;
}

/* Feeds buf in pieces of at most `step` bytes after a first piece of
 * `first` bytes; appends dumps to out.  Returns feed's -1 or 0. */
static int run(struct imap_parser *p, const char *buf, size_t n, size_t first, size_t step,
               struct fct_buf *out, struct fct_err *err)
{
	size_t pos = 0, lim = first ? first : step;

	while (pos < n) {
		size_t avail = (lim < n ? lim : n) - pos, used;
		int r;
		if (avail == 0) {
			lim += step;
			continue;
		}
		r = imap_parse_feed(p, buf + pos, avail, &used, err);
		if (r < 0)
			return -1;
		assert_true(used <= avail);
		if (r == 1)
			dump(out, imap_parse_resp(p));
		else
			assert_int_equal(used, avail);
		pos += used;
	}
	return 0;
}

static int parse_all(const char *buf, size_t n, size_t first, size_t step,
                     const struct imap_parse_limits *lim, struct fct_buf *out, struct sink *s,
                     struct fct_err *err)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct imap_parse_hooks h = {t_begin, t_data, s};
	int r;

	imap_parser_set_hooks(p, &h);
	r = run(p, buf, n, first, step, out, err);
	if (r == 0 && !imap_parse_between(p))
		r = 1; /* incomplete */
	imap_parser_free(p);
	return r;
}

static const char transcript[] =
	"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot ready.\r\n"
	"* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
	"a001 OK CAPABILITY completed\r\n"
	"* 172 EXISTS\r\n"
	"* 1 RECENT\r\n"
	"* OK [UNSEEN 12] Message 12 is first unseen\r\n"
	"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
	"* OK [HIGHESTMODSEQ 715194045007]\r\n"
	"A142 OK [READ-WRITE] SELECT completed\r\n"
	"* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	"RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996\" \"IMAP4rev1 WG \\\"mtg\\\"\" "
	"((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL "
	"\"<B27397-0100000@cac.washington.edu>\"))\r\n"
	"* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n"
	"* LIST (\\HasNoChildren) \"/\" {8}\r\nfoo bar)\r\n"
	"* LIST () NIL \"a \\\\ b\"\r\n"
	"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
	"* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3 ALL 4:18,21\r\n"
	"* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"
	"* 3 EXPUNGE\r\n"
	"* ENABLED CONDSTORE QRESYNC\r\n"
	"+ Ready for additional command text\r\n"
	"+\r\n"
	"* 3 FETCH (UID 7 BODY[] {11}\r\nHello\r\nWorl FLAGS (\\Seen) MODSEQ (12345))\r\n"
	"* 4 FETCH (UID 8 BINARY[] ~{3}\r\na\0b)\r\n"
	"* 5 FETCH (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
	"Message-ID: <a@b>\r\n\r\n)\r\n"
	"* 6 FETCH (UID 10 BODY[] {0}\r\n)\r\n"
	"\r\n"
	"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
	"A3 OK [COPYUID 38505 304,319:320 3956:3958] Done\n"
	"A4 NO [TRYCREATE] Mailbox doesn't exist: {5}\r\n"
	"A5 BAD [unterminated code\r\n"
	"* SEARCH 2 84 882 \r\n"
	"* PREAUTH IMAP4rev1 server logged in as Smith\r\n"
	"* BYE Autologout; idle for too long\r\n";

static const char expected[] =
	"*|OK|[CAPABILITY|IMAP4rev1 LITERAL+ SASL-IR]|Dovecot ready.\n"
	"*|CAPABILITY|IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\n"
	"a001|OK|CAPABILITY completed\n"
	"*|172|EXISTS|\n"
	"*|1|RECENT|\n"
	"*|OK|[UNSEEN|12]|Message 12 is first unseen\n"
	"*|OK|[UIDVALIDITY|3857529045]|UIDs valid\n"
	"*|FLAGS|(\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n"
	"*|OK|[PERMANENTFLAGS|(\\Deleted \\Seen \\*)]|Limited\n"
	"*|OK|[HIGHESTMODSEQ|715194045007]|\n"
	"A142|OK|[READ-WRITE|]|SELECT completed\n"
	"*|12|FETCH|(FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	"RFC822.SIZE #4286 ENVELOPE (\"Wed, 17 Jul 1996\" \"IMAP4rev1 WG \"mtg\"\" "
	"((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL "
	"\"<B27397-0100000@cac.washington.edu>\"))\n"
	"*|LIST|(\\Noselect) \"/\" ~/Mail/foo\n"
	"*|LIST|(\\HasNoChildren) \"/\" {8}foo bar)\n"
	"*|LIST|() NIL \"a \\ b\"\n"
	"*|STATUS|blurdybloop (MESSAGES #231 UIDNEXT #44292)\n"
	"*|ESEARCH|(TAG \"A282\") UID MIN #2 COUNT #3 ALL 4:18,21\n"
	"*|VANISHED|(EARLIER) 41,43:116,118,120:211,214:540\n"
	"*|3|EXPUNGE|\n"
	"*|ENABLED|CONDSTORE QRESYNC\n"
	"+|Ready for additional command text\n"
	"+|\n"
	"*|3|FETCH|(UID #7 BODY[] <streamed 11> FLAGS (\\Seen) MODSEQ (#12345))\n"
	"*|4|FETCH|(UID #8 BINARY[] <streamed 3>)\n"
	"*|5|FETCH|(UID #9 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}Message-ID: <a@b>\r\n\r\n)\n"
	"*|6|FETCH|(UID #10 BODY[] <streamed 0>)\n"
	"*|NAMESPACE|((\"\" \"/\")) NIL NIL\n"
	"A3|OK|[COPYUID|38505 304,319:320 3956:3958]|Done\n"
	"A4|NO|[TRYCREATE|]|Mailbox doesn't exist: {5}\n"
	"A5|BAD|[unterminated code\n"
	"*|SEARCH|#2 #84 #882\n"
	"*|PREAUTH|IMAP4rev1 server logged in as Smith\n"
	"*|BYE|Autologout; idle for too long\n";

static const char expected_body[] = "[11:Hello\r\nWorl[3:a\0b[0:";

static void check_parse(size_t first, size_t step)
{
	struct fct_buf out;
	struct sink s;
	struct fct_err err;

	fct_buf_init(&out);
	memset(&s, 0, sizeof s);
	fct_buf_init(&s.body);
	fct_err_clear(&err);
	if (parse_all(transcript, sizeof transcript - 1, first, step, NULL, &out, &s, &err) != 0)
		{ fprintf(stderr, "%s\n", out.data); fail_msg("parse failed: %s", err.msg); }
	assert_string_equal(out.data, expected);
	assert_int_equal(s.body.len, sizeof expected_body - 1);
	assert_memory_equal(s.body.data, expected_body, sizeof expected_body - 1);
	assert_int_equal(s.begins, 3);
	fct_buf_free(&out);
	fct_buf_free(&s.body);
}

static void transcript_whole(void **state)
{
	(void)state;
	check_parse(0, sizeof transcript);
}

static void transcript_every_split(void **state)
{
	size_t k;

	(void)state;
	for (k = 1; k < sizeof transcript - 1; k++)
		check_parse(k, sizeof transcript);
}

static void transcript_byte_by_byte(void **state)
{
	(void)state;
	check_parse(0, 1);
	check_parse(0, 2);
	check_parse(0, 7);
}

static void response_fields(void **state)
{
	static const char in[] = "* 17 FETCH (UID 4294967295 MODSEQ (18446744073709551615) "
	                         "RFC822.SIZE 18446744073709551616)\r\n";
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_resp *r;
	struct fct_err err;
	size_t used;
	uint32_t u32;
	uint64_t u64;

	(void)state;
	assert_int_equal(imap_parse_feed(p, in, sizeof in - 1, &used, &err), 1);
	assert_int_equal(used, sizeof in - 1);
	r = imap_parse_resp(p);
	assert_true(r->has_num);
	assert_int_equal(r->num, 17);
	assert_string_equal(r->name, "FETCH");
	assert_int_equal(r->ntok, 8);
	assert_int_equal(r->tok[0].type, IMAP_TOK_LIST);
	assert_int_equal(r->tok[0].next, 8);
	assert_true(imap_tok_is(&r->tok[1], "uid"));
	assert_int_equal(imap_tok_u32(&r->tok[2], &u32), 0);
	assert_int_equal(u32, 4294967295u);
	assert_int_equal(r->tok[4].type, IMAP_TOK_LIST);
	assert_int_equal(imap_tok_u64(&r->tok[5], &u64), 0);
	assert_true(u64 == UINT64_MAX);
	assert_int_equal(imap_tok_u32(&r->tok[5], &u32), -1);
	/* One more than 2^64-1 is not a number, but still a valid atom. */
	assert_false(r->tok[7].is_num);
	assert_int_equal(imap_tok_u64(&r->tok[7], &u64), -1);
	assert_true(imap_parse_between(p));
	imap_parser_free(p);
}

/* Two responses in one read: the first feed stops after the first. */
static void stops_after_each_response(void **state)
{
	static const char in[] = "a1 OK done\r\n* 2 EXISTS\r\n* BYE";
	struct imap_parser *p = imap_parser_new(NULL);
	struct fct_err err;
	size_t used, pos = 0;

	(void)state;
	assert_int_equal(imap_parse_feed(p, in, sizeof in - 1, &used, &err), 1);
	assert_int_equal(used, 12);
	assert_string_equal(imap_parse_resp(p)->tag, "a1");
	pos += used;
	assert_int_equal(imap_parse_feed(p, in + pos, sizeof in - 1 - pos, &used, &err), 1);
	assert_int_equal(imap_parse_resp(p)->num, 2);
	pos += used;
	assert_int_equal(imap_parse_feed(p, in + pos, sizeof in - 1 - pos, &used, &err), 0);
	assert_int_equal(pos + used, sizeof in - 1);
	assert_false(imap_parse_between(p));
	imap_parser_free(p);
}

/* Malformed input: a clean FCT_E_PROTO whose message says what. */
static void expect_error(const char *in, size_t n, const struct imap_parse_limits *lim,
                         const char *what)
{
	struct fct_buf out;
	struct sink s;
	struct fct_err err;
	size_t step;

	for (step = 1; step <= n; step = step < 4 ? step + 1 : step * 4) {
		fct_buf_init(&out);
		memset(&s, 0, sizeof s);
		fct_buf_init(&s.body);
		fct_err_clear(&err);
		assert_int_equal(parse_all(in, n, 0, step, lim, &out, &s, &err), -1);
		assert_int_equal(err.kind, FCT_E_PROTO);
		if (!strstr(err.msg, what))
			fail_msg("error \"%s\" lacks \"%s\"", err.msg, what);
		fct_buf_free(&out);
		fct_buf_free(&s.body);
	}
}

#define EXPECT_ERROR(s, what) expect_error(s, sizeof(s) - 1, NULL, what)

static void malformed(void **state)
{
	(void)state;
	EXPECT_ERROR("* 1 FETCH (BODY[] {18446744073709551615}\r\n", "literal too large");
	EXPECT_ERROR("* 1 FETCH (BODY[] {99999999999999999999999}\r\n", "bad literal size");
	EXPECT_ERROR("* 1 FETCH (BODY[] {}\r\n", "bad literal size");
	EXPECT_ERROR("* 1 FETCH (BODY[] {12\r\n", "literal announcement");
	EXPECT_ERROR("* 1 FETCH (BODY[] {12} UID 3)\r\n", "literal announcement");
	EXPECT_ERROR("* LIST () \"/\" {2000000}\r\n", "literal too large to buffer");
	EXPECT_ERROR("* 1 FETCH (UID 1))\r\n", "unbalanced ')'");
	EXPECT_ERROR("* 1 FETCH (UID 1\r\n", "unterminated list");
	EXPECT_ERROR("* LIST () \"/\" \"INBOX\r\n", "unterminated quoted string");
	EXPECT_ERROR("* LIST () \"/\" \"INBOX\\\r\n", "unterminated quoted string");
	EXPECT_ERROR("a1 FOO bar\r\n", "tagged response without OK");
	EXPECT_ERROR(" OK\r\n", "response without tag");
	EXPECT_ERROR("*\r\n", "untagged response without keyword");
	EXPECT_ERROR("* 99999999999 EXISTS\r\n", "message number out of range");
	EXPECT_ERROR("* X a\001b\r\n", "unexpected character");
	EXPECT_ERROR("* X BODY[\001]\r\n", "unexpected character");
	EXPECT_ERROR("* LIST () \"/\" \"a\0b\"\r\n", "NUL in quoted string");
	EXPECT_ERROR("* LIST () \"/\" \"a\\\0b\"\r\n", "NUL in quoted string");
	/* Parser state after a complete response must not leak into errors. */
	EXPECT_ERROR("a1 OK fine\r\n* 1 FETCH (((\r\n", "unterminated list");
}

static void deep_nesting(void **state)
{
	size_t n = 10000, i;
	struct fct_buf b;

	(void)state;
	fct_buf_init(&b);
	fct_buf_puts(&b, "* 1 FETCH ");
	for (i = 0; i < n; i++)
		fct_buf_putc(&b, '(');
	for (i = 0; i < n; i++)
		fct_buf_putc(&b, ')');
	fct_buf_puts(&b, "\r\n");
	expect_error(b.data, b.len, NULL, "nested too deeply");
	fct_buf_free(&b);
}

static void limits(void **state)
{
	struct imap_parse_limits lim;
	struct fct_buf b;
	size_t i;

	(void)state;
	imap_parse_default_limits(&lim);
	lim.max_line = 100;
	fct_buf_init(&b);
	fct_buf_puts(&b, "* SEARCH");
	for (i = 0; i < 30; i++)
		fct_buf_puts(&b, " 1234");
	fct_buf_puts(&b, "\r\n");
	expect_error(b.data, b.len, &lim, "line too long");
	/* Without any newline: refused as soon as the limit is passed. */
	fct_buf_reset(&b);
	for (i = 0; i < 4096; i++)
		fct_buf_putc(&b, 'x');
	expect_error(b.data, b.len, &lim, "line too long");

	imap_parse_default_limits(&lim);
	lim.max_items = 10;
	expect_error("* SEARCH 1 2 3 4 5 6 7 8 9 10 11\r\n", 34, &lim, "too many items");
	lim.max_items = 11;
	fct_buf_reset(&b);
	assert_int_equal(parse_all("* SEARCH 1 2 3 4 5 6 7 8 9 10 11\r\n", 34, 0, 34, &lim, &b, NULL,
	                           NULL),
	                 0);

	imap_parse_default_limits(&lim);
	lim.max_resp = 200;
	fct_buf_reset(&b);
	fct_buf_puts(&b, "* 1 FETCH (");
	for (i = 0; i < 10; i++)
		fct_buf_puts(&b, "X {20}\r\n01234567890123456789 ");
	fct_buf_puts(&b, ")\r\n");
	expect_error(b.data, b.len, &lim, "too large");

	imap_parse_default_limits(&lim);
	lim.max_literal = 1000;
	expect_error("* 1 FETCH (BODY[] {1001}\r\n", 26, &lim, "literal too large");
	fct_buf_free(&b);
}

static void hook_failure(void **state)
{
	static const char in[] = "* 1 FETCH (UID 3 BODY[] {3}\r\nabc)\r\n";
	struct fct_buf out;
	struct sink s;
	struct fct_err err;

	(void)state;
	fct_buf_init(&out);
	memset(&s, 0, sizeof s);
	fct_buf_init(&s.body);
	s.fail = 1;
	assert_int_equal(parse_all(in, sizeof in - 1, 0, 5, NULL, &out, &s, &err), -1);
	assert_int_equal(err.kind, FCT_E_MSG);
	assert_string_equal(err.msg, "sink refused");
	fct_buf_free(&out);
	fct_buf_free(&s.body);
}

/* Incomplete input is not an error for the parser: it waits for more. */
static void unterminated_literal_waits(void **state)
{
	static const char in[] = "* 1 FETCH (UID 3 BODY[] {10}\r\nabc";
	struct fct_buf out;
	struct sink s;
	struct fct_err err;

	(void)state;
	fct_buf_init(&out);
	memset(&s, 0, sizeof s);
	fct_buf_init(&s.body);
	assert_int_equal(parse_all(in, sizeof in - 1, 0, 3, NULL, &out, &s, &err), 1);
	assert_int_equal(out.len, 0);
	assert_string_equal(s.body.data, "[10:abc");
	fct_buf_free(&out);
	fct_buf_free(&s.body);
}

static void literal_left(void **state)
{
	static const char in[] = "* 1 FETCH (UID 3 BODY[] {10}\r\nabc";
	struct imap_parser *p = imap_parser_new(NULL);
	struct fct_err err;
	size_t used;

	(void)state;
	assert_int_equal(imap_parse_literal_left(p), 0);
	assert_int_equal(imap_parse_feed(p, in, sizeof in - 1, &used, &err), 0);
	assert_int_equal(imap_parse_literal_left(p), 7);
	assert_int_equal(imap_parse_feed(p, "defghij)", 8, &used, &err), 0);
	assert_int_equal(imap_parse_literal_left(p), 0);
	assert_int_equal(imap_parse_feed(p, "\n", 1, &used, &err), 1);
	assert_int_equal(imap_parse_resp(p)->tok[4].type, IMAP_TOK_LITERAL);
	assert_string_equal(imap_parse_resp(p)->tok[4].s, "abcdefghij");
	imap_parser_free(p);
}

/* Mutated transcripts, fed in random pieces: either parsed or refused with
 * FCT_E_PROTO, never a crash (ASan/UBSan builds check the memory side). */
static void mutations(void **state)
{
	uint32_t seed = 12345;
	char buf[sizeof transcript];
	struct imap_parse_limits lim;
	int iter, errors = 0;

	(void)state;
	imap_parse_default_limits(&lim);
	lim.max_depth = 4;
	lim.max_items = 60;
	lim.max_line = 300;
	lim.max_buffered_literal = 64;
	for (iter = 0; iter < 3000; iter++) {
		struct imap_parser *p = imap_parser_new(iter % 2 ? &lim : NULL);
		struct sink s;
		struct imap_parse_hooks h = {t_begin, t_data, &s};
		struct fct_buf out;
		struct fct_err err;
		size_t pos = 0, n = sizeof transcript - 1;
		int k, r = 0;

		memcpy(buf, transcript, n);
		for (k = 0; k < 1 + iter % 8; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % n] = (char)(seed >> 24);
		}
		memset(&s, 0, sizeof s);
		fct_buf_init(&s.body);
		fct_buf_init(&out);
		imap_parser_set_hooks(p, &h);
		while (pos < n && r >= 0) {
			size_t step, used;
			seed = seed * 1103515245u + 12345u;
			step = 1 + (seed >> 16) % 64;
			if (step > n - pos)
				step = n - pos;
			r = imap_parse_feed(p, buf + pos, step, &used, &err);
			if (r == 1)
				dump(&out, imap_parse_resp(p));
			if (r >= 0)
				pos += used;
		}
		if (r < 0) {
			assert_int_equal(err.kind, FCT_E_PROTO);
			assert_non_null(strstr(err.msg, "IMAP protocol error"));
			errors++;
		}
		imap_parser_free(p);
		fct_buf_free(&s.body);
		fct_buf_free(&out);
	}
	/* The mutations must actually hit the error paths. */
	assert_true(errors > 100);
	assert_true(errors < 3000);
}

struct ranges {
	char out[256];
	size_t len;
};

static int range_cb(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	struct ranges *r = ctx;

	(void)err;
	r->len += (size_t)snprintf(r->out + r->len, sizeof r->out - r->len, "[%u-%u]", lo, hi);
	return 0;
}

static void seqsets(void **state)
{
	static const char *bad[] = {"", "1:*", "a", "1,,2", "1:", ":3", "4294967296", "1,"};
	struct ranges r;
	struct fct_err err;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof r);
	assert_int_equal(imap_seqset_each("41,43:116,9:8,4294967295", 24, range_cb, &r, &err), 0);
	assert_string_equal(r.out, "[41-41][43-116][8-9][4294967295-4294967295]");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&r, 0, sizeof r);
		fct_err_clear(&err);
		assert_int_equal(imap_seqset_each(bad[i], strlen(bad[i]), range_cb, &r, &err), -1);
		assert_int_equal(err.kind, FCT_E_PROTO);
	}
}

static void sanitize(void **state)
{
	char out[8];

	(void)state;
	imap_sanitize("a\r\nb\x80zzzzzzz", 12, out, sizeof out);
	assert_string_equal(out, "a??b?zz");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transcript_whole),
		cmocka_unit_test(transcript_every_split),
		cmocka_unit_test(transcript_byte_by_byte),
		cmocka_unit_test(response_fields),
		cmocka_unit_test(stops_after_each_response),
		cmocka_unit_test(malformed),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(limits),
		cmocka_unit_test(hook_failure),
		cmocka_unit_test(unterminated_literal_waits),
		cmocka_unit_test(literal_left),
		cmocka_unit_test(mutations),
		cmocka_unit_test(seqsets),
		cmocka_unit_test(sanitize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
