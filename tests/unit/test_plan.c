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
	print_error("scenario: jk=%d far=%d near=%d base=%#x ops=%#x xfar=%d xnear=%d big=%d old=%d\n",
		    s->jk, s->far, s->near, s->base, s->ops, s->xfar, s->xnear, s->big, s->old);
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

	if (s->jk == J_SYNCED && s->far && s->near && !s->xfar && !s->xnear) {
		unsigned F2, N2;

		oracle_flags(s->ops, s->base, F, N, &F2, &N2);
		SCHECK(s, w->far[pm_far_by_msgid(w, "<x@y>")].flags, F2);
		SCHECK(s, w->near[pm_near_by_msgid(w, "<x@y>")].flags, N2);
		SCHECK(s, p->count[PLAN_DOWNLOAD] + p->count[PLAN_UPLOAD], 0);
	}
	if (s->jk == J_SYNCED && !s->far && s->near)
		SCHECK(s, near_present(w),
				 !(s->ops & PLAN_PULL_DELETE) && !(s->xnear && (N & DEL)));
	if (s->jk == J_SYNCED && s->far && !s->near) {
		int dele = (s->ops & PLAN_PUSH_DELETE) || (F & DEL);

		SCHECK(s, far_present(w), !(s->xfar && dele));
		if (far_present(w))
			SCHECK(s, !!(w->far[pm_far_by_msgid(w, "<x@y>")].flags & DEL), dele);
		SCHECK(s, near_present(w), 0);
	}
	if (s->jk == J_NONE && s->far && !s->near) {
		op = s->old ? PLAN_PULL_RENEW : PLAN_PULL_NEW;
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
	if (s->jk == J_NONE && s->far && s->near) {
		/* Adoption: the same message on both sides is linked, not copied. */
		SCHECK(s, p->count[PLAN_PAIR], 1);
		SCHECK(s, p->count[PLAN_DOWNLOAD] + p->count[PLAN_UPLOAD], 0);
	}
	if (s->jk == J_PEND_DL && s->near) {
		/* The download landed: never a second copy. */
		SCHECK(s, p->count[PLAN_DOWNLOAD], 0);
		SCHECK(s, pm_find(p, PLAN_PAIR, PLAN_NONE, 0) >= 0, 1);
	}
	if (s->jk == J_PEND_UL && s->far) {
		SCHECK(s, p->count[PLAN_UPLOAD], 0);
		SCHECK(s, pm_find(p, PLAN_PAIR, 0, PLAN_NONE) >= 0, 1);
	}
	if (s->jk == J_PEND_UL && !s->far && s->near)
		SCHECK(s, far_present(w), (s->ops & PLAN_PUSH_NEW) && !s->big &&
				 !((N & DEL) && (s->xfar || s->xnear)));
}

/* Plans, executes (the model checks every action), checks the oracle, and
 * plans again: a second run over the result has nothing left to do. */
static void run_scen(const struct scen *s, struct pm_world *w)
{
	struct plan p, p2;
	struct fct_err err;

	build_scen(w, s);
	assert_int_equal(pm_plan(w, &p, &err), 0);
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
	struct pm_world *w = malloc(sizeof *w);
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
	for (s.old = 0; s.old < (s.jk == J_NONE ? 2 : 1); s.old++) {
		struct scen t = s;

		t.base = side_flags[s.base];
		run_scen(&t, w);
		runs++;
	}
	assert_true(runs > 500000);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_names),
		cmocka_unit_test(single_message_state_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
