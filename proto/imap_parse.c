/* Incremental IMAP response parser: see imap_parse.h.
 *
 * A response is a sequence of line segments, each but the last ending in a
 * literal announcement ("{n}").  Bytes are gathered into the current
 * segment (bounded) until its LF; then the complete segment is tokenized at
 * once, which keeps resumability trivial: the only state carried between
 * feeds is the partial segment, the literal in progress, the tokens so far
 * and the stack of open lists. */
#include "proto/imap_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOSTR ((size_t)-1)

enum pstate { ST_LINE, ST_LITERAL, ST_DONE };

struct imap_parser {
	struct imap_parse_limits lim;
	struct imap_parse_hooks hooks;
	enum pstate st;
	struct fct_buf line;  /* current segment */
	struct fct_buf arena; /* NUL-terminated strings of the response */
	struct imap_tok *tok;
	size_t *off; /* arena offset of each token's string, NOSTR if none */
	size_t ntok, cap;
	size_t *stack; /* indices of open lists */
	unsigned depth;
	int header_done;
	size_t total; /* bytes of the response held so far */
	uint64_t lit_left, lit_size;
	int lit_stream;
	size_t lit_off;
	size_t tag_off, code_off, arg_off, text_off, name_off;
	struct imap_resp resp;
};

void imap_parse_default_limits(struct imap_parse_limits *l)
{
	l->max_line = 1u << 20;
	l->max_resp = 8u << 20;
	l->max_items = 200000;
	l->max_depth = 64;
	l->max_buffered_literal = 1u << 20;
	l->max_literal = (uint64_t)4 << 30;
}

static void reset_response(struct imap_parser *p)
{
	p->st = ST_LINE;
	fct_buf_reset(&p->line);
	fct_buf_reset(&p->arena);
	p->ntok = 0;
	p->depth = 0;
	p->header_done = 0;
	p->total = 0;
	p->lit_left = p->lit_size = 0;
	p->lit_stream = 0;
	p->tag_off = p->code_off = p->arg_off = p->text_off = p->name_off = NOSTR;
	memset(&p->resp, 0, sizeof p->resp);
}

struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits)
{
	struct imap_parser *p = fct_xcalloc(1, sizeof *p);

	if (limits)
		p->lim = *limits;
	else
		imap_parse_default_limits(&p->lim);
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	fct_buf_init(&p->line);
	fct_buf_init(&p->arena);
	p->stack = fct_xcalloc(p->lim.max_depth, sizeof *p->stack);
	reset_response(p);
	return p;
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	fct_buf_free(&p->line);
	fct_buf_free(&p->arena);
	free(p->tok);
	free(p->off);
	free(p->stack);
	free(p);
}

void imap_parser_set_hooks(struct imap_parser *p, const struct imap_parse_hooks *h)
{
	if (h)
		p->hooks = *h;
	else
		memset(&p->hooks, 0, sizeof p->hooks);
}

void imap_sanitize(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i;

	if (outsz == 0)
		return;
	for (i = 0; i < n && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
}

/* FCT_E_PROTO quoting the start of the current segment. */
static int perr(struct imap_parser *p, struct fct_err *err, const char *what)
{
	char q[100];

	imap_sanitize(p->line.data ? p->line.data : "", p->line.len, q, sizeof q);
	return fct_err_set(err, FCT_E_PROTO, "IMAP protocol error: %s: \"%s%s\"", what, q,
	                   p->line.len >= sizeof q ? "..." : "");
}

/* Copies n bytes (plus a NUL) into the arena; returns the offset or NOSTR. */
static size_t arena_put(struct imap_parser *p, const char *s, size_t n, struct fct_err *err)
{
	size_t off = p->arena.len;

	if (n > p->lim.max_resp || p->total + n + 1 > p->lim.max_resp) {
		perr(p, err, "response too large");
		return NOSTR;
	}
	p->total += n + 1;
	fct_buf_append(&p->arena, s, n);
	fct_buf_putc(&p->arena, '\0');
	return off;
}

static size_t arena_put_upper(struct imap_parser *p, const char *s, size_t n, struct fct_err *err)
{
	size_t off = arena_put(p, s, n, err), i;

	if (off != NOSTR)
		for (i = 0; i < n; i++)
			p->arena.data[off + i] = (char)toupper((unsigned char)p->arena.data[off + i]);
	return off;
}

static struct imap_tok *push_tok(struct imap_parser *p, enum imap_tok_type type, size_t off,
                                 size_t len, struct fct_err *err)
{
	struct imap_tok *t;

	if (p->ntok >= p->lim.max_items) {
		perr(p, err, "too many items in one response");
		return NULL;
	}
	if (p->ntok == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		if (p->cap > p->lim.max_items)
			p->cap = p->lim.max_items;
		p->tok = fct_xrealloc(p->tok, p->cap * sizeof *p->tok);
		p->off = fct_xrealloc(p->off, p->cap * sizeof *p->off);
	}
	t = &p->tok[p->ntok];
	memset(t, 0, sizeof *t);
	t->type = type;
	t->len = len;
	t->next = type == IMAP_TOK_LIST ? 0 : p->ntok + 1;
	p->off[p->ntok] = off;
	p->ntok++;
	return t;
}

static const char *astr(const struct imap_parser *p, size_t off)
{
	return off == NOSTR ? NULL : p->arena.data + off;
}

/* Points the public view at the arena, which may have moved. */
static void fixup(struct imap_parser *p)
{
	struct imap_resp *r = &p->resp;
	size_t i;

	for (i = 0; i < p->ntok; i++)
		p->tok[i].s = astr(p, p->off[i]);
	r->tag = astr(p, p->tag_off);
	r->code = astr(p, p->code_off);
	r->code_arg = astr(p, p->arg_off);
	r->text = astr(p, p->text_off);
	r->name = astr(p, p->name_off);
	r->tok = p->tok;
	r->ntok = p->ntok;
}

static size_t word_end(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != ' ')
		i++;
	return i;
}

static int all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Digits to a number; -1 on overflow or no digit. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!all_digits(s, n))
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* resp-text: ["[" code [SP args] "]" SP] text.  A code without its ']' is
 * kept as plain text rather than refused: it is only for humans then. */
static int resp_text(struct imap_parser *p, const char *s, size_t len, size_t i,
                     struct fct_err *err)
{
	while (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '[') {
		const char *close = memchr(s + i, ']', len - i);
		if (close) {
			size_t k = (size_t)(close - s), j = i + 1;
			while (j < k && s[j] != ' ')
				j++;
			p->code_off = arena_put_upper(p, s + i + 1, j - i - 1, err);
			if (p->code_off == NOSTR)
				return -1;
			if (j < k)
				j++;
			p->arg_off = arena_put(p, s + j, k - j, err);
			if (p->arg_off == NOSTR)
				return -1;
			i = k + 1;
			while (i < len && s[i] == ' ')
				i++;
		}
	}
	p->text_off = arena_put(p, s + i, len - i, err);
	return p->text_off == NOSTR ? -1 : 0;
}

static enum imap_status status_of(const char *w, size_t n)
{
	static const struct {
		const char *name;
		enum imap_status st;
	} tab[] = {{"OK", IMAP_ST_OK},
	           {"NO", IMAP_ST_NO},
	           {"BAD", IMAP_ST_BAD},
	           {"BYE", IMAP_ST_BYE},
	           {"PREAUTH", IMAP_ST_PREAUTH}};
	size_t k;

	for (k = 0; k < sizeof tab / sizeof tab[0]; k++)
		if (strlen(tab[k].name) == n && strncasecmp(w, tab[k].name, n) == 0)
			return tab[k].st;
	return IMAP_ST_NONE;
}

/* First segment: tag, status or data keyword.  Returns 1 if the response
 * is complete (status, continuation), 0 to tokenize from *pos, -1. */
static int header(struct imap_parser *p, const char *s, size_t len, size_t *pos,
                  struct fct_err *err)
{
	size_t i = 0, e;
	enum imap_status st;

	imap_sanitize(s, len, p->resp.raw, sizeof p->resp.raw);
	if (len > 0 && s[0] == '+') {
		p->resp.kind = IMAP_RESP_CONT;
		i = (len > 1 && s[1] == ' ') ? 2 : 1;
		p->text_off = arena_put(p, s + i, len - i, err);
		return p->text_off == NOSTR ? -1 : 1;
	}
	e = word_end(s, len, 0);
	if (e == 0)
		return perr(p, err, "response without tag");
	if (e == 1 && s[0] == '*') {
		p->resp.kind = IMAP_RESP_UNTAGGED;
	} else {
		p->resp.kind = IMAP_RESP_TAGGED;
		p->tag_off = arena_put(p, s, e, err);
		if (p->tag_off == NOSTR)
			return -1;
	}
	i = e < len ? e + 1 : e;
	e = word_end(s, len, i);
	if (p->resp.kind == IMAP_RESP_UNTAGGED && all_digits(s + i, e - i)) {
		uint64_t v;
		if (parse_u64(s + i, e - i, &v) < 0 || v > UINT32_MAX)
			return perr(p, err, "message number out of range");
		p->resp.has_num = 1;
		p->resp.num = (uint32_t)v;
		i = e < len ? e + 1 : e;
		e = word_end(s, len, i);
	}
	st = p->resp.has_num ? IMAP_ST_NONE : status_of(s + i, e - i);
	if (st != IMAP_ST_NONE) {
		p->resp.status = st;
		return resp_text(p, s, len, e, err) < 0 ? -1 : 1;
	}
	if (p->resp.kind == IMAP_RESP_TAGGED)
		return perr(p, err, "tagged response without OK, NO or BAD");
	if (e == i)
		return perr(p, err, "untagged response without keyword");
	p->name_off = arena_put_upper(p, s + i, e - i, err);
	if (p->name_off == NOSTR)
		return -1;
	*pos = e;
	return 0;
}

static int quoted(struct imap_parser *p, const char *s, size_t len, size_t *pos,
                  struct fct_err *err)
{
	size_t i = *pos + 1, start = p->arena.len, n;
	struct imap_tok *t;

	for (;;) {
		size_t j = i;
		while (j < len && s[j] != '"' && s[j] != '\\' && s[j] != '\0')
			j++;
		if (j >= len)
			return perr(p, err, "unterminated quoted string");
		if (s[j] == '\0')
			return perr(p, err, "NUL in quoted string");
		if (p->total + (j - i) + 1 > p->lim.max_resp)
			return perr(p, err, "response too large");
		fct_buf_append(&p->arena, s + i, j - i);
		p->total += j - i;
		if (s[j] == '"') {
			i = j + 1;
			break;
		}
		if (j + 1 >= len)
			return perr(p, err, "unterminated quoted string");
		if (s[j + 1] == '\0')
			return perr(p, err, "NUL in quoted string");
		fct_buf_putc(&p->arena, s[j + 1]);
		p->total++;
		i = j + 2;
	}
	n = p->arena.len - start;
	fct_buf_putc(&p->arena, '\0');
	p->total++;
	t = push_tok(p, IMAP_TOK_QUOTED, start, n, err);
	if (!t)
		return -1;
	*pos = i;
	return 0;
}

static int atom(struct imap_parser *p, const char *s, size_t len, size_t *pos, struct fct_err *err)
{
	size_t i = *pos, j = i, off;
	struct imap_tok *t;

	while (j < len) {
		unsigned char c = (unsigned char)s[j];
		if (c == '[') {
			/* A section: "BODY[HEADER.FIELDS (MESSAGE-ID)]" is one atom. */
			size_t k = j + 1;
			while (k < len && s[k] != ']' && (unsigned char)s[k] >= 0x20 && s[k] != 0x7f)
				k++;
			j = (k < len && s[k] == ']') ? k + 1 : j + 1;
			continue;
		}
		if (c == ' ' || c == '(' || c == ')' || c == '"' || c == '{' || c < 0x20 || c == 0x7f)
			break;
		j++;
	}
	if (j == i)
		return perr(p, err, "unexpected character");
	if (j - i == 3 && strncasecmp(s + i, "NIL", 3) == 0) {
		if (!push_tok(p, IMAP_TOK_NIL, NOSTR, 0, err))
			return -1;
	} else {
		off = arena_put(p, s + i, j - i, err);
		if (off == NOSTR || !(t = push_tok(p, IMAP_TOK_ATOM, off, j - i, err)))
			return -1;
		t->is_num = parse_u64(s + i, j - i, &t->num) == 0;
	}
	*pos = j;
	return 0;
}

static int finish_literal(struct imap_parser *p, struct fct_err *err)
{
	struct imap_tok *t;

	if (p->lit_stream) {
		t = push_tok(p, IMAP_TOK_STREAMED, NOSTR, 0, err);
	} else {
		fct_buf_putc(&p->arena, '\0');
		p->total++;
		t = push_tok(p, IMAP_TOK_LITERAL, p->lit_off, (size_t)p->lit_size, err);
	}
	if (!t)
		return -1;
	t->num = p->lit_size;
	p->st = ST_LINE;
	return 0;
}

/* "{n}" or "~{n}" (also "{n+}") ending the segment: sets up the literal. */
static int literal(struct imap_parser *p, const char *s, size_t len, size_t i, struct fct_err *err)
{
	size_t j;
	uint64_t n;
	int r = 0;

	if (s[i] == '~')
		i++;
	j = ++i;
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++;
	if (parse_u64(s + i, j - i, &n) < 0)
		return perr(p, err, "bad literal size");
	if (j < len && s[j] == '+')
		j++;
	if (j + 1 != len || s[j] != '}')
		return perr(p, err, "literal announcement not at end of line");
	if (n > p->lim.max_literal)
		return perr(p, err, "literal too large");
	if (p->hooks.lit_begin) {
		fixup(p);
		r = p->hooks.lit_begin(p->hooks.ctx, &p->resp, n, err);
		if (r < 0)
			return -1;
	}
	if (!r && (n > p->lim.max_buffered_literal || p->total + n + 1 > p->lim.max_resp))
		return perr(p, err, "literal too large to buffer");
	p->lit_stream = r > 0;
	p->lit_size = p->lit_left = n;
	p->lit_off = p->arena.len;
	if (!p->lit_stream)
		p->total += (size_t)n;
	if (n == 0)
		return finish_literal(p, err);
	p->st = ST_LITERAL;
	return 0;
}

/* Returns 1 if the response is complete, 0 if a literal follows, -1. */
static int tokens(struct imap_parser *p, const char *s, size_t len, size_t i, struct fct_err *err)
{
	for (;;) {
		unsigned char c;
		while (i < len && s[i] == ' ')
			i++;
		if (i >= len)
			break;
		c = (unsigned char)s[i];
		if (c == '(') {
			if (p->depth >= p->lim.max_depth)
				return perr(p, err, "lists nested too deeply");
			if (!push_tok(p, IMAP_TOK_LIST, NOSTR, 0, err))
				return -1;
			p->stack[p->depth++] = p->ntok - 1;
			i++;
		} else if (c == ')') {
			if (p->depth == 0)
				return perr(p, err, "unbalanced ')'");
			p->tok[p->stack[--p->depth]].next = p->ntok;
			i++;
		} else if (c == '"') {
			if (quoted(p, s, len, &i, err) < 0)
				return -1;
		} else if (c == '{' || (c == '~' && i + 1 < len && s[i + 1] == '{')) {
			return literal(p, s, len, i, err);
		} else if (atom(p, s, len, &i, err) < 0) {
			return -1;
		}
	}
	if (p->depth > 0)
		return perr(p, err, "unterminated list");
	return 1;
}

/* A complete segment is in p->line.  Returns 1 complete, 0 more to come
 * (literal or ignored empty line), -1. */
static int segment(struct imap_parser *p, struct fct_err *err)
{
	const char *s = p->line.data;
	size_t len = p->line.len, i = 0;
	int r;

	if (!p->header_done && len == 0)
		return 0; /* stray empty line between responses: harmless */
	if (p->total + len + 2 > p->lim.max_resp)
		return perr(p, err, "response too large");
	p->total += len + 2;
	if (!p->header_done) {
		r = header(p, s, len, &i, err);
		if (r != 0)
			return r;
		p->header_done = 1;
	}
	return tokens(p, s, len, i, err);
}

static int literal_bytes(struct imap_parser *p, const char *buf, size_t n, struct fct_err *err)
{
	if (p->lit_stream) {
		if (n && p->hooks.lit_data && p->hooks.lit_data(p->hooks.ctx, buf, n, err) < 0)
			return -1;
	} else {
		fct_buf_append(&p->arena, buf, n);
	}
	p->lit_left -= n;
	if (p->lit_left == 0)
		return finish_literal(p, err);
	return 0;
}

int imap_parse_feed(struct imap_parser *p, const char *buf, size_t n, size_t *used,
                    struct fct_err *err)
{
	size_t i = 0;

	if (p->st == ST_DONE)
		reset_response(p);
	while (i < n) {
		const char *nl;
		size_t k;
		int r;

		if (p->st == ST_LITERAL) {
			k = n - i < p->lit_left ? n - i : (size_t)p->lit_left;
			if (literal_bytes(p, buf + i, k, err) < 0)
				return -1;
			i += k;
			continue;
		}
		nl = memchr(buf + i, '\n', n - i);
		k = nl ? (size_t)(nl - (buf + i)) : n - i;
		if (p->line.len + k > p->lim.max_line + 1) {
			fct_buf_append(&p->line, buf + i, k < 100 ? k : 100);
			return perr(p, err, "line too long");
		}
		fct_buf_append(&p->line, buf + i, k);
		i += k;
		if (!nl)
			break;
		i++;
		if (p->line.len > 0 && p->line.data[p->line.len - 1] == '\r')
			p->line.data[--p->line.len] = '\0';
		if (p->line.len > p->lim.max_line)
			return perr(p, err, "line too long");
		r = segment(p, err);
		fct_buf_reset(&p->line);
		if (r < 0)
			return -1;
		if (r == 1) {
			p->st = ST_DONE;
			fixup(p);
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}

const struct imap_resp *imap_parse_resp(const struct imap_parser *p)
{
	return &p->resp;
}

int imap_parse_between(const struct imap_parser *p)
{
	return p->st == ST_DONE ||
	       (p->st == ST_LINE && !p->header_done && p->line.len == 0 && p->ntok == 0);
}

uint64_t imap_parse_literal_left(const struct imap_parser *p)
{
	return p->st == ST_LITERAL ? p->lit_left : 0;
}

int imap_tok_is(const struct imap_tok *t, const char *s)
{
	return t->type == IMAP_TOK_ATOM && strlen(s) == t->len && strcasecmp(t->s, s) == 0;
}

int imap_tok_is_str(const struct imap_tok *t)
{
	return t->type == IMAP_TOK_ATOM || t->type == IMAP_TOK_QUOTED || t->type == IMAP_TOK_LITERAL;
}

int imap_tok_u64(const struct imap_tok *t, uint64_t *out)
{
	if (t->type != IMAP_TOK_ATOM || !t->is_num)
		return -1;
	*out = t->num;
	return 0;
}

int imap_tok_u32(const struct imap_tok *t, uint32_t *out)
{
	if (t->type != IMAP_TOK_ATOM || !t->is_num || t->num > UINT32_MAX)
		return -1;
	*out = (uint32_t)t->num;
	return 0;
}

static int seq_num(const char *s, size_t n, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, n, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int imap_seqset_each(const char *s, size_t n,
                     int (*cb)(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err),
                     void *ctx, struct fct_err *err)
{
	size_t i = 0;

	if (n == 0)
		return fct_err_set(err, FCT_E_PROTO, "IMAP protocol error: empty sequence set");
	while (i <= n) {
		size_t e = i, c;
		uint32_t lo, hi;
		int r;

		while (e < n && s[e] != ',')
			e++;
		for (c = i; c < e && s[c] != ':'; c++)
			;
		if (seq_num(s + i, c - i, &lo) < 0 ||
		    (c < e ? seq_num(s + c + 1, e - c - 1, &hi) : (hi = lo, 0)) < 0) {
			char q[80];
			imap_sanitize(s, n, q, sizeof q);
			return fct_err_set(err, FCT_E_PROTO, "IMAP protocol error: bad sequence set \"%s\"",
			                   q);
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		r = cb(ctx, lo, hi, err);
		if (r)
			return r;
		i = e + 1;
	}
	return 0;
}
