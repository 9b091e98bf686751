/* Pairing of leaving and arriving messages across folders (sync/moves.c):
 * the static matcher is tested directly; and which folders count as
 * renamed (sync/renames.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#define moves_apply test_moves_apply
#include "../../sync/moves.c"
#include "sync/boxes.h"

static struct box_job box_a, box_b, box_c;

static struct end mk(struct box_job *j, const char *msgid, uint64_t size, const char *emailid)
{
	struct end x = {j, 0, PLAN_NONE, PLAN_NONE, PLAN_NONE, msgid, NULL, emailid, size, 0, NULL, 0};

	return x;
}

/* Runs the matcher on copies of the leaving (o) and arriving (i) ends. */
static size_t run(const struct end *o, size_t no, const struct end *i, size_t ni,
                  struct ends *out, struct ends *in)
{
	size_t k;

	memset(out, 0, sizeof *out);
	memset(in, 0, sizeof *in);
	for (k = 0; k < no; k++)
		end_add(out, &o[k]);
	for (k = 0; k < ni; k++)
		end_add(in, &i[k]);
	return match(out, in);
}

static void emailid_without_msgid(void **state)
{
	struct end o[] = {mk(&box_a, NULL, 10, "E1"), mk(&box_a, NULL, 10, "E2")};
	struct end i[] = {mk(&box_b, NULL, 10, "E2"), mk(&box_c, NULL, 10, "E1")};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 2, i, 2, &out, &in), 2);
	assert_int_equal(in.v[0].peer, 2); /* E2 left as out[1] */
	assert_int_equal(in.v[1].peer, 1);
	free(out.v);
	free(in.v);
}

static void emailid_splits_duplicate_keys(void **state)
{
	struct end o[] = {mk(&box_a, "<d@x>", 42, "E1"), mk(&box_a, "<d@x>", 42, "E2")};
	struct end i[] = {mk(&box_b, "<d@x>", 42, "E2"), mk(&box_c, "<d@x>", 42, "E1")};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 2, i, 2, &out, &in), 2);
	assert_int_equal(in.v[0].peer, 2);
	assert_int_equal(in.v[1].peer, 1);
	free(out.v);
	free(in.v);
}

static void duplicate_keys_without_emailid_stay_apart(void **state)
{
	struct end o[] = {mk(&box_a, "<d@x>", 42, NULL), mk(&box_a, "<d@x>", 42, NULL)};
	struct end i[] = {mk(&box_b, "<d@x>", 42, NULL), mk(&box_c, "<d@x>", 42, NULL)};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 2, i, 2, &out, &in), 0);
	free(out.v);
	free(in.v);
}

static void different_emailids_are_different_messages(void **state)
{
	struct end o[] = {mk(&box_a, "<d@x>", 42, "E1")};
	struct end i[] = {mk(&box_b, "<d@x>", 42, "E9")};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 1, i, 1, &out, &in), 0);
	free(out.v);
	free(in.v);
}

/* A record written before EMAILIDs were kept: Message-ID and size decide. */
static void one_side_without_emailid_falls_back(void **state)
{
	struct end o[] = {mk(&box_a, "<d@x>", 42, NULL), mk(&box_a, "<e@x>", 7, "E5")};
	struct end i[] = {mk(&box_b, "<e@x>", 7, "E5"), mk(&box_b, "<d@x>", 42, "E1")};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 2, i, 2, &out, &in), 2);
	assert_int_equal(in.v[0].peer, 2);
	assert_int_equal(in.v[1].peer, 1);
	free(out.v);
	free(in.v);
}

/* An EMAILID seen twice among the arrivals (a copy, not a move) or in the
 * same box is not a move. */
static void ambiguous_emailid_is_not_paired(void **state)
{
	struct end o[] = {mk(&box_a, NULL, 10, "E1"), mk(&box_a, NULL, 10, "E3")};
	struct end i[] = {mk(&box_b, NULL, 10, "E1"), mk(&box_c, NULL, 10, "E1"),
	                  mk(&box_a, NULL, 10, "E3")};
	struct ends out, in;

	(void)state;
	assert_int_equal(run(o, 2, i, 3, &out, &in), 0);
	free(out.v);
	free(in.v);
}

/* ---- folder renames (sync/renames.c): the evidence */

#define MAXJ 8
#define MAXA 8

struct world {
	struct box_job jobs[MAXJ];
	struct box_job *ptr[MAXJ];
	struct plan_action acts[MAXJ][MAXA];
	struct end ends[2][32];
	struct mv m[32];
	char names[MAXJ][32];
	size_t nj, nm;
};

static struct box_job *job_at(struct world *w, const char *box)
{
	struct box_job *j = &w->jobs[w->nj];

	snprintf(w->names[w->nj], sizeof w->names[w->nj], "%s", box);
	j->box = w->names[w->nj];
	j->state = JOB_READY;
	j->plan.acts = w->acts[w->nj];
	w->ptr[w->nj++] = j;
	return j;
}

/* A box the journal knows, gone from the far side (renamed on the server),
 * holding `held` messages locally. */
static struct box_job *gone(struct world *w, const char *box, size_t held)
{
	struct box_job *j = job_at(w, box);

	j->found = 1;
	j->where = BOX_ON_NEAR;
	j->vanished = BOX_ON_FAR;
	j->r.nnear = held;
	return j;
}

/* A box new on the far side only (survey made it, empty, locally). */
static struct box_job *fresh(struct world *w, const char *box, unsigned where)
{
	struct box_job *j = job_at(w, box);

	j->where = where;
	return j;
}

/* Message record jr of a (with its deletion action) moved into b. */
static void moved(struct world *w, struct box_job *a, size_t jr, struct box_job *b)
{
	struct end *o = &w->ends[0][w->nm], *i = &w->ends[1][w->nm];

	a->plan.acts[a->plan.n++] = (struct plan_action){ .kind = PLAN_DELETE_NEAR, .jr = jr };
	*o = mk(a, NULL, 1, NULL);
	o->jr = jr;
	*i = mk(b, NULL, 1, NULL);
	w->m[w->nm].out = o;
	w->m[w->nm].in = i;
	w->nm++;
}

static size_t find(struct world *w, struct renames *rs)
{
	renames_find(w->ptr, w->nj, w->m, w->nm, 1, rs);
	return rs->n;
}

static void whole_folder_is_a_rename(void **state)
{
	struct world w = {0};
	struct box_job *a = gone(&w, "Projects", 2), *b = fresh(&w, "Attic", BOX_ON_FAR);
	struct renames rs;

	(void)state;
	moved(&w, a, 0, b);
	moved(&w, a, 1, b);
	assert_int_equal(find(&w, &rs), 1);
	assert_ptr_equal(rs.v[0].from, a);
	assert_ptr_equal(rs.v[0].to, b);
	assert_int_equal(w.m[0].ren, 1);
	assert_int_equal(w.m[1].ren, 1);
	renames_free(&rs);
}

static void split_folder_is_no_rename(void **state)
{
	struct world w = {0};
	struct box_job *a = gone(&w, "Projects", 2), *b = fresh(&w, "Left", BOX_ON_FAR),
	               *c = fresh(&w, "Right", BOX_ON_FAR);
	struct renames rs;

	(void)state;
	moved(&w, a, 0, b);
	moved(&w, a, 1, c);
	assert_int_equal(find(&w, &rs), 0);
	assert_int_equal(w.m[0].ren + w.m[1].ren, 0);
	renames_free(&rs);
}

static void partial_evidence_is_no_rename(void **state)
{
	struct world w = {0};
	struct box_job *a = gone(&w, "Projects", 3), *b = fresh(&w, "Attic", BOX_ON_FAR);
	struct renames rs;

	(void)state;
	moved(&w, a, 0, b);
	moved(&w, a, 1, b); /* the third local message went nowhere */
	assert_int_equal(find(&w, &rs), 0);
	renames_free(&rs);
	a->r.nnear = 2; /* and an action no move replaces */
	a->plan.acts[a->plan.n++] = (struct plan_action){ .kind = PLAN_UPLOAD, .jr = PLAN_NONE };
	assert_int_equal(find(&w, &rs), 0);
	renames_free(&rs);
}

static void target_on_both_sides_is_no_rename(void **state)
{
	struct world w = {0};
	struct box_job *a = gone(&w, "Projects", 1),
	               *b = fresh(&w, "Attic", BOX_ON_FAR | BOX_ON_NEAR);
	struct renames rs;

	(void)state;
	moved(&w, a, 0, b);
	assert_int_equal(find(&w, &rs), 0);
	renames_free(&rs);
}

static void another_folder_moving_in_is_no_rename(void **state)
{
	struct world w = {0};
	struct box_job *a = gone(&w, "Projects", 1), *b = fresh(&w, "Attic", BOX_ON_FAR),
	               *x = gone(&w, "Other", 2);
	struct renames rs;

	(void)state;
	moved(&w, a, 0, b);
	moved(&w, x, 0, b);
	moved(&w, x, 1, b);
	assert_int_equal(find(&w, &rs), 0);
	renames_free(&rs);
}

static void subfolders_go_with_their_parent(void **state)
{
	struct world w = {0};
	struct box_job *p = gone(&w, "Parent", 1), *pc = gone(&w, "Parent/Child", 1),
	               *pe = gone(&w, "Parent/Empty", 0), *r = fresh(&w, "Renamed", BOX_ON_FAR),
	               *rc = fresh(&w, "Renamed/Child", BOX_ON_FAR),
	               *re = fresh(&w, "Renamed/Empty", BOX_ON_FAR);
	struct renames rs;
	size_t i;

	(void)state;
	moved(&w, p, 0, r);
	moved(&w, pc, 0, rc);
	assert_int_equal(find(&w, &rs), 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(rs.v[i].root, 0);
	assert_ptr_equal(rs.v[0].from, p);
	assert_ptr_equal(rs.v[1].from, pc);
	assert_ptr_equal(rs.v[1].to, rc);
	assert_ptr_equal(rs.v[2].from, pe);
	assert_ptr_equal(rs.v[2].to, re);
	assert_int_equal(w.m[1].ren, 1);
	renames_free(&rs);
}

static void subfolder_left_behind_stops_the_rename(void **state)
{
	struct world w = {0};
	struct box_job *p = gone(&w, "Parent", 1), *pc = gone(&w, "Parent/Child", 1),
	               *r = fresh(&w, "Renamed", BOX_ON_FAR), *elsewhere = fresh(&w, "Other", BOX_ON_FAR);
	struct renames rs;

	(void)state;
	moved(&w, p, 0, r);
	moved(&w, pc, 0, elsewhere); /* not to Renamed/Child: no rename of Parent */
	assert_int_equal(find(&w, &rs), 1);
	assert_ptr_equal(rs.v[0].from, pc); /* the child alone is one */
	assert_int_equal(w.m[0].ren, 0);
	renames_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emailid_without_msgid),
		cmocka_unit_test(emailid_splits_duplicate_keys),
		cmocka_unit_test(duplicate_keys_without_emailid_stay_apart),
		cmocka_unit_test(different_emailids_are_different_messages),
		cmocka_unit_test(one_side_without_emailid_falls_back),
		cmocka_unit_test(ambiguous_emailid_is_not_paired),
		cmocka_unit_test(whole_folder_is_a_rename),
		cmocka_unit_test(split_folder_is_no_rename),
		cmocka_unit_test(partial_evidence_is_no_rename),
		cmocka_unit_test(target_on_both_sides_is_no_rename),
		cmocka_unit_test(another_folder_moving_in_is_no_rename),
		cmocka_unit_test(subfolders_go_with_their_parent),
		cmocka_unit_test(subfolder_left_behind_stops_the_rename),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
