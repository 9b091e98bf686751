/* Boxes that left one side since the last run (deleted or renamed there).
 * The survey plans them against an empty listing on that side, so every
 * message looks deleted there; the moves pass then takes the messages that
 * were filed elsewhere.  A folder renamed as a whole never gets here: the
 * moves pass renames it on the other side (sync/renames.c) and marks its
 * job done.  What remains is
 * deleted on the other side only if Remove allows it; otherwise the box is
 * created again and the next run copies those messages back, as a new box
 * pair: nothing is lost because a folder disappeared. */
#include <stdlib.h>
#include <string.h>

#include "sync/boxes.h"
#include "sync/engine.h"

static unsigned other_side(unsigned side)
{
	return side == BOX_ON_FAR ? BOX_ON_NEAR : BOX_ON_FAR;
}

static const char *side_name(unsigned side)
{
	return side == BOX_ON_FAR ? "far" : "near";
}

int chan_may_remove(const struct chan *c, unsigned side)
{
	int o = c->opts->remove_override;

	if (o >= 0)
		return (o & (side == BOX_ON_FAR ? RUN_SIDE_FAR : RUN_SIDE_NEAR)) != 0;
	return side == BOX_ON_FAR ? c->ch->remove_far : c->ch->remove_near;
}

int chan_may_create(const struct chan *c, unsigned side)
{
	int o = c->opts->create_override;

	if (o >= 0)
		return (o & (side == BOX_ON_FAR ? RUN_SIDE_FAR : RUN_SIDE_NEAR)) != 0;
	return side == BOX_ON_FAR ? c->ch->create_far : c->ch->create_near;
}

int vanish_open(struct chan *c, struct box_job *j, struct fct_err *err)
{
	j->vanished = (BOX_ON_FAR | BOX_ON_NEAR) & ~j->where;
	fct_log_info(c->log, "%s: %s: gone from the %s side since the last run", c->ch->name,
	             j->box, side_name(j->vanished));
	if (j->vanished == BOX_ON_FAR)
		return md_folder_open(c->md, j->near_name, 0, &j->r.nf, err);
	return 0;
}

/* Only deletions toward the side that still has the box survive, and only
 * when Remove allows them there. */
static size_t restrict_plan(struct chan *c, struct box_job *j, unsigned other)
{
	int may = chan_may_remove(c, other);
	size_t i, left = 0;

	for (i = 0; i < j->plan.n; i++) {
		enum plan_kind k = j->plan.acts[i].kind;
		int keep = may && (other == BOX_ON_NEAR ? k == PLAN_DELETE_NEAR
		                   : (k == PLAN_DELETE_FAR || k == PLAN_EXPUNGE_FAR));

		if (!keep)
			j->suppress[i] = 1;
		left += !j->suppress[i];
	}
	return left;
}

static int side_empty(struct chan *c, struct box_job *j, unsigned side, int *empty,
                      struct fct_err *err)
{
	struct md_entry *e = NULL;
	struct imap_box st;
	size_t n = 0;

	if (side == BOX_ON_NEAR) {
		if (md_scan(j->r.nf, &e, &n, err) < 0)
			return -1;
		md_entries_free(e, n);
		*empty = (n == 0);
		return 0;
	}
	memset(&st, 0, sizeof st);
	if (imap_status(c->im, j->far_name, &st, err) < 0)
		return -1;
	*empty = (st.exists == 0);
	return 0;
}

static int remove_box(struct chan *c, struct box_job *j, unsigned side, struct fct_err *err)
{
	struct imap_box bx;

	fct_log_info(c->log, "%s: %s: removing the now empty folder on the %s side", c->ch->name,
	             j->box, side_name(side));
	if (side == BOX_ON_NEAR) {
		md_folder_close(j->r.nf);
		j->r.nf = NULL;
		return md_folder_delete(c->md, j->near_name, err);
	}
	/* Servers may refuse to delete the selected mailbox. */
	if (c->selected == j) {
		memset(&bx, 0, sizeof bx);
		if (imap_select(c->im, "INBOX", 1, NULL, &bx, NULL, NULL, NULL, err) < 0)
			return -1;
		c->selected = NULL;
	}
	return imap_delete(c->im, j->far_name, err);
}

static int recreate_box(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct md_folder *f = NULL;

	if (!chan_may_create(c, j->vanished))
		return 0;
	fct_log_info(c->log, "%s: %s: creating the folder again on the %s side; its messages "
	             "follow on the next run (set Remove to propagate folder deletions)",
	             c->ch->name, j->box, side_name(j->vanished));
	if (j->vanished == BOX_ON_FAR)
		return imap_create(c->im, j->far_name, err);
	if (md_folder_open(c->md, j->near_name, 1, &f, err) < 0)
		return -1;
	md_folder_close(f);
	return 0;
}

static int forget_box(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct jrnl_txn *t;

	if (jrnl_begin(c->j, &t, err) < 0)
		return -1;
	if (jrnl_box_del(t, j->box, err) < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

int vanish_apply(struct chan *c, struct box_job *j, struct fct_err *err)
{
	unsigned other = other_side(j->vanished);
	int empty = 0, rc = 0;

	j->state = JOB_FAILED;
	if (restrict_plan(c, j, other)) {
		if (other == BOX_ON_FAR)
			rc = box_reselect(c, j, err);
		if (rc == 0)
			rc = exec_plan(&j->r, &j->plan, err);
	}
	if (rc == 0)
		rc = side_empty(c, j, other, &empty, err);
	if (rc == 0 && empty && (chan_may_remove(c, other) || j->moved_out))
		rc = remove_box(c, j, other, err);
	else if (rc == 0)
		rc = recreate_box(c, j, err);
	if (rc == 0)
		rc = forget_box(c, j, err);
	if (rc < 0) {
		fct_err_prefix(err, "%s: %s", c->ch->name, j->box);
		return -1;
	}
	box_count_plan(c, j);
	j->state = JOB_DONE;
	return 0;
}
