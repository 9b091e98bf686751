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
	unsigned flags; /* FCT_F_* the plan leaves the message with */
	int seen;       /* reported by the check */
};

static int pushed_cmp(const void *x, const void *y)
{
	const struct far_pushed *a = x, *b = y;

	return (a->uid > b->uid) - (a->uid < b->uid);
}

static int on_change(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct far_check *fc = ctx;
	struct far_pushed key = {m->uid, 0, 0};
	struct far_pushed *p = bsearch(&key, fc->v, fc->n, sizeof *fc->v, pushed_cmp);

	(void)err;
	/* The check's answer names each message once, with FLAGS; anything
	 * else is news of another change, sent unasked amid the answer. */
	if (!p || p->seen || !(m->have & IMAP_META_FLAGS) || (m->flags & FCT_F_ALL) != p->flags ||
	    m->modseq <= fc->req.since) {
		fc->foreign = 1;
		return 0;
	}
	p->seen = 1;
	if (m->modseq > fc->latest)
		fc->latest = m->modseq;
	return 0;
}

static int on_expunged(void *ctx, uint32_t lo, uint32_t hi, struct fct_err *err)
{
	(void)lo;
	(void)hi;
	(void)err;
	((struct far_check *)ctx)->foreign = 1;
	return 0;
}

/* The far flags the plan sets, sorted by UID, into fc; none when the plan
 * changes the far side in another way too: the check would find changes
 * it cannot vouch for. */
static void pushed_flags(const struct box_job *j, struct far_check *fc)
{
	const struct plan *p = &j->plan;

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->acts[i];

		if (a->kind == PLAN_UPLOAD || a->kind == PLAN_DELETE_FAR || a->kind == PLAN_EXPUNGE_FAR) {
			fc->n = 0;
			break;
		}
		if (a->kind != PLAN_FLAGS_FAR || (j->suppress && j->suppress[i]))
			continue;
		if (!fc->v)
			fc->v = fct_xcalloc(p->n, sizeof *fc->v);
		fc->v[fc->n].uid = j->r.far[a->far].uid;
		fc->v[fc->n++].flags = a->flags;
	}
	if (fc->n)
		qsort(fc->v, fc->n, sizeof *fc->v, pushed_cmp);
}

void settle_far_begin(struct box_job *j, struct far_check *fc)
{
	struct box_run *r = &j->r;
	struct chan *c = r->c;

	memset(fc, 0, sizeof *fc);
	/* Only where the box record keeps the modseq at all (box.c record_box). */
	if (c->opts->dry_run || !(c->caps & IMAP_CAP_QRESYNC) || c->selected != j ||
	    r->fbox.nomodseq || !r->fbox.highestmodseq ||
	    (j->pc.ops & PLAN_PULL_ALL) != PLAN_PULL_ALL || j->moved_out || j->moved_in)
		return;
	pushed_flags(j, fc);
	if (!fc->n)
		return;
	fc->req = (struct imap_changes){r->fbox.highestmodseq, on_change, on_expunged, fc, 0};
	r->far_check = &fc->req;
}

void settle_far_end(struct box_job *j, struct far_check *fc, int ok)
{
	struct box_run *r = &j->r;

	if (ok && fc->req.answered && !fc->foreign && fc->latest) {
		fct_log_debug(r->c->log, "%s: %s: the server changed only what this run set; "
		              "HIGHESTMODSEQ %llu", r->c->ch->name, r->box,
		              (unsigned long long)fc->latest);
		r->fbox.highestmodseq = fc->latest;
	}
	free(fc->v);
	fc->v = NULL;
	r->far_check = NULL;
}
