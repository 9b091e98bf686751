/* TrashRemoteNew, as mbsync: only when the removing store has no Trash of
 * its own (that one keeps the message then), never for the keeper's Trash
 * folder itself, and only messages within the keeping store's MaxSize.
 * The copy is durable before the removal it precedes but not journaled: a
 * crash in between copies it again next run (a duplicate in the Trash,
 * never a loss).  The copy drops \Deleted: in the Trash it is mail to keep,
 * which an Expunge of a synchronized Trash folder must not remove. */
#include "sync/trash.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/boxes.h"
#include "sync/crlf.h"
#include "sync/msgsrc.h"

#define KEEP_BATCH 256

/* Does `keeper` keep what `from` removes from box (keeper's folder name)? */
static int keeps(const struct cfg_channel *ch, const struct cfg_store *keeper,
                 const struct cfg_store *from, const char *box, uint64_t size)
{
	uint64_t max = ch->max_size ? ch->max_size : keeper->max_size;

	return keeper->trash && keeper->trash_remote_new && !from->trash &&
	       strcmp(keeper->trash, box) != 0 && (max == 0 || size <= max);
}

/* The far (EXPUNGE_FAR) or near (DELETE_NEAR) listing indexes of the
 * unsynced removals to keep; NULL when there are none. */
static size_t *chosen(const struct box_run *r, const struct plan *p, enum plan_kind k, size_t *n)
{
	const struct cfg_channel *ch = r->c->ch;
	int far = k == PLAN_EXPUNGE_FAR;
	const struct cfg_store *keeper = far ? ch->near : ch->far;
	const char *box = far ? r->near_name : r->box;
	size_t *v = NULL, i;

	*n = 0;
	for (i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->acts[i];
		uint64_t size;

		if (a->kind != k || !a->unsynced || (r->suppress && r->suppress[i]))
			continue;
		size = far ? r->far[a->far].size : r->near[a->near].size;
		if (!keeps(ch, keeper, far ? ch->far : ch->near, box, size))
			continue;
		if (!v)
			v = fct_xcalloc(p->count[k] + 1, sizeof *v);
		v[(*n)++] = far ? a->far : a->near;
	}
	return v;
}

/* ---- far -> near Trash ---- */

struct keep_dl {
	struct md_batch *b;
	struct md_tmp *tmp;
	struct crlf_dec dec;
	char out[65537];
};

static int kd_begin(void *ctx, uint32_t uid, uint64_t size, struct fct_err *err)
{
	struct keep_dl *d = ctx;

	(void)uid;
	(void)size;
	memset(&d->dec, 0, sizeof d->dec);
	return md_tmp_open(d->b, &d->tmp, err);
}

static int kd_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct keep_dl *d = ctx;

	while (n) {
		size_t piece = n < sizeof d->out - 1 ? n : sizeof d->out - 1;
		size_t o = crlf_dec_step(&d->dec, p, piece, d->out);

		if (md_tmp_write(d->tmp, d->out, o, err) < 0)
			return -1;
		p += piece;
		n -= piece;
	}
	return 0;
}

static int kd_end(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct keep_dl *d = ctx;
	struct md_tmp *t = d->tmp;
	size_t o = crlf_dec_end(&d->dec, d->out);

	d->tmp = NULL;
	if (o && md_tmp_write(t, d->out, o, err) < 0) {
		md_tmp_abort(t);
		return -1;
	}
	return md_tmp_done(t, m->flags & ~(unsigned)FCT_F_DELETED, m->internaldate, err);
}

static int keep_batch(struct box_run *r, struct md_folder *trash, const uint32_t *uids, size_t n,
                      struct fct_err *err)
{
	struct keep_dl *d = fct_xcalloc(1, sizeof *d);
	struct imap_body_sink sink = {kd_begin, kd_data, kd_end, d};
	int rc;

	d->b = md_batch_new(trash);
	rc = imap_fetch_bodies(r->c->im, uids, n, &sink, err);
	if (d->tmp)
		md_tmp_abort(d->tmp);
	if (rc == 0)
		rc = md_batch_commit(d->b, err);
	md_batch_free(d->b);
	free(d);
	return rc;
}

int trash_far_new(struct box_run *r, const struct plan *p, struct fct_err *err)
{
	struct md_folder *trash = NULL;
	size_t n, i, k;
	size_t *idx = chosen(r, p, PLAN_EXPUNGE_FAR, &n);
	uint32_t *uids;
	int rc;

	if (!n)
		return 0;
	uids = fct_xcalloc(n, sizeof *uids);
	for (i = 0; i < n; i++)
		uids[i] = r->far[idx[i]].uid;
	rc = md_folder_open(r->c->md, r->c->ch->near->trash, 1, &trash, err);
	for (i = 0; rc == 0 && i < n; i += k) {
		k = n - i < KEEP_BATCH ? n - i : KEEP_BATCH;
		rc = keep_batch(r, trash, uids + i, k, err);
	}
	if (trash)
		md_folder_close(trash);
	if (rc == 0)
		fct_log_verbose(r->c->log, "%s: %s: %zu new message(s) kept in the near Trash",
		                r->c->ch->name, r->box, n);
	free(uids);
	free(idx);
	return rc;
}

/* ---- near -> far Trash ---- */

struct keep_ul {
	struct box_run *r;
	const size_t *idx;
	unsigned char *gone; /* per message: removed meanwhile, nothing to keep */
	struct msg_src s;
};

static int ku_next(void *ctx, size_t i, struct imap_upload *u, struct fct_err *err)
{
	struct keep_ul *k = ctx;
	const struct plan_near *m = &k->r->near[k->idx[i]];

	if (msg_src_open(&k->s, k->r->nf, m->uniq, &u->src.size, NULL, err) < 0) {
		k->gone[i] = err->kind == FCT_E_MSG;
		return k->gone[i] ? 1 : -1;
	}
	u->src.read = msg_src_read;
	u->src.ctx = &k->s;
	u->flags = m->flags & ~(unsigned)FCT_F_DELETED;
	u->date = k->r->c->ch->copy_arrival_date ? msg_src_mtime(&k->s) : 0;
	return 0;
}

/* A message the server refuses stops it all: its removal must not follow. */
static int ku_done(void *ctx, size_t i, int ok, uint32_t uidv, uint32_t uid,
                   const struct fct_err *e, struct fct_err *err)
{
	struct keep_ul *k = ctx;

	(void)uidv;
	(void)uid;
	if (ok || k->gone[i])
		return 0;
	*err = *e;
	return -1;
}

static int append_all(struct box_run *r, const size_t *idx, size_t n, const char *box,
                      struct fct_err *err)
{
	struct keep_ul *k = fct_xcalloc(1, sizeof *k);
	struct imap_append_cbs cb = {ku_next, ku_done, k};
	int rc;

	k->r = r;
	k->idx = idx;
	k->gone = fct_xcalloc(n, 1);
	msg_src_init(&k->s);
	rc = imap_append_many(r->c->im, box, n, &cb, err);
	msg_src_close(&k->s);
	free(k->gone);
	free(k);
	return rc;
}

int trash_near_new(struct box_run *r, const struct plan *p, struct fct_err *err)
{
	struct chan *c = r->c;
	struct fct_buf name;
	size_t n;
	size_t *idx = chosen(r, p, PLAN_DELETE_NEAR, &n);
	int rc;

	if (!n)
		return 0;
	fct_buf_init(&name);
	rc = box_canon_to_far(c->ch->far->trash, c->prefix, c->delim, &name, err);
	if (rc == 0 && (rc = append_all(r, idx, n, name.data, err)) < 0 &&
	    strncmp(err->msg, "TRYCREATE", 9) == 0) {
		rc = imap_create(c->im, name.data, err);
		if (rc == 0)
			rc = append_all(r, idx, n, name.data, err);
	}
	if (rc == 0)
		fct_log_verbose(c->log, "%s: %s: %zu new message(s) kept in the far Trash",
		                c->ch->name, r->box, n);
	fct_buf_free(&name);
	free(idx);
	return rc;
}
