/* IMAP mailbox commands: hierarchy delimiter, LIST/LSUB, SELECT/EXAMINE
 * (with CONDSTORE/QRESYNC), STATUS, CREATE, DELETE, RENAME, SUBSCRIBE. */
#include "proto/imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Number at the start of s (a response code argument). */
static int arg_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (end)
		*end = p;
	*out = v;
	return 0;
}

static int arg_u32(const char *s, const char **end, uint32_t *out)
{
	uint64_t v;

	if (arg_u64(s, end, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int bad_code(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	(void)im;
	return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed [%s]: %s", r->code, r->raw);
}

/* ---- delimiter ---- */

static int delim_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	const struct imap_tok *t = r->tok;

	(void)err;
	if (!r->name || strcmp(r->name, "LIST") != 0 || r->ntok < 2 || t[0].type != IMAP_TOK_LIST)
		return 0;
	t = &r->tok[t[0].next];
	if (t->type == IMAP_TOK_QUOTED && t->len == 1)
		im->delim = t->s[0];
	else
		im->delim = '\0';
	im->delim_known = 1;
	return 0;
}

char imap_delimiter(struct imap *im, struct fct_err *err)
{
	int rc;

	if (im->delim_known)
		return im->delim;
	im->on_untagged = delim_untagged;
	rc = imap_simple(im, FCT_E_STORE, "LIST \"\" \"\"", err, "LIST \"\" \"\"");
	rc = imap_cmd_end(im, rc, err);
	if (rc == 0 && !im->delim_known) {
		im->delim_known = 1; /* no answer: a flat server */
		im->delim = '\0';
	}
	return rc == 0 ? im->delim : '\0';
}

/* ---- LIST ---- */

struct list_ctx {
	imap_list_cb cb;
	void *ctx;
	int lsub;
	struct fct_buf name;
};

static const struct {
	const char *name;
	unsigned bit;
} list_attrs[] = {
	{"\\NOSELECT", IMAP_LIST_NOSELECT},       {"\\NOINFERIORS", IMAP_LIST_NOINFERIORS},
	{"\\NONEXISTENT", IMAP_LIST_NONEXISTENT}, {"\\SUBSCRIBED", IMAP_LIST_SUBSCRIBED},
	{"\\HASCHILDREN", IMAP_LIST_HASCHILDREN}, {"\\HASNOCHILDREN", IMAP_LIST_HASNOCHILDREN},
	{"\\MARKED", IMAP_LIST_MARKED},           {"\\UNMARKED", IMAP_LIST_UNMARKED},
	{"\\REMOTE", IMAP_LIST_REMOTE},           {"\\ALL", IMAP_LIST_ALL},
	{"\\ARCHIVE", IMAP_LIST_ARCHIVE},         {"\\DRAFTS", IMAP_LIST_DRAFTS},
	{"\\FLAGGED", IMAP_LIST_FLAGGED},         {"\\JUNK", IMAP_LIST_JUNK},
	{"\\SENT", IMAP_LIST_SENT},               {"\\TRASH", IMAP_LIST_TRASH},
};

static unsigned list_attr_bits(const struct imap_tok *t, size_t from, size_t to)
{
	unsigned bits = 0;
	size_t i, k;

	for (i = from; i < to; i = t[i].next)
		for (k = 0; k < sizeof list_attrs / sizeof list_attrs[0]; k++)
			if (imap_tok_is(&t[i], list_attrs[k].name))
				bits |= list_attrs[k].bit;
	return bits;
}

static int list_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct list_ctx *lc = im->hctx;
	const struct imap_tok *t = r->tok;
	size_t d, n;
	unsigned attrs;
	char delim = '\0';

	if (!r->name || (strcmp(r->name, "LIST") != 0 && strcmp(r->name, "LSUB") != 0))
		return 0;
	if (r->ntok < 3 || t[0].type != IMAP_TOK_LIST)
		return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed LIST: %s", r->raw);
	d = t[0].next;
	n = t[d].next;
	if (n >= r->ntok || !imap_tok_is_str(&t[n]))
		return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed LIST: %s", r->raw);
	if (t[d].type == IMAP_TOK_QUOTED && t[d].len == 1)
		delim = t[d].s[0];
	attrs = list_attr_bits(t, 1, d);
	if (strcmp(r->name, "LSUB") == 0 || lc->lsub)
		attrs |= IMAP_LIST_SUBSCRIBED;
	if (imap_decode_mailbox(im, t[n].s, t[n].len, &lc->name) < 0 ||
	    memchr(lc->name.data, '\0', lc->name.len)) {
		char safe[200];
		imap_sanitize(t[n].s, t[n].len, safe, sizeof safe);
		fct_log_warn(im->log, "IMAP: skipping mailbox with an invalid name: %s", safe);
		return 0;
	}
	if (im->cb_failed)
		return 0;
	if (lc->cb(lc->ctx, lc->name.data, delim, attrs) != 0) {
		struct fct_err e;
		fct_err_set(&e, FCT_E_CANCEL, "mailbox listing stopped by the caller");
		imap_cb_fail(im, &e);
	}
	return 0;
}

/* LSUB (no LIST-EXTENDED) names subscriptions whether or not their mailbox
 * exists, and nothing says which do not: a plain LIST tells, so the caller
 * gets what LIST (SUBSCRIBED) would have said, \NonExistent included. */
struct lsub_ent {
	char *name;
	char delim;
	unsigned attrs;
	int listed;
};

struct lsub_set {
	struct lsub_ent *v;
	size_t n, cap;
};

static int lsub_collect(void *ctx, const char *name, char delim, unsigned attrs)
{
	struct lsub_set *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = fct_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = (struct lsub_ent){fct_xstrdup(name), delim, attrs, 0};
	return 0;
}

static int lsub_match(void *ctx, const char *name, char delim, unsigned attrs)
{
	struct lsub_set *s = ctx;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].listed && strcmp(s->v[i].name, name) == 0) {
			s->v[i].listed = 1;
			s->v[i].delim = delim;
			s->v[i].attrs |= attrs;
		}
	return 0;
}

static int list_lsub(struct imap *im, const char *q, imap_list_cb cb, void *ctx,
                     struct fct_err *err)
{
	struct lsub_set s = {0};
	struct list_ctx lc = {lsub_collect, &s, 1, {0}};
	size_t i;
	int rc;

	fct_buf_init(&lc.name);
	im->on_untagged = list_untagged;
	im->hctx = &lc;
	rc = imap_simple(im, FCT_E_STORE, "LSUB", err, "LSUB \"\" %s", q);
	rc = imap_cmd_end(im, rc, err);
	if (rc == 0 && s.n) {
		lc = (struct list_ctx){lsub_match, &s, 0, lc.name};
		im->on_untagged = list_untagged;
		im->hctx = &lc;
		rc = imap_simple(im, FCT_E_STORE, "LIST", err, "LIST \"\" %s", q);
		rc = imap_cmd_end(im, rc, err);
	}
	for (i = 0; i < s.n; i++) {
		unsigned attrs = s.v[i].attrs | IMAP_LIST_SUBSCRIBED;

		if (!s.v[i].listed)
			attrs |= IMAP_LIST_NONEXISTENT;
		if (rc == 0 && cb(ctx, s.v[i].name, s.v[i].delim, attrs) != 0)
			rc = fct_err_set(err, FCT_E_CANCEL, "mailbox listing stopped by the caller");
		free(s.v[i].name);
	}
	free(s.v);
	fct_buf_free(&lc.name);
	return rc;
}

int imap_list(struct imap *im, const char *pattern, int subscribed_only, imap_list_cb cb,
              void *ctx, struct fct_err *err)
{
	struct list_ctx lc = {cb, ctx, 0, {0}};
	char *q = imap_quote_mailbox(im, pattern, err);
	int rc;

	if (!q)
		return -1;
	if (subscribed_only && !(im->caps & IMAP_CAP_LIST_EXTENDED)) {
		rc = list_lsub(im, q, cb, ctx, err);
		free(q);
		return rc;
	}
	fct_buf_init(&lc.name);
	im->on_untagged = list_untagged;
	im->hctx = &lc;
	if (subscribed_only) {
		lc.lsub = 1;
		rc = imap_simple(im, FCT_E_STORE, "LIST", err, "LIST (SUBSCRIBED) \"\" %s", q);
	} else if ((im->caps & IMAP_CAP_LIST_EXTENDED) && (im->caps & IMAP_CAP_SPECIAL_USE)) {
		rc = imap_simple(im, FCT_E_STORE, "LIST", err, "LIST \"\" %s RETURN (SPECIAL-USE)", q);
	} else {
		rc = imap_simple(im, FCT_E_STORE, "LIST", err, "LIST \"\" %s", q);
	}
	rc = imap_cmd_end(im, rc, err);
	fct_buf_free(&lc.name);
	free(q);
	return rc;
}

/* ---- SELECT ---- */

struct sel_ctx {
	struct imap_box *out;
	imap_vanished_cb vcb;
	imap_msg_cb mcb;
	void *ctx;
	struct fct_buf msgid, emailid;
	struct imap *im;
};

static int vanished_range(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	struct sel_ctx *sc = ctx;
	struct fct_err e;

	(void)err;
	if (sc->im->cb_failed || !sc->vcb)
		return 0;
	if (sc->vcb(sc->ctx, lo, hi, &e) < 0) {
		imap_cb_fail(sc->im, &e);
		return 1;
	}
	return 0;
}

static int sel_code(struct sel_ctx *sc, const struct imap_resp *r, struct fct_err *err)
{
	struct imap_box *b = sc->out;
	uint64_t v;

	if (strcmp(r->code, "UIDVALIDITY") == 0) {
		if (arg_u32(r->code_arg, NULL, &b->uidvalidity) < 0)
			return bad_code(sc->im, r, err);
	} else if (strcmp(r->code, "UIDNEXT") == 0) {
		if (arg_u32(r->code_arg, NULL, &b->uidnext) < 0)
			return bad_code(sc->im, r, err);
	} else if (strcmp(r->code, "HIGHESTMODSEQ") == 0) {
		if (arg_u64(r->code_arg, NULL, &v) < 0)
			return bad_code(sc->im, r, err);
		b->highestmodseq = v;
		b->nomodseq = 0;
	} else if (strcmp(r->code, "NOMODSEQ") == 0) {
		b->nomodseq = 1;
		b->highestmodseq = 0;
	} else if (strcmp(r->code, "READ-ONLY") == 0) {
		b->readonly = 1;
	} else if (strcmp(r->code, "CLOSED") == 0) {
		/* Everything before belonged to the previously selected mailbox. */
		memset(b, 0, sizeof *b);
	}
	return 0;
}

static int sel_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct sel_ctx *sc = im->hctx;

	if (r->code && (r->status == IMAP_ST_OK || r->status == IMAP_ST_NO))
		return sel_code(sc, r, err);
	if (!r->name)
		return 0;
	if (strcmp(r->name, "EXISTS") == 0) {
		sc->out->exists = r->num;
	} else if (strcmp(r->name, "VANISHED") == 0) {
		const struct imap_tok *t = r->tok;
		size_t i = 0;
		if (r->ntok > 0 && t[0].type == IMAP_TOK_LIST)
			i = t[0].next;
		if (i >= r->ntok || t[i].type != IMAP_TOK_ATOM)
			return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed VANISHED: %s",
			                   r->raw);
		if (imap_seqset_each(t[i].s, t[i].len, vanished_range, sc, err) < 0)
			return -1;
	} else if (strcmp(r->name, "FETCH") == 0 && sc->mcb && !im->cb_failed) {
		const struct imap_tok *body;
		struct imap_msg m;
		struct fct_err e;
		if (imap_parse_fetch(r, &m, &sc->msgid, &sc->emailid, &body, err) < 0)
			return -1;
		if (m.uid && sc->mcb(sc->ctx, &m, &e) < 0)
			imap_cb_fail(im, &e);
	}
	return 0;
}

/* Sends the SELECT/EXAMINE; its tag, 0 if the session died. */
static unsigned select_send(struct imap *im, const char *q, int readonly,
                            const struct imap_qresync *qr, struct fct_err *err)
{
	const char *verb = readonly ? "EXAMINE" : "SELECT";

	if (qr && qr->uidvalidity && qr->modseq && (im->enabled & IMAP_CAP_QRESYNC))
		return imap_cmdf(im, err, "%s %s (QRESYNC (%u %llu))", verb, q, qr->uidvalidity,
		                 (unsigned long long)qr->modseq);
	if ((im->caps & IMAP_CAP_CONDSTORE) && !(im->enabled & IMAP_CAP_QRESYNC))
		return imap_cmdf(im, err, "%s %s (CONDSTORE)", verb, q);
	return imap_cmdf(im, err, "%s %s", verb, q);
}

/* Reads up to the completion of the command tagged `tag`. */
static int wait_tag(struct imap *im, unsigned tag, const char *what, struct fct_err *err)
{
	struct imap_done d;
	int rc = 0;

	imap_done_init(&d);
	do {
		if (imap_next(im, &d, 0, err) < 0) {
			rc = -1;
			break;
		}
		if (d.st != IMAP_ST_OK && rc == 0)
			rc = imap_done_err(&d, FCT_E_FOLDER, what, err);
	} while (d.tag != tag);
	imap_done_free(&d);
	return rc;
}

/* A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2): the FETCH
 * sent behind it can only fail; its answers, if any, are not this box's
 * and are dropped. */
static int drop_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	(void)im;
	(void)r;
	(void)err;
	return 0;
}

int imap_select_meta(struct imap *im, const char *box_utf8, int readonly,
                     const struct imap_qresync *qr, struct imap_box *out, imap_vanished_cb vcb,
                     imap_msg_cb mcb, void *ctx, const struct imap_meta_req *req,
                     struct fct_err *err)
{
	struct sel_ctx sc = {out, vcb, mcb, ctx, {0}, {0}, im};
	char *q = imap_quote_mailbox(im, box_utf8, err);
	char what[300];
	unsigned tag;
	int rc = -1;

	if (!q)
		return -1;
	memset(out, 0, sizeof *out);
	im->sel_uidvalidity = 0;
	fct_buf_init(&sc.msgid);
	fct_buf_init(&sc.emailid);
	snprintf(what, sizeof what, "cannot select \"%s\"", box_utf8);
	im->on_untagged = sel_untagged;
	im->hctx = &sc;
	tag = select_send(im, q, readonly, qr, err);
	if (tag && req && !imap_meta_send(im, req->lo, 0, 0, req->what, err))
		tag = 0;
	if (tag && req && req->meanwhile) {
		struct fct_err me;

		if (imap_flush(im, err) < 0)
			tag = 0;
		else if (req->meanwhile(req->mctx, &me) < 0)
			imap_cb_fail(im, &me);
	}
	if (tag)
		rc = wait_tag(im, tag, what, err);
	if (rc == 0) {
		im->sel_uidvalidity = out->uidvalidity;
		if (!out->highestmodseq)
			out->nomodseq = 1;
		if (readonly)
			out->readonly = 1;
	}
	if (rc == 0 && req && !im->cb_failed) {
		rc = imap_meta_collect(im, req->cb, req->ctx, err);
	} else if (tag && im->inflight) {
		struct fct_err ignored;

		im->on_untagged = drop_untagged;
		imap_wait_all(im, FCT_E_FOLDER, what, &ignored);
	}
	rc = imap_cmd_end(im, rc, err);
	fct_buf_free(&sc.msgid);
	fct_buf_free(&sc.emailid);
	free(q);
	return rc;
}

int imap_select(struct imap *im, const char *box_utf8, int readonly, const struct imap_qresync *qr,
                struct imap_box *out, imap_vanished_cb vcb, imap_msg_cb mcb, void *ctx,
                struct fct_err *err)
{
	return imap_select_meta(im, box_utf8, readonly, qr, out, vcb, mcb, ctx, NULL, err);
}

/* ---- several EXAMINEs in one flight ---- */

struct exm {
	struct imap_select_req *req;
	struct sel_ctx *sc;
	unsigned *tags;
	size_t sent, cur; /* cur: the oldest not answered */
};

/* The oldest request sent and not answered, past names never sent. */
static int exm_open(struct exm *x)
{
	while (x->cur < x->sent && !x->tags[x->cur])
		x->cur++;
	return x->cur < x->sent;
}

/* A server answers one SELECT or EXAMINE before it starts the next (the
 * next depends on it): untagged responses belong to the oldest open one. */
static int exm_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct exm *x = im->hctx;
	int rc;

	if (!exm_open(x))
		return 0;
	im->hctx = &x->sc[x->cur];
	rc = sel_untagged(im, r, err);
	im->hctx = x;
	return rc;
}

static int exm_done(struct imap *im, struct exm *x, struct fct_err *err)
{
	struct imap_done d;

	imap_done_init(&d);
	if (imap_next(im, &d, 0, err) < 0) {
		imap_done_free(&d);
		return -1;
	}
	if (exm_open(x) && d.tag == x->tags[x->cur]) {
		x->req[x->cur].ok = d.st == IMAP_ST_OK;
		x->cur++;
	}
	imap_done_free(&d);
	return 0;
}

static int exm_send(struct imap *im, struct exm *x, struct fct_err *err)
{
	struct imap_select_req *q = &x->req[x->sent];
	char *name = imap_quote_mailbox(im, q->box_utf8, err);

	while (im->inflight >= (unsigned)im->depth)
		if (exm_done(im, x, err) < 0) {
			free(name);
			return -1;
		}
	if (name)
		x->tags[x->sent] = imap_cmdf(im, err, "EXAMINE %s (QRESYNC (%u %llu))", name,
		                             q->qr.uidvalidity, (unsigned long long)q->qr.modseq);
	free(name);
	if (name && !x->tags[x->sent])
		return -1;
	/* A name that cannot be sent is skipped: its ok stays 0. */
	x->sc[x->sent] = (struct sel_ctx){&q->box, q->vcb, q->mcb, q->ctx, {0}, {0}, im};
	fct_buf_init(&x->sc[x->sent].msgid);
	fct_buf_init(&x->sc[x->sent].emailid);
	x->sent++;
	return 0;
}

int imap_examine_many(struct imap *im, struct imap_select_req *req, size_t n, struct fct_err *err)
{
	struct exm x = {req, NULL, NULL, 0, 0};
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		memset(&req[i].box, 0, sizeof req[i].box);
		req[i].ok = 0;
	}
	if (!(im->enabled & IMAP_CAP_QRESYNC))
		return fct_err_set(err, FCT_E_STORE, "EXAMINE (QRESYNC) needs QRESYNC enabled");
	if (imap_check(im, err) < 0)
		return -1;
	x.sc = fct_xcalloc(n + 1, sizeof *x.sc);
	x.tags = fct_xcalloc(n + 1, sizeof *x.tags);
	im->sel_uidvalidity = 0; /* several boxes: no one UIDVALIDITY to watch */
	im->on_untagged = exm_untagged;
	im->hctx = &x;
	while (rc == 0 && x.sent < n)
		rc = exm_send(im, &x, err);
	while (rc == 0 && exm_open(&x))
		rc = exm_done(im, &x, err);
	rc = imap_cmd_end(im, rc, err);
	for (size_t i = 0; i < x.sent; i++) {
		fct_buf_free(&x.sc[i].msgid);
		fct_buf_free(&x.sc[i].emailid);
	}
	free(x.sc);
	free(x.tags);
	return rc;
}

/* ---- STATUS ---- */

/* An untagged STATUS into *b; -1 if malformed. */
static int status_parse(const struct imap_resp *r, struct imap_box *b, struct fct_err *err)
{
	const struct imap_tok *t = r->tok;
	size_t i, end;

	if (r->ntok < 2 || !imap_tok_is_str(&t[0]) || t[1].type != IMAP_TOK_LIST)
		return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed STATUS: %s", r->raw);
	end = t[1].next;
	for (i = 2; i < end && t[i].next < end; i = t[t[i].next].next) {
		const struct imap_tok *v = &t[t[i].next];
		uint64_t n;
		if (imap_tok_u64(v, &n) < 0)
			return fct_err_set(err, FCT_E_PROTO, "IMAP server sent a malformed STATUS: %s",
			                   r->raw);
		if (imap_tok_is(&t[i], "MESSAGES") && n <= UINT32_MAX)
			b->exists = (uint32_t)n;
		else if (imap_tok_is(&t[i], "UIDNEXT") && n <= UINT32_MAX)
			b->uidnext = (uint32_t)n;
		else if (imap_tok_is(&t[i], "UIDVALIDITY") && n <= UINT32_MAX)
			b->uidvalidity = (uint32_t)n;
		else if (imap_tok_is(&t[i], "HIGHESTMODSEQ"))
			b->highestmodseq = n;
	}
	return 0;
}

static int status_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	if (!r->name || strcmp(r->name, "STATUS") != 0)
		return 0;
	return status_parse(r, im->hctx, err);
}

int imap_status(struct imap *im, const char *box_utf8, struct imap_box *out, struct fct_err *err)
{
	char *q = imap_quote_mailbox(im, box_utf8, err);
	char what[300];
	int rc;

	if (!q)
		return -1;
	memset(out, 0, sizeof *out);
	snprintf(what, sizeof what, "STATUS \"%s\"", box_utf8);
	im->on_untagged = status_untagged;
	im->hctx = out;
	rc = imap_simple(im, FCT_E_FOLDER, what, err, "STATUS %s (UIDVALIDITY UIDNEXT MESSAGES%s)", q,
	                 (im->caps & IMAP_CAP_CONDSTORE) ? " HIGHESTMODSEQ" : "");
	rc = imap_cmd_end(im, rc, err);
	out->nomodseq = out->highestmodseq == 0;
	free(q);
	return rc;
}

/* ---- LIST-STATUS (RFC 5819) ---- */

/* The server sends each mailbox's STATUS right after its LIST: a mailbox
 * is reported when the next LIST or the completion arrives. */
struct ls_ctx {
	struct list_ctx lc;
	imap_list_status_cb cb;
	void *ctx;
	int pending, have_st;
	struct fct_buf name, sname;
	char delim;
	unsigned attrs;
	struct imap_box st;
	struct imap *im;
};

static void ls_flush(struct ls_ctx *ls)
{
	struct fct_err e;

	if (!ls->pending)
		return;
	ls->pending = 0;
	if (ls->im->cb_failed)
		return;
	ls->st.nomodseq = ls->st.highestmodseq == 0;
	if (ls->cb(ls->ctx, ls->name.data, ls->delim, ls->attrs, ls->have_st ? &ls->st : NULL) != 0) {
		fct_err_set(&e, FCT_E_CANCEL, "mailbox listing stopped by the caller");
		imap_cb_fail(ls->im, &e);
	}
}

static int ls_list(void *ctx, const char *name_utf8, char delim, unsigned attrs)
{
	struct ls_ctx *ls = ctx;

	ls_flush(ls);
	ls->pending = 1;
	ls->have_st = 0;
	fct_buf_reset(&ls->name);
	fct_buf_puts(&ls->name, name_utf8);
	ls->delim = delim;
	ls->attrs = attrs;
	memset(&ls->st, 0, sizeof ls->st);
	return 0;
}

static int ls_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	struct ls_ctx *ls = im->hctx;
	struct imap_box b;
	int rc;

	if (!r->name || strcmp(r->name, "STATUS") != 0) {
		im->hctx = &ls->lc;
		rc = list_untagged(im, r, err);
		im->hctx = ls;
		return rc;
	}
	memset(&b, 0, sizeof b);
	if (status_parse(r, &b, err) < 0)
		return -1;
	/* Only the status of the mailbox just listed (others: unsolicited). */
	if (ls->pending && imap_decode_mailbox(im, r->tok[0].s, r->tok[0].len, &ls->sname) == 0 &&
	    strcmp(ls->sname.data, ls->name.data) == 0) {
		ls->st = b;
		ls->have_st = 1;
	}
	return 0;
}

int imap_list_status(struct imap *im, const char *pattern, imap_list_status_cb cb, void *ctx,
                     struct fct_err *err)
{
	struct ls_ctx ls;
	char *q;
	int rc;

	if (!(im->caps & IMAP_CAP_LIST_STATUS))
		return fct_err_set(err, FCT_E_STORE, "IMAP server %s does not offer LIST-STATUS",
		                   im->host);
	if (!(q = imap_quote_mailbox(im, pattern, err)))
		return -1;
	memset(&ls, 0, sizeof ls);
	ls.lc.cb = ls_list;
	ls.lc.ctx = &ls;
	ls.cb = cb;
	ls.ctx = ctx;
	ls.im = im;
	fct_buf_init(&ls.lc.name);
	fct_buf_init(&ls.name);
	fct_buf_init(&ls.sname);
	im->on_untagged = ls_untagged;
	im->hctx = &ls;
	rc = imap_simple(im, FCT_E_STORE, "LIST", err,
	                 "LIST \"\" %s RETURN (%sSTATUS (UIDVALIDITY UIDNEXT MESSAGES%s))", q,
	                 (im->caps & IMAP_CAP_SPECIAL_USE) ? "SPECIAL-USE " : "",
	                 (im->caps & IMAP_CAP_CONDSTORE) ? " HIGHESTMODSEQ" : "");
	if (rc == 0)
		ls_flush(&ls);
	rc = imap_cmd_end(im, rc, err);
	fct_buf_free(&ls.lc.name);
	fct_buf_free(&ls.name);
	fct_buf_free(&ls.sname);
	free(q);
	return rc;
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE ---- */

/* Runs "verb name [name2]"; a NO carrying `ok_code` counts as success. */
static int box_cmd(struct imap *im, const char *verb, const char *box, const char *box2,
                   const char *ok_code, struct fct_err *err)
{
	char *q = imap_quote_mailbox(im, box, err), *q2 = NULL;
	struct imap_done d;
	char what[400];
	int rc = -1;

	if (!q)
		return -1;
	if (box2 && !(q2 = imap_quote_mailbox(im, box2, err))) {
		free(q);
		return -1;
	}
	imap_done_init(&d);
	if (imap_cmdf(im, err, "%s %s%s%s", verb, q, q2 ? " " : "", q2 ? q2 : "") &&
	    imap_next(im, &d, 0, err) == 0) {
		snprintf(what, sizeof what, "%s \"%s\"%s%s%s", verb, box, box2 ? " to \"" : "",
		         box2 ? box2 : "", box2 ? "\"" : "");
		if (d.st == IMAP_ST_OK || (ok_code && strcmp(d.code, ok_code) == 0))
			rc = 0;
		else
			imap_done_err(&d, FCT_E_FOLDER, what, err);
	}
	imap_done_free(&d);
	free(q);
	free(q2);
	return rc;
}

int imap_create(struct imap *im, const char *box_utf8, struct fct_err *err)
{
	return box_cmd(im, "CREATE", box_utf8, NULL, "ALREADYEXISTS", err);
}

int imap_delete(struct imap *im, const char *box_utf8, struct fct_err *err)
{
	return box_cmd(im, "DELETE", box_utf8, NULL, "NONEXISTENT", err);
}

int imap_rename(struct imap *im, const char *from_utf8, const char *to_utf8, struct fct_err *err)
{
	return box_cmd(im, "RENAME", from_utf8, to_utf8, NULL, err);
}

int imap_subscribe(struct imap *im, const char *box_utf8, int subscribe, struct fct_err *err)
{
	return box_cmd(im, subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", box_utf8, NULL, NULL, err);
}
