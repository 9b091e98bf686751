/* Folder renames.  A folder renamed on one side shows up as a box gone
 * from that side and a new box there, with every message of the first
 * paired by the moves pass to one in the second.  Instead of moving the
 * messages one by one into a copy of the new folder on the other side,
 * the folder itself is renamed there: RENAME on the server, a directory
 * rename locally.  Subfolders go along (the server renames them with their
 * parent, and so does md_folder_rename); their boxes must have been renamed
 * alike, or nothing is renamed.  Every pairing survives: the records are
 * rewritten under the new box through the moves pass's crash protocol.
 *
 * The new box was created (empty) on the other side by the survey; it is
 * removed right before the rename, and created again if the rename is
 * refused, before the messages are moved one by one. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/boxes.h"
#include "sync/moves_int.h"

static unsigned made_on(int side_far)
{
	return side_far ? BOX_ON_FAR : BOX_ON_NEAR;
}

/* Messages the box holds on the side the rename is replayed on. */
static size_t held(const struct box_job *j, int side_far)
{
	return side_far ? j->r.nnear : j->r.nfar;
}

static int is_inbox(const struct box_job *j)
{
	return strcasecmp(j->box, "INBOX") == 0;
}

static int is_source(const struct box_job *j, int side_far)
{
	return j->state == JOB_READY && j->found && j->vanished == made_on(side_far) && !is_inbox(j);
}

/* New on the rename's side only, and still empty on the other, where the
 * survey just created it. */
static int is_target(const struct box_job *j, int side_far)
{
	return j->state == JOB_READY && !j->found && !j->vanished && !is_inbox(j) &&
	       (j->where & (BOX_ON_FAR | BOX_ON_NEAR)) == made_on(side_far) && held(j, side_far) == 0;
}

static int under(const char *box, const char *parent)
{
	size_t n = strlen(parent);

	return strncmp(box, parent, n) == 0 && box[n] == '/';
}

/* Every action of f's plan is replaced by one of its moves. */
static int covered(const struct box_job *f, const struct mv *m, size_t n)
{
	size_t i, k;

	for (i = 0; i < f->plan.n; i++) {
		size_t jr = f->plan.acts[i].jr;

		if (jr == PLAN_NONE)
			return 0;
		for (k = 0; k < n && !(m[k].out->j == f && m[k].out->jr == jr); k++)
			;
		if (k == n)
			return 0;
	}
	return 1;
}

/* The box every message of f went to (NULL if none or several), when all
 * of f's messages went there and nothing else arrived there by a move. */
static struct box_job *sole_target(const struct box_job *f, const struct mv *m, size_t n,
                                   int side_far)
{
	struct box_job *t = NULL;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (m[i].out->j != f)
			continue;
		if (t && m[i].in->j != t)
			return NULL;
		t = m[i].in->j;
		k++;
	}
	if (!t || k != held(f, side_far))
		return NULL;
	for (i = 0; i < n; i++)
		if (m[i].in->j == t && m[i].out->j != f)
			return NULL;
	return t;
}

/* f -> t for a subfolder: names alike, and every message of f (maybe
 * none) went to t and only there. */
static int child_ok(struct box_job *f, struct box_job *t, const struct mv *m, size_t n,
                    int side_far)
{
	size_t i, k = 0;

	if (!is_source(f, side_far) || !is_target(t, side_far) || !covered(f, m, n))
		return 0;
	for (i = 0; i < n; i++) {
		if ((m[i].out->j == f) != (m[i].in->j == t))
			return 0;
		k += m[i].out->j == f;
	}
	return k == held(f, side_far);
}

static struct box_job *job_named(struct box_job **jobs, size_t njobs, const char *box)
{
	size_t i;

	for (i = 0; i < njobs; i++)
		if (strcmp(jobs[i]->box, box) == 0)
			return jobs[i];
	return NULL;
}

static void ren_add(struct renames *rs, struct box_job *f, struct box_job *t, size_t root)
{
	rs->v = fct_xrealloc(rs->v, (rs->n + 1) * sizeof *rs->v);
	rs->v[rs->n] = (struct ren){f, t, root, 0, 0};
	rs->n++;
}

/* Adds f -> t with its subfolders if each has its renamed twin (and t no
 * other subfolder); returns 0 and adds nothing otherwise. */
static int add_tree(struct box_job **jobs, size_t njobs, struct box_job *f, struct box_job *t,
                    const struct mv *m, size_t n, int side_far, struct renames *rs)
{
	size_t i, nf = 0, nt = 0, root = rs->n;
	int ok = 1;

	ren_add(rs, f, t, root);
	for (i = 0; i < njobs && ok; i++) {
		struct box_job *k;
		char *name;

		nt += under(jobs[i]->box, t->box);
		if (!under(jobs[i]->box, f->box))
			continue;
		nf++;
		name = fct_xasprintf("%s%s", t->box, jobs[i]->box + strlen(f->box));
		k = job_named(jobs, njobs, name);
		free(name);
		ok = k && child_ok(jobs[i], k, m, n, side_far);
		if (ok)
			ren_add(rs, jobs[i], k, root);
	}
	if (ok && nf == nt)
		return 1;
	rs->n = root;
	return 0;
}

static int inside_accepted(const struct renames *rs, const struct box_job *f)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (rs->v[i].from == f || under(f->box, rs->v[i].from->box))
			return 1;
	return 0;
}

static int job_cmp(const void *x, const void *y)
{
	return strcmp((*(struct box_job *const *)x)->box, (*(struct box_job *const *)y)->box);
}

void renames_find(struct box_job **jobs, size_t njobs, struct mv *m, size_t n, int side_far,
                  struct renames *rs)
{
	struct box_job **byname = fct_xcalloc(njobs + 1, sizeof *byname);
	size_t i, k;

	memset(rs, 0, sizeof *rs);
	memcpy(byname, jobs, njobs * sizeof *byname);
	qsort(byname, njobs, sizeof *byname, job_cmp); /* parents first */
	for (i = 0; i < njobs; i++) {
		struct box_job *f = byname[i], *t;

		if (!is_source(f, side_far) || inside_accepted(rs, f) || !covered(f, m, n))
			continue;
		t = sole_target(f, m, n, side_far);
		if (t && is_target(t, side_far) && !under(t->box, f->box))
			add_tree(byname, njobs, f, t, m, n, side_far, rs);
	}
	free(byname);
	for (i = 0; i < n; i++)
		for (k = 0; k < rs->n; k++) {
			if (m[i].out->j != rs->v[k].from)
				continue;
			m[i].ren = rs->v[k].root + 1;
			/* After a crash past the RENAME, the copies are among all
			 * the renamed box's UIDs. */
			if (!side_far)
				m[i].rec.upload_uidnext = 1;
		}
}

void renames_free(struct renames *rs)
{
	free(rs->v);
	memset(rs, 0, sizeof *rs);
}

/* Members of one rename, deepest target first: the root comes last. */
static size_t members(const struct renames *rs, size_t root, struct ren **out)
{
	size_t i, k = 0;

	for (i = 0; i < rs->n; i++)
		if (rs->v[i].root == root)
			out[k++] = &rs->v[i];
	/* Descending names: subfolders before their parents. */
	for (i = 1; i < k; i++)
		for (size_t j = i; j > 0; j--) {
			struct ren *x;

			if (strcmp(out[j - 1]->to->box, out[j]->to->box) >= 0)
				break;
			x = out[j - 1];
			out[j - 1] = out[j];
			out[j] = x;
		}
	return k;
}

/* A failure after which the folders cannot be put back as the moves pass
 * expects them ends the channel's run; the journal's pending records
 * finish the job next time. */
static int beyond_repair(struct fct_err *err)
{
	if (err->kind == FCT_E_FOLDER || err->kind == FCT_E_MSG)
		err->kind = FCT_E_STORE;
	return -1;
}

/* After a refused local rename: the targets again, the sources open. */
static int near_restore(struct chan *c, struct ren **v, size_t k, struct fct_err *err)
{
	size_t i;

	for (i = k; i-- > 0;) {
		struct box_job *t = v[i]->to, *f = v[i]->from;

		if (md_folder_open(c->md, t->near_name, 1, &t->r.nf, err) < 0 ||
		    md_folder_open(c->md, f->near_name, 0, &f->r.nf, err) < 0)
			return beyond_repair(err);
	}
	return 0;
}

/* Local replay of a server rename: the empty folders the survey made go,
 * the old folder (with its subfolders) takes their name. */
static int near_rename(struct chan *c, struct ren **v, size_t k, struct fct_err *err)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < k; i++) {
		md_folder_close(v[i]->from->r.nf);
		md_folder_close(v[i]->to->r.nf);
		v[i]->from->r.nf = v[i]->to->r.nf = NULL;
	}
	for (i = 0; i < k && rc == 0; i++)
		rc = md_folder_delete(c->md, v[i]->to->near_name, err);
	if (rc == 0)
		rc = md_folder_rename(c->md, v[k - 1]->from->near_name, v[k - 1]->to->near_name, err);
	if (rc < 0) {
		struct fct_err e;

		if (near_restore(c, v, k, &e) < 0)
			*err = e;
		return -1;
	}
	for (i = 0; i < k; i++) {
		struct box_job *t = v[i]->to;

		t->r.near_stamp = 0; /* another directory now: list it in full next time */
		if (md_folder_open(c->md, t->near_name, 0, &t->r.nf, err) < 0)
			return beyond_repair(err);
	}
	return 0;
}

static int unselect(struct chan *c, struct ren **v, size_t k, struct fct_err *err)
{
	struct imap_box bx;
	size_t i;

	for (i = 0; i < k; i++)
		if (c->selected == v[i]->from || c->selected == v[i]->to)
			break;
	if (i == k)
		return 0;
	/* Servers may refuse to delete or rename the selected mailbox. */
	memset(&bx, 0, sizeof bx);
	if (imap_select(c->im, "INBOX", 1, NULL, &bx, NULL, NULL, NULL, err) < 0)
		return -1;
	c->selected = NULL;
	return 0;
}

/* The targets again, empty, after a refused RENAME: their state is read
 * afresh (a new UIDVALIDITY), and so is the UIDNEXT the moves record. */
static int far_restore(struct chan *c, struct ren **v, size_t k, struct mv *m, size_t n,
                       struct fct_err *err)
{
	size_t i, x;

	for (i = k; i-- > 0;) {
		struct box_job *t = v[i]->to;

		if (imap_create(c->im, t->far_name, err) < 0 ||
		    imap_status(c->im, t->far_name, &t->r.fbox, err) < 0)
			return beyond_repair(err);
		for (x = 0; x < n; x++)
			if (m[x].in->j == t)
				m[x].rec.upload_uidnext = t->r.fbox.uidnext;
	}
	return 0;
}

/* The survey's empty copy, unless something arrived there since. */
static int far_delete_empty(struct chan *c, struct box_job *t, struct fct_err *err)
{
	struct imap_box st;

	memset(&st, 0, sizeof st);
	if (imap_status(c->im, t->far_name, &st, err) < 0)
		return -1;
	if (st.exists)
		return fct_err_set(err, FCT_E_FOLDER, "%s: not empty any more", t->box);
	return imap_delete(c->im, t->far_name, err);
}

/* The renamed box keeps the old one's UIDs and state (its next listing is
 * a full one).  A server that gave it a new UIDVALIDITY keeps the
 * messages but not their UIDs: its state is the new one, and the moves
 * into it stay pending uploads, found again by Message-ID and size. */
static int far_renamed(struct chan *c, struct ren *v, struct fct_err *err)
{
	struct imap_box st;

	memset(&st, 0, sizeof st);
	if (imap_status(c->im, v->to->far_name, &st, err) < 0)
		return -1;
	v->uv_lost = st.uidvalidity != v->from->r.fbox.uidvalidity;
	v->to->r.fbox = v->uv_lost ? st : v->from->r.fbox;
	v->to->r.fbox.nomodseq = 1;
	return 0;
}

/* Server replay of a local rename. */
static int far_rename(struct chan *c, struct ren **v, size_t k, struct mv *m, size_t n,
                      struct fct_err *err)
{
	size_t i;
	int rc = unselect(c, v, k, err);

	for (i = 0; i < k && rc == 0; i++)
		rc = far_delete_empty(c, v[i]->to, err);
	if (rc == 0)
		rc = imap_rename(c->im, v[k - 1]->from->far_name, v[k - 1]->to->far_name, err);
	if (rc < 0) {
		struct fct_err e;

		if (err->kind == FCT_E_FOLDER && far_restore(c, v, k, m, n, &e) < 0)
			*err = e;
		return -1;
	}
	for (i = 0; i < k; i++)
		if (far_renamed(c, v[i], err) < 0)
			return beyond_repair(err); /* renamed, yet not there */
	return 0;
}

/* The moves a rename carried are done: records become synchronized, flags
 * changed on both sides merged locally (the next run takes them to the
 * server). */
static void carried(struct chan *c, struct mv *x, const struct ren *v, int side_far)
{
	struct box_job *t = x->in->j;
	const char *uniq = side_far ? x->out->uniq : x->in->uniq;
	struct fct_err e;

	if (!side_far && !v->uv_lost) {
		x->rec.far_uid = x->out->j->r.jr[x->out->jr].far_uid;
		x->rec.upload_uidnext = 0;
	}
	if (x->merged != x->near_flags && md_set_flags(t->r.nf, uniq, x->merged, &e) < 0)
		fct_log_verbose(c->log, "%s: %s: %s", c->ch->name, t->box, e.msg);
	x->rec.state = v->uv_lost ? JRNL_PENDING_UPLOAD : JRNL_SYNCED;
	x->done = 1;
	if (side_far)
		c->sum.moved_near++;
	else
		c->sum.moved_far++;
}

static int apply_one(struct chan *c, struct renames *rs, size_t root, struct mv *m, size_t n,
                     int side_far, struct fct_err *err)
{
	struct ren **v = fct_xcalloc(rs->n + 1, sizeof *v);
	size_t i, k = members(rs, root, v);
	struct ren *top = v[k - 1];
	int rc;

	rc = side_far ? near_rename(c, v, k, err) : far_rename(c, v, k, m, n, err);
	if (rc < 0) {
		free(v);
		if (err->kind != FCT_E_FOLDER)
			return -1;
		fct_log_info(c->log, "%s: %s: renaming to %s on the %s side failed (%s); moving its "
		             "messages instead", c->ch->name, top->from->box, top->to->box,
		             side_far ? "near" : "far", err->msg);
		fct_err_clear(err);
		for (i = 0; i < n; i++)
			if (m[i].ren == root + 1)
				m[i].ren = 0;
		return 0;
	}
	fct_log_info(c->log, "%s: %s: renamed to %s on the %s side", c->ch->name, top->from->box,
	             top->to->box, side_far ? "near" : "far");
	if (!side_far)
		c->selected = NULL;
	for (i = 0; i < k; i++) {
		v[i]->done = 1;
		v[i]->from->state = JOB_DONE; /* nothing is left of it to apply */
	}
	for (i = 0; i < n; i++) {
		size_t x;

		if (m[i].ren != root + 1)
			continue;
		for (x = 0; x < k && v[x]->from != m[i].out->j; x++)
			;
		carried(c, &m[i], v[x], side_far);
	}
	free(v);
	return 0;
}

int renames_apply(struct chan *c, struct renames *rs, struct mv *m, size_t n, int side_far,
                  struct fct_err *err)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (rs->v[i].root == i && apply_one(c, rs, i, m, n, side_far, err) < 0)
			return -1;
	return 0;
}
