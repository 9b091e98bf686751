/* Moves across folders.  A message filed from folder A into folder B shows
 * up in the per-folder plans as a deletion in A and a transfer into B.
 * Before any plan is applied, this pass pairs the two by identity and moves
 * the message on the other side instead: a rename of the Maildir file for
 * a move made on the server, a UID MOVE for a move made locally.  The
 * deletion and the transfer it replaces are then suppressed.
 *
 * Identity: the same unique file name (local moves by rename), else the
 * same RFC 8474 EMAILID (servers with OBJECTID keep it across moves, and
 * it names one message: no Message-ID or size needed), else, where either
 * end lacks an EMAILID, the same (Message-ID, size) held by exactly one
 * leaving and one arriving message.  Anything ambiguous is left to the
 * plans: transferred, never merged.
 *
 * When every message of a folder gone from one side went to one new
 * folder there, the folder itself is renamed on the other side instead
 * (sync/renames.c); the records are written the same way.
 *
 * Crash protocol: the arriving folder's record is written first as a
 * pending transfer naming the message (PENDING_DOWNLOAD with the file name,
 * or PENDING_UPLOAD with the far UIDNEXT), then the move is done, then the
 * record is confirmed and the leaving folder's record dropped.  A crash
 * before the move makes the next run plan the transfer again (and this pass
 * pair it again); after it, the planner finds the message where it landed. */
#include <stdlib.h>
#include <string.h>

#include "sync/moves_int.h"
#include "sync/msgsrc.h"

static void end_add(struct ends *e, const struct end *x)
{
	if (e->n == e->cap) { /* not reached when collect counted right */
		e->cap = e->cap ? e->cap * 2 : 64;
		e->v = fct_xrealloc(e->v, e->cap * sizeof *e->v);
	}
	e->v[e->n++] = *x;
}

/* Sized once: a thousand moves would otherwise grow each array by
 * doubling, holding the old copy beside the new at the peak. */
static void ends_reserve(struct ends *e, size_t n)
{
	if (n > e->cap) {
		e->cap = n;
		e->v = fct_xrealloc(e->v, n * sizeof *e->v);
	}
}

static void ends_reset(struct ends *e)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->v[i].fp_state == 1)
			free((void *)(uintptr_t)e->v[i].fp);
	e->n = 0;
}

static int far_has(const struct box_run *r, uint32_t uid)
{
	size_t lo = 0, hi = r->nfar;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->far[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nfar && r->far[lo].uid == uid;
}

static int near_has(const struct box_run *r, const char *uniq)
{
	size_t lo = 0, hi = r->nnear;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(r->near[mid].uniq, uniq) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nnear && strcmp(r->near[lo].uniq, uniq) == 0;
}

enum end_side { END_NONE, END_OUT, END_IN };

/* Whether action i of job j leaves a folder or arrives in one.  side_far:
 * a move made on the server (left A's far listing, new in B's). */
static enum end_side end_side(const struct box_job *j, size_t i, int side_far)
{
	const struct box_run *r = &j->r;
	const struct plan_action *a = &j->plan.acts[i];

	if (a->jr != PLAN_NONE && a->kind == (side_far ? PLAN_DELETE_NEAR : PLAN_DELETE_FAR)) {
		const struct jrnl_msg *m = &r->jr[a->jr];

		/* still on the other side: a real deletion */
		return (side_far ? (!m->far_uid || far_has(r, m->far_uid))
		                 : (!m->near_uniq || near_has(r, m->near_uniq)))
		           ? END_NONE
		           : END_OUT;
	}
	if (a->jr == PLAN_NONE && a->kind == (side_far ? PLAN_DOWNLOAD : PLAN_UPLOAD))
		return END_IN;
	return END_NONE;
}

/* Makes room for the leaving and arriving ends of jobs[0..n). */
static void reserve(struct box_job **jobs, size_t n, int side_far, struct ends *out,
                    struct ends *in)
{
	size_t c[3] = {0, 0, 0};

	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < jobs[k]->plan.n; i++)
			c[end_side(jobs[k], i, side_far)]++;
	ends_reserve(out, c[END_OUT]);
	ends_reserve(in, c[END_IN]);
}

/* Leaving and arriving ends of one job. */
static void collect(struct box_job *j, int side_far, struct ends *out, struct ends *in)
{
	const struct box_run *r = &j->r;
	size_t i;

	for (i = 0; i < j->plan.n; i++) {
		const struct plan_action *a = &j->plan.acts[i];
		struct end x = {j, i, PLAN_NONE, a->far, a->near, NULL, NULL, NULL, 0, 0, NULL, 0};

		switch (end_side(j, i, side_far)) {
		case END_OUT: {
			const struct jrnl_msg *m = &r->jr[a->jr];

			x.jr = a->jr;
			x.msgid = m->msgid;
			x.size = m->size;
			x.uniq = m->near_uniq;
			x.emailid = m->emailid;
			x.fp = m->fp; /* msgid and fp: NULL while m is lean (complete_ends) */
			end_add(out, &x);
			break;
		}
		case END_IN:
			if (side_far) {
				x.msgid = r->far[a->far].msgid;
				x.size = r->far[a->far].size;
				x.emailid = r->far[a->far].emailid;
			} else {
				x.msgid = r->near[a->near].msgid;
				x.size = r->near[a->near].size;
				x.uniq = r->near[a->near].uniq;
			}
			end_add(in, &x);
			break;
		case END_NONE:
			break;
		}
	}
}

/* The folders' records were loaded lean (sync/box.c): the leaving ones
 * get their Message-IDs and fingerprints once arrivals may pair with them. */
static int complete_ends(struct chan *c, struct ends *out, struct fct_err *err)
{
	for (size_t k = 0; k < out->n; k++) {
		struct end *e = &out->v[k];
		struct jrnl_msg *m = &e->j->r.jr[e->jr];

		if (jrnl_msg_complete(c->j, e->j->r.box, m, err) < 0)
			return -1;
		e->msgid = m->msgid;
		e->fp = m->fp;
	}
	return 0;
}

static int same_key(const struct end *a, const struct end *b)
{
	return a->msgid && b->msgid && a->size == b->size && strcmp(a->msgid, b->msgid) == 0;
}

/* Two EMAILIDs (unpaired by the EMAILID pass) name two messages, whatever
 * the headers say. */
static int same_key_no_emailid(const struct end *a, const struct end *b)
{
	return !(a->emailid && b->emailid) && same_key(a, b);
}

static int same_emailid(const struct end *a, const struct end *b)
{
	return a->emailid && b->emailid && strcmp(a->emailid, b->emailid) == 0;
}

typedef int (*same_fn)(const struct end *, const struct end *);

/* Ends already paired are certainly not the twin of k. */
static size_t count_by(const struct ends *e, const struct end *k, same_fn same)
{
	size_t i, n = 0;

	for (i = 0; i < e->n; i++)
		n += !e->v[i].peer && same(&e->v[i], k);
	return n;
}

static void pair(struct ends *out, size_t k, struct ends *in, size_t i)
{
	out->v[k].peer = i + 1;
	in->v[i].peer = k + 1;
}

/* Pairs the still unpaired ends whose key (same) is held by exactly one
 * leaving and one arriving end, in different boxes, if pairable says they
 * may be paired. */
static size_t match_unique(struct ends *out, struct ends *in, same_fn same, same_fn pairable)
{
	size_t i, k, n = 0;

	for (i = 0; i < in->n; i++) {
		if (in->v[i].peer || count_by(in, &in->v[i], same) != 1 ||
		    count_by(out, &in->v[i], same) != 1)
			continue;
		for (k = 0; k < out->n; k++) {
			if (out->v[k].peer || !pairable(&out->v[k], &in->v[i]) ||
			    out->v[k].j == in->v[i].j)
				continue;
			pair(out, k, in, i);
			n++;
			break;
		}
	}
	return n;
}

/* Pairs ends: same file name first (a local rename), then an EMAILID,
 * then a (Message-ID, size) key unique on both sides.  Quadratic in the
 * number of candidate ends, which only holds messages that left or arrived
 * in this run. */
static size_t match(struct ends *out, struct ends *in)
{
	size_t i, k, n = 0;

	for (i = 0; i < in->n; i++) {
		for (k = 0; k < out->n && in->v[i].uniq; k++) {
			if (out->v[k].peer || !out->v[k].uniq || out->v[k].j == in->v[i].j ||
			    strcmp(out->v[k].uniq, in->v[i].uniq) != 0)
				continue;
			pair(out, k, in, i);
			n++;
			break;
		}
	}
	n += match_unique(out, in, same_emailid, same_emailid);
	return n + match_unique(out, in, same_key, same_key_no_emailid);
}

/* SHA-256 of an arriving local file, read once.  Few are: only arrivals
 * that share a (Message-ID, size) key with a leaving message. */
static int arriving_fp(struct end *e)
{
	struct fct_err err;
	unsigned char *v;

	if (e->fp_state)
		return e->fp_state == 1 ? 0 : -1;
	e->fp_state = 2;
	if (!e->uniq || !e->j->r.nf)
		return -1;
	v = fct_xmalloc(32);
	if (msg_file_sha256(e->j->r.nf, e->uniq, v, &err) < 0) {
		free(v);
		return -1;
	}
	e->fp = v;
	e->fp_state = 1;
	return 0;
}

static size_t same_fp_left(const struct ends *out, const unsigned char *fp)
{
	size_t k, n = 0;

	for (k = 0; k < out->n; k++)
		n += !out->v[k].peer && out->v[k].fp && memcmp(out->v[k].fp, fp, 32) == 0;
	return n;
}

/* Local files alike by (Message-ID, size), as a mail client that copies
 * then deletes leaves them: the one arriving file whose content has the
 * fingerprint the journal kept of the file that left is that message.
 * Only such ambiguous candidates are read, and two leaving messages with
 * the same content stay unpaired (transferred, never merged). */
static size_t match_fp(struct ends *out, struct ends *in)
{
	size_t i, k, n = 0;

	for (k = 0; k < out->n; k++) {
		size_t hit = 0, hits = 0;

		if (out->v[k].peer || !out->v[k].fp || same_fp_left(out, out->v[k].fp) != 1)
			continue;
		for (i = 0; i < in->n; i++) {
			struct end *e = &in->v[i];

			if (e->peer || e->j == out->v[k].j || !same_key_no_emailid(&out->v[k], e) ||
			    arriving_fp(e) < 0 || memcmp(e->fp, out->v[k].fp, 32) != 0)
				continue;
			hit = i;
			hits++;
		}
		if (hits == 1) {
			pair(out, k, in, hit);
			n++;
		}
	}
	return n;
}

/* Per flag: a side that changed since the last sync wins. */
static unsigned merge_flags(unsigned base, unsigned far, unsigned near)
{
	unsigned far_changed = far ^ base, near_changed = (near ^ base) & ~far_changed;

	return (base & ~(far_changed | near_changed)) | (far & far_changed) | (near & near_changed);
}

/* The leaving record's actions (deletion, expunge, journal) are replaced by
 * the move; so is the arriving transfer. */
static void suppress(const struct end *out, const struct end *in)
{
	size_t i;

	for (i = 0; i < out->j->plan.n; i++)
		if (out->j->plan.acts[i].jr == out->jr)
			out->j->suppress[i] = 1;
	in->j->suppress[in->act] = 1;
	out->j->moved_out++;
	in->j->moved_in++;
}


static void mv_free(struct mv *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		jrnl_msg_clear(&m[i].rec);
	free(m);
}

/* Moves journaled per transaction.  A transaction's memory grows with it
 * (LMDB's dirty pages, kept for reuse until the journal is closed, and
 * the journal's replay log): 1,000 moves in one held about 1 MB.  The
 * crash protocol asks only that each move's records go in one transaction
 * and that every intent is committed before the first move is made. */
#define MV_TXN_MOVES 128

/* Writes the arriving records of m[lo, hi) (intent or confirmation) and,
 * when confirming, drops the leaving records of the moves that were done
 * and (rs non-NULL) the boxes renamed away. */
static int mv_journal_part(struct chan *c, struct mv *m, size_t lo, size_t hi, int confirm,
                           const struct renames *rs, struct fct_err *err)
{
	struct jrnl_txn *t;
	size_t i;
	int rc = 0;

	if (jrnl_begin(c->j, &t, err) < 0)
		return -1;
	for (i = lo; i < hi && rc == 0; i++) {
		if (confirm && !m[i].done)
			continue;
		rc = jrnl_msg_put(t, m[i].in->j->box, &m[i].rec, err);
		if (rc == 0 && confirm)
			rc = jrnl_msg_del(t, m[i].out->j->box, m[i].out->j->r.jr[m[i].out->jr].id, err);
	}
	for (i = 0; rs && i < rs->n && rc == 0; i++)
		if (rs->v[i].done)
			rc = jrnl_box_del(t, rs->v[i].from->box, err);
	if (rc < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

/* Every arriving record (intent, rs NULL, or confirmation), then, when
 * confirming, the boxes renamed away: with the last moves, so that a box
 * goes only once every move out of it is confirmed. */
static int mv_journal(struct chan *c, struct mv *m, size_t n, const struct renames *rs,
                      struct fct_err *err)
{
	size_t lo = 0;
	int rc = 0;

	do {
		size_t hi = n - lo > MV_TXN_MOVES ? lo + MV_TXN_MOVES : n;

		rc = mv_journal_part(c, m, lo, hi, rs != NULL, hi == n ? rs : NULL, err);
		lo = hi;
	} while (rc == 0 && lo < n);
	return rc;
}

/* Points a field of the new record at a string the pass's jobs hold until
 * they are released, after the pass (journal records and far listings; not
 * near listings, whose names a message operation may invalidate): a move
 * costs no copies of them.  The shared bit keeps jrnl_msg_clear off it. */
static void borrow(struct jrnl_msg *r, char **field, unsigned bit, const char *s)
{
	*field = (char *)(uintptr_t)s;
	r->shared |= (uint8_t)bit;
}

static void borrow_fp(struct jrnl_msg *r, const unsigned char *fp)
{
	r->fp = (unsigned char *)(uintptr_t)fp;
	r->shared |= JRNL_SHARED_FP;
}

/* Moves made on the server: the local file follows by rename. */
static void far_prepare(struct mv *m)
{
	const struct box_run *a = &m->out->j->r, *b = &m->in->j->r;
	const struct jrnl_msg *old = &a->jr[m->out->jr];
	const struct plan_far *f = &b->far[m->in->far];

	m->near_flags = a->near[m->out->near].flags;
	m->merged = merge_flags(old->flags, f->flags, m->near_flags);
	m->rec.far_uid = f->uid;
	borrow(&m->rec, &m->rec.near_uniq, JRNL_SHARED_NEAR_UNIQ, m->out->uniq); /* a record's */
	borrow(&m->rec, &m->rec.msgid, JRNL_SHARED_MSGID, m->out->msgid);
	borrow(&m->rec, &m->rec.emailid, JRNL_SHARED_EMAILID, f->emailid);
	borrow_fp(&m->rec, m->out->fp); /* the same file, renamed */
	m->rec.size = f->size;
	m->rec.flags = f->flags; /* base: what the far side holds now */
	m->rec.state = JRNL_PENDING_DOWNLOAD;
}

static int far_do(struct chan *c, struct mv *m, struct fct_err *err)
{
	struct box_run *a = &m->out->j->r, *b = &m->in->j->r;
	struct fct_err e;

	if (md_move(a->nf, m->out->uniq, b->nf, err) < 0) {
		if (err->kind != FCT_E_MSG)
			return -1; /* a disk error: stop; the pending record resolves it */
		/* Gone meanwhile: the pending record makes the next run fetch it. */
		fct_log_verbose(c->log, "%s: move into %s: %s", c->ch->name, b->box, err->msg);
		fct_err_clear(err);
		return 0;
	}
	if (m->merged != m->near_flags && md_set_flags(b->nf, m->out->uniq, m->merged, &e) < 0)
		fct_log_verbose(c->log, "%s: %s: %s", c->ch->name, b->box, e.msg);
	m->rec.state = JRNL_SYNCED;
	m->done = 1;
	c->sum.moved_near++;
	return 0;
}

/* Moves made locally: UID MOVE on the server, grouped by folder pair. */
static void near_prepare(struct mv *m)
{
	const struct box_run *a = &m->out->j->r, *b = &m->in->j->r;
	const struct jrnl_msg *old = &a->jr[m->out->jr];
	size_t fi = m->out->far;

	m->near_flags = b->near[m->in->near].flags;
	m->rec.near_uniq = fct_xstrdup(m->in->uniq);
	borrow(&m->rec, &m->rec.msgid, JRNL_SHARED_MSGID, m->out->msgid);
	borrow(&m->rec, &m->rec.emailid, JRNL_SHARED_EMAILID, old->emailid); /* kept by MOVE */
	borrow_fp(&m->rec, m->out->fp);
	m->rec.size = old->size;
	m->rec.flags = fi != PLAN_NONE ? a->far[fi].flags : old->flags;
	m->merged = merge_flags(old->flags, m->rec.flags, m->near_flags);
	m->rec.state = JRNL_PENDING_UPLOAD;
	m->rec.upload_uidnext = b->fbox.uidnext;
}

static int select_for_move(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct imap_box bx;

	if (c->selected == j)
		return 0;
	memset(&bx, 0, sizeof bx);
	if (imap_select(c->im, j->far_name, 0, NULL, &bx, NULL, NULL, NULL, err) < 0)
		return -1;
	c->selected = j;
	if (bx.uidvalidity != j->r.fbox.uidvalidity)
		return fct_err_set(err, FCT_E_FOLDER, "%s: UIDVALIDITY changed during the run",
		                   j->box);
	return 0;
}

/* One UID MOVE for the moves [lo, hi) which share their folder pair. */
static int near_group(struct chan *c, struct mv *m, size_t lo, size_t hi, struct fct_err *err)
{
	size_t i, n = hi - lo;
	uint32_t *uids = fct_xcalloc(n, sizeof *uids), *dest = fct_xcalloc(n, sizeof *dest);
	struct box_job *a = m[lo].out->j, *b = m[lo].in->j;
	int rc;

	for (i = 0; i < n; i++)
		uids[i] = a->r.jr[m[lo + i].out->jr].far_uid;
	rc = select_for_move(c, a, err);
	if (rc == 0)
		rc = imap_move(c->im, uids, n, b->far_name, dest, err);
	for (i = 0; i < n && rc == 0; i++) {
		struct mv *x = &m[lo + i];
		struct fct_err e;

		if (dest[i]) { /* else COPYUID was missing: the planner pairs it next run */
			x->rec.far_uid = dest[i];
			x->rec.state = JRNL_SYNCED;
		}
		if (x->merged != x->near_flags &&
		    md_set_flags(b->r.nf, x->in->uniq, x->merged, &e) < 0)
			fct_log_verbose(c->log, "%s: %s: %s", c->ch->name, b->box, e.msg);
		x->done = 1;
		c->sum.moved_far++;
	}
	free(uids);
	free(dest);
	return rc;
}

static int mv_cmp(const void *x, const void *y)
{
	const struct mv *a = x, *b = y;
	uintptr_t ka = (uintptr_t)a->out->j, kb = (uintptr_t)b->out->j;

	if (ka == kb) {
		ka = (uintptr_t)a->in->j;
		kb = (uintptr_t)b->in->j;
	}
	return ka < kb ? -1 : ka > kb;
}

/* Moves done one by one (those no folder rename carried), a UID MOVE per
 * folder pair for local moves. */
static int run_each(struct chan *c, struct mv *m, size_t n, int side_far, struct fct_err *err)
{
	size_t i, lo;
	int rc = 0;

	for (lo = 0; lo < n && rc == 0; lo = i) {
		for (i = lo + 1; !side_far && i < n && mv_cmp(&m[lo], &m[i]) == 0; i++)
			;
		if (m[lo].done) /* a rename carries the whole folder pair */
			continue;
		rc = side_far ? far_do(c, &m[lo], err) : near_group(c, m, lo, i, err);
	}
	return rc;
}

static int run_side(struct chan *c, struct box_job **jobs, size_t njobs, struct ends *out,
                    struct ends *in, int side_far, struct fct_err *err)
{
	struct mv *m = fct_xcalloc(in->n + 1, sizeof *m);
	struct renames rs;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < in->n; i++) {
		if (!in->v[i].peer)
			continue;
		m[n].in = &in->v[i];
		m[n].out = &out->v[in->v[i].peer - 1];
		if (side_far)
			far_prepare(&m[n]);
		else
			near_prepare(&m[n]);
		n++;
	}
	if (!side_far && n > 1)
		qsort(m, n, sizeof *m, mv_cmp);
	renames_find(jobs, njobs, m, n, side_far, &rs);
	rc = n ? mv_journal(c, m, n, NULL, err) : 0;
	for (i = 0; i < n && rc == 0; i++)
		suppress(m[i].out, m[i].in);
	if (rc == 0)
		rc = renames_apply(c, &rs, m, n, side_far, err);
	if (rc == 0)
		rc = run_each(c, m, n, side_far, err);
	if (n && rc == 0)
		rc = mv_journal(c, m, n, &rs, err);
	renames_free(&rs);
	mv_free(m, n);
	return rc;
}

int moves_apply(struct chan *c, struct box_job **jobs, size_t n, struct fct_err *err)
{
	struct ends out = {0}, in = {0};
	size_t i;
	int side, rc = 0;

	for (side = 1; side >= 0 && rc == 0; side--) {
		/* Local moves need MOVE, or COPY with UIDPLUS to expunge one message. */
		if (!side && !(c->caps & (IMAP_CAP_MOVE | IMAP_CAP_UIDPLUS)))
			break;
		ends_reset(&out);
		ends_reset(&in);
		reserve(jobs, n, side, &out, &in);
		for (i = 0; i < n; i++)
			collect(jobs[i], side, &out, &in);
		if (!out.n || !in.n)
			continue;
		rc = complete_ends(c, &out, err);
		if (rc == 0 && match(&out, &in) + (side ? 0 : match_fp(&out, &in)))
			rc = run_side(c, jobs, n, &out, &in, side, err);
	}
	ends_reset(&out);
	ends_reset(&in);
	free(out.v);
	free(in.v);
	return rc;
}
