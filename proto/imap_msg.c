/* IMAP message commands on the selected mailbox: metadata and body FETCH,
 * STORE, EXPUNGE, COPY and MOVE (APPEND: imap_append.c); plus the helpers they share
 * (FETCH items, dates, Message-ID, sequence sets). */
#include "proto/imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- FETCH items ---- */

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int imap_parse_date(const char *s, int64_t *out)
{
	int day, year, hh, mm, ss, zh, zm, mon = -1, k;
	const char *p = s;

	if (*p == ' ')
		p++;
	/* "d-Mon-yyyy hh:mm:ss +zzzz" is 25 bytes, with a two-digit day 26. */
	if (strlen(p) != 25 && strlen(p) != 26)
		return -1;
	if (p[1] == '-') {
		if (digits(p, 1, &day) < 0)
			return -1;
		p += 2;
	} else {
		if (digits(p, 2, &day) < 0 || p[2] != '-')
			return -1;
		p += 3;
	}
	for (k = 0; k < 12; k++)
		if (strncasecmp(p, months[k], 3) == 0)
			mon = k;
	if (mon < 0 || p[3] != '-' || digits(p + 4, 4, &year) < 0 || p[8] != ' ')
		return -1;
	p += 9;
	if (digits(p, 2, &hh) < 0 || p[2] != ':' || digits(p + 3, 2, &mm) < 0 || p[5] != ':' ||
	    digits(p + 6, 2, &ss) < 0 || p[8] != ' ' || (p[9] != '+' && p[9] != '-') ||
	    digits(p + 10, 2, &zh) < 0 || digits(p + 12, 2, &zm) < 0 || p[14] != '\0')
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	*out = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400 + hh * 3600 + mm * 60 +
	       ss - (p[9] == '-' ? -1 : 1) * (zh * 3600 + zm * 60);
	return 0;
}

void imap_format_date(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, outsz, "01-Jan-1970 00:00:00 +0000");
		return;
	}
	snprintf(out, outsz, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int imap_extract_msgid(const char *h, size_t n, struct fct_buf *out)
{
	size_t i = 0;

	fct_buf_reset(out);
	while (i < n) {
		size_t e = i;
		while (e < n && h[e] != '\n')
			e++;
		if (e - i > 11 && strncasecmp(h + i, "message-id:", 11) == 0) {
			/* The value, with folded continuation lines. */
			size_t v = i + 11, end = e;
			const char *lt, *gt;
			while (end + 1 < n && (h[end + 1] == ' ' || h[end + 1] == '\t')) {
				end++;
				while (end < n && h[end] != '\n')
					end++;
			}
			lt = memchr(h + v, '<', end - v);
			gt = lt ? memchr(lt, '>', (size_t)(h + end - lt)) : NULL;
			if (!lt || !gt || gt - lt > 998)
				return -1;
			for (; lt <= gt; lt++)
				if (*lt != '\r' && *lt != '\n' && *lt != ' ' && *lt != '\t')
					fct_buf_putc(out, *lt);
			return 0;
		}
		i = e + 1;
	}
	return -1;
}

static int fetch_flags(const struct imap_tok *t, size_t i, struct imap_msg *m)
{
	size_t k;

	if (t[i].type != IMAP_TOK_LIST)
		return -1;
	for (k = i + 1; k < t[i].next; k = t[k].next) {
		unsigned f;
		if (t[k].type != IMAP_TOK_ATOM)
			return -1;
		f = fct_flag_from_imap(t[k].s, t[k].len);
		if (f)
			m->flags |= f;
		else if (!imap_tok_is(&t[k], "\\Recent"))
			m->other_flags_present = 1;
	}
	return 0;
}

/* One "KEY value" pair of a FETCH response; -1 if malformed. */
static int fetch_item(const struct imap_tok *t, size_t i, struct imap_msg *m, struct fct_buf *msgid,
                      struct fct_buf *emailid, const struct imap_tok **body)
{
	const struct imap_tok *v = &t[t[i].next];

	if (t[i].type != IMAP_TOK_ATOM)
		return -1;
	if (imap_tok_is(&t[i], "UID"))
		return imap_tok_u32(v, &m->uid) < 0 || m->uid == 0 ? -1 : 0;
	if (imap_tok_is(&t[i], "FLAGS")) {
		m->have |= IMAP_META_FLAGS;
		return fetch_flags(t, t[i].next, m);
	}
	if (imap_tok_is(&t[i], "RFC822.SIZE")) {
		m->have |= IMAP_META_SIZE;
		return imap_tok_u64(v, &m->size);
	}
	if (imap_tok_is(&t[i], "INTERNALDATE")) {
		m->have |= IMAP_META_DATE;
		return v->type == IMAP_TOK_QUOTED ? imap_parse_date(v->s, &m->internaldate) : -1;
	}
	if (imap_tok_is(&t[i], "MODSEQ")) {
		m->have |= IMAP_META_MODSEQ;
		return v->type == IMAP_TOK_LIST && v->next == t[i].next + 2 ? imap_tok_u64(v + 1, &m->modseq)
		                                                            : -1;
	}
	if (imap_tok_is(&t[i], "EMAILID")) {
		if (v->type != IMAP_TOK_LIST || v->next != t[i].next + 2 || !imap_tok_is_str(v + 1))
			return -1;
		m->have |= IMAP_META_EMAILID;
		fct_buf_reset(emailid);
		fct_buf_append(emailid, v[1].s, v[1].len);
		m->emailid = emailid->data;
		return 0;
	}
	if (t[i].len > 18 && strncasecmp(t[i].s, "BODY[HEADER.FIELDS", 18) == 0) {
		m->have |= IMAP_META_MSGID;
		if (imap_tok_is_str(v) && imap_extract_msgid(v->s, v->len, msgid) == 0)
			m->msgid = msgid->data;
		return 0;
	}
	if (imap_tok_is(&t[i], "BODY[]") || imap_tok_is(&t[i], "BINARY[]")) {
		*body = v;
		return 0;
	}
	return 0; /* items we did not ask for */
}

int imap_parse_fetch(const struct imap_resp *r, struct imap_msg *m, struct fct_buf *msgid,
                     struct fct_buf *emailid, const struct imap_tok **body, struct fct_err *err)
{
	const struct imap_tok *t = r->tok;
	size_t i, end;

	memset(m, 0, sizeof *m);
	*body = NULL;
	if (r->ntok == 0 || t[0].type != IMAP_TOK_LIST)
		goto bad;
	end = t[0].next;
	for (i = 1; i < end; i = t[t[i].next].next) {
		if (t[i].next >= end || fetch_item(t, i, m, msgid, emailid, body) < 0)
			goto bad;
	}
	return 0;
bad:
	return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed FETCH: %s", r->raw);
}

/* ---- sequence sets ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted, deduplicated, zero-free copy; caller frees. */
static uint32_t *sorted_uids(const uint32_t *uids, size_t n, size_t *outn)
{
	uint32_t *s = fct_xcalloc(n ? n : 1, sizeof *s);
	size_t i, k = 0;

	memcpy(s, uids, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_u32);
	for (i = 0; i < n; i++)
		if (s[i] != 0 && (k == 0 || s[k - 1] != s[i]))
			s[k++] = s[i];
	*outn = k;
	return s;
}

int imap_seqsets(const uint32_t *sorted, size_t n, size_t max,
                 int (*emit)(void *ctx, const char *set, struct fct_err *err), void *ctx,
                 struct fct_err *err)
{
	struct fct_buf b;
	size_t i = 0;
	int r = 0;

	fct_buf_init(&b);
	while (i < n) {
		size_t j = i;
		char part[32];
		int len;
		while (j + 1 < n && sorted[j + 1] == sorted[j] + 1)
			j++;
		len = j > i ? snprintf(part, sizeof part, "%u:%u", sorted[i], sorted[j])
		            : snprintf(part, sizeof part, "%u", sorted[i]);
		if (b.len > 0 && b.len + 1 + (size_t)len > max) {
			if ((r = emit(ctx, b.data, err)) != 0)
				break;
			fct_buf_reset(&b);
		}
		if (b.len > 0)
			fct_buf_putc(&b, ',');
		fct_buf_append(&b, part, (size_t)len);
		i = j + 1;
	}
	if (r == 0 && b.len > 0)
		r = emit(ctx, b.data, err);
	fct_buf_free(&b);
	return r;
}

/* ---- metadata FETCH ---- */

struct meta_ctx {
	imap_msg_cb cb;
	void *ctx;
	struct fct_buf msgid, emailid;
};

static int meta_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct meta_ctx *mc = im->hctx;
	const struct imap_tok *body;
	struct imap_msg m;
	struct fct_err e;

	if (!r->name || strcmp(r->name, "FETCH") != 0 || im->cb_failed)
		return 0;
	if (imap_parse_fetch(r, &m, &mc->msgid, &mc->emailid, &body, err) < 0)
		return -1;
	if (m.uid && mc->cb(mc->ctx, &m, &e) < 0)
		imap_cb_fail(im, &e);
	return 0;
}

unsigned imap_meta_send(struct imap *im, uint32_t lo, uint32_t hi, uint64_t changedsince,
                        unsigned what, struct fct_err *err)
{
	int condstore = (im->caps & IMAP_CAP_CONDSTORE) || (im->enabled & IMAP_CAP_QRESYNC);
	char range[32], since[48] = "";

	if (hi)
		snprintf(range, sizeof range, "%u:%u", lo ? lo : 1, hi);
	else
		snprintf(range, sizeof range, "%u:*", lo ? lo : 1);
	if (changedsince && condstore)
		snprintf(since, sizeof since, " (CHANGEDSINCE %llu)", (unsigned long long)changedsince);
	return imap_cmdf(im, err, "UID FETCH %s (UID%s%s%s%s%s%s)%s", range,
	                 (what & IMAP_META_FLAGS) ? " FLAGS" : "",
	                 (what & IMAP_META_SIZE) ? " RFC822.SIZE" : "",
	                 (what & IMAP_META_DATE) ? " INTERNALDATE" : "",
	                 condstore ? " MODSEQ" : "",
	                 (what & IMAP_META_MSGID) ? " BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]" : "",
	                 ((what & IMAP_META_EMAILID) && (im->caps & IMAP_CAP_OBJECTID)) ? " EMAILID" : "",
	                 since);
}

int imap_meta_collect(struct imap *im, imap_msg_cb cb, void *ctx, struct fct_err *err)
{
	struct meta_ctx mc = {cb, ctx, {0}, {0}};
	int rc;

	fct_buf_init(&mc.msgid);
	fct_buf_init(&mc.emailid);
	im->on_untagged = meta_untagged;
	im->hctx = &mc;
	rc = imap_wait_all(im, FCT_E_FOLDER, "UID FETCH", err);
	rc = imap_cmd_end(im, rc, err);
	fct_buf_free(&mc.msgid);
	fct_buf_free(&mc.emailid);
	return rc;
}

int imap_fetch_meta(struct imap *im, uint32_t lo, uint32_t hi, uint64_t changedsince, unsigned what,
                    imap_msg_cb cb, void *ctx, struct fct_err *err)
{
	if (hi && hi < lo)
		return 0;
	if (!imap_meta_send(im, lo, hi, changedsince, what, err))
		return imap_cmd_end(im, -1, err);
	return imap_meta_collect(im, cb, ctx, err);
}

/* ---- body FETCH ---- */

struct bodies {
	const struct imap_body_sink *sink;
	const uint32_t *uids;
	size_t n, sent, oldest; /* oldest: first uid not yet streamed or done */
	unsigned *tags;       /* per uid: tag of its command, 0 if none sent */
	unsigned char *state; /* per uid: 1 streamed, 2 command done */
	int streaming;
	uint32_t cur_uid;
	uint64_t cur_size;
	struct fct_buf msgid, emailid;
};

/* UID among the FETCH items already parsed (the outer list is still open). */
static uint32_t partial_uid(const struct imap_resp *r)
{
	size_t i;
	uint32_t uid;

	for (i = 1; i + 1 < r->ntok && r->tok[i].next != 0; i = r->tok[r->tok[i].next].next) {
		if (imap_tok_is(&r->tok[i], "UID") && imap_tok_u32(&r->tok[i + 1], &uid) == 0)
			return uid;
		if (r->tok[r->tok[i].next].next == 0)
			break;
	}
	return 0;
}

static int body_begin(struct imap *im, const struct imap_resp *r, uint64_t size,
                      struct fct_err *err)
{
	struct bodies *b = im->hctx;
	struct fct_err e;
	uint32_t uid;

	if (!r->name || strcmp(r->name, "FETCH") != 0 || r->ntok < 2 ||
	    !imap_tok_is(&r->tok[r->ntok - 1], "BODY[]"))
		return 0;
	if (b->streaming)
		return fct_err_set(err, FCT_E_PROTO, "IMAP server sent two bodies in one FETCH: %s",
		                   r->raw);
	uid = partial_uid(r);
	if (uid)
		im->body_uid_first = 1;
	if (!uid) {
		/* UID comes after the body: pipelined commands are answered in order. */
		while (b->oldest < b->sent && b->state[b->oldest])
			b->oldest++;
		if (b->oldest >= b->sent)
			return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a body nobody asked for: %s",
			                   r->raw);
		uid = b->uids[b->oldest];
	}
	b->streaming = 1;
	b->cur_uid = uid;
	b->cur_size = size;
	if (!im->cb_failed && b->sink->begin(b->sink->ctx, uid, size, &e) < 0)
		imap_cb_fail(im, &e);
	return 1;
}

static int body_data(struct imap *im, const char *p, size_t n, struct fct_err *err)
{
	struct bodies *b = im->hctx;
	struct fct_err e;

	(void)err;
	if (!im->cb_failed && b->sink->data(b->sink->ctx, p, n, &e) < 0)
		imap_cb_fail(im, &e);
	return 0;
}

static void mark_uid(struct bodies *b, uint32_t uid, unsigned char st)
{
	size_t i;

	for (i = b->oldest; i < b->sent; i++)
		if (b->uids[i] == uid && !(b->state[i] & st)) {
			b->state[i] |= st;
			return;
		}
}

/* A body sent as a quoted string (legal for small ones): the same calls
 * as for a streamed literal. */
static int body_inline(struct imap *im, struct bodies *b, struct imap_msg *m,
                       const struct imap_tok *v)
{
	struct fct_err e;

	if (!m->uid)
		return 0;
	mark_uid(b, m->uid, 1);
	m->size = v->len;
	m->have |= IMAP_META_SIZE;
	if (im->cb_failed)
		return 0;
	if (b->sink->begin(b->sink->ctx, m->uid, v->len, &e) < 0 ||
	    (v->len && b->sink->data(b->sink->ctx, v->s, v->len, &e) < 0) ||
	    b->sink->end(b->sink->ctx, m, &e) < 0)
		imap_cb_fail(im, &e);
	return 0;
}

static int body_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct bodies *b = im->hctx;
	const struct imap_tok *body;
	struct imap_msg m;
	struct fct_err e;

	if (!r->name || strcmp(r->name, "FETCH") != 0)
		return 0;
	if (imap_parse_fetch(r, &m, &b->msgid, &b->emailid, &body, err) < 0)
		return -1;
	if (!b->streaming)
		/* A flag update, BODY[] NIL, or a body as a quoted string. */
		return body && body->type == IMAP_TOK_QUOTED ? body_inline(im, b, &m, body) : 0;
	b->streaming = 0;
	if (m.uid && m.uid != b->cur_uid)
		return fct_err_set(err, FCT_E_PROTO,
		                   "IMAP server sent the body of UID %u where %u was expected", m.uid,
		                   b->cur_uid);
	m.uid = b->cur_uid;
	m.size = b->cur_size;
	m.have |= IMAP_META_SIZE;
	mark_uid(b, m.uid, 1);
	if (!im->cb_failed && b->sink->end(b->sink->ctx, &m, &e) < 0)
		imap_cb_fail(im, &e);
	return 0;
}

/* Reads one completion: a NO just means that message is gone. */
static int body_done(struct imap *im, struct bodies *b, int *rc, struct fct_err *err)
{
	struct imap_done d;
	size_t i;

	imap_done_init(&d);
	if (imap_next(im, &d, 0, err) < 0) {
		imap_done_free(&d);
		return -1;
	}
	for (i = b->oldest; i < b->sent; i++)
		if (b->tags[i] == d.tag)
			b->state[i] |= 2;
	if (d.st == IMAP_ST_NO)
		fct_log_verbose(im->log, "IMAP: body fetch refused: %s", d.text);
	else if (d.st != IMAP_ST_OK && *rc == 0)
		*rc = imap_done_err(&d, FCT_E_FOLDER, "UID FETCH BODY[]", err);
	imap_done_free(&d);
	return 0;
}

/* One UID FETCH for up to BODY_GROUP of the next UIDs: per-command costs
 * on the server dominate small messages, so bodies are asked in groups
 * (still pipelined, and streamed one literal at a time).  Only once the
 * server has shown it names the UID before the body: otherwise a body is
 * matched to its command by order, which needs one UID per command. */
#define BODY_GROUP 64

static int body_send_group(struct imap *im, struct bodies *b, struct fct_err *err)
{
	struct fct_buf set;
	size_t i, k = 0;
	unsigned tag;

	size_t group = im->body_uid_first ? BODY_GROUP : 1;

	fct_buf_init(&set);
	for (i = b->sent; i < b->n && k < group && b->uids[i]; i++, k++) {
		size_t j = i;

		while (j + 1 < b->n && k + (j + 1 - i) < group && b->uids[j + 1] == b->uids[j] + 1)
			j++;
		fct_buf_printf(&set, set.len ? ",%u" : "%u", b->uids[i]);
		if (j > i)
			fct_buf_printf(&set, ":%u", b->uids[j]);
		k += j - i;
		i = j;
	}
	tag = imap_cmdf(im, err, "UID FETCH %s (UID FLAGS INTERNALDATE BODY.PEEK[])", set.data);
	fct_buf_free(&set);
	if (!tag)
		return -1;
	for (; b->sent < i; b->sent++)
		b->tags[b->sent] = tag;
	return 0;
}

int imap_fetch_bodies(struct imap *im, const uint32_t *uids, size_t n,
                      const struct imap_body_sink *sink, struct fct_err *err)
{
	struct bodies b;
	int rc = 0, io = 0;

	if (imap_check(im, err) < 0)
		return -1;
	memset(&b, 0, sizeof b);
	b.sink = sink;
	b.uids = uids;
	b.n = n;
	b.state = fct_xcalloc(n ? n : 1, 1);
	b.tags = fct_xcalloc(n ? n : 1, sizeof *b.tags);
	fct_buf_init(&b.msgid);
	fct_buf_init(&b.emailid);
	im->on_untagged = body_untagged;
	im->lit_begin = body_begin;
	im->lit_data = body_data;
	im->hctx = &b;
	while (!io && (b.sent < n || im->inflight > 0)) {
		if (b.sent < n && uids[b.sent] == 0) {
			b.state[b.sent++] = 3; /* no such message, ever */
			continue;
		}
		if (b.sent < n && (int)im->inflight < im->depth && !im->cb_failed) {
			if (body_send_group(im, &b, err) < 0)
				io = 1;
			continue;
		}
		if (im->inflight == 0)
			break; /* a callback failed: nothing more to send */
		if (body_done(im, &b, &rc, err) < 0)
			io = 1;
	}
	rc = imap_cmd_end(im, io ? -1 : rc, err);
	free(b.state);
	free(b.tags);
	fct_buf_free(&b.msgid);
	fct_buf_free(&b.emailid);
	return rc;
}

/* ---- STORE, EXPUNGE, COPY, MOVE: pipelined over sequence sets ---- */

struct pipe {
	struct imap *im;
	const char *verb;   /* "UID STORE" */
	const char *suffix; /* " +FLAGS.SILENT (\\Seen)" */
	const char *what;
	enum fct_err_kind kind;
	int rc;
	/* COPYUID mapping */
	const uint32_t *uids;
	size_t n;
	uint32_t *dest;
};

/* Records COPYUID "uidvalidity src-set dst-set" into dest[]. */
static void copyuid(struct pipe *pp, const char *arg)
{
	const char *s1, *s2;
	size_t l1, l2, i, j = 0, cap = pp->n;
	uint32_t *src, *dst;
	size_t ns = 0, nd = 0, k;

	if (!pp->dest || !(s1 = strchr(arg, ' ')))
		return;
	s1++;
	s2 = strchr(s1, ' ');
	if (!s2)
		return;
	l1 = (size_t)(s2 - s1);
	s2++;
	l2 = strcspn(s2, " ");
	src = fct_xcalloc(cap + 1, sizeof *src);
	dst = fct_xcalloc(cap + 1, sizeof *dst);
	/* Expand both sets, refusing more UIDs than we moved (hostile ranges). */
	for (k = 0; k < 2; k++) {
		const char *s = k ? s2 : s1;
		size_t l = k ? l2 : l1, *cnt = k ? &nd : &ns;
		uint32_t *arr = k ? dst : src;
		size_t p = 0;
		while (p < l) {
			unsigned long lo, hi;
			char *end;
			lo = strtoul(s + p, &end, 10);
			hi = lo;
			if (*end == ':')
				hi = strtoul(end + 1, &end, 10);
			if (end == s + p || lo > UINT32_MAX || hi > UINT32_MAX || hi < lo ||
			    hi - lo >= cap - *cnt)
				goto out;
			for (; lo <= hi; lo++)
				arr[(*cnt)++] = (uint32_t)lo;
			p = (size_t)(end - s);
			if (p < l && s[p] == ',')
				p++;
			else if (p < l)
				goto out;
		}
	}
	if (ns != nd)
		goto out;
	for (i = 0; i < ns; i++)
		for (j = 0; j < pp->n; j++)
			if (pp->uids[j] == src[i])
				pp->dest[j] = dst[i];
out:
	free(src);
	free(dst);
}

static int pipe_done(struct pipe *pp, struct fct_err *err)
{
	struct imap_done d;

	imap_done_init(&d);
	if (imap_next(pp->im, &d, 0, err) < 0) {
		imap_done_free(&d);
		pp->rc = -1;
		return -1;
	}
	if (d.st == IMAP_ST_OK && strcmp(d.code, "COPYUID") == 0)
		copyuid(pp, d.arg.data);
	if (d.st != IMAP_ST_OK && pp->rc == 0) {
		char what[300];
		snprintf(what, sizeof what, "%s%s", strcmp(d.code, "TRYCREATE") == 0 ? "TRYCREATE: " : "",
		         pp->what);
		pp->rc = imap_done_err(&d, pp->kind, what, err);
	}
	imap_done_free(&d);
	return 0;
}

static int pipe_emit(void *ctx, const char *set, struct fct_err *err)
{
	struct pipe *pp = ctx;

	while ((int)pp->im->inflight >= pp->im->depth)
		if (pipe_done(pp, err) < 0)
			return -1;
	if (!imap_cmdf(pp->im, err, "%s %s%s", pp->verb, set, pp->suffix)) {
		pp->rc = -1;
		return -1;
	}
	return 0;
}

static int pipe_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	(void)err;
	/* MOVE reports COPYUID in an untagged OK before the expunges. */
	if (r->status == IMAP_ST_OK && r->code && strcmp(r->code, "COPYUID") == 0)
		copyuid(im->hctx, r->code_arg);
	return 0;
}

/* Sends pp's verb on pp->uids, in as many commands as the sets need,
 * without waiting for more than the pipeline depth asks. */
static int pipe_send(struct pipe *pp, struct fct_err *err)
{
	size_t n;
	uint32_t *s = sorted_uids(pp->uids, pp->n, &n);
	int r = imap_seqsets(s, n, IMAP_MAX_SET, pipe_emit, pp, err);

	free(s);
	return r;
}

/* Waits for every command sent; -1 if any failed. */
static int pipe_end(struct pipe *pp, int r, struct fct_err *err)
{
	while (r == 0 && pp->im->inflight > 0)
		if (pipe_done(pp, err) < 0)
			r = -1;
	return imap_cmd_end(pp->im, r < 0 ? -1 : pp->rc, err);
}

static int pipe_begin(struct pipe *pp, struct fct_err *err)
{
	if (imap_check(pp->im, err) < 0)
		return -1;
	pp->im->on_untagged = pipe_untagged;
	pp->im->hctx = pp;
	return 0;
}

static int run_pipe(struct pipe *pp, struct fct_err *err)
{
	if (pipe_begin(pp, err) < 0)
		return -1;
	return pipe_end(pp, pipe_send(pp, err), err);
}

int imap_store_flags(struct imap *im, const uint32_t *uids, size_t n, int add, unsigned flags,
                     struct fct_err *err)
{
	struct imap_flag_change ch = {uids, n, add, flags};

	return imap_store_many(im, &ch, 1, err);
}

int imap_store_many(struct imap *im, const struct imap_flag_change *ch, size_t n,
                    struct fct_err *err)
{
	char list[64], suffix[96];
	struct pipe pp = {im, "UID STORE", suffix, "UID STORE", FCT_E_FOLDER, 0, NULL, 0, NULL};
	size_t i;
	int r = 0;

	for (i = 0; i < n; i++)
		if ((ch[i].flags & FCT_F_ALL) && ch[i].n)
			break;
	if (i == n)
		return 0;
	if (pipe_begin(&pp, err) < 0)
		return -1;
	for (i = 0; i < n && r == 0; i++) {
		if (!(ch[i].flags & FCT_F_ALL) || ch[i].n == 0)
			continue;
		fct_flags_to_imap(ch[i].flags, list, sizeof list);
		snprintf(suffix, sizeof suffix, " %cFLAGS.SILENT (%s)", ch[i].add ? '+' : '-', list);
		pp.uids = ch[i].uids;
		pp.n = ch[i].n;
		r = pipe_send(&pp, err);
	}
	return pipe_end(&pp, r, err);
}

int imap_expunge_uids(struct imap *im, const uint32_t *uids, size_t n, struct fct_err *err)
{
	struct pipe pp = {im, "UID EXPUNGE", "", "UID EXPUNGE", FCT_E_FOLDER, 0, uids, n, NULL};

	if (!(im->caps & IMAP_CAP_UIDPLUS))
		return fct_err_set(err, FCT_E_FOLDER,
		                   "IMAP server %s lacks UIDPLUS: cannot expunge single messages",
		                   im->host);
	if (n == 0)
		return 0;
	return run_pipe(&pp, err);
}

int imap_expunge_all(struct imap *im, struct fct_err *err)
{
	return imap_simple(im, FCT_E_FOLDER, "EXPUNGE", err, "EXPUNGE");
}

static int copy_or_move(struct imap *im, const char *verb, const uint32_t *uids, size_t n,
                        const char *dest_utf8, uint32_t *dest_uids, struct fct_err *err)
{
	char *q = imap_quote_mailbox(im, dest_utf8, err);
	char suffix[600], what[400];
	struct pipe pp = {im, verb, suffix, what, FCT_E_FOLDER, 0, uids, n, dest_uids};
	int rc;

	if (dest_uids)
		memset(dest_uids, 0, n * sizeof *dest_uids);
	if (!q)
		return -1;
	if (n == 0) {
		free(q);
		return 0;
	}
	snprintf(suffix, sizeof suffix, " %s", q);
	snprintf(what, sizeof what, "%s to \"%s\"", verb, dest_utf8);
	rc = run_pipe(&pp, err);
	free(q);
	return rc;
}

int imap_copy(struct imap *im, const uint32_t *uids, size_t n, const char *dest_utf8,
              uint32_t *dest_uids, struct fct_err *err)
{
	return copy_or_move(im, "UID COPY", uids, n, dest_utf8, dest_uids, err);
}

int imap_move(struct imap *im, const uint32_t *uids, size_t n, const char *dest_utf8,
              uint32_t *dest_uids, struct fct_err *err)
{
	if (im->caps & IMAP_CAP_MOVE)
		return copy_or_move(im, "UID MOVE", uids, n, dest_utf8, dest_uids, err);
	if (!(im->caps & IMAP_CAP_UIDPLUS))
		return fct_err_set(err, FCT_E_FOLDER,
		                   "IMAP server %s has neither MOVE nor UIDPLUS: cannot move messages",
		                   im->host);
	if (copy_or_move(im, "UID COPY", uids, n, dest_utf8, dest_uids, err) < 0 ||
	    imap_store_flags(im, uids, n, 1, FCT_F_DELETED, err) < 0)
		return -1;
	return imap_expunge_uids(im, uids, n, err);
}
