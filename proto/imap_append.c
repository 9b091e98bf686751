/* IMAP APPEND: one message (imap_append) or many pipelined
 * (imap_append_many), each body streamed from its source. */
#include "proto/imap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bodies up to this size may use LITERAL- (RFC 7888). */
#define LITERAL_MINUS_MAX 4096

static int append_body(struct imap *im, struct imap_source *src, struct fct_err *err)
{
	enum { CHUNK = 64 * 1024 };
	char *buf = fct_xmalloc(CHUNK);
	uint64_t done = 0;
	int rc = 0;

	while (done < src->size) {
		size_t want = src->size - done < CHUNK ? (size_t)(src->size - done) : CHUNK;
		long got = src->read(src->ctx, buf, want, err);
		if (got <= 0) {
			if (got == 0)
				fct_err_set(err, FCT_E_MSG, "message ended after %llu of %llu bytes",
				            (unsigned long long)done, (unsigned long long)src->size);
			rc = -1;
			break;
		}
		if ((uint64_t)got > want) {
			fct_err_set(err, FCT_E_MSG, "message source returned too many bytes");
			rc = -1;
			break;
		}
		if (imap_send(im, buf, (size_t)got, 0, err) < 0) {
			rc = -1;
			break;
		}
		done += (uint64_t)got;
	}
	free(buf);
	if (rc < 0) {
		/* Half a literal is on the wire: the session cannot recover. */
		if (!im->dead)
			imap_fail(im, err);
		return -1;
	}
	return imap_send(im, "\r\n", 2, 0, err);
}

static int append_done(const struct imap_done *d, const char *box, uint32_t *uidvalidity_out,
                       uint32_t *uid_out, struct fct_err *err)
{
	char what[300];

	*uidvalidity_out = *uid_out = 0;
	if (d->st == IMAP_ST_OK) {
		if (strcmp(d->code, "APPENDUID") == 0) {
			unsigned long long uv, uid;
			if (sscanf(d->arg.data, "%llu %llu", &uv, &uid) == 2 && uv <= UINT32_MAX &&
			    uid <= UINT32_MAX) {
				*uidvalidity_out = (uint32_t)uv;
				*uid_out = (uint32_t)uid;
			}
		}
		return 0;
	}
	if (strcmp(d->code, "TRYCREATE") == 0) {
		snprintf(what, sizeof what, "TRYCREATE: APPEND to \"%s\"", box);
		return imap_done_err(d, FCT_E_FOLDER, what, err);
	}
	snprintf(what, sizeof what, "APPEND to \"%s\"", box);
	return imap_done_err(d, FCT_E_MSG, what, err);
}

/* State of one imap_append_many call. */
struct am {
	struct imap *im;
	const struct imap_append_cbs *cb;
	const char *box;
	char *q;              /* quoted mailbox name */
	unsigned *tags;       /* per message: tag of its APPEND, 0 if not sent */
	size_t n, sent, oldest;
};

/* Hands one completion to done() (unless a callback already failed). */
static void am_report(struct am *a, size_t i, const struct imap_done *d)
{
	struct fct_err e, ce;
	uint32_t uv, uid;
	int ok;

	fct_err_clear(&e);
	fct_err_clear(&ce);
	ok = append_done(d, a->box, &uv, &uid, &e) == 0;
	if (!a->im->cb_failed && a->cb->done(a->cb->ctx, i, ok, uv, uid, ok ? NULL : &e, &ce) < 0)
		imap_cb_fail(a->im, &ce);
}

/* Reads one tagged completion and reports it to its message. */
static int am_complete(struct am *a, struct fct_err *err)
{
	struct imap_done d;
	size_t i;

	imap_done_init(&d);
	if (imap_next(a->im, &d, 0, err) < 0) {
		imap_done_free(&d);
		return -1;
	}
	for (i = a->oldest; i < a->sent; i++)
		if (a->tags[i] == d.tag) {
			a->tags[i] = 0;
			am_report(a, i, &d);
			break;
		}
	if (i == a->sent) {
		/* Not one of ours in flight: the server completed something twice. */
		fct_err_set(err, FCT_E_PROTO, "IMAP server %s answered an APPEND twice (tag A%u)",
		            a->im->host, d.tag);
		imap_done_free(&d);
		return imap_fail(a->im, err);
	}
	while (a->oldest < a->sent && a->tags[a->oldest] == 0)
		a->oldest++;
	imap_done_free(&d);
	return 0;
}

/* Sends message a->sent: the command, then (after the continuation if the
 * literal is synchronizing) its body.  -1 only when the session is lost. */
static int am_send(struct am *a, struct imap_upload *u, struct fct_err *err)
{
	struct imap *im = a->im;
	char fl[80] = "", dt[40] = "";
	size_t i = a->sent;
	struct imap_done d;
	int nonsync, r;

	nonsync = (im->caps & IMAP_CAP_LITERALPLUS) ||
	          ((im->caps & IMAP_CAP_LITERALMINUS) && u->src.size <= LITERAL_MINUS_MAX);
	/* A synchronizing literal waits for "+": nothing else may be pending. */
	while (!nonsync && im->inflight > 0)
		if (am_complete(a, err) < 0)
			return -1;
	if (im->cb_failed)
		return 0; /* a done() just said stop: message i is not sent */
	if (u->flags & FCT_F_ALL) {
		char list[64];
		fct_flags_to_imap(u->flags, list, sizeof list);
		snprintf(fl, sizeof fl, " (%s)", list);
	}
	if (u->date > 0) {
		char d0[32];
		imap_format_date(u->date, d0, sizeof d0);
		snprintf(dt, sizeof dt, " \"%s\"", d0);
	}
	a->tags[i] = imap_cmdf(im, err, "APPEND %s%s%s {%llu%s}", a->q, fl, dt,
	                       (unsigned long long)u->src.size, nonsync ? "+" : "");
	if (!a->tags[i])
		return -1;
	a->sent++;
	if (!nonsync) {
		imap_done_init(&d);
		r = imap_next(im, &d, 1, err);
		if (r == 0) { /* refused before the body */
			a->tags[i] = 0;
			am_report(a, i, &d);
		}
		imap_done_free(&d);
		if (r <= 0)
			return r;
	}
	return append_body(im, &u->src, err);
}

int imap_append_many(struct imap *im, const char *box_utf8, size_t n,
                     const struct imap_append_cbs *cb, struct fct_err *err)
{
	struct am a;
	int io = 0;

	if (imap_check(im, err) < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.im = im;
	a.cb = cb;
	a.box = box_utf8;
	a.n = n;
	if (!(a.q = imap_quote_mailbox(im, box_utf8, err)))
		return -1;
	a.tags = fct_xcalloc(n ? n : 1, sizeof *a.tags);
	while (!io && ((a.sent < n && !im->cb_failed) || im->inflight > 0)) {
		struct imap_upload u;
		struct fct_err e, ce;
		int r;

		if (a.sent >= n || im->cb_failed || (int)im->inflight >= im->depth) {
			io = am_complete(&a, err) < 0;
			continue;
		}
		memset(&u, 0, sizeof u);
		fct_err_clear(&e);
		fct_err_clear(&ce);
		r = cb->next(cb->ctx, a.sent, &u, &e);
		if (r < 0) {
			imap_cb_fail(im, &e);
		} else if (r > 0) {
			if (cb->done(cb->ctx, a.sent, 0, 0, 0, &e, &ce) < 0)
				imap_cb_fail(im, &ce);
			a.sent++;
		} else {
			io = am_send(&a, &u, err) < 0;
		}
		while (a.oldest < a.sent && a.tags[a.oldest] == 0)
			a.oldest++;
	}
	free(a.tags);
	free(a.q);
	return imap_cmd_end(im, io ? -1 : 0, err);
}

/* ---- one message ---- */

struct one {
	unsigned flags;
	int64_t date;
	struct imap_source *src;
	uint32_t uv, uid;
	int ok;
	struct fct_err e;
};

static int one_next(void *ctx, size_t i, struct imap_upload *u, struct fct_err *err)
{
	struct one *o = ctx;

	(void)i;
	(void)err;
	u->flags = o->flags;
	u->date = o->date;
	u->src = *o->src;
	return 0;
}

static int one_done(void *ctx, size_t i, int ok, uint32_t uidvalidity, uint32_t uid,
                    const struct fct_err *e, struct fct_err *err)
{
	struct one *o = ctx;

	(void)i;
	(void)err;
	o->ok = ok;
	o->uv = uidvalidity;
	o->uid = uid;
	if (!ok)
		o->e = *e;
	return 0;
}

int imap_append(struct imap *im, const char *box_utf8, unsigned flags, int64_t date,
                struct imap_source *src, uint32_t *uidvalidity_out, uint32_t *uid_out,
                struct fct_err *err)
{
	struct one o = {flags, date, src, 0, 0, -1, {0}};
	struct imap_append_cbs cb = {one_next, one_done, &o};

	if (uidvalidity_out)
		*uidvalidity_out = 0;
	if (uid_out)
		*uid_out = 0;
	if (imap_append_many(im, box_utf8, 1, &cb, err) < 0)
		return -1;
	if (o.ok < 0) /* cannot happen: the completion was read */
		return fct_err_set(err, FCT_E_PROTO, "APPEND to \"%s\": no completion", box_utf8);
	if (!o.ok) {
		*err = o.e;
		return -1;
	}
	if (uidvalidity_out)
		*uidvalidity_out = o.uv;
	if (uid_out)
		*uid_out = o.uid;
	return 0;
}
