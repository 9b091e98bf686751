/* One folder pair: open both sides, list them (incrementally with QRESYNC
 * when the journal allows), plan, and hand the plan to the executor. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sync/boxes.h"
#include "sync/crlf.h"
#include "sync/engine.h"
#include "sync/mbsync_state.h"
#include "sync/pool.h"
#include "sync/settle.h"

struct far_acc {
	struct plan_far *v;
	size_t n, cap;
	struct pool *pool;
	uint32_t min_uid; /* "UID n:*" also returns the last UID when below n */
	size_t nsorted;   /* for merging a second FETCH by UID */
};

/* copy: the strings are the server's answer's, gone after the call; else
 * they are the journal records', which live as long as the listing. */
static void far_add(struct far_acc *a, const struct imap_msg *m, int copy)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = fct_xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n].uid = m->uid;
	a->v[a->n].flags = m->flags;
	a->v[a->n].size = m->size;
	a->v[a->n].msgid = copy ? pool_dup(a->pool, m->msgid) : m->msgid;
	a->v[a->n].emailid = copy ? pool_dup(a->pool, m->emailid) : m->emailid;
	a->n++;
}

static void far_push(struct far_acc *a, const struct imap_msg *m)
{
	far_add(a, m, 1);
}

static int far_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct plan_far *)x)->uid, b = ((const struct plan_far *)y)->uid;

	return a < b ? -1 : a > b;
}

/* Sorts by UID; of a UID reported twice (a broken server) one report stays. */
static void far_sort(struct far_acc *a)
{
	size_t i, o = 0;

	if (a->n > 1)
		qsort(a->v, a->n, sizeof *a->v, far_cmp);
	for (i = 0; i < a->n; i++) {
		if (o && a->v[o - 1].uid == a->v[i].uid)
			a->v[o - 1] = a->v[i];
		else
			a->v[o++] = a->v[i];
	}
	a->n = o;
	a->nsorted = o;
}

static struct plan_far *far_find(struct far_acc *a, uint32_t uid)
{
	size_t lo = 0, hi = a->nsorted;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < a->nsorted && a->v[lo].uid == uid) ? &a->v[lo] : NULL;
}

static int on_meta(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct far_acc *a = ctx;

	(void)err;
	if (m->uid && m->uid >= a->min_uid)
		far_push(a, m);
	return 0;
}

static int on_msgid(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct far_acc *a = ctx;
	struct plan_far *f = far_find(a, m->uid);

	(void)err;
	if (f && m->msgid)
		f->msgid = pool_dup(a->pool, m->msgid);
	if (f && m->emailid)
		f->emailid = pool_dup(a->pool, m->emailid);
	return 0;
}

/* QRESYNC: changed messages update flags of known ones; vanished ranges are
 * collected and applied once the journal-based listing exists. */
struct qr_acc {
	struct far_acc changed;
	uint32_t (*gone)[2];
	size_t ngone, capgone;
};

static int on_vanished(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	struct qr_acc *q = ctx;

	(void)err;
	if (q->ngone == q->capgone) {
		q->capgone = q->capgone ? q->capgone * 2 : 16;
		q->gone = fct_xrealloc(q->gone, q->capgone * sizeof *q->gone);
	}
	q->gone[q->ngone][0] = lo;
	q->gone[q->ngone][1] = hi;
	q->ngone++;
	return 0;
}

static int on_changed(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct qr_acc *q = ctx;

	return on_meta(&q->changed, m, err);
}

static int vanished(const struct qr_acc *q, uint32_t uid)
{
	size_t i;

	for (i = 0; i < q->ngone; i++)
		if (uid >= q->gone[i][0] && uid <= q->gone[i][1])
			return 1;
	return 0;
}

/* The far listing from the journal plus what QRESYNC reported changed. */
static void far_from_journal(struct far_acc *a, const struct box_run *r, struct qr_acc *q,
                             uint32_t lo)
{
	size_t i;

	far_sort(&q->changed);
	for (i = 0; i < r->njr; i++) {
		const struct jrnl_msg *m = &r->jr[i];
		struct imap_msg im;
		struct plan_far *ch;

		/* UIDs from lo up are fetched afresh (ours from the last run's
		 * APPENDs among them). */
		if (!m->far_uid || m->far_uid >= lo || vanished(q, m->far_uid) ||
		    m->state == JRNL_NEAR_ONLY) /* its far copy is gone for good */
			continue;
		memset(&im, 0, sizeof im);
		im.uid = m->far_uid;
		im.flags = m->flags;
		im.size = m->size;
		im.msgid = m->msgid;
		im.emailid = m->emailid;
		ch = far_find(&q->changed, m->far_uid);
		if (ch)
			im.flags = ch->flags;
		far_add(a, &im, 0);
	}
}

static uint32_t lowest_pending_upload(const struct box_run *r, uint32_t lo)
{
	size_t i;

	for (i = 0; i < r->njr; i++)
		if (r->jr[i].state == JRNL_PENDING_UPLOAD && !r->jr[i].far_uid &&
		    r->jr[i].upload_uidnext && r->jr[i].upload_uidnext < lo)
			lo = r->jr[i].upload_uidnext;
	return lo;
}

#define META_ALL (IMAP_META_FLAGS | IMAP_META_SIZE | IMAP_META_DATE)

/* The near folder's listing, taken while the server answers the far
 * box's SELECT and FETCH (a round trip per folder otherwise spent idle). */
struct near_scan {
	struct box_job *j;
	int done;
};

static int near_scan_run(void *ctx, struct fct_err *err)
{
	struct near_scan *ns = ctx;

	ns->done = 1;
	return md_scan_names(ns->j->r.nf, &ns->j->ents, &ns->j->nents, err);
}

/* Selects the far box and lists it.  known: the journal's box state, or NULL.
 * match_all: Message-IDs are wanted for every message (adoption, recovery).
 * ns: a near listing to take while the server answers (may be NULL). */
static int list_far(struct box_run *r, const struct jrnl_box *known, int match_all,
                    struct far_acc *a, struct near_scan *ns, struct fct_err *err)
{
	struct chan *c = r->c;
	struct imap_qresync qr, *qrp = NULL;
	struct imap_meta_req req;
	struct qr_acc q;
	uint32_t lo;
	int uv_changed;
	int readonly = !(c->ch->push & CFG_OP_ALL) && !c->ch->expunge_far;
	int rc = -1;

	memset(&q, 0, sizeof q);
	q.changed.pool = a->pool;
	if (known && known->uidvalidity && known->highestmodseq && !match_all &&
	    (c->caps & IMAP_CAP_QRESYNC)) {
		qr.uidvalidity = known->uidvalidity;
		qr.modseq = known->highestmodseq;
		qrp = &qr;
	}
	/* The listing's FETCH goes right behind the SELECT (one round trip),
	 * on the guess that UIDVALIDITY has not changed; when it has, or
	 * QRESYNC is not usable after all, the listing is redone below. */
	lo = known && known->uidnext ? known->uidnext : 1;
	if (qrp) {
		a->min_uid = lo;
		req = (struct imap_meta_req){.lo = lo, .what = META_ALL | IMAP_META_MSGID | IMAP_META_EMAILID,
		                             .cb = on_meta, .ctx = a};
	} else {
		lo = (match_all || !known) ? 1 : lowest_pending_upload(r, lo);
		a->min_uid = 1;
		req = (struct imap_meta_req){.lo = 1,
		                             .what = META_ALL | (lo <= 1 ? IMAP_META_MSGID | IMAP_META_EMAILID : 0),
		                             .cb = on_meta, .ctx = a};
	}
	if (ns) {
		req.meanwhile = near_scan_run;
		req.mctx = ns;
	}
	if (imap_select_meta(c->im, r->far_name, readonly, qrp, &r->fbox, on_vanished, on_changed,
	                     &q, &req, err) < 0)
		goto out;
	if (!r->fbox.uidvalidity) {
		fct_err_set(err, FCT_E_PROTO, "server gave no UIDVALIDITY for '%s'", r->far_name);
		goto out;
	}
	uv_changed = known && known->uidvalidity != r->fbox.uidvalidity;
	rc = 0;
	if (qrp && !uv_changed && !r->fbox.nomodseq) {
		far_from_journal(a, r, &q, a->min_uid);
	} else if (qrp) {
		/* The FETCH asked only for new UIDs: list every message. */
		a->n = a->nsorted = 0;
		a->min_uid = 1;
		rc = imap_fetch_meta(c->im, 1, 0, 0,
		                     META_ALL | (known && !uv_changed ? 0 : IMAP_META_MSGID | IMAP_META_EMAILID),
		                     on_meta, a, err);
		lo = (match_all || uv_changed || !known) ? 1 : lowest_pending_upload(r, lo);
		if (rc == 0 && lo > 1 && r->fbox.exists) {
			far_sort(a);
			rc = imap_fetch_meta(c->im, lo, 0, 0, IMAP_META_MSGID | IMAP_META_EMAILID,
			                     on_msgid, a, err);
		}
	} else if (lo > 1 && r->fbox.exists) {
		/* Message-IDs from lo up (pending uploads), or of every message
		 * when UIDVALIDITY changed (recovery by identity). */
		far_sort(a);
		rc = imap_fetch_meta(c->im, uv_changed ? 1 : lo, 0, 0, IMAP_META_MSGID | IMAP_META_EMAILID,
		                     on_msgid, a, err);
	}
	if (rc == 0)
		far_sort(a);
out:
	free(q.changed.v);
	free(q.gone);
	return rc;
}

static int jr_ptr_cmp(const void *x, const void *y)
{
	const struct jrnl_msg *const *a = x, *const *b = y;

	return strcmp((*a)->near_uniq, (*b)->near_uniq);
}

/* The near listing is written over the scan's array, entry by entry (an
 * entry is read before its slot is written, and a plan_near is no larger):
 * a folder's largest listing is not held twice, and the scan's array keeps
 * owning the names. */
_Static_assert(sizeof(struct plan_near) <= sizeof(struct md_entry),
               "the near listing reuses the scan's array");

struct uniq_key {
	const char *p;
	size_t len;
};

static int jr_cmp_key(const void *key, const void *elem)
{
	const struct uniq_key *k = key;
	const char *u = (*(const struct jrnl_msg *const *)elem)->near_uniq;
	size_t ul = strlen(u);
	int c = memcmp(k->p, u, k->len < ul ? k->len : ul);

	return c ? c : (k->len > ul) - (k->len < ul);
}

/* The scan leaves the uniq names in the file names: a message the journal
 * knows takes its record's copy, one it does not a copy in the pool.
 * Done before any message operation, which may replace the file names. */
static const struct jrnl_msg *name_entry(struct md_entry *e, const struct jrnl_msg **byname,
                                         size_t nb, struct pool *pool)
{
	struct uniq_key k = { e->file + MD_SUB_LEN, e->ulen };
	const struct jrnl_msg *const *m = bsearch(&k, byname, nb, sizeof *byname, jr_cmp_key);

	e->uniq = m ? (*m)->near_uniq : pool_dupn(pool, k.p, k.len);
	return m ? *m : NULL;
}

/* Near listing: flags and names from the scan; for messages the journal
 * does not know, the Message-ID and (when matching) the wire size. */
static int list_near(struct box_run *r, int match_all, struct md_entry *ents, size_t nents,
                     struct pool *pool, struct fct_err *err)
{
	const struct jrnl_msg **byname = fct_xcalloc(r->njr + 1, sizeof *byname);
	const struct jrnl_msg **rec = fct_xcalloc(nents + 1, sizeof *rec);
	size_t i, nb = 0;
	int rc = 0;

	for (i = 0; i < r->njr; i++)
		if (r->jr[i].near_uniq)
			byname[nb++] = &r->jr[i];
	qsort(byname, nb, sizeof *byname, jr_ptr_cmp);
	for (i = 0; i < nents; i++)
		rec[i] = name_entry(&ents[i], byname, nb, pool);
	free(byname);
	r->near = (struct plan_near *)(void *)ents;
	for (i = 0; i < nents && rc == 0; i++) {
		const struct md_entry e = ents[i];
		const struct jrnl_msg *k = rec[i];
		struct plan_near p = { e.uniq, e.flags, e.size, NULL };
		char *id = NULL;

		if (k && k->size && !match_all) {
			p.size = k->size;
			p.msgid = k->msgid;
		} else {
			if (k && k->size) {
				p.size = k->size;
			} else if (mbs_identity_size(r->nf, e.uniq, &p.size, err) < 0) {
				rc = err->kind == FCT_E_MSG ? 0 : -1; /* vanished meanwhile: size stays */
			}
			if (rc == 0 && md_msgid(r->nf, e.uniq, &id, err) == 0) {
				p.msgid = pool_dup(pool, id);
				free(id);
			}
		}
		r->near[i] = p;
	}
	r->nnear = rc == 0 ? nents : i;
	free(rec);
	return rc;
}

static unsigned plan_ops(unsigned pull, unsigned push)
{
	unsigned ops = 0;

	ops |= (pull & CFG_OP_NEW) ? PLAN_PULL_NEW : 0;
	ops |= (pull & CFG_OP_RENEW) ? PLAN_PULL_RENEW : 0;
	ops |= (pull & CFG_OP_DELETE) ? PLAN_PULL_DELETE : 0;
	ops |= (pull & CFG_OP_FLAGS) ? PLAN_PULL_FLAGS : 0;
	ops |= (push & CFG_OP_NEW) ? PLAN_PUSH_NEW : 0;
	ops |= (push & CFG_OP_RENEW) ? PLAN_PUSH_RENEW : 0;
	ops |= (push & CFG_OP_DELETE) ? PLAN_PUSH_DELETE : 0;
	ops |= (push & CFG_OP_FLAGS) ? PLAN_PUSH_FLAGS : 0;
	return ops;
}

static uint64_t min_size(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static void fill_cfg(const struct box_run *r, const struct jrnl_box *known, int uv_changed,
                     struct plan_cfg *pc)
{
	const struct cfg_channel *ch = r->c->ch;
	const struct run_opts *o = r->c->opts;

	memset(pc, 0, sizeof *pc);
	pc->ops = o->ops_given ? plan_ops(o->pull_ops, o->push_ops) : plan_ops(ch->pull, ch->push);
	pc->expunge_far = o->expunge_override >= 0 ? o->expunge_override & 1 : ch->expunge_far;
	pc->expunge_near = o->expunge_override >= 0 ? (o->expunge_override >> 1) & 1 : ch->expunge_near;
	pc->max_size = min_size(ch->max_size, min_size(ch->far->max_size, ch->near->max_size));
	pc->max_messages = ch->max_messages;
	pc->expire_unread = ch->expire_unread > 0;
	pc->uidvalidity_changed = uv_changed;
	pc->far_uidnext_journal = (known && !uv_changed) ? known->uidnext : 0;
}

static void print_plan(const struct box_run *r, const struct plan *p)
{
	size_t k;
	struct fct_buf b;

	fct_buf_init(&b);
	for (k = 0; k < PLAN_KIND_COUNT; k++)
		if (p->count[k])
			fct_buf_printf(&b, " %s=%zu", plan_kind_name((enum plan_kind)k), p->count[k]);
	fct_log_info(r->c->log, "%s: %s: would do:%s", r->c->ch->name, r->box,
	             b.len ? b.data : " nothing");
	fct_buf_free(&b);
}

/* A near stamp is only trusted if the folder had been quiet for a while
 * when it was read: a change in the same clock tick would not move it. */
static int64_t settled_stamp(int64_t stamp)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - stamp < 2000000000LL)
		return 0;
	return stamp;
}

/* Before any side effect the box is marked as not skippable, so a run that
 * dies midway is never followed by one that trusts the old state. */
static int mark_dirty(struct box_run *r, const struct jrnl_box *known, struct fct_err *err)
{
	struct jrnl_box b;
	struct jrnl_txn *t;

	if (!known || !known->near_stamp)
		return 0;
	b = *known;
	b.near_stamp = 0;
	b.near_name = NULL;
	if (jrnl_begin(r->c->j, &t, err) < 0)
		return -1;
	if (jrnl_box_put(t, r->box, &b, err) < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

/* Makes sure the box exists on both sides, creating it where allowed.
 * Returns 1 if the box is to be skipped (reported), 0 to go on, -1 error. */
static int open_sides(struct box_run *r, unsigned where, struct fct_err *err)
{
	struct chan *c = r->c;
	int dry = c->opts->dry_run;
	int create_near = chan_may_create(c, BOX_ON_NEAR);
	int create_far = chan_may_create(c, BOX_ON_FAR);

	if (!(where & BOX_ON_NEAR) && !create_near) {
		fct_log_info(c->log, "%s: %s: not on the near side and Create does not allow it; skipped",
		             c->ch->name, r->box);
		return 1;
	}
	if (!(where & BOX_ON_FAR) && !create_far) {
		fct_log_info(c->log, "%s: %s: not on the far side and Create does not allow it; skipped",
		             c->ch->name, r->box);
		return 1;
	}
	if (dry && (!(where & BOX_ON_NEAR) || !(where & BOX_ON_FAR))) {
		fct_log_info(c->log, "%s: %s: would create the folder on the %s side", c->ch->name,
		             r->box, (where & BOX_ON_FAR) ? "near" : "far");
		if (!(where & BOX_ON_FAR))
			return 1;
		return 0; /* plan against an empty near side: the preview counts it */
	}
	if (!(where & BOX_ON_FAR) && imap_create(c->im, r->far_name, err) < 0)
		return -1;
	if (md_folder_open(c->md, r->near_name, !(where & BOX_ON_NEAR) && !dry, &r->nf, err) < 0) {
		if (dry)
			return 1;
		return -1;
	}
	return 0;
}

/* Both sides as the journal last saw them?  Near: the folder's stamp; far:
 * STATUS with CONDSTORE's HIGHESTMODSEQ, which moves with every change. */
static int unchanged(struct box_run *r, const struct jrnl_box *jb)
{
	struct imap_box st;
	struct fct_err e;

	if (!jb->near_stamp || jb->near_stamp != r->near_stamp || !jb->highestmodseq ||
	    !(r->c->caps & IMAP_CAP_CONDSTORE) || r->c->opts->dry_run)
		return 0;
	memset(&st, 0, sizeof st);
	if (far_status_get(&r->c->stcache, r->far_name))
		st = *far_status_get(&r->c->stcache, r->far_name);
	else if (imap_status(r->c->im, r->far_name, &st, &e) < 0)
		return 0;
	return st.uidvalidity == jb->uidvalidity && st.uidnext == jb->uidnext &&
	       st.highestmodseq == jb->highestmodseq;
}


static int record_box(struct box_job *j, struct fct_err *err);

static int plan_box(struct box_job *j, struct fct_err *err)
{
	struct box_run *r = &j->r;
	struct plan_in in;
	int rc;

	fill_cfg(r, j->found ? &j->jb : NULL, j->uv_changed, &j->pc);
	in = (struct plan_in){r->far, r->nfar, r->near, r->nnear, r->jr, r->njr, &j->pc};
	rc = plan_build(&in, &j->plan, err);
	if (rc < 0)
		return -1;
	j->suppress = fct_xcalloc(j->plan.n + 1, 1);
	r->suppress = j->suppress;
	if (r->c->opts->dry_run)
		print_plan(r, &j->plan);
	return 0;
}

/* Records the EMAILID of paired messages whose record lacks one (ours,
 * uploaded by the last run, are listed afresh now), so that a later move
 * on the server is recognised by it.  Both listings are sorted by UID. */
static int learn_emailids(struct box_run *r, struct fct_err *err)
{
	struct jrnl_txn *t = NULL;
	size_t i = 0, k = 0;
	int rc = 0;

	while (i < r->nfar && k < r->njr && rc == 0) {
		struct jrnl_msg *m = &r->jr[k];

		if (m->far_uid < r->far[i].uid) {
			k++;
			continue;
		}
		if (m->far_uid == r->far[i].uid && r->far[i].emailid && !m->emailid) {
			if (!t && jrnl_begin(r->c->j, &t, err) < 0)
				return -1;
			jrnl_msg_set_str(m, &m->emailid, r->far[i].emailid);
			rc = jrnl_msg_put(t, r->box, m, err);
		}
		i++;
	}
	if (!t)
		return 0;
	if (rc < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

static int survey_lists(struct box_job *j, struct fct_err *err)
{
	struct box_run *r = &j->r;
	struct far_acc fa;
	struct near_scan ns;
	int match_all;

	memset(&fa, 0, sizeof fa);
	fa.pool = &j->pool;
	if (jrnl_msgs_load_lean(r->c->j, r->box, &r->jr, &r->njr, err) < 0)
		return -1;
	/* Without records, what to ask the server depends on the listing
	 * (match_all): it comes first then; otherwise during the far one. */
	ns.j = j;
	ns.done = !r->nf;
	if (!ns.done && r->njr == 0 && near_scan_run(&ns, err) < 0)
		return -1;
	match_all = (r->njr == 0 && j->nents > 0);
	if (j->vanished == BOX_ON_FAR) {
		/* Nothing to select: every far copy the journal knows is gone. */
		r->fbox.uidvalidity = j->jb.uidvalidity;
		r->fbox.uidnext = j->jb.uidnext;
	} else if (list_far(r, j->found ? &j->jb : NULL, match_all, &fa, ns.done ? NULL : &ns,
			    err) < 0) {
		free(fa.v);
		return -1;
	}
	if (!ns.done && near_scan_run(&ns, err) < 0) {
		free(fa.v);
		return -1;
	}
	r->far = fa.v;
	r->nfar = fa.n;
	if (j->vanished != BOX_ON_FAR)
		r->c->selected = j;
	j->uv_changed = j->found && j->jb.uidvalidity && j->jb.uidvalidity != r->fbox.uidvalidity;
	if (j->uv_changed)
		fct_log_warn(r->c->log, "%s: %s: the server's UIDVALIDITY changed; matching messages "
		             "by Message-ID and size", r->c->ch->name, r->box);
	if (list_near(r, match_all || j->uv_changed, j->ents, j->nents, &j->pool, err) < 0)
		return -1;
	if ((r->c->caps & IMAP_CAP_OBJECTID) && !j->uv_changed && !r->c->opts->dry_run &&
	    learn_emailids(r, err) < 0)
		return -1;
	return plan_box(j, err);
}

/* Adds what the plan did (not what moves did instead) to the summary. */
void box_count_plan(struct chan *c, const struct box_job *j)
{
	size_t i;

	for (i = 0; i < j->plan.n; i++) {
		const struct plan_action *a = &j->plan.acts[i];

		if (j->suppress[i])
			continue;
		c->sum.act[a->kind]++;
		/* A dry run reports what the transfers would cost. */
		if (c->opts->dry_run && a->kind == PLAN_DOWNLOAD)
			c->sum.bytes_down += j->r.far[a->far].size;
		if (c->opts->dry_run && a->kind == PLAN_UPLOAD)
			c->sum.bytes_up += j->r.near[a->near].size;
	}
	c->sum.ambiguous += j->plan.ambiguous;
}

int box_survey(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct box_run *r = &j->r;
	int rc;

	r->c = c;
	r->box = j->box;
	r->far_name = j->far_name;
	r->near_name = j->near_name;
	j->state = JOB_FAILED;
	rc = jrnl_box_get(c->j, r->box, &j->jb, &j->found, err);
	/* adopt hook (sync/mbsync_state.h): a first sync takes over mbsync's state. */
	if (rc == 0 && !j->found)
		rc = mbsync_import_box(c, j, err);
	if (rc == 0 && j->found && j->where != (BOX_ON_FAR | BOX_ON_NEAR))
		rc = vanish_open(c, j, err);
	else if (rc == 0)
		rc = open_sides(r, j->where, err);
	if (rc > 0) {
		j->state = JOB_SKIP;
		return 0;
	}
	if (rc == 0 && r->nf)
		rc = md_folder_stamp(r->nf, &r->near_stamp, err);
	if (rc == 0 && j->found && !j->vanished && unchanged(r, &j->jb)) {
		fct_log_verbose(c->log, "%s: %s: unchanged on both sides", c->ch->name, r->box);
		j->state = JOB_SKIP;
		return 0;
	}
	if (rc == 0)
		rc = survey_lists(j, err);
	if (rc < 0) {
		fct_err_prefix(err, "%s: %s", c->ch->name, j->box);
		return -1;
	}
	if (c->opts->dry_run) {
		box_count_plan(c, j);
		j->state = JOB_DONE;
	} else {
		j->state = JOB_READY;
	}
	return 0;
}

/* The far box must be selected again if another one was listed since;
 * its UIDs are only meaningful under the UIDVALIDITY the survey saw. */
int box_reselect(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct imap_box b;
	int readonly = !(c->ch->push & CFG_OP_ALL) && !c->ch->expunge_far;

	if (c->selected == j)
		return 0;
	memset(&b, 0, sizeof b);
	if (imap_select(c->im, j->far_name, readonly, NULL, &b, NULL, NULL, NULL, err) < 0)
		return -1;
	c->selected = j;
	if (b.uidvalidity != j->r.fbox.uidvalidity)
		return fct_err_set(err, FCT_E_FOLDER, "UIDVALIDITY changed during the run; "
		                   "the next run will recover");
	return 0;
}

static int record_box(struct box_job *j, struct fct_err *err)
{
	struct box_run *r = &j->r;
	struct jrnl_box nb;
	struct jrnl_txn *t;

	memset(&nb, 0, sizeof nb);
	nb.uidvalidity = r->fbox.uidvalidity;
	nb.uidnext = r->fbox.uidnext;
	nb.highestmodseq = r->fbox.nomodseq ? 0 : r->fbox.highestmodseq;
	/* A run that did not take every far change (Sync without some Pull
	 * operation) must not let the next one start after them: QRESYNC
	 * would never report them again.  Without a modseq the next listing
	 * is complete. */
	if ((j->pc.ops & PLAN_PULL_ALL) != PLAN_PULL_ALL)
		nb.highestmodseq = 0;
	nb.near_stamp = settled_stamp(r->near_stamp);
	/* Moves replaced part of this plan and stopped midway: only a complete
	 * listing next time finishes the job (QRESYNC would not report again
	 * what vanished before this run, nor would a skip look at all). */
	if (r->c->moves_failed && (j->moved_out || j->moved_in)) {
		nb.near_stamp = 0;
		nb.highestmodseq = 0;
	}
	if (jrnl_begin(r->c->j, &t, err) < 0)
		return -1;
	if (jrnl_box_put(t, r->box, &nb, err) < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

static int apply_plan(struct chan *c, struct box_job *j, struct fct_err *err)
{
	int rc = 0;

	if (j->vanished)
		return vanish_apply(c, j, err);
	j->state = JOB_FAILED;
	if (j->plan.n) {
		rc = box_reselect(c, j, err);
		if (rc == 0)
			rc = mark_dirty(&j->r, j->found ? &j->jb : NULL, err);
		if (rc == 0)
			rc = exec_plan(&j->r, &j->plan, err);
		if (rc == 0)
			settle_far_note(j);
	}
	if (rc == 0)
		rc = record_box(j, err);
	if (rc < 0) {
		fct_err_prefix(err, "%s: %s", c->ch->name, j->box);
		return -1;
	}
	box_count_plan(c, j);
	j->state = JOB_DONE;
	return 0;
}

/* A job applied (or failed) needs its listings no more: they go now, not
 * when the whole channel is done, so that memory holds one folder's
 * listings at a time rather than every folder's. */
int box_apply(struct chan *c, struct box_job *j, struct fct_err *err)
{
	int rc;

	if (j->state != JOB_READY)
		return 0;
	rc = apply_plan(c, j, err);
	box_job_release(j);
	return rc;
}

int box_plan_is_local(const struct box_job *j)
{
	if (j->vanished)
		return 0;
	for (size_t i = 0; i < j->plan.n; i++) {
		switch (j->plan.acts[i].kind) {
		case PLAN_FLAGS_FAR:
		case PLAN_FLAGS_NEAR:
		case PLAN_PAIR:
		case PLAN_JR_UPDATE:
		case PLAN_SKIP_TOO_BIG:
			break;
		default:
			return 0;
		}
	}
	return 1;
}

void box_job_release(struct box_job *j)
{
	plan_free(&j->plan);
	free(j->suppress);
	free(j->r.far);
	md_entries_free(j->ents, j->nents); /* and the near listing, written over it */
	jrnl_msgs_free(j->r.jr, j->r.njr);
	pool_free(&j->pool);
	j->suppress = NULL;
	j->r.suppress = NULL;
	j->r.near = NULL;
	j->r.far = NULL;
	j->r.nnear = j->r.nfar = 0;
	j->ents = NULL;
	j->nents = 0;
	j->r.jr = NULL;
	j->r.njr = 0;
	md_folder_forget(j->r.nf);
}

void box_job_free(struct box_job *j)
{
	md_folder_close(j->r.nf);
	j->r.nf = NULL;
	box_job_release(j);
	jrnl_box_clear(&j->jb);
	free(j->pushed);
	free(j->box);
	free(j->far_name);
	free(j->near_name);
	memset(j, 0, sizeof *j);
}
