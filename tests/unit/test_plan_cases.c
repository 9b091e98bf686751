/* Planner cases stated by hand: input checks, crash leftovers, UIDVALIDITY
 * change and adoption matching, max_size, max_messages, order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sync/plan.h"
#include "tests/unit/plan_model.h"

#define SEEN FCT_F_SEEN
#define FLAG FCT_F_FLAGGED
#define DEL FCT_F_DELETED

/* "kind far near jr;..." for the whole plan, to compare with a literal. */
static const char *show(const struct plan *p, char *buf, size_t sz)
{
	size_t i, len = 0;

	buf[0] = 0;
	for (i = 0; i < p->n && len < sz; i++) {
		const struct plan_action *a = &p->acts[i];
		int w = snprintf(buf + len, sz - len, "%s%s %ld %ld %ld", i ? ";" : "",
				 plan_kind_name(a->kind), a->far == PLAN_NONE ? -1L : (long)a->far,
				 a->near == PLAN_NONE ? -1L : (long)a->near,
				 a->jr == PLAN_NONE ? -1L : (long)a->jr);

		if (w < 0)
			break;
		len += (size_t)w;
	}
	return buf;
}

static struct pm_world *new_world(unsigned ops)
{
	struct pm_world *w = calloc(1, sizeof *w);

	assert_non_null(w);
	pm_init(w, ops);
	return w;
}

/* Plans w, checks the plan's shape, executes it on the model. */
static void expect(struct pm_world *w, const char *want)
{
	struct plan p;
	struct fct_err err;
	char buf[2048];

	assert_int_equal(pm_plan(w, &p, &err), 0);
	assert_string_equal(show(&p, buf, sizeof buf), want);
	pm_apply(w, &p);
	plan_free(&p);
}

static void expect_error(struct pm_world *w, const char *needle)
{
	struct plan p;
	struct fct_err err;

	fct_err_clear(&err);
	assert_int_equal(pm_plan(w, &p, &err), -1);
	assert_int_equal(p.n, 0);
	assert_null(p.acts);
	assert_int_equal(err.kind, FCT_E_FOLDER);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void input_errors(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);
	struct plan p;
	struct fct_err err;

	(void)state;
	pm_add_far(w, 0, 10, "<a>");
	pm_add_far(w, 0, 10, "<b>");
	w->far[1].uid = 1;
	expect_error(w, "not sorted by UID");
	w->far[0].uid = 0;
	expect_error(w, "UID 0");

	pm_init(w, PLAN_ALL);
	pm_add_near(w, "b", 0, 10, NULL);
	pm_add_near(w, "a", 0, 10, NULL);
	expect_error(w, "not sorted by name ('a' after 'b')");
	snprintf(w->near[1].uniq, PM_NAME, "b");
	expect_error(w, "not sorted");

	pm_init(w, PLAN_ALL);
	pm_add_far(w, 0, 10, NULL);
	pm_add_near(w, "a", 0, 10, NULL);
	pm_add_near(w, "b", 0, 10, NULL);
	pm_add_jr(w, 1, "a", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 1, "b", 0, PLAN_JR_SYNCED);
	expect_error(w, "far UID 1 twice");
	w->jr[1].far_uid = 0;
	w->jr[1].state = PLAN_JR_NEAR_ONLY;
	snprintf(w->jr[1].uniq, PM_NAME, "a");
	expect_error(w, "near 'a' twice");
	w->jr[1].uniq[0] = 0;
	expect_error(w, "lacks its near link");
	w->jr[1].state = PLAN_JR_SYNCED;
	w->jr[1].far_uid = 7;
	expect_error(w, "lacks its near link");
	w->jr[1].state = PLAN_JR_PENDING_DOWNLOAD;
	w->jr[1].far_uid = 0;
	snprintf(w->jr[1].uniq, PM_NAME, "z");
	expect_error(w, "lacks its far link");
	w->jr[1].far_uid = 7;
	w->jr[1].state = 42;
	expect_error(w, "unknown state 42");

	/* Links are 32-bit indexes: a larger folder is refused before any
	 * array is read (they are not that long here). */
	for (int side = 0; side < 3; side++) {
		struct plan_in big = w->in;

		big.far = w->pf;
		big.near = w->pn;
		big.jr = w->pj;
		*(side == 0 ? &big.nfar : side == 1 ? &big.nnear : &big.njr) = UINT32_MAX;
		fct_err_clear(&err);
		assert_int_equal(plan_build(&big, &p, &err), -1);
		assert_int_equal(p.n, 0);
		assert_non_null(strstr(err.msg, "more than 4294967294 messages in one folder"));
	}

	w->in.cfg = NULL;
	assert_int_equal(plan_build(&w->in, &p, &err), -1);
	assert_int_equal(plan_build(NULL, &p, &err), -1);
	plan_free(&p);
	plan_free(NULL);
	free(w);
}

static void flags_three_way(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL & ~PLAN_PULL_FLAGS);

	(void)state;
	/* Far dropped Seen, near added Flagged since the last sync. */
	pm_add_far(w, 0, 10, "<a>");
	pm_add_near(w, "a", SEEN | FLAG, 10, "<a>");
	pm_add_jr(w, 1, "a", SEEN, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 2;
	/* Only near -> far flows; the base keeps Seen so the far change waits. */
	expect(w, "flags-far 0 0 0;journal-update 0 0 0");
	assert_int_equal(w->far[0].flags, FLAG);
	assert_int_equal(w->jr[0].flags, SEEN | FLAG);
	expect(w, "");
	w->cfg.ops = PLAN_ALL;
	expect(w, "flags-near 0 0 0;journal-update 0 0 0");
	assert_int_equal(w->near[0].flags, FLAG);
	assert_int_equal(w->jr[0].flags, FLAG);
	free(w);
}

static void deletions_and_expunge(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	pm_add_far(w, DEL, 10, "<a>");          /* uid 1, deleted on far */
	pm_add_far(w, SEEN, 10, "<b>");         /* uid 2, its near copy is gone */
	pm_add_far(w, SEEN, 10, "<c>");         /* uid 3 */
	pm_add_near(w, "a", 0, 10, "<a>");
	pm_add_near(w, "c", SEEN | DEL, 10, "<c>");
	pm_add_jr(w, 1, "a", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 2, "b", SEEN, PLAN_JR_SYNCED);
	pm_add_jr(w, 3, "c", SEEN, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 4;
	w->cfg.expunge_far = 1;
	expect(w, "expunge-far 0 0 0;delete-near 0 0 0;journal-forget 0 0 0;"
		  "delete-far 1 -1 1;expunge-far 1 -1 1;journal-forget 1 -1 1;"
		  "delete-far 2 1 2;expunge-far 2 1 2;delete-near 2 1 2;journal-forget 2 1 2");
	assert_int_equal(w->nfar + w->nnear + w->njr, 0);

	/* Without expunge the far copy keeps \Deleted and is not fetched again. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, SEEN, 10, "<b>");
	pm_add_jr(w, 1, "b", SEEN, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 2;
	expect(w, "delete-far 0 -1 0;journal-update 0 -1 0");
	assert_int_equal(w->jr[0].state, PLAN_JR_FAR_ONLY);
	expect(w, "");

	/* Deletion directions off: records remember which side is left. */
	pm_init(w, PLAN_ALL & ~(PLAN_PULL_DELETE | PLAN_PUSH_DELETE));
	pm_add_far(w, 0, 10, "<a>");
	w->next_uid++;
	pm_add_near(w, "b", 0, 10, "<b>");
	pm_add_jr(w, 1, "a", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 2, "b", 0, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 3;
	expect(w, "journal-update 0 -1 0;journal-update -1 0 1");
	assert_int_equal(w->jr[0].state, PLAN_JR_FAR_ONLY);
	assert_int_equal(w->jr[1].state, PLAN_JR_NEAR_ONLY);
	w->cfg.ops = PLAN_ALL;
	expect(w, "");
	free(w);
}

static size_t jr_pending(struct pm_world *w, uint32_t uid, const char *uniq, int state,
			 const char *msgid, uint64_t size)
{
	size_t j = pm_add_jr(w, uid, uniq, SEEN, state);

	snprintf(w->jr[j].msgid, PM_NAME, "%s", msgid ? msgid : "");
	w->jr[j].size = size;
	return j;
}

static void crash_pending_download(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	/* Landed: the named file exists; link it, no second copy. */
	pm_add_far(w, SEEN, 10, "<a>");
	pm_add_near(w, "a", SEEN, 10, "<a>");
	jr_pending(w, 1, "a", PLAN_JR_PENDING_DOWNLOAD, "<a>", 10);
	w->cfg.far_uidnext_journal = 2;
	expect(w, "pair 0 0 0");
	assert_int_equal(w->jr[0].state, PLAN_JR_SYNCED);

	/* Not landed: fetch again into the same record. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, SEEN, 10, "<a>");
	jr_pending(w, 1, "a", PLAN_JR_PENDING_DOWNLOAD, "<a>", 10);
	w->cfg.far_uidnext_journal = 2;
	expect(w, "download 0 -1 0");
	assert_int_equal(w->nnear, 1);
	assert_int_equal(w->njr, 1);

	/* No name recorded: a file with the same Message-ID and size is it. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, SEEN, 10, "<a>");
	pm_add_far(w, SEEN, 10, "<b>");
	pm_add_near(w, "x", SEEN, 11, "<a>");  /* other size: another message */
	pm_add_near(w, "y", 0, 10, "<a>");
	jr_pending(w, 1, NULL, PLAN_JR_PENDING_DOWNLOAD, "<a>", 10);
	jr_pending(w, 2, NULL, PLAN_JR_PENDING_DOWNLOAD, "<b>", 10);
	w->cfg.far_uidnext_journal = 3;
	expect(w, "pair 0 1 0;flags-far 0 1 0;journal-update 0 1 0;download 1 -1 1;upload -1 0 -1");

	/* Far gone before the retry: nothing to do but forget. */
	pm_init(w, PLAN_ALL);
	w->next_uid = 2;
	jr_pending(w, 1, "a", PLAN_JR_PENDING_DOWNLOAD, "<a>", 10);
	expect(w, "journal-forget -1 -1 0");
	free(w);
}

static void crash_pending_upload(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);
	struct plan p;
	struct fct_err err;

	(void)state;
	/* Candidates: UID 3 is below the recorded UIDNEXT; 5 and 6 match.
	 * The lowest wins; 6 stays a message of its own (downloaded). */
	w->next_uid = 3;
	pm_add_far(w, SEEN, 10, "<u>");
	w->next_uid = 5;
	pm_add_far(w, SEEN, 10, "<u>");
	pm_add_far(w, SEEN, 10, "<u>");
	pm_add_near(w, "a", SEEN, 10, "<u>");
	w->jr[jr_pending(w, 0, "a", PLAN_JR_PENDING_UPLOAD, "<u>", 10)].upload_uidnext = 5;
	w->cfg.far_uidnext_journal = 5;
	expect(w, "pair 1 0 0;download 0 -1 -1;download 2 -1 -1");
	assert_int_equal(w->jr[0].far_uid, 5);

	/* No candidate: upload again. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, SEEN, 10, "<other>");
	pm_add_near(w, "a", SEEN, 10, "<u>");
	w->jr[jr_pending(w, 0, "a", PLAN_JR_PENDING_UPLOAD, "<u>", 10)].upload_uidnext = 1;
	w->cfg.far_uidnext_journal = 2;
	w->cfg.ops = PLAN_ALL & ~PLAN_PULL_RENEW;
	assert_int_equal(pm_plan(w, &p, &err), 0);
	assert_int_equal(p.count[PLAN_UPLOAD], 1);
	assert_int_equal(p.acts[0].jr, 0);
	assert_int_equal(p.count[PLAN_PAIR], 0);
	plan_free(&p);

	/* Without Message-ID on either side, same size after UIDNEXT: landed. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, 0, 10, "<has-one>");
	pm_add_far(w, 0, 10, NULL);
	pm_add_near(w, "a", 0, 10, NULL);
	w->jr[jr_pending(w, 0, "a", PLAN_JR_PENDING_UPLOAD, NULL, 10)].upload_uidnext = 1;
	w->jr[0].flags = 0;
	w->cfg.far_uidnext_journal = 1;
	expect(w, "pair 1 0 0;download 0 -1 -1");

	/* Landed, then the near file was deleted: the deletion goes on. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, 0, 10, "<u>");
	w->jr[jr_pending(w, 0, "gone", PLAN_JR_PENDING_UPLOAD, "<u>", 10)].upload_uidnext = 1;
	w->jr[0].flags = 0;
	w->cfg.far_uidnext_journal = 2;
	expect(w, "pair 0 -1 0;delete-far 0 -1 0;journal-update 0 -1 0");

	/* Not landed and the file is gone: forget. */
	pm_init(w, PLAN_ALL);
	jr_pending(w, 0, "gone", PLAN_JR_PENDING_UPLOAD, "<u>", 10);
	expect(w, "journal-forget -1 -1 0");
	free(w);
}

static void crash_pending_move(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	pm_add_far(w, SEEN, 10, "<a>");
	w->next_uid++;
	pm_add_near(w, "a", SEEN | FLAG, 10, "<a>");
	pm_add_jr(w, 1, "a", SEEN, PLAN_JR_PENDING_MOVE);
	pm_add_jr(w, 2, "b", SEEN, PLAN_JR_PENDING_MOVE);
	w->cfg.far_uidnext_journal = 3;
	/* Renamed with a new flag: synced; renamed away for good: far gone. */
	expect(w, "flags-far 0 0 0;journal-update 0 0 0;journal-forget -1 -1 1");
	assert_int_equal(w->jr[0].state, PLAN_JR_SYNCED);
	free(w);
}

static void uidvalidity_change(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);
	struct plan p;
	struct fct_err err;
	char buf[2048];

	(void)state;
	/* The old journal: a, b, c synced under the old UIDs 1..3; d kept
	 * near-only. The new far listing renumbered everything. */
	w->next_uid = 101;
	pm_add_far(w, SEEN, 10, "<a>");  /* 101: unique match for near a */
	pm_add_far(w, 0, 10, "<b>");     /* 102, 103: two far copies of b */
	pm_add_far(w, 0, 10, "<b>");
	pm_add_far(w, 0, 10, NULL);      /* 104: no Message-ID */
	pm_add_near(w, "a", SEEN | FLAG, 10, "<a>");
	pm_add_near(w, "b", 0, 10, "<b>");
	pm_add_near(w, "c", 0, 10, "<c>");
	pm_add_near(w, "d", 0, 10, "<d>");
	pm_add_near(w, "e", 0, 10, NULL);
	pm_add_jr(w, 1, "a", SEEN, PLAN_JR_SYNCED);
	pm_add_jr(w, 2, "b", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 3, "c", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 0, "d", 0, PLAN_JR_NEAR_ONLY);
	w->cfg.far_uidnext_journal = 4;
	w->cfg.uidvalidity_changed = 1;
	w->cfg.expunge_far = w->cfg.expunge_near = 1;
	assert_int_equal(pm_plan(w, &p, &err), 0);
	/* a is linked (its flag change still flows), b is ambiguous (never
	 * merged: transferred both ways), c lost its far copy but is not
	 * deleted (uploaded), d stays near-only, the rest is new. */
	assert_string_equal(show(&p, buf, sizeof buf),
			    "pair 0 0 0;flags-far 0 0 0;journal-update 0 0 0;"
			    "journal-forget -1 -1 1;journal-forget -1 -1 2;"
			    "download 1 -1 -1;download 2 -1 -1;download 3 -1 -1;"
			    "upload -1 1 -1;upload -1 2 -1;upload -1 4 -1");
	assert_int_equal(p.ambiguous, 3);
	assert_int_equal(p.count[PLAN_DELETE_NEAR] + p.count[PLAN_DELETE_FAR] + p.count[PLAN_EXPUNGE_FAR], 0);
	pm_apply(w, &p);
	plan_free(&p);
	expect(w, "");
	free(w);
}

static void adoption(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	/* No journal yet, both sides full: link what is clearly the same. */
	pm_add_far(w, SEEN, 10, "<a>");
	pm_add_far(w, 0, 20, "<b>");  /* same id, other size: not the same */
	pm_add_far(w, 0, 30, NULL);
	pm_add_near(w, "a", FLAG, 10, "<a>");
	pm_add_near(w, "b", 0, 21, "<b>");
	pm_add_near(w, "c", 0, 30, NULL);
	/* Flags from either side are kept (the base is what both had). */
	expect(w, "pair 0 0 -1;flags-far 0 0 -1;flags-near 0 0 -1;journal-update 0 0 -1;"
		  "download 1 -1 -1;download 2 -1 -1;upload -1 1 -1;upload -1 2 -1");
	assert_int_equal(w->far[0].flags, SEEN | FLAG);
	assert_int_equal(w->jr[0].flags, SEEN | FLAG);
	expect(w, "");
	free(w);
}

static void too_big_reported_once(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);
	struct plan p;
	struct fct_err err;

	(void)state;
	pm_add_far(w, 0, 500, "<big>");
	pm_add_near(w, "n", 0, 600, "<bign>");
	pm_add_far(w, 0, 50, "<small>");
	w->cfg.max_size = 100;
	expect(w, "skip-too-big 0 -1 -1;download 1 -1 -1;skip-too-big -1 0 -1");
	assert_int_equal(pm_plan(w, &p, &err), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.too_big, 2);
	plan_free(&p);
	/* The limit is raised: ReNew brings them over. */
	w->cfg.max_size = 0;
	w->cfg.ops = PLAN_ALL & ~(PLAN_PULL_RENEW | PLAN_PUSH_RENEW);
	expect(w, "");
	w->cfg.ops = PLAN_ALL;
	expect(w, "download 0 -1 0;upload -1 1 2"); /* "m00000" < "n" */
	expect(w, "");
	free(w);
}

static void max_messages_window(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);
	static const unsigned near_flags[] = { SEEN | FLAG, 0, SEEN, SEEN, SEEN };
	uint32_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		char u[8];

		snprintf(u, sizeof u, "%c", 'a' + i);
		pm_add_far(w, near_flags[i], 10, u);
		pm_add_near(w, u, near_flags[i], 10, u);
		pm_add_jr(w, i + 1, u, near_flags[i], PLAN_JR_SYNCED);
	}
	pm_add_far(w, DEL, 10, "x");  /* deleted: not counted in the window */
	pm_add_jr(w, 6, NULL, DEL, PLAN_JR_FAR_ONLY);
	w->next_uid = 10;
	w->cfg.far_uidnext_journal = 10;
	w->cfg.max_messages = 2;
	/* Window = UIDs 4, 5.  1 is flagged, 2 unread: kept; 3 expires. */
	expect(w, "delete-near 2 2 2;journal-update 2 2 2");
	assert_int_equal(w->jr[2].state, PLAN_JR_FAR_ONLY);
	assert_int_equal(w->nfar, 6);
	w->cfg.expire_unread = 1;
	expect(w, "delete-near 1 1 1;journal-update 1 1 1");
	/* A new message moves the window; old ones are not fetched again. */
	pm_add_far(w, SEEN, 10, "new");
	expect(w, "delete-near 3 1 3;journal-update 3 1 3;download 6 -1 -1");
	expect(w, "");
	/* A run stopped after removing an expired copy, before recording it:
	 * the absence is not a deletion; a flagged copy's absence is one. */
	w->jr[3].state = PLAN_JR_SYNCED;
	assert_string_equal(w->near[0].uniq, "a");
	w->near[0].present = 0;
	pm_compact(w);
	expect(w, "delete-far 0 -1 0;journal-update 0 -1 0;journal-update 3 -1 3");
	assert_int_equal(w->jr[3].state, PLAN_JR_FAR_ONLY);
	assert_int_equal(w->far[3].flags, SEEN);
	free(w);
}

static void near_only_far_uid(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	/* A listing rebuilt from the journal echoes the gone UID 1. */
	pm_add_far(w, SEEN, 10, "<a>");
	pm_add_near(w, "a", SEEN, 10, "<a>");
	pm_add_jr(w, 1, "a", SEEN, PLAN_JR_NEAR_ONLY);
	w->cfg.far_uidnext_journal = 2;
	expect(w, "");
	w->near[0].present = 0;
	pm_compact(w);
	expect(w, "");
	assert_int_equal(w->njr, 1);

	/* After a UIDVALIDITY change the old UID 1 names a new message that a
	 * record of its own links: no conflict, no shadow. */
	pm_init(w, PLAN_ALL);
	pm_add_far(w, 0, 10, "<new>");
	pm_add_near(w, "a", SEEN, 10, "<a>");
	pm_add_near(w, "n", 0, 10, "<new>");
	pm_add_jr(w, 1, "a", SEEN, PLAN_JR_NEAR_ONLY);
	pm_add_jr(w, 1, "n", 0, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 2;
	w->far[0].flags = FLAG;
	expect(w, "flags-near 0 1 1;journal-update 0 1 1");
	free(w);
}

static void deterministic_order(void **state)
{
	struct pm_world *w = new_world(PLAN_ALL);

	(void)state;
	pm_add_far(w, 0, 10, "<1>");
	pm_add_far(w, 0, 10, "<2>");
	pm_add_far(w, SEEN, 10, "<3>");
	pm_add_near(w, "b", 0, 10, "<2>");
	pm_add_near(w, "c", 0, 10, "<3>");
	pm_add_near(w, "z", 0, 10, "<z>");
	pm_add_near(w, "y", 0, 10, "<y>");
	pm_compact(w);
	pm_add_jr(w, 3, "c", 0, PLAN_JR_SYNCED);
	pm_add_jr(w, 2, "b", 0, PLAN_JR_SYNCED);
	w->cfg.far_uidnext_journal = 1;
	/* Records by far UID, then new far by UID, then new near by name. */
	expect(w, "flags-near 2 1 0;journal-update 2 1 0;download 0 -1 -1;upload -1 2 -1;upload -1 3 -1");
	free(w);
}

/* Arbitrary input (as a corrupt journal or an odd server could give):
 * plan_build either refuses it with a message or returns a plan whose
 * indexes are in range; it never crashes. */
static unsigned rn(uint64_t *x, unsigned n)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (unsigned)(*x % n);
}

/* The journal's records own their strings; these borrow constants. */
static char *mut(const char *s)
{
	return (char *)(uintptr_t)s;
}

static void arbitrary_input(void **state)
{
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	static const char *const ids[] = { NULL, "", "<1>", "<2>" };
	struct plan_far far[6];
	struct plan_near near[5];
	struct jrnl_msg jr[6];
	struct plan_cfg cfg;
	uint64_t x = 88172645463325252ull;
	unsigned iter, ok = 0, bad = 0;

	(void)state;
	for (iter = 0; iter < 200000; iter++) {
		struct plan_in in;
		struct plan p;
		struct fct_err err;
		size_t i, nfar, nnear, njr;

		nfar = rn(&x, 7);
		nnear = rn(&x, 6);
		njr = rn(&x, 7);
		for (i = 0; i < nfar; i++)
			far[i] = (struct plan_far){ (uint32_t)(i * 2 + rn(&x, 3)), rn(&x, 128), rn(&x, 3) * 10, ids[rn(&x, 4)], NULL };
		for (i = 0; i < nnear; i++)
			near[i] = (struct plan_near){ names[rn(&x, 2) ? i : rn(&x, 5)], rn(&x, 128), rn(&x, 3) * 10, ids[rn(&x, 4)] };
		for (i = 0; i < njr; i++)
			jr[i] = (struct jrnl_msg){ .id = i, .far_uid = rn(&x, 3) ? rn(&x, 12) : 0,
						   .near_uniq = rn(&x, 4) ? mut(names[rn(&x, 5)]) : NULL,
						   .flags = rn(&x, 64), .state = (uint8_t)((int)rn(&x, 9) - 1),
						   .size = rn(&x, 3) * 10, .msgid = mut(ids[rn(&x, 4)]),
						   .upload_uidnext = rn(&x, 12) };
		memset(&cfg, 0, sizeof cfg);
		cfg.ops = rn(&x, 256);
		cfg.expunge_far = (int)rn(&x, 2);
		cfg.expunge_near = (int)rn(&x, 2);
		cfg.max_size = rn(&x, 3) * 10;
		cfg.max_messages = rn(&x, 4);
		cfg.uidvalidity_changed = rn(&x, 5) == 0;
		cfg.far_uidnext_journal = rn(&x, 14);
		in = (struct plan_in){ far, nfar, near, nnear, jr, njr, &cfg };
		if (plan_build(&in, &p, &err) < 0) {
			assert_true(strlen(err.msg) > 6);
			bad++;
			continue;
		}
		ok++;
		for (i = 0; i < p.n; i++) {
			const struct plan_action *a = &p.acts[i];

			assert_true((unsigned)a->kind < PLAN_KIND_COUNT);
			assert_true(a->far == PLAN_NONE || a->far < nfar);
			assert_true(a->near == PLAN_NONE || a->near < nnear);
			assert_true(a->jr == PLAN_NONE || a->jr < njr);
		}
		plan_free(&p);
	}
	/* Both outcomes were exercised. */
	assert_true(ok > 1000 && bad > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(input_errors),
		cmocka_unit_test(flags_three_way),
		cmocka_unit_test(deletions_and_expunge),
		cmocka_unit_test(crash_pending_download),
		cmocka_unit_test(crash_pending_upload),
		cmocka_unit_test(crash_pending_move),
		cmocka_unit_test(uidvalidity_change),
		cmocka_unit_test(adoption),
		cmocka_unit_test(too_big_reported_once),
		cmocka_unit_test(max_messages_window),
		cmocka_unit_test(near_only_far_uid),
		cmocka_unit_test(deterministic_order),
		cmocka_unit_test(arbitrary_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
