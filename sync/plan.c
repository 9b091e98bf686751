/* The sync planner; semantics and crash resolution are in plan.h. */
#include "sync/plan.h"

#include <stdlib.h>
#include <string.h>

#define DEL FCT_F_DELETED

struct ctx {
	const struct plan_in *in;
	const struct plan_cfg *cfg;
	struct plan *out;
	size_t cap;
	/* Links by index, IX_NONE for none: 4 bytes, not a size_t, as there
	 * are a few per message of the folder. */
	uint32_t *far_jr;   /* per far message: the record that owns it */
	uint32_t *near_jr;  /* per near message: the record that owns it */
	uint32_t *jr_far;   /* per record: its far message, if present */
	uint32_t *jr_near;  /* per record: its near message, if present */
	uint32_t *far_pair; /* matching mode only: far -> near paired by Message-ID */
	uint32_t *near_pair;
	unsigned char *far_done, *near_done; /* handled by some group */
	const struct jrnl_msg **ord; /* records in output order */
	int matching;    /* UIDVALIDITY changed or adoption */
	uint32_t window_min; /* far UIDs below are outside max_messages */
};

#define IX_NONE UINT32_MAX

static size_t ix(const uint32_t *a, size_t i)
{
	return a[i] == IX_NONE ? PLAN_NONE : a[i];
}

const char *plan_kind_name(enum plan_kind k)
{
	static const char *const names[PLAN_KIND_COUNT] = {
		[PLAN_DOWNLOAD] = "download",
		[PLAN_UPLOAD] = "upload",
		[PLAN_FLAGS_FAR] = "flags-far",
		[PLAN_FLAGS_NEAR] = "flags-near",
		[PLAN_DELETE_FAR] = "delete-far",
		[PLAN_EXPUNGE_FAR] = "expunge-far",
		[PLAN_DELETE_NEAR] = "delete-near",
		[PLAN_PAIR] = "pair",
		[PLAN_JR_UPDATE] = "journal-update",
		[PLAN_JR_FORGET] = "journal-forget",
		[PLAN_SKIP_TOO_BIG] = "skip-too-big",
	};

	if ((unsigned)k >= PLAN_KIND_COUNT)
		return "unknown";
	return names[k];
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->acts);
	memset(p, 0, sizeof *p);
}

/* Appends an action; the pointer is valid until the next emit. */
static struct plan_action *emit(struct ctx *c, enum plan_kind k, size_t f, size_t n, size_t j)
{
	struct plan *p = c->out;
	struct plan_action *a;

	if (p->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		p->acts = fct_xrealloc(p->acts, c->cap * sizeof *p->acts);
	}
	a = &p->acts[p->n++];
	memset(a, 0, sizeof *a);
	a->kind = k;
	a->far = f;
	a->near = n;
	a->jr = j;
	a->state = PLAN_JR_SYNCED;
	p->count[k]++;
	return a;
}

static void emit_rec(struct ctx *c, enum plan_kind k, size_t f, size_t n, size_t j,
		     unsigned flags, int state)
{
	struct plan_action *a = emit(c, k, f, n, j);

	a->flags = flags;
	a->state = state;
}

/* DELETE_FAR is a flag change too (add = \Deleted), counted apart. */
static void emit_del_far(struct ctx *c, size_t f, size_t n, size_t j, unsigned flags, int state)
{
	struct plan_action *a = emit(c, PLAN_DELETE_FAR, f, n, j);

	a->flags = flags;
	a->add = DEL;
	a->state = state;
}

static void emit_flags(struct ctx *c, enum plan_kind k, size_t f, size_t n, size_t j,
		       unsigned from, unsigned to)
{
	struct plan_action *a;

	if (from == to)
		return;
	a = emit(c, k, f, n, j);
	a->flags = to;
	a->add = to & ~from;
	a->del = from & ~to;
}

static unsigned far_flags(const struct ctx *c, size_t f)
{
	return c->in->far[f].flags & FCT_F_ALL;
}

static unsigned near_flags(const struct ctx *c, size_t n)
{
	return c->in->near[n].flags & FCT_F_ALL;
}

static int fits(const struct ctx *c, uint64_t size)
{
	return c->cfg->max_size == 0 || size <= c->cfg->max_size;
}

static int in_window(const struct ctx *c, size_t f)
{
	return c->window_min == 0 || c->in->far[f].uid >= c->window_min;
}

/* Outside the max_messages window and not kept for its flags. */
static int expires(const struct ctx *c, size_t f, unsigned flags)
{
	return !in_window(c, f) && !(flags & FCT_F_FLAGGED) &&
	       (c->cfg->expire_unread || (flags & FCT_F_SEEN));
}

/* ---- one side alone ---- */

/* A known far message whose near copy is gone. */
static void far_alone(struct ctx *c, size_t j, size_t f)
{
	const struct plan_cfg *cfg = c->cfg;
	unsigned F = far_flags(c, f);

	/* Its near copy may have been expired by a run that stopped before
	 * recording it: an absence there is never a deletion to push. */
	if (!(cfg->expunge_far && (F & DEL)) && expires(c, f, F)) {
		emit_rec(c, PLAN_JR_UPDATE, f, PLAN_NONE, j, F, PLAN_JR_FAR_ONLY);
		return;
	}
	if (cfg->ops & PLAN_PUSH_DELETE) {
		if (!(F & DEL))
			emit_del_far(c, f, PLAN_NONE, j, F | DEL, PLAN_JR_FAR_ONLY);
		F |= DEL;
	}
	if (cfg->expunge_far && (F & DEL)) {
		emit(c, PLAN_EXPUNGE_FAR, f, PLAN_NONE, j);
		emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		return;
	}
	emit_rec(c, PLAN_JR_UPDATE, f, PLAN_NONE, j, F, PLAN_JR_FAR_ONLY);
}

/* A known near message whose far copy is gone. */
static void near_alone(struct ctx *c, size_t j, size_t n)
{
	const struct plan_cfg *cfg = c->cfg;
	unsigned N = near_flags(c, n);

	if ((cfg->ops & PLAN_PULL_DELETE) || (cfg->expunge_near && (N & DEL))) {
		emit(c, PLAN_DELETE_NEAR, PLAN_NONE, n, j);
		emit(c, PLAN_JR_FORGET, PLAN_NONE, n, j);
		return;
	}
	emit_rec(c, PLAN_JR_UPDATE, PLAN_NONE, n, j, N, PLAN_JR_NEAR_ONLY);
}

/* ---- both sides present ---- */

struct merge {
	unsigned F, N;   /* flags now */
	unsigned F2, N2; /* flags after propagation */
	unsigned base;
};

static void merge_flags(const struct ctx *c, struct merge *m)
{
	unsigned fc = m->F ^ m->base, nc = m->N ^ m->base;
	unsigned only_near = nc & ~fc, only_far = fc & ~nc;

	m->F2 = m->F;
	m->N2 = m->N;
	if (c->cfg->ops & PLAN_PUSH_FLAGS)
		m->F2 = (m->F & ~only_near) | (m->N & only_near);
	if (c->cfg->ops & PLAN_PULL_FLAGS)
		m->N2 = (m->N & ~only_far) | (m->F & only_far);
}

/* Far is expunged (it carries \Deleted after propagation); near follows. */
static void far_dies(struct ctx *c, size_t j, size_t f, size_t n, const struct merge *m)
{
	if (!(m->F & DEL))
		emit_del_far(c, f, n, j, m->F | DEL, PLAN_JR_SYNCED);
	emit(c, PLAN_EXPUNGE_FAR, f, n, j);
	if ((c->cfg->ops & PLAN_PULL_DELETE) || (c->cfg->expunge_near && (m->N2 & DEL))) {
		emit(c, PLAN_DELETE_NEAR, f, n, j);
		emit(c, PLAN_JR_FORGET, f, n, j);
		return;
	}
	emit_flags(c, PLAN_FLAGS_NEAR, f, n, j, m->N, m->N2);
	emit_rec(c, PLAN_JR_UPDATE, f, n, j, m->N2, PLAN_JR_NEAR_ONLY);
}

/* Near is removed (T with expunge_near); far follows. */
static void near_dies(struct ctx *c, size_t j, size_t f, size_t n, const struct merge *m)
{
	unsigned F2 = m->F2;

	emit(c, PLAN_DELETE_NEAR, f, n, j);
	if (c->cfg->ops & PLAN_PUSH_DELETE) {
		/* \Deleted itself goes as DELETE_FAR so it is counted as one. */
		emit_flags(c, PLAN_FLAGS_FAR, f, n, j, m->F, (F2 & ~DEL) | (m->F & DEL));
		if (!(m->F & DEL))
			emit_del_far(c, f, n, j, F2 | DEL, PLAN_JR_FAR_ONLY);
		F2 |= DEL;
		if (c->cfg->expunge_far) {
			emit(c, PLAN_EXPUNGE_FAR, f, n, j);
			emit(c, PLAN_JR_FORGET, f, n, j);
			return;
		}
	} else {
		emit_flags(c, PLAN_FLAGS_FAR, f, n, j, m->F, F2);
	}
	emit_rec(c, PLAN_JR_UPDATE, f, n, j, F2, PLAN_JR_FAR_ONLY);
}

/* A linked pair with both copies present; `state` is the record's state
 * as far as the executor will know when it reaches this group. */
static void both_present(struct ctx *c, size_t j, size_t f, size_t n, unsigned base, int state)
{
	const struct plan_cfg *cfg = c->cfg;
	struct merge m = { .F = far_flags(c, f), .N = near_flags(c, n), .base = base & FCT_F_ALL };
	int far_dead, near_dead;
	unsigned b2;

	merge_flags(c, &m);
	far_dead = cfg->expunge_far && (m.F2 & DEL);
	near_dead = cfg->expunge_near && (m.N2 & DEL);
	if (far_dead && near_dead) {
		if (!(m.F & DEL))
			emit_del_far(c, f, n, j, m.F | DEL, PLAN_JR_SYNCED);
		emit(c, PLAN_EXPUNGE_FAR, f, n, j);
		emit(c, PLAN_DELETE_NEAR, f, n, j);
		emit(c, PLAN_JR_FORGET, f, n, j);
		return;
	}
	if (far_dead) {
		far_dies(c, j, f, n, &m);
		return;
	}
	if (near_dead) {
		near_dies(c, j, f, n, &m);
		return;
	}
	emit_flags(c, PLAN_FLAGS_FAR, f, n, j, m.F, m.F2);
	if (expires(c, f, m.N2)) {
		emit(c, PLAN_DELETE_NEAR, f, n, j);
		emit_rec(c, PLAN_JR_UPDATE, f, n, j, m.F2, PLAN_JR_FAR_ONLY);
		return;
	}
	emit_flags(c, PLAN_FLAGS_NEAR, f, n, j, m.N, m.N2);
	b2 = (m.F2 & m.N2) | (m.base & (m.F2 ^ m.N2));
	if (b2 != m.base || state != PLAN_JR_SYNCED)
		emit_rec(c, PLAN_JR_UPDATE, f, n, j, b2, PLAN_JR_SYNCED);
}

/* ---- messages the journal does not (usefully) know ---- */

/* Far message to transfer if the rules allow; j is a record to reuse
 * (pending download, skipped) or PLAN_NONE.  `op` is the PLAN_PULL_* bit
 * that governs it; `skipped`: j already reported it as too big. */
static void new_far(struct ctx *c, size_t f, size_t j, unsigned op, int skipped)
{
	const struct plan_cfg *cfg = c->cfg;
	unsigned F = far_flags(c, f);

	if (cfg->expunge_far && (F & DEL)) {
		emit(c, PLAN_EXPUNGE_FAR, f, PLAN_NONE, j)->unsynced = 1;
		if (j != PLAN_NONE)
			emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		return;
	}
	if (!(cfg->ops & op) || (cfg->expunge_near && (F & DEL)) || !in_window(c, f)) {
		/* A leftover intent that is not wanted any more. */
		if (j != PLAN_NONE && !skipped)
			emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		return;
	}
	if (!fits(c, c->in->far[f].size)) {
		if (skipped)
			c->out->too_big++;
		else
			emit_rec(c, PLAN_SKIP_TOO_BIG, f, PLAN_NONE, j, F, PLAN_JR_SKIPPED);
		return;
	}
	emit_rec(c, PLAN_DOWNLOAD, f, PLAN_NONE, j, F, PLAN_JR_SYNCED);
}

static void new_near(struct ctx *c, size_t n, size_t j, unsigned op, int skipped)
{
	const struct plan_cfg *cfg = c->cfg;
	unsigned N = near_flags(c, n);

	if (cfg->expunge_near && (N & DEL)) {
		emit(c, PLAN_DELETE_NEAR, PLAN_NONE, n, j)->unsynced = 1;
		if (j != PLAN_NONE)
			emit(c, PLAN_JR_FORGET, PLAN_NONE, n, j);
		return;
	}
	if (!(cfg->ops & op) || (cfg->expunge_far && (N & DEL))) {
		if (j != PLAN_NONE && !skipped)
			emit(c, PLAN_JR_FORGET, PLAN_NONE, n, j);
		return;
	}
	if (!fits(c, c->in->near[n].size)) {
		if (skipped)
			c->out->too_big++;
		else
			emit_rec(c, PLAN_SKIP_TOO_BIG, PLAN_NONE, n, j, N, PLAN_JR_SKIPPED);
		return;
	}
	emit_rec(c, PLAN_UPLOAD, PLAN_NONE, n, j, N, PLAN_JR_SYNCED);
}

static unsigned far_new_op(const struct ctx *c, size_t f)
{
	if (c->cfg->uidvalidity_changed || c->in->far[f].uid >= c->cfg->far_uidnext_journal)
		return PLAN_PULL_NEW;
	return PLAN_PULL_RENEW;
}

/* ---- input checks and indexes ---- */

/* Index of the first far message with UID >= uid (nfar if none). */
static size_t far_lower(const struct plan_in *in, uint32_t uid)
{
	size_t lo = 0, hi = in->nfar;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->far[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t far_find(const struct plan_in *in, uint32_t uid)
{
	size_t i = far_lower(in, uid);

	return i < in->nfar && in->far[i].uid == uid ? i : PLAN_NONE;
}

static size_t near_find(const struct plan_in *in, const char *uniq)
{
	size_t lo = 0, hi = in->nnear;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(in->near[mid].uniq, uniq);

		if (r == 0)
			return mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return PLAN_NONE;
}

/* What each state must link; anything else is a corrupt journal, and
 * guessing could delete mail. */
static int check_record(const struct jrnl_msg *r, struct fct_err *err)
{
	int need_far = 0, need_near = 0;

	switch (r->state) {
	case PLAN_JR_SYNCED:
	case PLAN_JR_PENDING_MOVE:
		need_far = need_near = 1;
		break;
	case PLAN_JR_PENDING_DOWNLOAD:
	case PLAN_JR_FAR_ONLY:
		need_far = 1;
		break;
	case PLAN_JR_PENDING_UPLOAD:
	case PLAN_JR_NEAR_ONLY:
		need_near = 1;
		break;
	case PLAN_JR_SKIPPED:
		need_far = !r->near_uniq;
		break;
	default:
		return fct_err_set(err, FCT_E_FOLDER, "plan: journal record %llu has unknown state %d",
				   (unsigned long long)r->id, r->state);
	}
	if ((need_far && !r->far_uid) || (need_near && !r->near_uniq))
		return fct_err_set(err, FCT_E_FOLDER, "plan: journal record %llu (state %d) lacks its %s link",
				   (unsigned long long)r->id, r->state, need_far && !r->far_uid ? "far" : "near");
	return 0;
}

static int check_input(const struct plan_in *in, struct fct_err *err)
{
	size_t i;

	if (!in->cfg || (in->nfar && !in->far) || (in->nnear && !in->near) || (in->njr && !in->jr))
		return fct_err_set(err, FCT_E_FOLDER, "plan: missing input array or settings");
	if (in->nfar >= IX_NONE || in->nnear >= IX_NONE || in->njr >= IX_NONE)
		return fct_err_set(err, FCT_E_FOLDER, "plan: more than %u messages in one folder", IX_NONE - 1);
	for (i = 0; i < in->nfar; i++) {
		if (in->far[i].uid == 0)
			return fct_err_set(err, FCT_E_FOLDER, "plan: far message %zu has UID 0", i);
		if (i > 0 && in->far[i].uid <= in->far[i - 1].uid)
			return fct_err_set(err, FCT_E_FOLDER,
					   "plan: far listing not sorted by UID (UID %u after %u)",
					   in->far[i].uid, in->far[i - 1].uid);
	}
	for (i = 0; i < in->nnear; i++) {
		if (!in->near[i].uniq)
			return fct_err_set(err, FCT_E_FOLDER, "plan: near message %zu has no name", i);
		if (i > 0 && strcmp(in->near[i].uniq, in->near[i - 1].uniq) <= 0)
			return fct_err_set(err, FCT_E_FOLDER,
					   "plan: near listing not sorted by name ('%s' after '%s')",
					   in->near[i].uniq, in->near[i - 1].uniq);
	}
	for (i = 0; i < in->njr; i++)
		if (check_record(&in->jr[i], err) < 0)
			return -1;
	return 0;
}

static int str_cmp_null(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* Output order of records: far UID (0 last), near name, id. */
static int jr_order(const void *pa, const void *pb)
{
	const struct jrnl_msg *a = *(const struct jrnl_msg *const *)pa;
	const struct jrnl_msg *b = *(const struct jrnl_msg *const *)pb;
	uint64_t ua = a->far_uid ? a->far_uid : UINT64_MAX;
	uint64_t ub = b->far_uid ? b->far_uid : UINT64_MAX;
	int r;

	if (ua != ub)
		return ua < ub ? -1 : 1;
	r = str_cmp_null(a->near_uniq, b->near_uniq);
	if (r)
		return r;
	return (a->id > b->id) - (a->id < b->id);
}

/* Records that still mean something when the far UIDs do not. */
static int survives_matching(const struct jrnl_msg *r)
{
	return r->state == PLAN_JR_NEAR_ONLY || (r->state == PLAN_JR_SKIPPED && r->far_uid == 0);
}

/* A listed far UID that only a NEAR_ONLY record names is that gone
 * message echoed back (a listing rebuilt from the journal) or a contradiction:
 * leave it alone rather than fetch it as new. */
static void shadow_near_only(struct ctx *c)
{
	const struct plan_in *in = c->in;
	size_t j, f;

	if (c->matching)
		return;
	for (j = 0; j < in->njr; j++) {
		if (in->jr[j].state != PLAN_JR_NEAR_ONLY || !in->jr[j].far_uid)
			continue;
		f = far_find(in, in->jr[j].far_uid);
		if (f != PLAN_NONE && ix(c->far_jr, f) == PLAN_NONE) {
			c->far_jr[f] = (uint32_t)j;
			c->far_done[f] = 1;
		}
	}
}

/* Links records to the listings; two records claiming one message is a
 * corrupt journal. */
static int link_records(struct ctx *c, struct fct_err *err)
{
	const struct plan_in *in = c->in;
	size_t k;

	for (k = 0; k < in->njr; k++) {
		size_t j = (size_t)(c->ord[k] - in->jr);
		const struct jrnl_msg *r = c->ord[k];
		/* A NEAR_ONLY record's far UID names a message gone for good, maybe
		 * in an older UID space: it must not capture a current one. */
		int far_ok = r->far_uid && !c->matching && r->state != PLAN_JR_NEAR_ONLY;
		size_t f = far_ok ? far_find(in, r->far_uid) : PLAN_NONE;
		size_t n = r->near_uniq ? near_find(in, r->near_uniq) : PLAN_NONE;

		if (f != PLAN_NONE) {
			if (ix(c->far_jr, f) != PLAN_NONE)
				return fct_err_set(err, FCT_E_FOLDER, "plan: journal links far UID %u twice",
						   r->far_uid);
			c->far_jr[f] = (uint32_t)j;
			c->jr_far[j] = (uint32_t)f;
		}
		if (n != PLAN_NONE) {
			if (ix(c->near_jr, n) != PLAN_NONE)
				return fct_err_set(err, FCT_E_FOLDER, "plan: journal links near '%s' twice",
						   r->near_uniq);
			c->near_jr[n] = (uint32_t)j;
			c->jr_near[j] = (uint32_t)n;
		}
	}
	shadow_near_only(c);
	return 0;
}

/* ---- crash leftovers: find where an unconfirmed transfer landed ---- */

static int same_msgid(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	return strcmp(a, b) == 0;
}

/* PENDING_UPLOAD without a far UID: the APPEND may have landed at or
 * above the UIDNEXT recorded before it.  The lowest matching UID wins: the
 * first APPEND of this message gets the lowest UID, and any other match
 * stays unknown and is handled as a new far message (never lost). */
static void claim_upload(struct ctx *c, size_t j)
{
	const struct plan_in *in = c->in;
	const struct jrnl_msg *r = &in->jr[j];
	size_t f;

	for (f = far_lower(in, r->upload_uidnext); f < in->nfar; f++) {
		const struct plan_far *m = &in->far[f];

		if (ix(c->far_jr, f) != PLAN_NONE)
			continue;
		if (m->size == r->size && same_msgid(m->msgid, r->msgid)) {
			c->far_jr[f] = (uint32_t)j;
			c->jr_far[j] = (uint32_t)f;
			return;
		}
	}
}

/* PENDING_DOWNLOAD without a recorded near name (an executor that names
 * the file before writing always records it): match by Message-ID. */
static void claim_download(struct ctx *c, size_t j)
{
	const struct plan_in *in = c->in;
	const struct jrnl_msg *r = &in->jr[j];
	size_t n;

	if (!r->msgid || !*r->msgid)
		return;
	for (n = 0; n < in->nnear; n++) {
		const struct plan_near *m = &in->near[n];

		if (ix(c->near_jr, n) != PLAN_NONE || m->size != r->size || !m->msgid)
			continue;
		if (strcmp(m->msgid, r->msgid) == 0) {
			c->near_jr[n] = (uint32_t)j;
			c->jr_near[j] = (uint32_t)n;
			return;
		}
	}
}

static void claim_leftovers(struct ctx *c)
{
	size_t k;

	for (k = 0; k < c->in->njr; k++) {
		size_t j = (size_t)(c->ord[k] - c->in->jr);
		const struct jrnl_msg *r = c->ord[k];

		if (r->state == PLAN_JR_PENDING_UPLOAD && r->far_uid == 0 && r->near_uniq)
			claim_upload(c, j);
	}
	for (k = 0; k < c->in->njr; k++) {
		size_t j = (size_t)(c->ord[k] - c->in->jr);
		const struct jrnl_msg *r = c->ord[k];

		if (r->state == PLAN_JR_PENDING_DOWNLOAD && !r->near_uniq && r->far_uid)
			claim_download(c, j);
	}
}

/* ---- matching by (Message-ID, size) ---- */

struct key {
	const char *msgid;
	uint64_t size;
	int near;  /* 0 far, 1 near */
	size_t idx;
};

static int key_cmp(const void *pa, const void *pb)
{
	const struct key *a = pa, *b = pb;
	int r = strcmp(a->msgid, b->msgid);

	if (r)
		return r;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	if (a->near != b->near)
		return a->near - b->near;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static void match_pairs(struct ctx *c)
{
	const struct plan_in *in = c->in;
	struct key *k = fct_xcalloc(in->nfar + in->nnear + 1, sizeof *k);
	size_t nk = 0, i, e;

	for (i = 0; i < in->nfar; i++)
		if (in->far[i].msgid && *in->far[i].msgid && ix(c->far_jr, i) == PLAN_NONE)
			k[nk++] = (struct key){ in->far[i].msgid, in->far[i].size, 0, i };
	for (i = 0; i < in->nnear; i++)
		if (in->near[i].msgid && *in->near[i].msgid)
			k[nk++] = (struct key){ in->near[i].msgid, in->near[i].size, 1, i };
	qsort(k, nk, sizeof *k, key_cmp);
	for (i = 0; i < nk; i = e) {
		size_t nf = 0, nn = 0;

		for (e = i; e < nk && k[e].size == k[i].size && strcmp(k[e].msgid, k[i].msgid) == 0; e++) {
			if (k[e].near)
				nn++;
			else
				nf++;
		}
		if (nf == 1 && nn == 1) {
			c->far_pair[k[i].idx] = (uint32_t)k[i + 1].idx;
			c->near_pair[k[i + 1].idx] = (uint32_t)k[i].idx;
		} else if (nf && nn) {
			c->out->ambiguous += nf + nn;
		}
	}
	free(k);
}

/* The far UID below which messages are outside max_messages, or 0. */
static uint32_t window_min(const struct plan_in *in)
{
	uint32_t want = in->cfg->max_messages, have = 0;
	size_t i = in->nfar;

	if (want == 0)
		return 0;
	while (i-- > 0) {
		if (in->far[i].flags & DEL)
			continue;
		if (++have == want)
			return in->far[i].uid;
	}
	return 0;
}

/* ---- per record ---- */

static void mark(struct ctx *c, size_t f, size_t n)
{
	if (f != PLAN_NONE)
		c->far_done[f] = 1;
	if (n != PLAN_NONE)
		c->near_done[n] = 1;
}

/* A record whose link is (now) established: f and/or n are its copies. */
static void as_synced(struct ctx *c, size_t j, size_t f, size_t n, unsigned base, int state)
{
	if (f != PLAN_NONE && n != PLAN_NONE)
		both_present(c, j, f, n, base, state);
	else if (f != PLAN_NONE)
		far_alone(c, j, f);
	else if (n != PLAN_NONE)
		near_alone(c, j, n);
	else
		emit(c, PLAN_JR_FORGET, PLAN_NONE, PLAN_NONE, j);
}

/* A transfer whose intent was recorded and which did land: link it, then
 * carry on as with a confirmed record. */
static void landed(struct ctx *c, size_t j, size_t f, size_t n)
{
	unsigned base = c->in->jr[j].flags & FCT_F_ALL;

	if (f == PLAN_NONE && n == PLAN_NONE) {
		emit(c, PLAN_JR_FORGET, f, n, j);
		return;
	}
	emit_rec(c, PLAN_PAIR, f, n, j, base, PLAN_JR_SYNCED);
	as_synced(c, j, f, n, base, PLAN_JR_SYNCED);
}

/* UIDVALIDITY changed / adoption: the record's far link is void. */
static void rematch_record(struct ctx *c, size_t j, size_t n)
{
	size_t f = n != PLAN_NONE ? ix(c->near_pair, n) : PLAN_NONE;
	unsigned base = c->in->jr[j].flags & FCT_F_ALL;

	if (f == PLAN_NONE) {
		/* Its near copy (if any) is handled as new; no deletion inferred. */
		emit(c, PLAN_JR_FORGET, PLAN_NONE, PLAN_NONE, j);
		return;
	}
	mark(c, f, n);
	emit_rec(c, PLAN_PAIR, f, n, j, base, PLAN_JR_SYNCED);
	both_present(c, j, f, n, base, PLAN_JR_SYNCED);
}

static int shadows(const struct ctx *c, size_t j)
{
	size_t f;

	if (c->matching || !c->in->jr[j].far_uid)
		return 0;
	f = far_find(c->in, c->in->jr[j].far_uid);
	return f != PLAN_NONE && ix(c->far_jr, f) == j;
}

static void one_side_record(struct ctx *c, size_t j, size_t f, size_t n)
{
	const struct jrnl_msg *r = &c->in->jr[j];

	/* The near file said absent is there after all (restored by hand):
	 * the record is a plain link again. */
	if (r->state == PLAN_JR_FAR_ONLY && n != PLAN_NONE) {
		as_synced(c, j, f, n, r->flags, r->state);
		return;
	}
	if (r->state == PLAN_JR_FAR_ONLY) {
		if (f == PLAN_NONE)
			emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		else if (c->cfg->expunge_far && (far_flags(c, f) & DEL)) {
			emit(c, PLAN_EXPUNGE_FAR, f, PLAN_NONE, j);
			emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		}
	} else if (r->state == PLAN_JR_NEAR_ONLY) {
		/* While it shadows a listed far UID the record stays, or that
		 * message would be fetched next time. */
		int keep = shadows(c, j);

		if (n != PLAN_NONE && c->cfg->expunge_near && (near_flags(c, n) & DEL))
			emit(c, PLAN_DELETE_NEAR, PLAN_NONE, n, j);
		else if (n != PLAN_NONE)
			return;
		if (!keep)
			emit(c, PLAN_JR_FORGET, PLAN_NONE, n, j);
	} else if (r->far_uid) { /* SKIPPED on the far side */
		if (f == PLAN_NONE)
			emit(c, PLAN_JR_FORGET, f, PLAN_NONE, j);
		else
			new_far(c, f, j, PLAN_PULL_RENEW, 1);
	} else { /* SKIPPED on the near side */
		if (n == PLAN_NONE)
			emit(c, PLAN_JR_FORGET, PLAN_NONE, n, j);
		else
			new_near(c, n, j, PLAN_PUSH_RENEW, 1);
	}
}

static void do_record(struct ctx *c, size_t j)
{
	const struct jrnl_msg *r = &c->in->jr[j];
	size_t f = ix(c->jr_far, j), n = ix(c->jr_near, j);

	/* A surviving record whose near copy found its far twin is linked
	 * too: fetching the twin would make a duplicate. */
	if (c->matching && (!survives_matching(r) || (n != PLAN_NONE && ix(c->near_pair, n) != PLAN_NONE))) {
		rematch_record(c, j, n);
		return;
	}
	mark(c, f, n);
	switch (r->state) {
	case PLAN_JR_SYNCED:
	case PLAN_JR_PENDING_MOVE:
		as_synced(c, j, f, n, r->flags, r->state);
		break;
	case PLAN_JR_PENDING_DOWNLOAD:
		if (n != PLAN_NONE)
			landed(c, j, f, n);
		else if (f != PLAN_NONE)
			new_far(c, f, j, far_new_op(c, f), 0);
		else
			emit(c, PLAN_JR_FORGET, f, n, j);
		break;
	case PLAN_JR_PENDING_UPLOAD:
		if (f != PLAN_NONE || r->far_uid)
			landed(c, j, f, n);
		else if (n != PLAN_NONE)
			new_near(c, n, j, PLAN_PUSH_NEW, 0);
		else
			emit(c, PLAN_JR_FORGET, f, n, j);
		break;
	default:
		one_side_record(c, j, f, n);
		break;
	}
}

/* ---- driver ---- */

static void ctx_free(struct ctx *c)
{
	free(c->far_jr);
	free(c->near_jr);
	free(c->jr_far);
	free(c->jr_near);
	free(c->far_pair);
	free(c->near_pair);
	free(c->far_done);
	free(c->near_done);
	free(c->ord);
}

static uint32_t *none_array(size_t n)
{
	uint32_t *a = fct_xmalloc((n + 1) * sizeof *a);
	size_t i;

	for (i = 0; i < n; i++)
		a[i] = IX_NONE;
	return a;
}

static void ctx_init(struct ctx *c, const struct plan_in *in, struct plan *out)
{
	size_t i;

	memset(c, 0, sizeof *c);
	c->in = in;
	c->cfg = in->cfg;
	c->out = out;
	c->matching = in->cfg->uidvalidity_changed || in->njr == 0;
	c->far_jr = none_array(in->nfar);
	c->near_jr = none_array(in->nnear);
	if (c->matching) {
		c->far_pair = none_array(in->nfar);
		c->near_pair = none_array(in->nnear);
	}
	c->jr_far = none_array(in->njr);
	c->jr_near = none_array(in->njr);
	c->far_done = fct_xcalloc(in->nfar + 1, 1);
	c->near_done = fct_xcalloc(in->nnear + 1, 1);
	c->ord = fct_xcalloc(in->njr + 1, sizeof *c->ord);
	for (i = 0; i < in->njr; i++)
		c->ord[i] = &in->jr[i];
	qsort(c->ord, in->njr, sizeof *c->ord, jr_order);
	c->window_min = window_min(in);
}

static void plan_groups(struct ctx *c)
{
	const struct plan_in *in = c->in;
	size_t i;

	for (i = 0; i < in->njr; i++)
		do_record(c, (size_t)(c->ord[i] - in->jr));
	for (i = 0; i < in->nfar && c->matching; i++) {
		size_t n = ix(c->far_pair, i);
		unsigned base;

		if (n == PLAN_NONE || c->far_done[i] || c->near_done[n])
			continue;
		mark(c, i, n);
		base = far_flags(c, i) & near_flags(c, n);
		emit_rec(c, PLAN_PAIR, i, n, PLAN_NONE, base, PLAN_JR_SYNCED);
		both_present(c, PLAN_NONE, i, n, base, PLAN_JR_SYNCED);
	}
	for (i = 0; i < in->nfar; i++)
		if (!c->far_done[i])
			new_far(c, i, PLAN_NONE, far_new_op(c, i), 0);
	for (i = 0; i < in->nnear; i++)
		if (!c->near_done[i])
			new_near(c, i, PLAN_NONE, PLAN_PUSH_NEW, 0);
}

int plan_build(const struct plan_in *in, struct plan *out, struct fct_err *err)
{
	struct ctx c;

	memset(out, 0, sizeof *out);
	if (!in)
		return fct_err_set(err, FCT_E_FOLDER, "plan: no input");
	if (check_input(in, err) < 0)
		return -1;
	ctx_init(&c, in, out);
	if (link_records(&c, err) < 0) {
		ctx_free(&c);
		return -1;
	}
	if (c.matching)
		match_pairs(&c);
	else
		claim_leftovers(&c);
	plan_groups(&c);
	ctx_free(&c);
	return 0;
}
