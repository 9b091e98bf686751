/* Applies a plan to one folder pair, in phases that keep each message's
 * action order (see sync/plan.h) while batching the I/O: journal-only
 * pairings first, then near changes, far STOREs, far EXPUNGE, their journal
 * updates, and finally the transfers, each with its intent journaled
 * before the side effect (crash protocol in sync/engine.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sync/boxes.h"
#include "sync/crlf.h"
#include "sync/engine.h"
#include "sync/msgsrc.h"
#include "sync/progress.h"
#include "sync/trash.h"

#define DL_BATCH_MSGS 256
#define DL_BATCH_BYTES (64ull << 20)
#define DL_OUT (64u << 10) /* a message is written in pieces of this size */
#define UL_JOURNAL_EVERY 64

/* Records this run creates, addressable by the far or near index of the
 * action that created them (plan.h: RECORD IDENTITY). */
struct exec {
	struct box_run *r;
	const struct plan *p;
	struct jrnl_msg *made;
	size_t nmade, capmade;
	/* Index into made + 1, 0 = none; 32 bits, as there is one per
	 * message listed (the plan itself is bounded by 32-bit indices). */
	uint32_t *far_made, *near_made;
	struct progress *prog;        /* transfers' live line on a terminal */
	struct md_folder *trash;      /* the near store's Trash, once opened */
	unsigned char *landed;        /* per action: an upload a stopped run made after all */
};

/* Actions the cross-folder move pass already carried out another way. */
static int skipped(const struct exec *x, size_t i)
{
	return (x->r->suppress && x->r->suppress[i]) || (x->landed && x->landed[i]);
}

static struct jrnl_msg *rec_new(struct exec *x, size_t far, size_t near)
{
	struct jrnl_msg *m;

	if (x->nmade == x->capmade) {
		x->capmade = x->capmade ? x->capmade * 2 : 64;
		x->made = fct_xrealloc(x->made, x->capmade * sizeof *x->made);
	}
	m = &x->made[x->nmade++];
	memset(m, 0, sizeof *m);
	if (far != PLAN_NONE)
		x->far_made[far] = (uint32_t)x->nmade;
	if (near != PLAN_NONE)
		x->near_made[near] = (uint32_t)x->nmade;
	return m;
}

/* The record an action writes: an existing one, one made earlier in its
 * group, or (create) a new one. */
static struct jrnl_msg *rec_for(struct exec *x, const struct plan_action *a, int create)
{
	if (a->jr != PLAN_NONE)
		return &x->r->jr[a->jr];
	if (a->far != PLAN_NONE && x->far_made[a->far])
		return &x->made[x->far_made[a->far] - 1];
	if (a->near != PLAN_NONE && x->near_made[a->near])
		return &x->made[x->near_made[a->near] - 1];
	return create ? rec_new(x, a->far, a->near) : NULL;
}

/* Fills a record's identity from the listings the action points to.
 * Records own their strings (loaded ones are freed by jrnl_msgs_free, made
 * ones by exec_free), so identity is copied in. */
static void rec_link(struct exec *x, struct jrnl_msg *m, const struct plan_action *a)
{
	const struct box_run *r = x->r;

	if (a->far != PLAN_NONE) {
		m->far_uid = r->far[a->far].uid;
		m->size = r->far[a->far].size;
		if (r->far[a->far].msgid)
			jrnl_msg_set_str(m, &m->msgid, r->far[a->far].msgid);
		if (r->far[a->far].emailid)
			jrnl_msg_set_str(m, &m->emailid, r->far[a->far].emailid);
	}
	if (a->near != PLAN_NONE) {
		jrnl_msg_set_str(m, &m->near_uniq, r->near[a->near].uniq);
		if (a->far == PLAN_NONE)
			m->size = r->near[a->near].size;
		if (!m->msgid && r->near[a->near].msgid)
			jrnl_msg_set_str(m, &m->msgid, r->near[a->near].msgid);
	}
}

static void exec_free(struct exec *x)
{
	size_t i;

	for (i = 0; i < x->nmade; i++)
		jrnl_msg_clear(&x->made[i]);
	free(x->made);
	free(x->far_made);
	free(x->near_made);
	free(x->landed);
	if (x->trash)
		md_folder_close(x->trash);
}

static int put(struct jrnl_txn *t, struct exec *x, struct jrnl_msg *m, struct fct_err *err)
{
	return jrnl_msg_put(t, x->r->box, m, err);
}

static int journal_phase(struct exec *x, int (*each)(struct exec *, struct jrnl_txn *,
                                                     const struct plan_action *, struct fct_err *),
                         struct fct_err *err)
{
	struct jrnl_txn *t;
	size_t i;

	if (jrnl_begin(x->r->c->j, &t, err) < 0)
		return -1;
	for (i = 0; i < x->p->n; i++) {
		if (skipped(x, i))
			continue;
		if (each(x, t, &x->p->acts[i], err) < 0) {
			jrnl_abort(t);
			return -1;
		}
	}
	return jrnl_commit(t, err);
}

/* Phase 1: pairings and too-big reports, before any side effect. */
static int pre_record(struct exec *x, struct jrnl_txn *t, const struct plan_action *a,
                      struct fct_err *err)
{
	struct jrnl_msg *m;

	if (a->kind != PLAN_PAIR && a->kind != PLAN_SKIP_TOO_BIG)
		return 0;
	m = rec_for(x, a, 1);
	rec_link(x, m, a);
	m->flags = a->flags;
	m->state = (uint8_t)a->state;
	return put(t, x, m, err);
}

/* Phase 5: record flag/state updates and forget records, after the side
 * effects of phases 2-4 succeeded. */
static int post_record(struct exec *x, struct jrnl_txn *t, const struct plan_action *a,
                       struct fct_err *err)
{
	struct jrnl_msg *m;

	if (a->kind != PLAN_JR_UPDATE && a->kind != PLAN_JR_FORGET)
		return 0;
	m = rec_for(x, a, 0);
	if (!m)
		return fct_err_set(err, FCT_E_FOLDER, "plan updates a record it never made");
	if (a->kind == PLAN_JR_FORGET)
		return m->id ? jrnl_msg_del(t, x->r->box, m->id, err) : 0;
	m->flags = a->flags;
	m->state = (uint8_t)a->state;
	return put(t, x, m, err);
}

/* Should a deleted message be kept in the store's Trash?  Not for
 * MaxMessages expiry (the message stays on the far side), not inside the
 * trash itself, and with TrashNewOnly only for messages never propagated. */
static int wants_trash(const struct exec *x, const struct cfg_store *st, const char *box,
                       const struct plan_action *a)
{
	if (!st->trash || a->state == PLAN_JR_FAR_ONLY || strcmp(st->trash, box) == 0)
		return 0;
	return !st->trash_new_only || a->jr == PLAN_NONE ||
	       x->r->jr[a->jr].state == JRNL_PENDING_DOWNLOAD;
}

static int near_delete(struct exec *x, const struct plan_action *a, struct fct_err *err)
{
	struct box_run *r = x->r;
	const char *uniq = r->near[a->near].uniq;

	if (!wants_trash(x, r->c->ch->near, r->near_name, a))
		return md_remove(r->nf, uniq, err);
	if (!x->trash && md_folder_open(r->c->md, r->c->ch->near->trash, 1, &x->trash, err) < 0)
		return -1;
	return md_move(r->nf, uniq, x->trash, err);
}

/* Phase 2: near flag changes and removals (idempotent), then one directory
 * sync so they are durable before the journal says so. */
static int near_changes(struct exec *x, struct fct_err *err)
{
	struct box_run *r = x->r;
	size_t i, done = 0;

	if (trash_near_new(r, x->p, err) < 0)
		return -1;
	for (i = 0; i < x->p->n; i++) {
		if (skipped(x, i))
			continue;
		const struct plan_action *a = &x->p->acts[i];
		int rc;

		if (a->kind == PLAN_FLAGS_NEAR)
			rc = md_set_flags(r->nf, r->near[a->near].uniq, a->flags, err);
		else if (a->kind == PLAN_DELETE_NEAR)
			rc = near_delete(x, a, err);
		else
			continue;
		/* Gone meanwhile (the user deleted it): the next run sees that. */
		if (rc < 0 && err->kind != FCT_E_MSG)
			return -1;
		done++;
	}
	return done ? md_folder_sync(r->nf, err) : 0;
}

struct uidv {
	uint32_t *v;
	size_t n, cap;
};

static void uidv_push(struct uidv *u, uint32_t uid)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 64;
		u->v = fct_xrealloc(u->v, u->cap * sizeof *u->v);
	}
	u->v[u->n++] = uid;
}

/* Phase 3: far flag changes, one UID STORE per flag and direction, all in
 * one flight. */
static int far_flags(struct exec *x, struct fct_err *err)
{
	struct imap_flag_change ch[12];
	struct uidv set[6][2];
	size_t i, b, d, k = 0;
	int rc = 0;

	memset(set, 0, sizeof set);
	for (i = 0; i < x->p->n; i++) {
		if (skipped(x, i))
			continue;
		const struct plan_action *a = &x->p->acts[i];
		uint32_t uid;

		if (a->kind != PLAN_FLAGS_FAR && a->kind != PLAN_DELETE_FAR)
			continue;
		uid = x->r->far[a->far].uid;
		if (a->kind == PLAN_DELETE_FAR) {
			uidv_push(&set[5][1], uid); /* bit 5 is FCT_F_DELETED */
			continue;
		}
		for (b = 0; b < 6; b++) {
			if (a->add & (1u << b))
				uidv_push(&set[b][1], uid);
			if (a->del & (1u << b))
				uidv_push(&set[b][0], uid);
		}
	}
	for (b = 0; b < 6; b++)
		for (d = 0; d < 2; d++)
			if (set[b][d].n)
				ch[k++] = (struct imap_flag_change){set[b][d].v, set[b][d].n, (int)d, 1u << b};
	if (k)
		rc = imap_store_many(x->r->c->im, ch, k, err);
	for (b = 0; b < 6; b++)
		for (d = 0; d < 2; d++)
			free(set[b][d].v);
	return rc;
}

/* Phase 4: expunge what the plan expunges. */
static int far_trash(struct exec *x, struct uidv *t, struct fct_err *err)
{
	struct chan *c = x->r->c;
	struct fct_buf name;
	int rc;

	fct_buf_init(&name);
	rc = box_canon_to_far(c->ch->far->trash, c->prefix, c->delim, &name, err);
	if (rc == 0 && (rc = imap_copy(c->im, t->v, t->n, name.data, NULL, err)) < 0 &&
	    strncmp(err->msg, "TRYCREATE", 9) == 0) {
		rc = imap_create(c->im, name.data, err);
		if (rc == 0)
			rc = imap_copy(c->im, t->v, t->n, name.data, NULL, err);
	}
	fct_buf_free(&name);
	return rc;
}

static int far_expunge(struct exec *x, struct fct_err *err)
{
	struct uidv u = {0}, t = {0};
	size_t i;
	int rc = trash_far_new(x->r, x->p, err);

	for (i = 0; i < x->p->n; i++) {
		const struct plan_action *a = &x->p->acts[i];

		if (skipped(x, i) || a->kind != PLAN_EXPUNGE_FAR)
			continue;
		uidv_push(&u, x->r->far[a->far].uid);
		if (wants_trash(x, x->r->c->ch->far, x->r->box, a))
			uidv_push(&t, x->r->far[a->far].uid);
	}
	/* Copies to the far Trash go first: the expunge only follows them. */
	if (rc == 0 && t.n)
		rc = far_trash(x, &t, err);
	if (rc == 0 && u.n) {
		/* Without UIDPLUS only a plain EXPUNGE exists; Expunge Far asked
		 * for every \Deleted message to go, which is what it does. */
		if (x->r->c->caps & IMAP_CAP_UIDPLUS)
			rc = imap_expunge_uids(x->r->c->im, u.v, u.n, err);
		else
			rc = imap_expunge_all(x->r->c->im, err);
	}
	free(u.v);
	free(t.v);
	return rc;
}

/* ---- downloads ---- */

struct dl_item {
	size_t act;          /* plan action index */
	int done;            /* streamed (and, once its batch is committed, in place) */
};

/* A message of the open batch.  What its journal record needs lives here,
 * not per message of the box: once the batch is committed it is dropped,
 * so a folder of any size holds at most one batch of records. */
struct dl_slot {
	size_t item;          /* index into dl.items */
	struct md_tmp *tmp;   /* streamed into the open batch (owned by it) */
	struct jrnl_msg rec;  /* the new record, unless the action has one */
	unsigned char fp[32]; /* SHA-256 of the file as stored */
};

struct dl_pos {
	uint32_t uid;
	size_t pos;
};

/* Every download of a box goes out as one pipelined stream of FETCHes;
 * whenever the messages streamed reach a batch, the sink makes that batch
 * durable and journals it while the next answers wait in the socket, so
 * the server never waits for a drained pipeline. */
struct dl {
	struct exec *x;
	struct md_batch *b;    /* the open batch */
	struct dl_item *items; /* by position in the uid list */
	const uint32_t *uids;
	size_t n, cur;         /* cur: item being streamed */
	size_t next;           /* where the next UID is expected in uids */
	struct dl_pos *sorted; /* uids by value, made on the first answer out of order */
	struct dl_slot open[DL_BATCH_MSGS]; /* the open batch: a commit touches only it */
	size_t inbatch;        /* how many */
	uint64_t batch_bytes;
	struct md_tmp *tmp;
	struct crlf_dec dec;
	EVP_MD_CTX *sha;       /* the content fingerprint of the message streamed */
	size_t outlen;         /* bytes of out not yet written */
	char out[DL_OUT + 1];  /* decoding can add a held-back CR */
};

/* The server answers in the order asked: look where the last one ended;
 * else (a server answering out of order) search the UIDs sorted once. */
static int pos_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct dl_pos *)a)->uid, y = ((const struct dl_pos *)b)->uid;

	return x < y ? -1 : x > y;
}

static size_t dl_find(struct dl *d, uint32_t uid)
{
	struct dl_pos key = {uid, 0}, *hit;

	if (d->next < d->n && d->uids[d->next] == uid)
		return d->next;
	if (!d->sorted) {
		d->sorted = fct_xcalloc(d->n + 1, sizeof *d->sorted);
		for (size_t i = 0; i < d->n; i++)
			d->sorted[i] = (struct dl_pos){d->uids[i], i};
		qsort(d->sorted, d->n, sizeof *d->sorted, pos_cmp);
	}
	hit = bsearch(&key, d->sorted, d->n, sizeof *d->sorted, pos_cmp);
	return hit ? hit->pos : d->n;
}

static int dl_begin(void *ctx, uint32_t uid, uint64_t size, struct fct_err *err)
{
	struct dl *d = ctx;
	size_t i = dl_find(d, uid);

	(void)size;
	if (i == d->n || d->items[i].done)
		return fct_err_set(err, FCT_E_PROTO, "server sent UID %u, which was not asked for", uid);
	if (md_tmp_open(d->b, &d->tmp, err) < 0)
		return -1;
	d->cur = i;
	d->next = i + 1;
	d->outlen = 0;
	memset(&d->dec, 0, sizeof d->dec);
	EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL);
	return 0;
}

static int dl_flush(struct dl *d, struct fct_err *err)
{
	size_t o = d->outlen;

	d->outlen = 0;
	EVP_DigestUpdate(d->sha, d->out, o);
	return o ? md_tmp_write(d->tmp, d->out, o, err) : 0;
}

/* The parser hands over a TLS record (16 KB at most) at a time.  Writing
 * DL_OUT bytes at once instead costs the kernel less per byte (the page
 * cache takes larger pieces) and makes a quarter of the calls. */
static int dl_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct dl *d = ctx;

	while (n) {
		size_t room = DL_OUT - d->outlen; /* at least 1: full is flushed */
		size_t piece = n < room ? n : room;

		d->outlen += crlf_dec_step(&d->dec, p, piece, d->out + d->outlen);
		if (d->outlen >= DL_OUT && dl_flush(d, err) < 0)
			return -1;
		p += piece;
		n -= piece;
	}
	return 0;
}

/* The record of a batch's message: the one the journal had, or the slot's. */
static struct jrnl_msg *dl_rec(struct dl *d, struct dl_slot *s, const struct plan_action *a)
{
	return a->jr != PLAN_NONE ? &d->x->r->jr[a->jr] : &s->rec;
}

/* Journals every message of the open batch with the given state. */
static int dl_journal(struct dl *d, int state, struct fct_err *err)
{
	struct jrnl_txn *t;

	if (jrnl_begin(d->x->r->c->j, &t, err) < 0)
		return -1;
	for (size_t k = 0; k < d->inbatch; k++) {
		struct dl_slot *s = &d->open[k];
		const struct plan_action *a = &d->x->p->acts[d->items[s->item].act];
		struct jrnl_msg *m = dl_rec(d, s, a);

		rec_link(d->x, m, a);
		jrnl_msg_set_str(m, &m->near_uniq, md_tmp_next_uniq(s->tmp));
		jrnl_msg_set_fp(m, s->fp);
		m->flags = a->flags;
		m->state = (uint8_t)state;
		if (put(t, d->x, m, err) < 0) {
			jrnl_abort(t);
			return -1;
		}
	}
	return jrnl_commit(t, err);
}

/* Intent, durable rename, confirmation (sync/engine.h), then a new batch. */
static int dl_commit(struct dl *d, struct fct_err *err)
{
	int rc = 0;

	if (d->inbatch) {
		rc = dl_journal(d, JRNL_PENDING_DOWNLOAD, err);
		if (rc == 0)
			rc = md_batch_commit(d->b, err);
		if (rc == 0)
			rc = dl_journal(d, JRNL_SYNCED, err);
	}
	for (size_t k = 0; k < d->inbatch; k++)
		jrnl_msg_clear(&d->open[k].rec);
	md_batch_free(d->b);
	d->b = md_batch_new(d->x->r->nf);
	d->inbatch = 0;
	d->batch_bytes = 0;
	return rc;
}

static int dl_end(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct dl *d = ctx;
	const struct plan_action *a = &d->x->p->acts[d->items[d->cur].act];
	uint64_t size = d->x->r->far[a->far].size;
	struct md_tmp *t = d->tmp;
	struct dl_slot *s = &d->open[d->inbatch];

	d->outlen += crlf_dec_end(&d->dec, d->out + d->outlen);
	if (dl_flush(d, err) < 0) {
		d->tmp = NULL;
		md_tmp_abort(t);
		return -1;
	}
	d->tmp = NULL;
	EVP_DigestFinal_ex(d->sha, s->fp, NULL);
	if (md_tmp_done(t, a->flags, m->internaldate, err) < 0)
		return -1;
	s->item = d->cur;
	s->tmp = t;
	memset(&s->rec, 0, sizeof s->rec);
	d->items[d->cur].done = 1;
	d->x->r->c->sum.bytes_down += size;
	progress_step(d->x->prog, 1, size);
	d->inbatch++;
	d->batch_bytes += size;
	if (d->inbatch >= DL_BATCH_MSGS || d->batch_bytes >= DL_BATCH_BYTES)
		return dl_commit(d, err);
	return 0;
}

static int downloads(struct exec *x, struct fct_err *err)
{
	struct dl *d = fct_xcalloc(1, sizeof *d);
	uint32_t *uids = fct_xcalloc(x->p->n + 1, sizeof *uids);
	struct imap_body_sink sink = {dl_begin, dl_data, dl_end, d};
	size_t i;
	int rc = 0;

	d->x = x;
	d->uids = uids;
	d->items = fct_xcalloc(x->p->n + 1, sizeof *d->items);
	d->sha = EVP_MD_CTX_new();
	if (!d->sha)
		fct_oom();
	for (i = 0; i < x->p->n; i++) {
		const struct plan_action *a = &x->p->acts[i];

		if (skipped(x, i) || a->kind != PLAN_DOWNLOAD)
			continue;
		d->items[d->n].act = i;
		uids[d->n++] = x->r->far[a->far].uid;
	}
	if (d->n) {
		d->b = md_batch_new(x->r->nf);
		rc = imap_fetch_bodies(x->r->c->im, uids, d->n, &sink, err);
		if (d->tmp)
			md_tmp_abort(d->tmp);
		/* What was streamed before a failure is kept too: nothing lost. */
		if (d->inbatch) {
			struct fct_err e2;

			if (dl_commit(d, rc == 0 ? err : &e2) < 0 && rc == 0)
				rc = -1;
		}
		md_batch_free(d->b);
	}
	EVP_MD_CTX_free(d->sha);
	free(d->sorted);
	free(d->items);
	free(uids);
	free(d);
	return rc;
}

/* ---- uploads ---- */

static int ul_intents(struct exec *x, size_t *recs, struct fct_err *err)
{
	struct jrnl_txn *t;
	size_t i, k = 0;

	if (jrnl_begin(x->r->c->j, &t, err) < 0)
		return -1;
	for (i = 0; i < x->p->n; i++) {
		if (skipped(x, i))
			continue;
		const struct plan_action *a = &x->p->acts[i];
		struct jrnl_msg *m;

		if (a->kind != PLAN_UPLOAD)
			continue;
		if (a->jr == PLAN_NONE) {
			rec_new(x, PLAN_NONE, a->near);
			recs[k] = x->nmade;
		}
		m = a->jr == PLAN_NONE ? &x->made[recs[k] - 1] : &x->r->jr[a->jr];
		rec_link(x, m, a);
		m->far_uid = 0;
		m->flags = a->flags;
		m->state = JRNL_PENDING_UPLOAD;
		m->upload_uidnext = x->r->fbox.uidnext;
		k++;
		if (put(t, x, m, err) < 0) {
			jrnl_abort(t);
			return -1;
		}
	}
	return jrnl_commit(t, err);
}

/* One batch of uploads for imap_append_many: the actions, their journal
 * records, and the one source reused from message to message. */
struct ul_batch {
	struct exec *x;
	const struct plan_action **acts;
	struct jrnl_msg **recs;
	struct msg_src *s;
	struct jrnl_txn *t; /* confirmations not yet committed */
	size_t since;
};

static int ul_next(void *ctx, size_t i, struct imap_upload *u, struct fct_err *err)
{
	struct ul_batch *b = ctx;
	struct box_run *r = b->x->r;
	unsigned char fp[JRNL_FP_LEN];

	if (msg_src_open(b->s, r->nf, r->near[b->acts[i]->near].uniq, &u->src.size, fp, err) < 0)
		return err->kind == FCT_E_MSG ? 1 : -1; /* a message gone: skip it */
	u->src.read = msg_src_read;
	u->src.ctx = b->s;
	jrnl_msg_set_fp(b->recs[i], fp);
	u->flags = b->acts[i]->flags;
	if (r->c->ch->copy_arrival_date)
		u->date = msg_src_mtime(b->s);
	b->recs[i]->size = u->src.size;
	return 0;
}

static int ul_done(void *ctx, size_t i, int ok, uint32_t uidv, uint32_t uid,
                   const struct fct_err *e, struct fct_err *err)
{
	struct ul_batch *b = ctx;
	struct box_run *r = b->x->r;
	struct jrnl_msg *m = b->recs[i];
	int rc;

	if (!ok) {
		if (e->kind != FCT_E_MSG) {
			*err = *e;
			return -1;
		}
		/* one message refused or gone: report, keep going */
		fct_log_error(r->c->log, "%s: %s: %s", r->c->ch->name, r->box, e->msg);
		return 0;
	}
	if (uidv && uidv != r->fbox.uidvalidity)
		return fct_err_set(err, FCT_E_PROTO, "APPENDUID names UIDVALIDITY %u, not %u",
		                   uidv, r->fbox.uidvalidity);
	r->c->sum.bytes_up += m->size;
	progress_step(b->x->prog, 1, m->size);
	if (uid) { /* without UIDPLUS the record stays pending: next run matches it */
		m->far_uid = uid;
		m->state = JRNL_SYNCED;
	}
	if (!b->t && jrnl_begin(r->c->j, &b->t, err) < 0)
		return -1;
	if (put(b->t, b->x, m, err) < 0)
		return -1;
	if (++b->since < UL_JOURNAL_EVERY)
		return 0;
	rc = jrnl_commit(b->t, err);
	b->t = NULL;
	b->since = 0;
	return rc;
}

/* ---- uploads a stopped run may still be making ----
 * A run killed while its APPENDs were in flight leaves the server reading
 * them: they can land after this run listed the folder (seen here within a
 * few hundred milliseconds).  Before uploading again what such a run left
 * pending and unclaimed, look again, after pauses, above what the listing
 * saw; a copy found there is taken as that upload. */
#define LATE_LOOKS 3
#define LATE_PAUSE_US 250000

struct late {
	struct exec *x;
	size_t *acts;
	size_t n;
	struct jrnl_txn *t;
};

static int on_late(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct late *l = ctx;
	struct exec *x = l->x;

	if (m->uid < x->r->fbox.uidnext || !m->msgid)
		return 0;
	for (size_t k = 0; k < l->n; k++) {
		struct jrnl_msg *r = &x->r->jr[x->p->acts[l->acts[k]].jr];

		if (x->landed[l->acts[k]] || r->size != m->size || !r->msgid ||
		    strcmp(r->msgid, m->msgid) != 0)
			continue;
		x->landed[l->acts[k]] = 1;
		r->far_uid = m->uid;
		r->state = JRNL_SYNCED;
		fct_log_verbose(x->r->c->log, "%s: %s: %s landed after its run stopped (UID %u): "
		                "not uploaded again", x->r->c->ch->name, x->r->box, r->msgid, m->uid);
		if (!l->t && jrnl_begin(x->r->c->j, &l->t, err) < 0)
			return -1;
		return put(l->t, x, r, err);
	}
	return 0;
}

static int late_uploads(struct exec *x, struct fct_err *err)
{
	struct late l = {x, fct_xcalloc(x->p->n + 1, sizeof *l.acts), 0, NULL};
	uint32_t lo = x->r->fbox.uidnext;
	int rc = 0;

	for (size_t i = 0; i < x->p->n; i++) {
		const struct plan_action *a = &x->p->acts[i];

		if (a->kind == PLAN_UPLOAD && !skipped(x, i) && a->jr != PLAN_NONE &&
		    x->r->jr[a->jr].state == JRNL_PENDING_UPLOAD && !x->r->jr[a->jr].far_uid &&
		    x->r->jr[a->jr].msgid)
			l.acts[l.n++] = i;
	}
	if (l.n)
		x->landed = fct_xcalloc(x->p->n + 1, 1);
	for (int look = 0; look < LATE_LOOKS && l.n && rc == 0; look++) {
		usleep(LATE_PAUSE_US);
		rc = imap_fetch_meta(x->r->c->im, lo, 0, 0, IMAP_META_SIZE | IMAP_META_MSGID, on_late,
		                     &l, err);
	}
	if (l.t && rc == 0)
		rc = jrnl_commit(l.t, err);
	else if (l.t)
		jrnl_abort(l.t);
	free(l.acts);
	return rc;
}

static int uploads(struct exec *x, struct fct_err *err)
{
	size_t cap = x->p->count[PLAN_UPLOAD] + 1, i, k = 0;
	size_t *recs = fct_xcalloc(cap, sizeof *recs);
	struct ul_batch b = {x, fct_xcalloc(cap, sizeof *b.acts), fct_xcalloc(cap, sizeof *b.recs),
	                     fct_xmalloc(sizeof *b.s), NULL, 0};
	struct imap_append_cbs cb = {ul_next, ul_done, &b};
	int rc;

	msg_src_init(b.s);
	rc = late_uploads(x, err);
	if (rc == 0)
		rc = ul_intents(x, recs, err);
	for (i = 0; i < x->p->n && rc == 0; i++) {
		if (skipped(x, i))
			continue;
		const struct plan_action *a = &x->p->acts[i];

		if (a->kind != PLAN_UPLOAD)
			continue;
		b.acts[k] = a;
		b.recs[k] = a->jr == PLAN_NONE ? &x->made[recs[k] - 1] : &x->r->jr[a->jr];
		k++;
	}
	if (rc == 0 && k > 0)
		rc = imap_append_many(x->r->c->im, x->r->far_name, k, &cb, err);
	if (b.t && rc == 0) {
		rc = jrnl_commit(b.t, err);
	} else if (b.t) {
		/* b.t holds only uploads that landed: record them even though a
		 * later one failed, or the next run finds them unclaimed. */
		struct fct_err e2;

		(void)jrnl_commit(b.t, &e2);
	}
	msg_src_close(b.s);
	free(b.s);
	free(b.acts);
	free(b.recs);
	free(recs);
	return rc;
}

/* The transfers' totals, for the progress line. */
static void start_progress(struct exec *x)
{
	const struct box_run *r = x->r;
	uint64_t msgs = 0, bytes = 0;

	for (size_t i = 0; i < x->p->n; i++) {
		const struct plan_action *a = &x->p->acts[i];

		if (a->kind == PLAN_DOWNLOAD)
			bytes += r->far[a->far].size;
		else if (a->kind == PLAN_UPLOAD)
			bytes += r->near[a->near].size;
		else
			continue;
		msgs++;
	}
	x->prog = progress_new(r->c->log, !r->c->opts->json && !r->c->worker);
	progress_box(x->prog, r->c->ch->name, r->box, msgs, bytes);
}

int exec_plan(struct box_run *r, const struct plan *p, struct fct_err *err)
{
	struct exec x;
	int rc;

	memset(&x, 0, sizeof x);
	x.r = r;
	x.p = p;
	x.far_made = fct_xcalloc(r->nfar + 1, sizeof *x.far_made);
	x.near_made = fct_xcalloc(r->nnear + 1, sizeof *x.near_made);
	rc = journal_phase(&x, pre_record, err);
	if (rc == 0)
		rc = near_changes(&x, err);
	if (rc == 0)
		rc = far_flags(&x, err);
	if (rc == 0)
		rc = far_expunge(&x, err);
	if (rc == 0)
		rc = journal_phase(&x, post_record, err);
	if (rc == 0)
		start_progress(&x);
	if (rc == 0)
		rc = downloads(&x, err);
	if (rc == 0)
		rc = uploads(&x, err);
	progress_free(x.prog);
	exec_free(&x);
	return rc;
}
