/* POP3 client.  Reads through its own bounded buffer rather than the shared
 * wire engine because a RETR body has no length prefix: the end is found by
 * the dot-terminator state machine, and whatever follows it in the buffer
 * (pipelined answers) must stay there for the next response. */
#include "proto/pop3.h"
#include "proto/pop3_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* ---- body decoder ---------------------------------------------------- */

enum { D_BOL, D_BOL_DOT, D_BOL_DOT_CR, D_MID, D_CR, D_DONE };

void pop3_dec_init(struct pop3_dec *d)
{
	d->state = D_BOL;
	d->done = 0;
	d->out_bytes = 0;
	d->nout = 0;
}

static int dec_flush(struct pop3_dec *d, pop3_data_fn data, void *ctx, struct fct_err *err)
{
	if (d->nout == 0)
		return 0;
	d->out_bytes += d->nout;
	if (data && data(ctx, d->out, d->nout, err) != 0) {
		d->nout = 0;
		return -1;
	}
	d->nout = 0;
	return 0;
}

/* Applies one byte that sits inside a line (not at its beginning). */
static int dec_mid(struct pop3_dec *d, char c)
{
	if (c == '\r')
		return D_CR;
	d->out[d->nout++] = c;
	return c == '\n' ? D_BOL : D_MID;
}

/* One byte; the output buffer has room for at least two more bytes. */
static void dec_byte(struct pop3_dec *d, char c)
{
	switch (d->state) {
	case D_BOL:
		if (c == '.') {
			d->state = D_BOL_DOT;
			return;
		}
		d->state = dec_mid(d, c);
		return;
	case D_BOL_DOT:
		if (c == '\r')
			d->state = D_BOL_DOT_CR;
		else if (c == '\n')
			d->state = D_DONE; /* lenient ".\n" terminator */
		else
			d->state = dec_mid(d, c); /* stuffed dot dropped */
		return;
	case D_BOL_DOT_CR:
		if (c == '\n') {
			d->state = D_DONE;
			return;
		}
		d->out[d->nout++] = '\r'; /* ".\rX": dot dropped, lone CR kept */
		d->state = dec_mid(d, c);
		return;
	case D_CR:
		if (c == '\n') {
			d->out[d->nout++] = '\n';
			d->state = D_BOL;
			return;
		}
		d->out[d->nout++] = '\r';
		d->state = dec_mid(d, c);
		return;
	default:
		d->state = dec_mid(d, c);
		return;
	}
}

/* Fast paths for what nearly every byte is: inside a line, or a whole
 * line not starting with a dot; the state machine takes the rest.  Both
 * return the bytes consumed (0: none, use dec_byte), leaving two bytes of
 * room in d->out. */

/* A run free of CR and LF inside a line, copied as it is. */
static size_t dec_run(struct pop3_dec *d, const char *s, size_t n)
{
	size_t room = sizeof d->out - 2 - d->nout;
	const char *lf = memchr(s, '\n', n), *cr;

	if (lf)
		n = (size_t)(lf - s);
	cr = memchr(s, '\r', n);
	if (cr)
		n = (size_t)(cr - s);
	if (n > room)
		n = room;
	memcpy(d->out + d->nout, s, n);
	d->nout += n;
	return n;
}

/* A whole line at its beginning: its CRLF (or LF) becomes LF; a CR just
 * before is data, as in dec_byte. */
static size_t dec_line(struct pop3_dec *d, const char *s, size_t n)
{
	const char *lf = memchr(s, '\n', n);
	size_t len;

	if (!lf || s[0] == '.')
		return 0;
	len = (size_t)(lf - s);
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len + 1 > sizeof d->out - 2 - d->nout)
		return 0;
	memcpy(d->out + d->nout, s, len);
	d->out[d->nout + len] = '\n';
	d->nout += len + 1;
	return (size_t)(lf - s) + 1;
}

ssize_t pop3_dec_feed(struct pop3_dec *d, const char *in, size_t n, pop3_data_fn data,
                      void *ctx, struct fct_err *err)
{
	size_t i = 0, k;

	while (i < n && d->state != D_DONE) {
		if (d->nout + 2 > sizeof d->out && dec_flush(d, data, ctx, err) < 0)
			return -1;
		k = d->state == D_BOL ? dec_line(d, in + i, n - i)
		    : d->state == D_MID ? dec_run(d, in + i, n - i) : 0;
		if (k > 0) {
			i += k;
			continue;
		}
		dec_byte(d, in[i++]);
	}
	if (dec_flush(d, data, ctx, err) < 0)
		return -1;
	if (d->state == D_DONE)
		d->done = 1;
	return (ssize_t)i;
}

/* ---- reading and writing --------------------------------------------- */

/* Server text made safe for a one-line message. */
void pop3i_clean_text(char *dst, size_t dstsz, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < dstsz; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

static int fill(struct pop3 *p, struct fct_err *err)
{
	ssize_t r;

	if (p->rpos == p->rlen) {
		p->rpos = 0;
		p->rlen = 0;
	} else if (p->rpos > 0 && p->rlen == sizeof p->rbuf) {
		memmove(p->rbuf, p->rbuf + p->rpos, p->rlen - p->rpos);
		p->rlen -= p->rpos;
		p->rpos = 0;
	}
	r = xport_read(p->x, p->rbuf + p->rlen, sizeof p->rbuf - p->rlen, err);
	if (r < 0) {
		p->broken = 1;
		return -1;
	}
	if (r == 0) {
		p->broken = 1;
		return fct_err_set(err, FCT_E_IO, "POP3 server closed the connection");
	}
	p->rlen += (size_t)r;
	return 0;
}

/* One line without its CRLF (or LF), copied to p->line. */
int pop3i_get_line(struct pop3 *p, const char **line, struct fct_err *err)
{
	for (;;) {
		char *nl = memchr(p->rbuf + p->rpos, '\n', p->rlen - p->rpos);
		if (nl) {
			size_t len = (size_t)(nl - (p->rbuf + p->rpos));
			if (len > POP3_LINE_MAX) {
				p->broken = 1;
				return fct_err_set(err, FCT_E_PROTO, "POP3 server line longer than %d bytes",
				                   POP3_LINE_MAX);
			}
			memcpy(p->line, p->rbuf + p->rpos, len);
			if (len > 0 && p->line[len - 1] == '\r')
				len--;
			p->line[len] = '\0';
			p->rpos += (size_t)(nl - (p->rbuf + p->rpos)) + 1;
			if (p->log && p->log->debug) {
				char *safe = redact_text(&p->red, p->line);

				fct_log_debug(p->log, "pop3< %s", safe);
				free(safe);
			}
			*line = p->line;
			return 0;
		}
		if (p->rlen - p->rpos > POP3_LINE_MAX) {
			p->broken = 1;
			return fct_err_set(err, FCT_E_PROTO, "POP3 server line longer than %d bytes",
			                   POP3_LINE_MAX);
		}
		if (p->rpos > 0) {
			memmove(p->rbuf, p->rbuf + p->rpos, p->rlen - p->rpos);
			p->rlen -= p->rpos;
			p->rpos = 0;
		}
		if (fill(p, err) < 0)
			return -1;
	}
}

/* Queues one command; the part from secret_at on is masked in the log. */
static int send_cmd(struct pop3 *p, const char *cmd, size_t secret_at, struct fct_err *err)
{
	size_t len = strlen(cmd);

	if (secret_at < len) {
		redact_add_line(&p->red, cmd + secret_at, len - secret_at);
		fct_log_debug(p->log, "pop3> %.*s<secret masked>", (int)secret_at, cmd);
	}
	else
		fct_log_debug(p->log, "pop3> %s", cmd);
	if (xport_write(p->x, cmd, len, err) < 0 || xport_write(p->x, "\r\n", 2, err) < 0) {
		p->broken = 1;
		return -1;
	}
	return 0;
}

static int flush(struct pop3 *p, struct fct_err *err)
{
	if (xport_flush(p->x, err) < 0) {
		p->broken = 1;
		return -1;
	}
	return 0;
}

int pop3i_send_flush(struct pop3 *p, const char *cmd, size_t secret_at, struct fct_err *err)
{
	if (send_cmd(p, cmd, secret_at, err) < 0)
		return -1;
	return flush(p, err);
}

/* Reads a status line: 1 for +OK, 0 for -ERR, -1 on error.  *text is the
 * rest of the line (valid until the next read). */
int pop3i_get_status(struct pop3 *p, const char **text, struct fct_err *err)
{
	const char *l;
	char shown[120];

	if (pop3i_get_line(p, &l, err) < 0)
		return -1;
	if (strncmp(l, "+OK", 3) == 0 && (l[3] == '\0' || l[3] == ' ')) {
		*text = l[3] ? l + 4 : l + 3;
		return 1;
	}
	if (strncmp(l, "-ERR", 4) == 0 && (l[4] == '\0' || l[4] == ' ')) {
		*text = l[4] ? l + 5 : l + 4;
		return 0;
	}
	p->broken = 1;
	pop3i_clean_text(shown, sizeof shown, l);
	return fct_err_set(err, FCT_E_PROTO, "POP3 server sent a malformed status line: \"%s\"",
	                   shown);
}

/* One line of a multi-line answer, dot-unstuffed; *end set on ".". */
static int get_ml_line(struct pop3 *p, const char **line, int *end, struct fct_err *err)
{
	const char *l;

	if (pop3i_get_line(p, &l, err) < 0)
		return -1;
	*end = (strcmp(l, ".") == 0);
	*line = (l[0] == '.') ? l + 1 : l;
	return 0;
}

static int check_usable(struct pop3 *p, struct fct_err *err)
{
	if (p->broken)
		return fct_err_set(err, FCT_E_PROTO,
		                   "POP3 session unusable after an earlier error");
	return 0;
}

/* Turns a -ERR into an error, reading RFC 2449/3206 response codes. */
int pop3i_resp_error(struct fct_err *err, enum fct_err_kind kind, const char *what,
                      const char *text)
{
	static const struct {
		const char *code;
		enum fct_err_kind kind;
		int temporary;
		const char *meaning;
	} codes[] = {
		{"[AUTH]", FCT_E_AUTH, 0, "credentials refused"},
		{"[IN-USE]", FCT_E_STORE, 1, "mailbox in use by another session, try later"},
		{"[LOGIN-DELAY]", FCT_E_AUTH, 1,
		 "server requires a longer delay between logins, try later"},
		{"[SYS/TEMP]", FCT_E_STORE, 1, "temporary server failure, try later"},
		{"[SYS/PERM]", FCT_E_STORE, 0, "permanent server failure"},
	};
	char shown[300];
	size_t i;

	pop3i_clean_text(shown, sizeof shown, text);
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		if (strncasecmp(text, codes[i].code, strlen(codes[i].code)) == 0) {
			fct_err_set(err, codes[i].kind, "%s: %s (server: \"%s\")", what,
			            codes[i].meaning, shown);
			err->temporary = codes[i].temporary;
			return -1;
		}
	}
	return fct_err_set(err, kind, "%s (server: \"%s\")", what, shown);
}

/* ---- greeting, CAPA, STLS --------------------------------------------- */

static void parse_apop_ts(struct pop3 *p, const char *greet)
{
	const char *lt = strchr(greet, '<');
	const char *gt, *c;

	p->apop_ts[0] = '\0';
	if (!lt || !(gt = strchr(lt, '>')))
		return;
	if ((size_t)(gt - lt + 1) >= sizeof p->apop_ts)
		return;
	for (c = lt + 1; c < gt; c++)
		if (*c < 0x21 || *c > 0x7e)
			return;
	/* RFC 1939's timestamp is a msg-id: "<process-ID.clock@hostname>". */
	if (!memchr(lt, '@', (size_t)(gt - lt)))
		return;
	memcpy(p->apop_ts, lt, (size_t)(gt - lt + 1));
	p->apop_ts[gt - lt + 1] = '\0';
	p->caps.bits |= POP3_CAP_APOP;
}

static void capa_line(struct pop3 *p, const char *l)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kw[] = {
		{"UIDL", POP3_CAP_UIDL},       {"TOP", POP3_CAP_TOP},
		{"PIPELINING", POP3_CAP_PIPELINING}, {"USER", POP3_CAP_USER},
		{"RESP-CODES", POP3_CAP_RESP_CODES}, {"STLS", POP3_CAP_STLS},
		{"AUTH-RESP-CODE", POP3_CAP_AUTH_RESP_CODE}, {"SASL", POP3_CAP_SASL},
	};
	size_t wl = strcspn(l, " "), i;

	for (i = 0; i < sizeof kw / sizeof kw[0]; i++) {
		if (wl == strlen(kw[i].name) && strncasecmp(l, kw[i].name, wl) == 0)
			p->caps.bits |= kw[i].bit;
	}
	if (wl == 4 && strncasecmp(l, "SASL", 4) == 0 && l[4] == ' ')
		pop3i_clean_text(p->caps.sasl, sizeof p->caps.sasl, l + 5);
}

static int do_capa(struct pop3 *p, struct fct_err *err)
{
	const char *text, *l;
	int st, end = 0;

	p->caps.bits &= POP3_CAP_APOP;
	p->caps.sasl[0] = '\0';
	if (pop3i_send_flush(p, "CAPA", (size_t)-1, err) < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return 0; /* RFC 1939 server without CAPA: USER/PASS assumed */
	p->caps.bits |= POP3_CAP_CAPA;
	for (;;) {
		if (get_ml_line(p, &l, &end, err) < 0)
			return -1;
		if (end)
			return 0;
		capa_line(p, l);
	}
}

static int do_stls(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err)
{
	const char *text;
	int st;

	if ((p->caps.bits & POP3_CAP_CAPA) && !(p->caps.bits & POP3_CAP_STLS))
		return fct_err_set(err, FCT_E_TLS,
		                   "POP3 server %s does not offer STLS; not sending credentials "
		                   "without TLS", p->host);
	if (pop3i_send_flush(p, "STLS", (size_t)-1, err) < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0) {
		p->broken = 1;
		return pop3i_resp_error(err, FCT_E_TLS, "POP3 server refused STLS", text);
	}
	if (p->rlen > p->rpos) {
		p->broken = 1;
		return fct_err_set(err, FCT_E_PROTO,
		                   "POP3 server %s sent data after accepting STLS (possible "
		                   "injection); aborting", p->host);
	}
	if (xport_start_tls(p->x, &o->tls_opts, err) < 0) {
		p->broken = 1;
		return -1;
	}
	return do_capa(p, err);
}

/* ---- session ------------------------------------------------------------ */

static int session_start(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err)
{
	const char *text;
	int st;

	if ((st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return pop3i_resp_error(err, FCT_E_STORE, "POP3 server refused the connection", text);
	parse_apop_ts(p, text);
	if (do_capa(p, err) < 0)
		return -1;
	if (o->tls == POP3_TLS_STLS && do_stls(p, o, err) < 0)
		return -1;
	if (pop3i_auth(p, o, err) < 0)
		return -1;
	/* Some servers only list UIDL, PIPELINING... once logged in. */
	if (do_capa(p, err) < 0)
		return -1;
	if (p->caps.bits & POP3_CAP_PIPELINING)
		p->depth = o->pipeline_depth > 0 ? o->pipeline_depth : POP3_PIPELINE_DEFAULT;
	else
		p->depth = 1;
	if (p->depth > POP3_MAX_DEPTH)
		p->depth = POP3_MAX_DEPTH;
	return 0;
}

int pop3_connect_xport(struct pop3 **out, struct xport *x, const struct pop3_opts *o,
                       struct fct_err *err)
{
	struct pop3 *p = fct_xcalloc(1, sizeof *p);

	p->x = x;
	p->log = o->log;
	if (o->pass)
		redact_add(&p->red, o->pass, strlen(o->pass));
	p->tls = o->tls;
	p->host = o->net.host ? o->net.host : "(server)";
	if (session_start(p, o, err) < 0) {
		pop3_close(p);
		return -1;
	}
	p->host = "";
	*out = p;
	return 0;
}

int pop3_connect(struct pop3 **out, const struct pop3_opts *o, struct fct_err *err)
{
	struct xport *x = NULL;
	struct xport_opts net = o->net;

	if (!net.log)
		net.log = o->log;
	if (xport_open(&x, &net, err) < 0)
		return -1;
	if (o->tls == POP3_TLS_IMPLICIT && xport_start_tls(x, &o->tls_opts, err) < 0) {
		xport_close(x);
		return -1;
	}
	return pop3_connect_xport(out, x, o, err);
}

const struct pop3_caps *pop3_caps(const struct pop3 *p)
{
	return &p->caps;
}

const char *pop3_auth_used(const struct pop3 *p)
{
	return p->auth_used;
}

/* ---- listings ----------------------------------------------------------- */

/* Strict decimal: digits only, no sign, within max. */
static int parse_num(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (r > (max - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		r = r * 10 + (uint64_t)(s[i] - '0');
	}
	*v = r;
	return 0;
}

/* Splits "num rest" of a listing line; rest has trailing blanks removed. */
static int split_listing(const char *l, unsigned *num, const char **rest, size_t *restlen)
{
	size_t n = strcspn(l, " "), len;
	uint64_t v;

	if (parse_num(l, n, UINT_MAX, &v) < 0 || v == 0 || l[n] != ' ')
		return -1;
	*num = (unsigned)v;
	l += n;
	l += strspn(l, " ");
	len = strlen(l);
	while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t'))
		len--;
	*rest = l;
	*restlen = len;
	return 0;
}

/* Sends cmd and expects +OK for a multi-line answer. */
static int listing_start(struct pop3 *p, const char *cmd, struct fct_err *err)
{
	const char *text;
	int st;

	if (check_usable(p, err) < 0)
		return -1;
	if (pop3i_send_flush(p, cmd, (size_t)-1, err) < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return pop3i_resp_error(err, FCT_E_STORE, cmd, text);
	return 0;
}

static int listing_bad(struct pop3 *p, const char *cmd, const char *why, const char *l,
                       struct fct_err *err)
{
	char shown[120];

	p->broken = 1;
	pop3i_clean_text(shown, sizeof shown, l);
	return fct_err_set(err, FCT_E_PROTO, "POP3 %s: %s: \"%s\"", cmd, why, shown);
}

/* The next capacity of a full listing array of cnt entries of size elem,
 * within POP3_LISTING_BUDGET; 0 with a clear error once that is spent. */
static size_t listing_cap(struct pop3 *p, const char *cmd, size_t cnt, size_t elem,
                          struct fct_err *err)
{
	size_t max = POP3_LISTING_BUDGET / elem;

	if (cnt >= max) {
		p->broken = 1;
		fct_err_set(err, FCT_E_PROTO, "POP3 %s: more than %zu messages listed (over %zu "
		            "MiB); refusing the listing", cmd, max, POP3_LISTING_BUDGET >> 20);
		return 0;
	}
	return cnt == 0 ? 64 : 2 * cnt < max ? 2 * cnt : max;
}

static int cmp_uidl_num(const void *a, const void *b)
{
	const struct pop3_uidl_ent *x = a, *y = b;

	return (x->num > y->num) - (x->num < y->num);
}

static int cmp_uidl_str(const void *a, const void *b)
{
	const struct pop3_uidl_ent *const *x = a, *const *y = b;

	return strcmp((*x)->uidl, (*y)->uidl);
}

/* Sorted by number; numbers and unique-ids both unique. */
static int uidl_check(struct pop3_uidl_ent *v, size_t n, struct fct_err *err)
{
	const struct pop3_uidl_ent **idx;
	size_t i;
	int rc = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_uidl_num);
	for (i = 1; i < n; i++)
		if (v[i].num == v[i - 1].num)
			return fct_err_set(err, FCT_E_PROTO, "POP3 UIDL: message %u listed twice",
			                   v[i].num);
	idx = fct_xcalloc(n ? n : 1, sizeof *idx);
	for (i = 0; i < n; i++)
		idx[i] = &v[i];
	qsort(idx, n, sizeof *idx, cmp_uidl_str);
	for (i = 1; i < n && rc == 0; i++)
		if (strcmp(idx[i]->uidl, idx[i - 1]->uidl) == 0)
			rc = fct_err_set(err, FCT_E_PROTO,
			                 "POP3 UIDL: messages %u and %u share the unique-id \"%s\"",
			                 idx[i - 1]->num, idx[i]->num, idx[i]->uidl);
	free(idx);
	return rc;
}

static int uidl_valid(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > POP3_UIDL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int pop3_uidl(struct pop3 *p, struct pop3_uidl_ent **out, size_t *n, struct fct_err *err)
{
	struct pop3_uidl_ent *v = NULL;
	size_t cnt = 0, cap = 0, rl;
	const char *l, *rest;
	unsigned num;
	int end;

	if (listing_start(p, "UIDL", err) < 0)
		return -1;
	for (;;) {
		if (get_ml_line(p, &l, &end, err) < 0)
			goto fail;
		if (end)
			break;
		if (split_listing(l, &num, &rest, &rl) < 0) {
			listing_bad(p, "UIDL", "malformed line", l, err);
			goto fail;
		}
		if (!uidl_valid(rest, rl) || rest[rl] != '\0') {
			listing_bad(p, "UIDL", "invalid unique-id (RFC 1939: 1-70 characters "
			            "0x21-0x7E)", l, err);
			goto fail;
		}
		if (cnt == cap) {
			if ((cap = listing_cap(p, "UIDL", cnt, sizeof *v, err)) == 0)
				goto fail;
			v = fct_xrealloc(v, cap * sizeof *v);
		}
		v[cnt].num = num;
		memcpy(v[cnt].uidl, rest, rl);
		v[cnt].uidl[rl] = '\0';
		cnt++;
	}
	if (uidl_check(v, cnt, err) < 0)
		goto fail;
	*out = v;
	*n = cnt;
	return 0;
fail:
	free(v);
	return -1;
}

static int cmp_list_num(const void *a, const void *b)
{
	const struct pop3_list_ent *x = a, *y = b;

	return (x->num > y->num) - (x->num < y->num);
}

int pop3_list(struct pop3 *p, struct pop3_list_ent **out, size_t *n, struct fct_err *err)
{
	struct pop3_list_ent *v = NULL;
	size_t cnt = 0, cap = 0, rl, i;
	const char *l, *rest;
	unsigned num;
	uint64_t size;
	int end;

	if (listing_start(p, "LIST", err) < 0)
		return -1;
	for (;;) {
		if (get_ml_line(p, &l, &end, err) < 0)
			goto fail;
		if (end)
			break;
		/* RFC 1939 allows more after the size; only the size matters. */
		if (split_listing(l, &num, &rest, &rl) < 0 ||
		    parse_num(rest, strcspn(rest, " "), UINT64_MAX, &size) < 0) {
			listing_bad(p, "LIST", "malformed line", l, err);
			goto fail;
		}
		if (cnt == cap) {
			if ((cap = listing_cap(p, "LIST", cnt, sizeof *v, err)) == 0)
				goto fail;
			v = fct_xrealloc(v, cap * sizeof *v);
		}
		v[cnt].num = num;
		v[cnt].size = size;
		cnt++;
	}
	if (cnt > 0)
		qsort(v, cnt, sizeof *v, cmp_list_num);
	for (i = 1; i < cnt; i++) {
		if (v[i].num == v[i - 1].num) {
			fct_err_set(err, FCT_E_PROTO, "POP3 LIST: message %u listed twice", v[i].num);
			goto fail;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
fail:
	free(v);
	return -1;
}

/* ---- RETR, DELE, QUIT --------------------------------------------------- */

static int send_num(struct pop3 *p, const char *verb, unsigned num, struct fct_err *err)
{
	char cmd[32];

	snprintf(cmd, sizeof cmd, "%s %u", verb, num);
	return send_cmd(p, cmd, (size_t)-1, err);
}

/* Keeps the pipeline fed: once at most half of the window is in flight,
 * sends commands up to the full window and flushes them together, so that
 * commands leave in groups rather than one packet per answer read. */
static int top_up(struct pop3 *p, const char *verb, const unsigned *nums, size_t n,
                  size_t done, size_t *sent, struct fct_err *err)
{
	size_t depth = (size_t)p->depth;

	if (*sent == n || *sent - done > depth / 2)
		return 0;
	while (*sent < n && *sent - done < depth) {
		if (send_num(p, verb, nums[*sent], err) < 0)
			return -1;
		(*sent)++;
	}
	return flush(p, err);
}

/* Streams one multi-line body from the read buffer through the decoder. */
static int read_body(struct pop3 *p, pop3_data_fn data, void *ctx, struct fct_err *err)
{
	ssize_t c;

	pop3_dec_init(&p->dec);
	for (;;) {
		if (p->rpos == p->rlen && fill(p, err) < 0)
			return -1;
		c = pop3_dec_feed(&p->dec, p->rbuf + p->rpos, p->rlen - p->rpos, data, ctx, err);
		if (c < 0) {
			p->broken = 1;
			return -1;
		}
		p->rpos += (size_t)c;
		if (p->dec.done)
			return 0;
	}
}

/* Reads the answers still in flight after a failure so the session stays
 * usable; bodies are discarded. */
static int drain(struct pop3 *p, size_t inflight, struct fct_err *err)
{
	const char *text;
	int st;

	while (inflight-- > 0) {
		if ((st = pop3i_get_status(p, &text, err)) < 0)
			return -1;
		if (st == 1 && read_body(p, NULL, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* The answer to one RETR: 1 body delivered, 0 refused and tolerated. */
static int retr_one(struct pop3 *p, unsigned num, const struct pop3_sink *sink,
                    struct fct_err *err)
{
	const char *text;
	char what[64];
	int st;

	if ((st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0) {
		if (sink->refused) {
			char shown[300];
			pop3i_clean_text(shown, sizeof shown, text);
			return sink->refused(sink->ctx, num, shown, err) ? -1 : 0;
		}
		snprintf(what, sizeof what, "POP3 RETR %u refused", num);
		pop3i_resp_error(err, FCT_E_MSG, what, text);
		err->kind = FCT_E_MSG; /* even with a response code: the session goes on */
		return -1;
	}
	if (sink->begin && sink->begin(sink->ctx, num, err) != 0)
		return -1;
	if (read_body(p, sink->data, sink->ctx, err) < 0)
		return -1;
	if (sink->end && sink->end(sink->ctx, num, err) != 0)
		return -1;
	return 1;
}

int pop3_retr_many(struct pop3 *p, const unsigned *nums, size_t n,
                   const struct pop3_sink *sink, struct fct_err *err)
{
	size_t sent = 0, done = 0;

	if (check_usable(p, err) < 0)
		return -1;
	while (done < n) {
		if (top_up(p, "RETR", nums, n, done, &sent, err) < 0)
			return -1;
		if (retr_one(p, nums[done], sink, err) < 0) {
			/* A refused message without a handler leaves the session
			 * usable; a failing sink or connection does not. */
			if (!p->broken && err->kind == FCT_E_MSG) {
				struct fct_err e2;
				if (drain(p, sent - done - 1, &e2) < 0)
					p->broken = 1;
			} else {
				p->broken = 1;
			}
			return -1;
		}
		done++;
	}
	return 0;
}

int pop3_dele(struct pop3 *p, const unsigned *nums, size_t n, size_t *ndeleted,
              struct fct_err *err)
{
	size_t sent = 0, done = 0, ok = 0;
	unsigned first_bad = 0;
	char first_text[200] = "";
	const char *text;
	int st;

	if (check_usable(p, err) < 0)
		return -1;
	while (done < n) {
		if (top_up(p, "DELE", nums, n, done, &sent, err) < 0 ||
		    (st = pop3i_get_status(p, &text, err)) < 0)
			return -1;
		if (st == 1) {
			ok++;
		} else if (first_bad == 0) {
			first_bad = nums[done];
			pop3i_clean_text(first_text, sizeof first_text, text);
		}
		done++;
	}
	if (ndeleted)
		*ndeleted = ok;
	if (first_bad) {
		char what[64];
		snprintf(what, sizeof what, "POP3 DELE %u refused", first_bad);
		pop3i_resp_error(err, FCT_E_MSG, what, first_text);
		err->kind = FCT_E_MSG; /* even with a response code: the session goes on */
		return -1;
	}
	return 0;
}

int pop3_rset(struct pop3 *p, struct fct_err *err)
{
	const char *text;
	int st;

	if (check_usable(p, err) < 0)
		return -1;
	if (pop3i_send_flush(p, "RSET", (size_t)-1, err) < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return pop3i_resp_error(err, FCT_E_STORE, "POP3 RSET refused", text);
	return 0;
}

int pop3_quit(struct pop3 *p, struct fct_err *err)
{
	const char *text;
	int st;

	if (check_usable(p, err) < 0)
		return -1;
	p->broken = 1; /* nothing may follow QUIT */
	if (pop3i_send_flush(p, "QUIT", (size_t)-1, err) < 0 || (st = pop3i_get_status(p, &text, err)) < 0) {
		fct_err_prefix(err, "POP3 QUIT unanswered, deletions may not have happened");
		err->kind = FCT_E_STORE;
		return -1;
	}
	if (st == 0)
		return pop3i_resp_error(err, FCT_E_STORE,
		                  "POP3 server failed to remove the deleted messages at QUIT", text);
	return 0;
}

void pop3_close(struct pop3 *p)
{
	if (!p)
		return;
	xport_close(p->x);
	explicit_bzero(p->rbuf, sizeof p->rbuf);
	redact_free(&p->red);
	free(p);
}
