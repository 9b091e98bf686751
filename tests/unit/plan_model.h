/* A model of both mailboxes and the journal for the planner's tests: it
 * feeds plan_build, executes a plan on the model the way the executor
 * would, and checks every action against the rules it may follow. */
#ifndef FACTEUR_TEST_PLAN_MODEL_H
#define FACTEUR_TEST_PLAN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sync/plan.h"

#define PM_MAX 40
#define PM_NAME 32

struct pm_far {
	uint32_t uid;
	unsigned flags;
	uint64_t size;
	char msgid[PM_NAME]; /* "" = none */
	int present;
};

struct pm_near {
	char uniq[PM_NAME];
	unsigned flags;
	uint64_t size;
	char msgid[PM_NAME];
	int present;
};

struct pm_jr {
	uint64_t id;
	uint32_t far_uid;
	char uniq[PM_NAME]; /* "" = none */
	unsigned flags;
	int state;
	uint64_t size;
	char msgid[PM_NAME];
	uint32_t upload_uidnext;
	int alive;
};

struct pm_world {
	struct pm_far far[PM_MAX];
	size_t nfar;
	struct pm_near near[PM_MAX];
	size_t nnear;
	struct pm_jr jr[PM_MAX];
	size_t njr;
	uint32_t next_uid;   /* the far UIDNEXT */
	unsigned next_name;
	uint64_t next_id;
	struct plan_cfg cfg;
	/* plan_build's view of the world, filled by pm_plan */
	struct plan_far pf[PM_MAX];
	struct plan_near pn[PM_MAX];
	struct jrnl_msg pj[PM_MAX];
	struct plan_in in;
};

void pm_init(struct pm_world *w, unsigned ops);
/* Adders return the new element's index. */
size_t pm_add_far(struct pm_world *w, unsigned flags, uint64_t size, const char *msgid);
size_t pm_add_near(struct pm_world *w, const char *uniq, unsigned flags, uint64_t size, const char *msgid);
size_t pm_add_jr(struct pm_world *w, uint32_t far_uid, const char *uniq, unsigned flags, int state);
/* Drops absent messages and dead records, sorts the near side. */
void pm_compact(struct pm_world *w);
/* Builds a plan of the (compacted) world; returns plan_build's result. */
int pm_plan(struct pm_world *w, struct plan *p, struct fct_err *err);
/* Executes p on w, checking each action (cmocka asserts), then checks the
 * end state and compacts.  The world must be the one p was built from. */
void pm_apply(struct pm_world *w, const struct plan *p);
/* Index of the first action of kind k naming far index f / near index n
 * (PLAN_NONE matches any), or -1. */
long pm_find(const struct plan *p, enum plan_kind k, size_t f, size_t n);
/* Finds a present far message by msgid / a live record by far UID. */
long pm_far_by_msgid(const struct pm_world *w, const char *msgid);
long pm_near_by_msgid(const struct pm_world *w, const char *msgid);

#endif
