/* Planner test model; see plan_model.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/plan_model.h"

#define DEL FCT_F_DELETED

void pm_init(struct pm_world *w, unsigned ops)
{
	/* Elements are fully written when added: only reset the counts (the
	 * exhaustive tests call this millions of times). */
	w->nfar = w->nnear = w->njr = 0;
	w->next_name = 0;
	memset(&w->cfg, 0, sizeof w->cfg);
	w->next_uid = 1;
	w->next_id = 1;
	w->cfg.ops = ops;
}

static void copy_name(char dst[PM_NAME], const char *src)
{
	snprintf(dst, PM_NAME, "%s", src ? src : "");
}

size_t pm_add_far(struct pm_world *w, unsigned flags, uint64_t size, const char *msgid)
{
	struct pm_far *m;

	assert_true(w->nfar < PM_MAX);
	m = &w->far[w->nfar];
	m->uid = w->next_uid++;
	m->flags = flags;
	m->size = size;
	copy_name(m->msgid, msgid);
	m->present = 1;
	return w->nfar++;
}

size_t pm_add_near(struct pm_world *w, const char *uniq, unsigned flags, uint64_t size, const char *msgid)
{
	struct pm_near *m;

	assert_true(w->nnear < PM_MAX);
	m = &w->near[w->nnear];
	if (uniq)
		copy_name(m->uniq, uniq);
	else
		snprintf(m->uniq, PM_NAME, "m%05u", w->next_name++);
	m->flags = flags;
	m->size = size;
	copy_name(m->msgid, msgid);
	m->present = 1;
	return w->nnear++;
}

size_t pm_add_jr(struct pm_world *w, uint32_t far_uid, const char *uniq, unsigned flags, int state)
{
	struct pm_jr *r;

	assert_true(w->njr < PM_MAX);
	r = &w->jr[w->njr];
	memset(r, 0, sizeof *r);
	r->id = w->next_id++;
	r->far_uid = far_uid;
	copy_name(r->uniq, uniq);
	r->flags = flags;
	r->state = state;
	r->alive = 1;
	return w->njr++;
}

static int near_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pm_near *)a)->uniq, ((const struct pm_near *)b)->uniq);
}

void pm_compact(struct pm_world *w)
{
	size_t i, k;

	for (i = k = 0; i < w->nfar; i++)
		if (w->far[i].present)
			w->far[k++] = w->far[i];
	w->nfar = k;
	for (i = k = 0; i < w->nnear; i++)
		if (w->near[i].present)
			w->near[k++] = w->near[i];
	w->nnear = k;
	qsort(w->near, w->nnear, sizeof *w->near, near_cmp);
	for (i = k = 0; i < w->njr; i++)
		if (w->jr[i].alive)
			w->jr[k++] = w->jr[i];
	w->njr = k;
}

static const char *opt(const char *s)
{
	return *s ? s : NULL;
}

int pm_plan(struct pm_world *w, struct plan *p, struct fct_err *err)
{
	size_t i;

	for (i = 0; i < w->nfar; i++)
		w->pf[i] = (struct plan_far){ w->far[i].uid, w->far[i].flags, w->far[i].size,
					      opt(w->far[i].msgid), NULL };
	for (i = 0; i < w->nnear; i++)
		w->pn[i] = (struct plan_near){ w->near[i].uniq, w->near[i].flags, w->near[i].size,
					       opt(w->near[i].msgid) };
	for (i = 0; i < w->njr; i++) {
		struct pm_jr *r = &w->jr[i];

		w->pj[i] = (struct jrnl_msg){ .id = r->id, .far_uid = r->far_uid,
					      .near_uniq = *r->uniq ? r->uniq : NULL,
					      .flags = r->flags, .state = (uint8_t)r->state,
					      .size = r->size, .msgid = *r->msgid ? r->msgid : NULL,
					      .upload_uidnext = r->upload_uidnext };
	}
	w->in = (struct plan_in){ w->pf, w->nfar, w->pn, w->nnear, w->pj, w->njr, &w->cfg };
	return plan_build(&w->in, p, err);
}

long pm_find(const struct plan *p, enum plan_kind k, size_t f, size_t n)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->acts[i];

		if (a->kind == k && (f == PLAN_NONE || a->far == f) && (n == PLAN_NONE || a->near == n))
			return (long)i;
	}
	return -1;
}

long pm_far_by_msgid(const struct pm_world *w, const char *msgid)
{
	size_t i;

	for (i = 0; i < w->nfar; i++)
		if (w->far[i].present && strcmp(w->far[i].msgid, msgid) == 0)
			return (long)i;
	return -1;
}

long pm_near_by_msgid(const struct pm_world *w, const char *msgid)
{
	size_t i;

	for (i = 0; i < w->nnear; i++)
		if (w->near[i].present && strcmp(w->near[i].msgid, msgid) == 0)
			return (long)i;
	return -1;
}

/* Bookkeeping while one plan is executed on the model. */
struct pm_run {
	struct pm_world *w;
	const struct plan *p;
	size_t nfar0, nnear0, njr0;
	long rec_far[PM_MAX], rec_near[PM_MAX]; /* records created this run */
	unsigned char seen_far[PLAN_KIND_COUNT][PM_MAX];
	unsigned char seen_near[PLAN_KIND_COUNT][PM_MAX];
	unsigned char near_t[PM_MAX];     /* near carried T when deleted */
	unsigned near_flags_at_del[PM_MAX];
	uint32_t wmin;
};

/* The max_messages window, computed plainly: sort-free since far is sorted. */
static uint32_t pm_window(const struct pm_world *w)
{
	uint32_t have = 0;
	size_t i = w->nfar;

	if (!w->cfg.max_messages)
		return 0;
	while (i-- > 0)
		if (!(w->far[i].flags & DEL) && ++have == w->cfg.max_messages)
			return w->far[i].uid;
	return 0;
}

static int far_listed_at_start(const struct pm_run *r, uint32_t uid)
{
	size_t i;

	for (i = 0; i < r->nfar0; i++)
		if (r->w->pf[i].uid == uid)
			return 1;
	return 0;
}

static int near_listed_at_start(const struct pm_run *r, const char *uniq)
{
	size_t i;

	for (i = 0; i < r->nnear0; i++)
		if (strcmp(r->w->pn[i].uniq, uniq) == 0)
			return 1;
	return 0;
}

static struct pm_jr *record_of(struct pm_run *r, const struct plan_action *a)
{
	long k = -1;

	if (a->jr != PLAN_NONE) {
		assert_true(a->jr < r->njr0);
		k = (long)a->jr;
	} else if (a->far != PLAN_NONE && r->rec_far[a->far] >= 0) {
		k = r->rec_far[a->far];
	} else if (a->near != PLAN_NONE && r->rec_near[a->near] >= 0) {
		k = r->rec_near[a->near];
	}
	assert_true(k >= 0);
	assert_true(r->w->jr[k].alive);
	return &r->w->jr[k];
}

/* A record for a transfer/skip/pair: the named one or a new one. */
static struct pm_jr *record_for(struct pm_run *r, const struct plan_action *a)
{
	size_t k;

	if (a->jr != PLAN_NONE || (a->far != PLAN_NONE && r->rec_far[a->far] >= 0) ||
	    (a->near != PLAN_NONE && r->rec_near[a->near] >= 0))
		return record_of(r, a);
	k = pm_add_jr(r->w, 0, NULL, 0, PLAN_JR_SYNCED);
	if (a->far != PLAN_NONE)
		r->rec_far[a->far] = (long)k;
	if (a->near != PLAN_NONE)
		r->rec_near[a->near] = (long)k;
	return &r->w->jr[k];
}

static void set_flags_checked(unsigned *cur, const struct plan_action *a)
{
	assert_int_equal(a->add & a->del, 0);
	assert_true((a->add | a->del) != 0);
	assert_int_equal(a->flags, (*cur | a->add) & ~a->del);
	*cur = a->flags;
}

static void apply_transfer(struct pm_run *r, const struct plan_action *a)
{
	struct pm_world *w = r->w;
	const struct plan_cfg *cfg = &w->cfg;
	struct pm_jr *rec;

	if (a->kind == PLAN_DOWNLOAD) {
		struct pm_far *m = &w->far[a->far];
		size_t n;

		assert_true(a->far != PLAN_NONE && m->present && a->near == PLAN_NONE);
		assert_int_equal(a->flags, m->flags);
		assert_true(cfg->max_size == 0 || m->size <= cfg->max_size);
		assert_false(cfg->expunge_near && (m->flags & DEL));
		assert_true(r->wmin == 0 || m->uid >= r->wmin);
		n = pm_add_near(w, NULL, a->flags, m->size, m->msgid);
		rec = record_for(r, a);
		rec->far_uid = m->uid;
		copy_name(rec->uniq, w->near[n].uniq);
	} else {
		struct pm_near *m = &w->near[a->near];
		size_t f;

		assert_true(a->near != PLAN_NONE && m->present && a->far == PLAN_NONE);
		assert_int_equal(a->flags, m->flags);
		assert_true(cfg->max_size == 0 || m->size <= cfg->max_size);
		assert_false(cfg->expunge_far && (m->flags & DEL));
		f = pm_add_far(w, a->flags, m->size, m->msgid);
		rec = record_for(r, a);
		rec->far_uid = w->far[f].uid;
		copy_name(rec->uniq, m->uniq);
	}
	assert_int_equal(a->state, PLAN_JR_SYNCED);
	rec->flags = a->flags;
	rec->state = a->state;
}

static long far_by_uid(const struct pm_world *w, uint32_t uid);
static long near_by_uniq(const struct pm_world *w, const char *uniq);

/* A link never joins two different messages: same size and Message-ID. */
static void check_pair_same(const struct pm_world *w, const struct pm_jr *rec)
{
	long f = rec->far_uid ? far_by_uid(w, rec->far_uid) : -1;
	long n = *rec->uniq ? near_by_uniq(w, rec->uniq) : -1;

	if (f < 0 || n < 0)
		return;
	assert_int_equal(w->far[f].size, w->near[n].size);
	assert_string_equal(w->far[f].msgid, w->near[n].msgid);
}

static void apply_journal(struct pm_run *r, const struct plan_action *a)
{
	struct pm_world *w = r->w;
	struct pm_jr *rec;

	switch (a->kind) {
	case PLAN_PAIR:
		assert_true(a->far == PLAN_NONE || w->far[a->far].present);
		assert_true(a->near == PLAN_NONE || w->near[a->near].present);
		rec = record_for(r, a);
		if (a->far != PLAN_NONE)
			rec->far_uid = w->far[a->far].uid;
		if (a->near != PLAN_NONE)
			copy_name(rec->uniq, w->near[a->near].uniq);
		check_pair_same(w, rec);
		break;
	case PLAN_SKIP_TOO_BIG:
		assert_true((a->far == PLAN_NONE) != (a->near == PLAN_NONE));
		assert_true(w->cfg.max_size != 0);
		if (a->far != PLAN_NONE)
			assert_true(w->far[a->far].size > w->cfg.max_size);
		else
			assert_true(w->near[a->near].size > w->cfg.max_size);
		assert_int_equal(a->state, PLAN_JR_SKIPPED);
		rec = record_for(r, a);
		if (a->far != PLAN_NONE)
			rec->far_uid = w->far[a->far].uid;
		else
			copy_name(rec->uniq, w->near[a->near].uniq);
		break;
	case PLAN_JR_UPDATE:
		rec = record_of(r, a);
		break;
	default: /* PLAN_JR_FORGET */
		rec = record_of(r, a);
		rec->alive = 0;
		return;
	}
	rec->flags = a->flags;
	rec->state = a->state;
}

static void apply_side(struct pm_run *r, const struct plan_action *a)
{
	struct pm_world *w = r->w;
	const struct plan_cfg *cfg = &w->cfg;

	switch (a->kind) {
	case PLAN_FLAGS_FAR:
		assert_true(cfg->ops & PLAN_PUSH_FLAGS);
		assert_true(w->far[a->far].present);
		set_flags_checked(&w->far[a->far].flags, a);
		break;
	case PLAN_FLAGS_NEAR:
		assert_true(cfg->ops & PLAN_PULL_FLAGS);
		assert_true(w->near[a->near].present);
		set_flags_checked(&w->near[a->near].flags, a);
		break;
	case PLAN_DELETE_FAR:
		assert_true(w->far[a->far].present);
		assert_false(w->far[a->far].flags & DEL);
		assert_int_equal(a->add, DEL);
		assert_int_equal(a->del, 0);
		assert_int_equal(a->flags, w->far[a->far].flags | DEL);
		w->far[a->far].flags |= DEL;
		break;
	case PLAN_EXPUNGE_FAR:
		assert_true(cfg->expunge_far);
		assert_true(w->far[a->far].present);
		assert_true(w->far[a->far].flags & DEL);
		w->far[a->far].present = 0;
		break;
	default: /* PLAN_DELETE_NEAR */
		assert_true(w->near[a->near].present);
		r->near_t[a->near] = cfg->expunge_near && (w->near[a->near].flags & DEL);
		r->near_flags_at_del[a->near] = w->near[a->near].flags;
		w->near[a->near].present = 0;
		break;
	}
}

static void apply_one(struct pm_run *r, const struct plan_action *a)
{
	assert_true(a->far == PLAN_NONE || a->far < r->nfar0);
	assert_true(a->near == PLAN_NONE || a->near < r->nnear0);
	assert_true(a->jr == PLAN_NONE || a->jr < r->njr0);
	assert_true((unsigned)a->kind < PLAN_KIND_COUNT);
	/* Every message appears in at most one action of each kind. */
	if (a->far != PLAN_NONE) {
		assert_false(r->seen_far[a->kind][a->far]);
		r->seen_far[a->kind][a->far] = 1;
	}
	if (a->near != PLAN_NONE) {
		assert_false(r->seen_near[a->kind][a->near]);
		r->seen_near[a->kind][a->near] = 1;
	}
	switch (a->kind) {
	case PLAN_DOWNLOAD:
	case PLAN_UPLOAD:
		apply_transfer(r, a);
		break;
	case PLAN_PAIR:
	case PLAN_JR_UPDATE:
	case PLAN_JR_FORGET:
	case PLAN_SKIP_TOO_BIG:
		apply_journal(r, a);
		break;
	default:
		apply_side(r, a);
		break;
	}
}

static void pm_dump(const struct pm_run *r)
{
	const struct pm_world *w = r->w;
	size_t i;

	print_error("ops=%#x xfar=%d xnear=%d max_size=%llu max_msgs=%u uidnext=%u uidv=%d\n",
		    w->cfg.ops, w->cfg.expunge_far, w->cfg.expunge_near,
		    (unsigned long long)w->cfg.max_size, w->cfg.max_messages,
		    w->cfg.far_uidnext_journal, w->cfg.uidvalidity_changed);
	for (i = 0; i < r->nfar0; i++)
		print_error("far[%zu] uid=%u flags=%#x\n", i, w->pf[i].uid, w->pf[i].flags);
	for (i = 0; i < r->nnear0; i++)
		print_error("near[%zu] %s flags=%#x\n", i, w->pn[i].uniq, w->pn[i].flags);
	for (i = 0; i < r->njr0; i++)
		print_error("jr[%zu] uid=%u uniq=%s flags=%#x state=%d\n", i, w->pj[i].far_uid,
			    w->pj[i].near_uniq ? w->pj[i].near_uniq : "-", w->pj[i].flags, w->pj[i].state);
	for (i = 0; i < r->p->n; i++) {
		const struct plan_action *a = &r->p->acts[i];

		print_error("  %s far=%ld near=%ld jr=%ld flags=%#x +%#x -%#x state=%d\n",
			    plan_kind_name(a->kind), (long)a->far, (long)a->near, (long)a->jr,
			    a->flags, a->add, a->del, a->state);
	}
}

#define MCHECK(r, c)                             \
	do {                                     \
		if (!(c)) {                      \
			pm_dump(r);              \
			fail_msg("%s", #c);      \
		}                                \
	} while (0)

/* A near copy was deleted: only by expunge, a far deletion under
 * PULL_DELETE, or max_messages expiry. */
static void check_near_deletion(const struct pm_run *r, const struct plan_action *a)
{
	const struct pm_world *w = r->w;
	const struct plan_cfg *cfg = &w->cfg;
	unsigned nf = r->near_flags_at_del[a->near];
	int far_gone = 0, expired = 0;

	if (r->near_t[a->near])
		return;
	/* \Deleted propagated as a flag, then expunged near. */
	if (a->far != PLAN_NONE && cfg->expunge_near && (cfg->ops & PLAN_PULL_FLAGS) &&
	    (w->pf[a->far].flags & DEL))
		return;
	if (a->far != PLAN_NONE) {
		far_gone = !w->far[a->far].present;
		/* Flags after propagation come from one side or the other. */
		unsigned ff = w->far[a->far].flags, both = nf & ff, either = nf | ff;

		expired = cfg->max_messages && w->far[a->far].present && w->far[a->far].uid < r->wmin &&
			  !(both & FCT_F_FLAGGED) && (cfg->expire_unread || (either & FCT_F_SEEN));
	} else if (a->jr != PLAN_NONE) {
		uint32_t uid = w->pj[a->jr].far_uid;

		far_gone = uid && !far_listed_at_start(r, uid);
	}
	if (far_gone)
		MCHECK(r, cfg->ops & PLAN_PULL_DELETE);
	else
		MCHECK(r, expired);
}

/* \Deleted was set on far: deletion pushed (near copy gone) or \Deleted
 * propagated as a flag to be expunged. */
static void check_far_deletion(const struct pm_run *r, const struct plan_action *a)
{
	const struct pm_world *w = r->w;
	const struct plan_cfg *cfg = &w->cfg;
	int near_gone = 0;

	if (a->near != PLAN_NONE) {
		near_gone = !w->near[a->near].present;
		if (!near_gone) {
			MCHECK(r, cfg->expunge_far && (cfg->ops & PLAN_PUSH_FLAGS));
			MCHECK(r, w->pn[a->near].flags & DEL);
			return;
		}
	} else if (a->jr != PLAN_NONE) {
		const char *u = w->pj[a->jr].near_uniq;

		near_gone = u && !near_listed_at_start(r, u);
	}
	MCHECK(r, near_gone);
	if (!(cfg->ops & PLAN_PUSH_DELETE)) {
		/* Only a propagated flag may do it then. */
		MCHECK(r, cfg->expunge_far && (cfg->ops & PLAN_PUSH_FLAGS));
		MCHECK(r, a->near != PLAN_NONE && (w->pn[a->near].flags & DEL));
	}
}

static long far_by_uid(const struct pm_world *w, uint32_t uid)
{
	size_t i;

	for (i = 0; i < w->nfar; i++)
		if (w->far[i].present && w->far[i].uid == uid)
			return (long)i;
	return -1;
}

static long near_by_uniq(const struct pm_world *w, const char *uniq)
{
	size_t i;

	for (i = 0; i < w->nnear; i++)
		if (w->near[i].present && strcmp(w->near[i].uniq, uniq) == 0)
			return (long)i;
	return -1;
}

/* Linked pairs agree on flags once both directions flow; the base keeps
 * whatever both sides agree on. */
static void check_flags_agree(const struct pm_world *w)
{
	unsigned both = PLAN_PULL_FLAGS | PLAN_PUSH_FLAGS;
	size_t i;

	for (i = 0; i < w->njr; i++) {
		const struct pm_jr *r = &w->jr[i];
		long f, n;
		unsigned F, N;

		if (!r->alive || r->state != PLAN_JR_SYNCED || !r->far_uid || !*r->uniq)
			continue;
		f = far_by_uid(w, r->far_uid);
		n = near_by_uniq(w, r->uniq);
		assert_true(f >= 0 && n >= 0); /* SYNCED means both exist */
		F = w->far[f].flags;
		N = w->near[n].flags;
		if ((w->cfg.ops & both) == both)
			assert_int_equal(F, N);
		assert_int_equal(r->flags & ~(F ^ N), F & ~(F ^ N));
	}
}

void pm_apply(struct pm_world *w, const struct plan *p)
{
	struct pm_run *r = calloc(1, sizeof *r);
	size_t i;

	assert_non_null(r);
	r->w = w;
	r->p = p;
	r->nfar0 = w->nfar;
	r->nnear0 = w->nnear;
	r->njr0 = w->njr;
	r->wmin = pm_window(w);
	for (i = 0; i < PM_MAX; i++)
		r->rec_far[i] = r->rec_near[i] = -1;
	for (i = 0; i < p->n; i++)
		apply_one(r, &p->acts[i]);
	for (i = 0; i < r->nfar0; i++)
		assert_false(r->seen_far[PLAN_DOWNLOAD][i] && r->seen_far[PLAN_PAIR][i]);
	for (i = 0; i < r->nnear0; i++)
		assert_false(r->seen_near[PLAN_UPLOAD][i] && r->seen_near[PLAN_PAIR][i]);
	for (i = 0; i < p->n; i++) {
		if (p->acts[i].kind == PLAN_DELETE_NEAR)
			check_near_deletion(r, &p->acts[i]);
		else if (p->acts[i].kind == PLAN_DELETE_FAR)
			check_far_deletion(r, &p->acts[i]);
	}
	check_flags_agree(w);
	free(r);
	pm_compact(w);
	w->cfg.far_uidnext_journal = w->next_uid;
	w->cfg.uidvalidity_changed = 0;
}
