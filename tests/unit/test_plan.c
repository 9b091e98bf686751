#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/plan.h"
#include "tests/unit/plan_model.h"

static void kind_names(void **state)
{
	int k, l;

	(void)state;
	for (k = 0; k < PLAN_KIND_COUNT; k++) {
		assert_non_null(plan_kind_name((enum plan_kind)k));
		for (l = 0; l < k; l++)
			assert_string_not_equal(plan_kind_name((enum plan_kind)k), plan_kind_name((enum plan_kind)l));
	}
	assert_string_equal(plan_kind_name(PLAN_KIND_COUNT), "unknown");
}

#define SEEN FCT_F_SEEN
#define DEL FCT_F_DELETED
#define MSIZE 100

enum jkind { J_NONE, J_SYNCED, J_FAR_ONLY, J_NEAR_ONLY, J_SKIP_FAR, J_SKIP_NEAR,
	     J_PEND_DL, J_PEND_UL, J_PEND_MOVE, J_COUNT };

/* One message in every state: presence and flags on each side (index 0 =
 * absent), the journal's knowledge and base flags, and the settings. */
struct scen {
	int jk;
	int far, near;     /* 0 absent, else 1 + index into side_flags */
	unsigned base;
	unsigned ops;
	int xfar, xnear;   /* expunge */
	int big;           /* max_size below the message size */
	int old;           /* unknown far UID below the recorded UIDNEXT */
	int uidv;          /* UIDVALIDITY changed */
};

static const unsigned side_flags[] = { 0, SEEN, DEL, SEEN | DEL };
#define NSIDE 5

static void build_scen(struct pm_world *w, const struct scen *s)
{
	static const int state[J_COUNT] = {
		[J_SYNCED] = PLAN_JR_SYNCED, [J_FAR_ONLY] = PLAN_JR_FAR_ONLY,
		[J_NEAR_ONLY] = PLAN_JR_NEAR_ONLY, [J_SKIP_FAR] = PLAN_JR_SKIPPED,
		[J_SKIP_NEAR] = PLAN_JR_SKIPPED, [J_PEND_DL] = PLAN_JR_PENDING_DOWNLOAD,
		[J_PEND_UL] = PLAN_JR_PENDING_UPLOAD, [J_PEND_MOVE] = PLAN_JR_PENDING_MOVE,
	};
	uint32_t uid = 0;
	const char *uniq = NULL;

	pm_init(w, s->ops);
	w->cfg.expunge_far = s->xfar;
	w->cfg.expunge_near = s->xnear;
	w->cfg.max_size = s->big ? MSIZE - 1 : 0;
	if (s->far)
		pm_add_far(w, side_flags[s->far - 1], MSIZE, "<x@y>");
	else
		w->next_uid++;
	if (s->near)
		pm_add_near(w, "a", side_flags[s->near - 1], MSIZE, "<x@y>");
	w->cfg.uidvalidity_changed = s->uidv;
	switch (s->jk) {
	case J_NONE:
		w->cfg.far_uidnext_journal = s->old ? 50 : 0;
		return;
	case J_SKIP_FAR:
		uid = 1;
		break;
	case J_SKIP_NEAR:
	case J_PEND_UL:
		uniq = "a";
		break;
	default:
		uid = 1;
		uniq = "a";
		break;
	}
	pm_add_jr(w, uid, uniq, s->base, state[s->jk]);
	w->jr[0].size = MSIZE;
	snprintf(w->jr[0].msgid, PM_NAME, "%s", "<x@y>");
	w->jr[0].upload_uidnext = 1;
	w->cfg.far_uidnext_journal = 2;
}

/* The flag each side should end with, bit by bit: a change on one side
 * only crosses over when its direction is on. */
static void oracle_flags(unsigned ops, unsigned base, unsigned F, unsigned N,
			 unsigned *F2, unsigned *N2)
{
	unsigned bit;

	*F2 = F;
	*N2 = N;
	for (bit = 1; bit <= FCT_F_ALL; bit <<= 1) {
		int b = !!(base & bit), f = !!(F & bit), n = !!(N & bit);

		if (f != b && n == b && (ops & PLAN_PULL_FLAGS))
			*N2 = (*N2 & ~bit) | (F & bit);
		if (n != b && f == b && (ops & PLAN_PUSH_FLAGS))
			*F2 = (*F2 & ~bit) | (N & bit);
	}
}

static int near_present_id(const struct pm_world *w, const char *msgid)
{
	return pm_near_by_msgid(w, msgid) >= 0;
}

static int far_present(const struct pm_world *w)
{
	return pm_far_by_msgid(w, "<x@y>") >= 0;
}

static int near_present(const struct pm_world *w)
{
	return pm_near_by_msgid(w, "<x@y>") >= 0;
}

/* Outcomes stated independently of plan.c for the plain cases. */
static void scen_print(const struct scen *s)
{
	print_error("scenario: jk=%d far=%d near=%d base=%#x ops=%#x xfar=%d xnear=%d big=%d old=%d uidv=%d\n",
		    s->jk, s->far, s->near, s->base, s->ops, s->xfar, s->xnear, s->big, s->old, s->uidv);
}

#define SCHECK(s, a, b)                                              \
	do {                                                         \
		long long a_ = (long long)(a), b_ = (long long)(b);  \
		if (a_ != b_) {                                      \
			scen_print(s);                               \
			fail_msg("%s = %lld, expected %lld", #a, a_, b_); \
		}                                                    \
	} while (0)

static void oracle_check(const struct scen *s, const struct pm_world *w, const struct plan *p)
{
	unsigned F = s->far ? side_flags[s->far - 1] : 0, N = s->near ? side_flags[s->near - 1] : 0;
	unsigned op;

	if (!s->uidv && s->jk == J_SYNCED && s->far && s->near && !s->xfar && !s->xnear) {
		unsigned F2, N2;

		oracle_flags(s->ops, s->base, F, N, &F2, &N2);
		SCHECK(s, w->far[pm_far_by_msgid(w, "<x@y>")].flags, F2);
		SCHECK(s, w->near[pm_near_by_msgid(w, "<x@y>")].flags, N2);
		SCHECK(s, p->count[PLAN_DOWNLOAD] + p->count[PLAN_UPLOAD], 0);
	}
	if (!s->uidv && s->jk == J_SYNCED && !s->far && s->near)
		SCHECK(s, near_present(w),
				 !(s->ops & PLAN_PULL_DELETE) && !(s->xnear && (N & DEL)));
	if (!s->uidv && s->jk == J_SYNCED && s->far && !s->near) {
		int dele = (s->ops & PLAN_PUSH_DELETE) || (F & DEL);

		SCHECK(s, far_present(w), !(s->xfar && dele));
		if (far_present(w))
			SCHECK(s, !!(w->far[pm_far_by_msgid(w, "<x@y>")].flags & DEL), dele);
		SCHECK(s, near_present(w), 0);
	}
	if (s->jk == J_NONE && s->far && !s->near) {
		op = s->old && !s->uidv ? PLAN_PULL_RENEW : PLAN_PULL_NEW;
		SCHECK(s, far_present(w), !(s->xfar && (F & DEL)));
		SCHECK(s, near_present(w), (s->ops & op) && !s->big &&
				 !((F & DEL) && (s->xfar || s->xnear)));
		SCHECK(s, p->count[PLAN_SKIP_TOO_BIG],
				 (s->ops & op) && s->big && !((F & DEL) && (s->xfar || s->xnear)));
	}
	if (s->jk == J_NONE && !s->far && s->near) {
		SCHECK(s, near_present(w), !(s->xnear && (N & DEL)));
		SCHECK(s, far_present(w), (s->ops & PLAN_PUSH_NEW) && !s->big &&
				 !((N & DEL) && (s->xfar || s->xnear)));
	}
	if (s->uidv && s->far && s->near) {
		/* The same message on both sides is relinked, never copied. */
		SCHECK(s, p->count[PLAN_PAIR], 1);
		SCHECK(s, p->count[PLAN_DOWNLOAD] + p->count[PLAN_UPLOAD], 0);
	}
	if (s->uidv && !((F | N) & DEL))
		SCHECK(s, p->count[PLAN_DELETE_NEAR] + p->count[PLAN_DELETE_FAR] + p->count[PLAN_EXPUNGE_FAR], 0);
	if (s->jk == J_NONE && s->far && s->near) {
		/* Adoption: the same message on both sides is linked, not copied. */
		SCHECK(s, p->count[PLAN_PAIR], 1);
		SCHECK(s, p->count[PLAN_DOWNLOAD] + p->count[PLAN_UPLOAD], 0);
	}
	if (!s->uidv && s->jk == J_PEND_DL && s->near) {
		/* The download landed: never a second copy. */
		SCHECK(s, p->count[PLAN_DOWNLOAD], 0);
		SCHECK(s, pm_find(p, PLAN_PAIR, PLAN_NONE, 0) >= 0, 1);
	}
	if (!s->uidv && s->jk == J_PEND_UL && s->far) {
		SCHECK(s, p->count[PLAN_UPLOAD], 0);
		SCHECK(s, pm_find(p, PLAN_PAIR, 0, PLAN_NONE) >= 0, 1);
	}
	if (!s->uidv && s->jk == J_PEND_UL && !s->far && s->near)
		SCHECK(s, far_present(w), (s->ops & PLAN_PUSH_NEW) && !s->big &&
				 !((N & DEL) && (s->xfar || s->xnear)));
}

/* Which removals are a message's last copy (TrashRemoteNew saves those):
 * only ones of messages the journal never saw on the other side. */
static size_t count_unsynced(const struct plan *p, enum plan_kind k)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->acts[i].unsynced && p->acts[i].kind == k)
			n++;
	return n;
}

static void unsynced_check(const struct scen *s, const struct plan *p)
{
	unsigned F = s->far ? side_flags[s->far - 1] : 0, N = s->near ? side_flags[s->near - 1] : 0;
	size_t uf = count_unsynced(p, PLAN_EXPUNGE_FAR), un = count_unsynced(p, PLAN_DELETE_NEAR);
	int propagated = s->jk == J_SYNCED || s->jk == J_FAR_ONLY || s->jk == J_NEAR_ONLY ||
	                 s->jk == J_PEND_MOVE;
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->acts[i];

		if (!a->unsynced)
			continue;
		SCHECK(s, a->kind == PLAN_EXPUNGE_FAR || a->kind == PLAN_DELETE_NEAR, 1);
		SCHECK(s, a->kind == PLAN_EXPUNGE_FAR ? a->near : a->far, PLAN_NONE);
	}
	SCHECK(s, uf <= 1 && un <= 1, 1);
	if (!s->uidv && propagated)
		SCHECK(s, uf + un, 0);
	if (s->jk == J_NONE && s->far && s->near)
		SCHECK(s, uf + un, 0);
	if (s->jk == J_NONE && s->far && !s->near)
		SCHECK(s, uf, s->xfar && (F & DEL));
	if (s->jk == J_NONE && !s->far && s->near)
		SCHECK(s, un, s->xnear && (N & DEL));
	if (!s->uidv && s->jk == J_PEND_DL && s->far && !s->near)
		SCHECK(s, uf, s->xfar && (F & DEL));
	if (!s->uidv && s->jk == J_PEND_UL && !s->far && s->near)
		SCHECK(s, un, s->xnear && (N & DEL));
}

/* Plans, executes (the model checks every action), checks the oracle, and
 * plans again: a second run over the result has nothing left to do. */
static void run_scen(const struct scen *s, struct pm_world *w)
{
	struct plan p, p2;
	struct fct_err err;

	build_scen(w, s);
	assert_int_equal(pm_plan(w, &p, &err), 0);
	unsynced_check(s, &p);
	pm_apply(w, &p);
	oracle_check(s, w, &p);
	assert_int_equal(pm_plan(w, &p2, &err), 0);
	if (!((s->ops & PLAN_PULL_RENEW) && !(s->ops & PLAN_PULL_NEW))) {
		if (p2.n != 0)
			scen_print(s);
		SCHECK(s, p2.n ? plan_kind_name(p2.acts[0].kind)[0] : 0, 0);
	}
	plan_free(&p);
	plan_free(&p2);
}

static int has_base(int jk)
{
	return jk == J_SYNCED || jk == J_PEND_DL || jk == J_PEND_UL || jk == J_PEND_MOVE;
}

static void single_message_state_space(void **state)
{
	struct pm_world *w = calloc(1, sizeof *w);
	struct scen s;
	unsigned long runs = 0;

	(void)state;
	assert_non_null(w);
	memset(&s, 0, sizeof s);
	for (s.jk = 0; s.jk < J_COUNT; s.jk++)
	for (s.far = 0; s.far < NSIDE; s.far++)
	for (s.near = 0; s.near < NSIDE; s.near++)
	for (s.base = 0; s.base < (has_base(s.jk) ? 4u : 1u); s.base++)
	for (s.ops = 0; s.ops <= PLAN_ALL; s.ops++)
	for (s.xfar = 0; s.xfar < 2; s.xfar++)
	for (s.xnear = 0; s.xnear < 2; s.xnear++)
	for (s.big = 0; s.big < 2; s.big++)
	for (s.old = 0; s.old < (s.jk == J_NONE ? 2 : 1); s.old++)
	for (s.uidv = 0; s.uidv < 2; s.uidv++) {
		struct scen t = s;

		t.base = side_flags[s.base];
		run_scen(&t, w);
		runs++;
	}
	assert_true(runs > 500000);
	free(w);
}

/* ---- max_messages: an old message A (UID 1) and a newer B (UID 2), N = 1 ---- */

enum { A_SYNCED, A_NEW_FAR, A_NEAR_GONE, A_FAR_ONLY, A_COUNT };

static void window_case(struct pm_world *w, int ak, unsigned af, int bk, unsigned ops, int unread_too)
{
	struct plan p, p2;
	struct fct_err err;
	int kept = (af & FCT_F_FLAGGED) || (!(af & SEEN) && !unread_too);
	size_t a;

	pm_init(w, ops);
	w->cfg.max_messages = 1;
	w->cfg.expire_unread = unread_too;
	a = pm_add_far(w, af, MSIZE, "<A>");
	pm_add_far(w, SEEN, MSIZE, "<B>");
	if (ak == A_SYNCED)
		pm_add_near(w, "a", af, MSIZE, "<A>");
	if (bk)
		pm_add_near(w, "b", SEEN, MSIZE, "<B>");
	pm_compact(w);
	if (ak != A_NEW_FAR)
		pm_add_jr(w, 1, "a", af, ak == A_FAR_ONLY ? PLAN_JR_FAR_ONLY : PLAN_JR_SYNCED);
	if (bk)
		pm_add_jr(w, 2, "b", SEEN, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = ak == A_NEW_FAR ? 1 : 2; /* B is new */
	assert_int_equal(pm_plan(w, &p, &err), 0);
	pm_apply(w, &p);
	/* A's near copy survives only when kept for its flags; it is never
	 * fetched; its far copy is deleted only when a kept near copy was
	 * deleted by the user and PUSH_DELETE asks for it. */
	assert_int_equal(near_present_id(w, "<A>"), ak == A_SYNCED && kept);
	assert_true(pm_far_by_msgid(w, "<A>") >= 0);
	assert_int_equal(!!(w->far[a].flags & DEL),
			 ak == A_NEAR_GONE && kept && (ops & PLAN_PUSH_DELETE));
	/* B, inside the window, is synced whatever happened before. */
	assert_int_equal(near_present_id(w, "<B>"), bk || (ops & PLAN_PULL_NEW));
	assert_int_equal(pm_plan(w, &p2, &err), 0);
	assert_int_equal(p2.n, 0);
	plan_free(&p);
	plan_free(&p2);
}

static void max_messages_table(void **state)
{
	static const unsigned ops_set[] = { PLAN_ALL, PLAN_ALL & ~(PLAN_PUSH_DELETE | PLAN_PULL_DELETE),
					    PLAN_PULL_NEW | PLAN_PULL_FLAGS, 0 };
	static const unsigned aflags[] = { 0, SEEN, FCT_F_FLAGGED, SEEN | FCT_F_FLAGGED };
	struct pm_world *w = calloc(1, sizeof *w);
	int ak, bk, u;
	size_t o, f;

	(void)state;
	assert_non_null(w);
	for (ak = 0; ak < A_COUNT; ak++)
		for (f = 0; f < 4; f++)
			for (bk = 0; bk < 2; bk++)
				for (o = 0; o < 4; o++)
					for (u = 0; u < 2; u++)
						window_case(w, ak, aflags[f], bk, ops_set[o], u);
	free(w);
}

/* ---- random worlds with many messages ---- */

static uint64_t rnd_next(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*st = x;
	return x;
}

static unsigned rnd(uint64_t *st, unsigned n)
{
	return (unsigned)(rnd_next(st) % n);
}

static unsigned rnd_flags(uint64_t *st)
{
	static const unsigned common[] = { 0, FCT_F_SEEN, FCT_F_SEEN | FCT_F_FLAGGED, FCT_F_DELETED,
					   FCT_F_SEEN | FCT_F_ANSWERED, FCT_F_FLAGGED };

	if (rnd(st, 3) == 0)
		return rnd(st, FCT_F_ALL + 1);
	return common[rnd(st, 6)];
}

/* A world that was in sync, then changed on both sides and interrupted. */
static void random_world(struct pm_world *w, uint64_t *st)
{
	unsigned i, nmsg = rnd(st, 10);
	char id[PM_NAME];

	pm_init(w, rnd(st, 4) == 0 ? PLAN_ALL : rnd(st, PLAN_ALL + 1));
	w->cfg.expunge_far = (int)rnd(st, 2);
	w->cfg.expunge_near = (int)rnd(st, 2);
	w->cfg.max_size = rnd(st, 3) == 0 ? 150 : 0;
	w->cfg.max_messages = rnd(st, 3) == 0 ? rnd(st, 5) : 0;
	w->cfg.expire_unread = (int)rnd(st, 2);
	for (i = 0; i < nmsg; i++) {
		unsigned kind = rnd(st, 8), base = rnd_flags(st);
		uint64_t size = 100 + 50 * rnd(st, 3);
		const char *msgid = id;
		size_t f = PLAN_NONE, n = PLAN_NONE, j;

		/* Duplicate and missing Message-IDs on purpose. */
		if (rnd(st, 6) == 0)
			msgid = NULL;
		else
			snprintf(id, sizeof id, "<m%u@x>", rnd(st, 3) == 0 ? 0 : i);
		if (kind != 1 && rnd(st, 5))
			f = pm_add_far(w, rnd(st, 3) ? base : rnd_flags(st), size, msgid);
		else
			w->next_uid++;
		if (kind != 2 && rnd(st, 5))
			n = pm_add_near(w, NULL, rnd(st, 3) ? base : rnd_flags(st), size, msgid);
		else
			w->next_name++;
		if (kind <= 2)
			continue; /* unknown to the journal */
		j = pm_add_jr(w, w->next_uid - 1, NULL, base, PLAN_JR_SYNCED);
		snprintf(w->jr[j].uniq, PM_NAME, "m%05u", w->next_name - 1);
		w->jr[j].size = size;
		snprintf(w->jr[j].msgid, PM_NAME, "%s", msgid ? msgid : "");
		switch (kind) {
		case 4:
			w->jr[j].state = (int)rnd(st, PLAN_JR_SKIPPED + 1);
			break;
		case 5: /* upload intent: no far UID yet */
			w->jr[j].state = PLAN_JR_PENDING_UPLOAD;
			w->jr[j].far_uid = 0;
			w->jr[j].upload_uidnext = w->next_uid - 1 - rnd(st, 2);
			break;
		case 6: /* download intent, name not recorded */
			w->jr[j].state = PLAN_JR_PENDING_DOWNLOAD;
			if (rnd(st, 2))
				w->jr[j].uniq[0] = 0;
			break;
		default:
			break;
		}
		if (w->jr[j].state == PLAN_JR_SKIPPED && rnd(st, 2))
			w->jr[j].uniq[0] = 0;
		else if (w->jr[j].state == PLAN_JR_SKIPPED)
			w->jr[j].far_uid = 0;
		(void)f;
		(void)n;
	}
	pm_compact(w);
	w->cfg.far_uidnext_journal = rnd(st, 4) ? w->next_uid - rnd(st, 3) : 0;
	w->cfg.uidvalidity_changed = rnd(st, 8) == 0;
}

/* The same actions, naming records by id rather than by position. */
static void assert_same_plan(const struct plan *a, const struct jrnl_msg *ja,
			     const struct plan *b, const struct jrnl_msg *jb)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	assert_int_equal(a->ambiguous, b->ambiguous);
	for (i = 0; i < a->n; i++) {
		const struct plan_action *x = &a->acts[i], *y = &b->acts[i];

		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->far, y->far);
		assert_int_equal(x->near, y->near);
		assert_int_equal(x->flags, y->flags);
		assert_int_equal(x->add, y->add);
		assert_int_equal(x->del, y->del);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->jr == PLAN_NONE, y->jr == PLAN_NONE);
		if (x->jr != PLAN_NONE)
			assert_int_equal(ja[x->jr].id, jb[y->jr].id);
	}
}

static void shuffled_journal_same_plan(struct pm_world *w, const struct plan *p, uint64_t *st)
{
	struct pm_world *v = calloc(1, sizeof *v);
	struct plan q;
	struct fct_err err;
	size_t i;

	assert_non_null(v);
	*v = *w;
	for (i = v->njr; i > 1; i--) {
		size_t k = rnd(st, (unsigned)i);
		struct pm_jr t = v->jr[i - 1];

		v->jr[i - 1] = v->jr[k];
		v->jr[k] = t;
	}
	assert_int_equal(pm_plan(v, &q, &err), 0);
	assert_same_plan(p, w->pj, &q, v->pj);
	plan_free(&q);
	free(v);
}

static void random_worlds(void **state)
{
	struct pm_world *w = calloc(1, sizeof *w);
	uint64_t st = 0x9e3779b97f4a7c15ull;
	unsigned iter, round;
	size_t acted = 0;

	(void)state;
	assert_non_null(w);
	for (iter = 0; iter < 40000; iter++) {
		struct plan p;
		struct fct_err err;

		random_world(w, &st);
		/* Journals from random_world never link one message twice. */
		assert_int_equal(pm_plan(w, &p, &err), 0);
		shuffled_journal_same_plan(w, &p, &st);
		acted += p.n;
		pm_apply(w, &p);
		plan_free(&p);
		/* Converges: uploads may move the max_messages window once. */
		for (round = 0;; round++) {
			if (pm_plan(w, &p, &err) != 0)
				fail_msg("%s", err.msg);
			if (p.n == 0 || round == 2) {
				assert_int_equal(p.n, 0);
				plan_free(&p);
				break;
			}
			pm_apply(w, &p);
			plan_free(&p);
		}
	}
	assert_true(acted > 40000);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_names),
		cmocka_unit_test(single_message_state_space),
		cmocka_unit_test(max_messages_table),
		cmocka_unit_test(random_worlds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
