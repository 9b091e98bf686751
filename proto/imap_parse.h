/* Incremental parser for IMAP server responses (RFC 9051 / RFC 3501).
 *
 * Push model: the caller feeds whatever bytes arrived; the parser consumes
 * them and says when one complete response is ready.  It keeps only the
 * current response, within hard limits (line length, total size, number of
 * tokens, list depth, literal size); exceeding one is FCT_E_PROTO quoting
 * the server's text, never an unbounded allocation.
 *
 * Literals are buffered (up to limits.max_buffered_literal) unless the
 * lit_begin hook asks for streaming: then the bytes go to lit_data in pieces
 * straight from the caller's buffer and the token records only the size.
 * That is how BODY[] reaches a Maildir file without ever being whole in
 * memory.
 *
 * Grammar handled: tagged and untagged status responses (OK, NO, BAD, BYE,
 * PREAUTH) with resp-text-code ("[UIDNEXT 5]") and free text, continuation
 * requests, and untagged data ("* 5 FETCH (...)", "* LIST ...") tokenized
 * into atoms, numbers, quoted strings, literals (also literal8 ~{n}), NIL
 * and nested lists.  Atoms with sections ("BODY[HEADER.FIELDS (X)]<0>") are
 * one token.  Interpretation of the tokens is the session's business.
 *
 * Ownership: struct imap_parser owns every byte a struct imap_resp points
 * to; those stay valid until the next imap_parse_feed() or free. */
#ifndef FACTEUR_IMAP_PARSE_H
#define FACTEUR_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "sync/util.h"

struct imap_parse_limits {
	size_t max_line;             /* one line segment, without CRLF */
	size_t max_resp;             /* all segments and buffered literals of a response */
	size_t max_items;            /* tokens in one response */
	unsigned max_depth;          /* list nesting */
	size_t max_buffered_literal; /* larger literals must be streamed */
	uint64_t max_literal;        /* any literal, streamed or not */
};

/* 1 MiB lines, 8 MiB responses, 200000 tokens, depth 64, 1 MiB buffered
 * literals, 4 GiB literals. */
void imap_parse_default_limits(struct imap_parse_limits *l);

enum imap_tok_type {
	IMAP_TOK_ATOM,     /* also numbers (is_num set) and flags like \Seen */
	IMAP_TOK_QUOTED,   /* unescaped contents */
	IMAP_TOK_LITERAL,  /* buffered literal contents (may hold NULs) */
	IMAP_TOK_STREAMED, /* literal handed to lit_data; lit_size bytes */
	IMAP_TOK_NIL,
	IMAP_TOK_LIST,     /* children are the tokens up to `next` */
};

struct imap_tok {
	enum imap_tok_type type;
	const char *s;     /* NUL-terminated contents (ATOM, QUOTED, LITERAL), else NULL */
	size_t len;
	size_t next;       /* index of the next sibling (for LIST: past its children);
	                    * 0 while a list is still open (seen from lit_begin) */
	int is_num;        /* ATOM made only of digits, fitting 64 bits */
	uint64_t num;      /* value if is_num; size for LITERAL/STREAMED */
};

enum imap_resp_kind { IMAP_RESP_UNTAGGED, IMAP_RESP_TAGGED, IMAP_RESP_CONT };
enum imap_status { IMAP_ST_NONE, IMAP_ST_OK, IMAP_ST_NO, IMAP_ST_BAD, IMAP_ST_BYE, IMAP_ST_PREAUTH };

struct imap_resp {
	enum imap_resp_kind kind;
	const char *tag;          /* tagged responses, else NULL */
	enum imap_status status;  /* status responses, else IMAP_ST_NONE */
	const char *code;         /* resp-text-code atom, upper case, or NULL */
	const char *code_arg;     /* raw text after the code atom up to ']', "" if none */
	const char *text;         /* status/continuation text ("" if none), else NULL */
	int has_num;              /* "* 5 EXISTS" */
	uint32_t num;
	const char *name;         /* untagged data keyword, upper case ("FETCH"), else NULL */
	const struct imap_tok *tok; /* data tokens after name */
	size_t ntok;
	char raw[256];            /* start of the first line, for messages and -D */
};

struct imap_parse_hooks {
	/* A literal of size bytes starts; r holds the tokens so far (the last
	 * one is the literal's key, e.g. "BODY[]"; open lists have next 0).
	 * Returns 1 to stream it to lit_data, 0 to buffer it, -1 with err. */
	int (*lit_begin)(void *ctx, const struct imap_resp *r, uint64_t size, struct fct_err *err);
	int (*lit_data)(void *ctx, const char *p, size_t n, struct fct_err *err);
	void *ctx;
};

struct imap_parser;

/* limits NULL: defaults.  Never fails (allocation aborts on OOM). */
struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits);
void imap_parser_free(struct imap_parser *p);
/* Hooks for the following literals (NULL: buffer all); copied. */
void imap_parser_set_hooks(struct imap_parser *p, const struct imap_parse_hooks *h);

/* Consumes bytes from buf[0..n).  Returns 1 when a response is complete
 * (*used bytes were consumed, the rest belongs to the next response), 0 when
 * all n bytes were consumed without completing one, -1 on a protocol error
 * or hook failure (err set; the parser must then be freed).  The response
 * from a return of 1 is in imap_parse_resp() until the next feed. */
int imap_parse_feed(struct imap_parser *p, const char *buf, size_t n, size_t *used,
                    struct fct_err *err);
const struct imap_resp *imap_parse_resp(const struct imap_parser *p);
/* 1 if no partial response is held (between responses). */
int imap_parse_between(const struct imap_parser *p);
/* Bytes of the current literal still expected (0 when reading lines): lets
 * a line-oriented reader hand over exactly the literal's bytes. */
uint64_t imap_parse_literal_left(const struct imap_parser *p);

/* Token helpers. */
/* 1 if t is an ATOM equal to s, case-insensitively. */
int imap_tok_is(const struct imap_tok *t, const char *s);
/* 1 if t is an ATOM, QUOTED or LITERAL (an astring or nstring value). */
int imap_tok_is_str(const struct imap_tok *t);
/* Number tokens: 0 and *out, or -1 if not a number or out of range. */
int imap_tok_u32(const struct imap_tok *t, uint32_t *out);
int imap_tok_u64(const struct imap_tok *t, uint64_t *out);

/* Walks a sequence set ("1:5,7,9:8"; ranges normalised lo <= hi; "*" is
 * rejected) calling cb per range.  Returns 0, -1 if malformed (err
 * FCT_E_PROTO) or what cb returned if nonzero. */
int imap_seqset_each(const char *s, size_t n,
                     int (*cb)(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err),
                     void *ctx, struct fct_err *err);

/* Copies at most outsz-1 bytes of s into out, replacing control and non-ASCII
 * bytes with '?', so server text is safe in one-line messages. */
void imap_sanitize(const char *s, size_t n, char *out, size_t outsz);

#endif
