/* Trusting a folder's near stamp and far HIGHESTMODSEQ after a run's own
 * changes (sync/settle.h). */
#include "sync/settle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/imap.h"
#include "sync/engine.h"
#include "sync/plan.h"

/* Well above a kernel clock tick (1 to 10 ms): file times come from a
 * clock that may lag the one read here by one tick. */
#define TICK_NS 20000000LL
#define NS 1000000000LL

struct digest {
	uint64_t n, sum;
};

/* An order-independent digest of (uniq, flags) pairs: a sum of well-mixed
 * hashes (FNV-1a, then the splitmix64 finaliser), so that the journal's
 * records and the directory's files can be walked in any order. */
static void digest_add(struct digest *d, const char *uniq, size_t len, unsigned flags)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)uniq[i];
		h *= 0x100000001b3ULL;
	}
	h ^= flags;
	h *= 0x100000001b3ULL;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	d->n++;
	d->sum += h;
}

static int add_record(void *ctx, const struct jrnl_msg *m)
{
	if (m->near_uniq)
		digest_add(ctx, m->near_uniq, strlen(m->near_uniq), m->flags);
	return 0;
}

static int add_file(void *ctx, const char *name, size_t uniq_len, unsigned flags)
{
	digest_add(ctx, name, uniq_len, flags);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static void wait_until(int64_t when)
{
	int64_t left;

	/* A stamp ahead of this clock (a skewed file server, a clock set
	 * back) is never waited for: candidate() refuses it. */
	while ((left = when - now_ns()) > 0 && left <= 2 * TICK_NS) {
		struct timespec d = { (time_t)(left / NS), (long)(left % NS) };

		if (nanosleep(&d, NULL) < 0 && errno != EINTR)
			return;
	}
}

static int candidate(const struct chan *c, const struct box_job *j, int64_t *stamp)
{
	struct fct_err e;

	if (j->state != JOB_DONE || j->vanished || !j->r.nf)
		return 0;
	/* Moves stopped midway: only a full listing finishes them. */
	if (c->moves_failed && (j->moved_out || j->moved_in))
		return 0;
	if (md_folder_stamp(j->r.nf, stamp, &e) < 0 || *stamp > now_ns())
		return 0;
	/* Whole seconds: a coarse file system, where a later change may
	 * keep the stamp; the old rule (a quiet folder) applies there. */
	return *stamp % NS != 0;
}

static int matches(struct chan *c, struct box_job *j)
{
	struct digest dj = {0, 0}, dn = {0, 0};
	struct fct_err e;

	if (jrnl_msgs_each(c->j, j->box, add_record, &dj, &e) != 0 ||
	    md_names_each(j->r.nf, add_file, &dn, &e) != 0)
		return 0;
	return dj.n == dn.n && dj.sum == dn.sum;
}

/* The box's record with the new stamp, or 0 if it needs none. */
static int updated(struct chan *c, const char *box, int64_t stamp, struct jrnl_box *b)
{
	struct fct_err e;
	int found;

	if (jrnl_box_get(c->j, box, b, &found, &e) < 0)
		return 0;
	if (found && b->near_stamp != stamp) {
		b->near_stamp = stamp;
		return 1;
	}
	jrnl_box_clear(b);
	return 0;
}

void settle_stamps(struct chan *c, struct box_job *jobs, size_t n)
{
	int64_t *stamps, last = 0;
	struct jrnl_box *recs;
	struct jrnl_txn *t;
	struct fct_err e;
	size_t i, k = 0;
	int rc = 0;

	if (c->opts->dry_run || !n)
		return;
	stamps = fct_xcalloc(n, sizeof *stamps);
	for (i = 0; i < n; i++) {
		if (!candidate(c, &jobs[i], &stamps[i]))
			stamps[i] = 0;
		else if (stamps[i] > last)
			last = stamps[i];
		k += stamps[i] != 0;
	}
	if (!k) {
		free(stamps);
		return;
	}
	/* One wait for all folders: past it, any change moves a stamp. */
	wait_until(last + TICK_NS);
	recs = fct_xcalloc(n, sizeof *recs);
	k = 0;
	for (i = 0; i < n; i++) {
		if (stamps[i] && matches(c, &jobs[i]) && updated(c, jobs[i].box, stamps[i], &recs[i]))
			k++;
		else
			stamps[i] = 0;
	}
	if (k && jrnl_begin(c->j, &t, &e) == 0) {
		for (i = 0; i < n && rc == 0; i++)
			if (stamps[i])
				rc = jrnl_box_put(t, jobs[i].box, &recs[i], &e);
		if (rc < 0)
			jrnl_abort(t);
		else
			(void)jrnl_commit(t, &e);
	}
	for (i = 0; i < n; i++)
		if (stamps[i])
			jrnl_box_clear(&recs[i]);
	free(recs);
	free(stamps);
}

/* ---- far: the run's own flag changes ---- */

struct far_pushed {
	uint32_t uid;
	unsigned flags; /* FCT_F_* the plan left the message with */
	int seen;       /* reported by the check */
};

static int pushed_cmp(const void *x, const void *y)
{
	const struct far_pushed *a = x, *b = y;

	return (a->uid > b->uid) - (a->uid < b->uid);
}

static int pushed(const struct box_job *j, size_t i)
{
	return j->plan.acts[i].kind == PLAN_FLAGS_FAR && !(j->suppress && j->suppress[i]);
}

void settle_far_note(struct box_job *j)
{
	const struct plan *p = &j->plan;
	struct box_run *r = &j->r;
	struct chan *c = r->c;
	size_t n = 0;

	/* Only where the box record keeps the modseq (box.c record_box). */
	if (c->opts->dry_run || !(c->caps & IMAP_CAP_QRESYNC) || r->fbox.nomodseq ||
	    !r->fbox.highestmodseq || (j->pc.ops & PLAN_PULL_ALL) != PLAN_PULL_ALL ||
	    j->moved_out || j->moved_in || j->pushed)
		return;
	for (size_t i = 0; i < p->n; i++) {
		enum plan_kind k = p->acts[i].kind;

		/* Other far changes: the check could not vouch for them. */
		if (k == PLAN_UPLOAD || k == PLAN_DELETE_FAR || k == PLAN_EXPUNGE_FAR)
			return;
		n += pushed(j, i);
	}
	if (!n)
		return;
	/* Kept to the channel's end: sized to the pushes, not the plan. */
	j->pushed = fct_xcalloc(n, sizeof *j->pushed);
	j->npushed = 0;
	for (size_t i = 0; i < p->n; i++)
		if (pushed(j, i)) {
			j->pushed[j->npushed].uid = r->far[p->acts[i].far].uid;
			j->pushed[j->npushed++].flags = p->acts[i].flags;
		}
	qsort(j->pushed, n, sizeof *j->pushed, pushed_cmp);
}

struct far_ask {
	struct box_job *j;
	int foreign; /* a change or an expunge the plan did not make */
};

static int on_change(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct far_ask *q = ctx;
	struct far_pushed key = {m->uid, 0, 0};
	struct far_pushed *p = bsearch(&key, q->j->pushed, q->j->npushed, sizeof key, pushed_cmp);

	(void)err;
	if (!p || p->seen || !(m->have & IMAP_META_FLAGS) || (m->flags & FCT_F_ALL) != p->flags ||
	    m->modseq <= q->j->r.fbox.highestmodseq)
		q->foreign = 1;
	else
		p->seen = 1;
	return 0;
}

static int on_expunged(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	(void)lo;
	(void)hi;
	(void)err;
	((struct far_ask *)ctx)->foreign = 1;
	return 0;
}

/* Is the job's box record still the one record_box wrote from its SELECT? */
static int recorded_as_selected(struct chan *c, const struct box_job *j, struct jrnl_box *b)
{
	struct fct_err e;
	int found;

	if (jrnl_box_get(c->j, j->box, b, &found, &e) < 0)
		return 0;
	if (found && b->highestmodseq && b->highestmodseq == j->r.fbox.highestmodseq &&
	    b->uidvalidity == j->r.fbox.uidvalidity && b->uidnext == j->r.fbox.uidnext)
		return 1;
	jrnl_box_clear(b);
	return 0;
}

/* The modseq the server's answer lets the record keep, or 0. */
static uint64_t vouched(const struct far_ask *q, const struct imap_select_req *s)
{
	const struct imap_box *was = &q->j->r.fbox, *now = &s->box;

	if (!s->ok || q->foreign || now->nomodseq || now->uidvalidity != was->uidvalidity ||
	    now->uidnext != was->uidnext || now->highestmodseq <= was->highestmodseq)
		return 0;
	return now->highestmodseq;
}

static void record_far(struct chan *c, struct far_ask *q, struct imap_select_req *s,
                       struct jrnl_box *recs, size_t k)
{
	struct jrnl_txn *t;
	struct fct_err e;
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < k; i++) {
		recs[i].highestmodseq = vouched(&q[i], &s[i]);
		n += recs[i].highestmodseq != 0;
	}
	if (!n || jrnl_begin(c->j, &t, &e) < 0)
		return;
	for (i = 0; i < k && rc == 0; i++)
		if (recs[i].highestmodseq) {
			fct_log_debug(c->log, "%s: %s: the server changed only what this run set; "
			              "HIGHESTMODSEQ %llu", c->ch->name, q[i].j->box,
			              (unsigned long long)recs[i].highestmodseq);
			rc = jrnl_box_put(t, q[i].j->box, &recs[i], &e);
		}
	if (rc < 0)
		jrnl_abort(t);
	else
		(void)jrnl_commit(t, &e);
}

void settle_far(struct chan *c, struct box_job *jobs, size_t n)
{
	struct imap_select_req *s;
	struct jrnl_box *recs;
	struct far_ask *q;
	struct fct_err e;
	size_t i, k = 0;

	if (c->opts->dry_run || !c->im || !(c->caps & IMAP_CAP_QRESYNC))
		return;
	s = fct_xcalloc(n + 1, sizeof *s);
	q = fct_xcalloc(n + 1, sizeof *q);
	recs = fct_xcalloc(n + 1, sizeof *recs);
	for (i = 0; i < n; i++) {
		struct box_job *j = &jobs[i];

		if (j->state != JOB_DONE || !j->pushed || !recorded_as_selected(c, j, &recs[k]))
			continue;
		q[k] = (struct far_ask){j, 0};
		s[k] = (struct imap_select_req){.box_utf8 = j->far_name,
		                                .qr = {j->r.fbox.uidvalidity, j->r.fbox.highestmodseq},
		                                .vcb = on_expunged, .mcb = on_change, .ctx = &q[k]};
		k++;
	}
	if (k) {
		c->selected = NULL;
		if (imap_examine_many(c->im, s, k, &e) == 0)
			record_far(c, q, s, recs, k);
	}
	for (i = 0; i < k; i++)
		jrnl_box_clear(&recs[i]);
	free(recs);
	free(q);
	free(s);
}
