/* libFuzzer target: the IMAP response parser (proto/imap_parse.c).
 *
 * The first input byte picks how the rest is cut into feeds (the parser must
 * give the same answers whatever the TCP segmentation) and whether literals
 * are streamed through the hooks, as the FETCH BODY[] path does.  Tight
 * limits make the "too long / too deep / too many" branches reachable from
 * small inputs. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	uint64_t streamed;
	int mode;
};

static int lit_begin(void *ctx, const struct imap_resp *r, uint64_t size, struct fct_err *err)
{
	struct sink *s = ctx;

	(void)err;
	/* Touch what a session would read: the tokens so far. */
	for (size_t i = 0; i < r->ntok; i++)
		if (r->tok[i].s)
			s->streamed += r->tok[i].len;
	if (s->mode == 2 && size > 1000)
		return fct_err_set(err, FCT_E_PROTO, "literal too large for the test");
	return s->mode != 0 && (size & 1);
}

static int lit_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct sink *s = ctx;

	(void)err;
	if (n)
		s->streamed += (unsigned char)p[0] + (unsigned char)p[n - 1];
	s->streamed += n;
	return 0;
}

static void walk(const struct imap_resp *r)
{
	volatile size_t acc = 0;

	if (r->tag)
		acc += strlen(r->tag);
	if (r->code)
		acc += strlen(r->code) + strlen(r->code_arg);
	if (r->text)
		acc += strlen(r->text);
	if (r->name)
		acc += strlen(r->name);
	acc += strlen(r->raw);
	for (size_t i = 0; i < r->ntok; i++) {
		const struct imap_tok *t = &r->tok[i];
		uint32_t u32;
		uint64_t u64;

		if (t->s)
			acc += strlen(t->s) <= t->len;
		acc += (size_t)imap_tok_is(t, "FLAGS") + (size_t)imap_tok_is_str(t);
		if (imap_tok_u32(t, &u32) == 0)
			acc += u32;
		if (imap_tok_u64(t, &u64) == 0)
			acc += (size_t)u64;
		if (t->type == IMAP_TOK_LIST && t->next != 0 && (t->next <= i || t->next > r->ntok))
			__builtin_trap(); /* a list's end must lie after it, inside the response */
	}
	(void)acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parse_limits lim;
	struct imap_parser *p;
	struct sink s = {0, 0};
	struct imap_parse_hooks h = {lit_begin, lit_data, &s};
	struct fct_err err;
	size_t pos = 1, chunk;

	if (size < 1)
		return 0;
	imap_parse_default_limits(&lim);
	lim.max_line = 512;
	lim.max_resp = 4096;
	lim.max_items = 200;
	lim.max_depth = 16;
	lim.max_buffered_literal = 256;
	lim.max_literal = 1u << 20;
	chunk = (data[0] & 0x0f) + 1;
	s.mode = (data[0] >> 4) % 3;
	p = imap_parser_new(&lim);
	imap_parser_set_hooks(p, &h);
	fct_err_clear(&err);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		size_t used = 0;
		int rc = imap_parse_feed(p, (const char *)data + pos, n, &used, &err);

		if (rc < 0)
			break;
		if (used > n)
			__builtin_trap();
		if (rc == 1) {
			walk(imap_parse_resp(p));
			if (!imap_parse_between(p))
				__builtin_trap();
		} else if (used != n) {
			__builtin_trap(); /* "no response yet" must consume everything */
		}
		(void)imap_parse_literal_left(p);
		pos += used;
	}
	imap_parser_free(p);
	return 0;
}
