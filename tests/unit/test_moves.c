/* Pairing of leaving and arriving messages across folders (sync/moves.c):
 * the static matcher is tested directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define moves_apply test_moves_apply
#include "../../sync/moves.c"

static struct box_job box_a, box_b, box_c;

static struct end mk(struct box_job *j, const char *msgid, uint64_t size, const char *emailid)
{
	struct end x = {j, 0, PLAN_NONE, PLAN_NONE, PLAN_NONE, msgid, NULL, emailid, size, 0};

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emailid_without_msgid),
		cmocka_unit_test(emailid_splits_duplicate_keys),
		cmocka_unit_test(duplicate_keys_without_emailid_stay_apart),
		cmocka_unit_test(different_emailids_are_different_messages),
		cmocka_unit_test(one_side_without_emailid_falls_back),
		cmocka_unit_test(ambiguous_emailid_is_not_paired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
