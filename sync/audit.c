/* facteur check (see audit.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "store/journal.h"
#include "store/lock.h"
#include "store/maildir.h"
#include "sync/audit.h"
#include "sync/boxes.h"
#include "sync/connect.h"
#include "sync/farbox.h"
#include "sync/pattern.h"

struct audit {
	const struct fct_config *cfg;
	const struct cfg_channel *ch;
	const struct run_target *t;
	const struct fct_log *log;
	FILE *out;
	struct imap *im;
	struct md_store *md;
	struct jrnl *j;
	char delim;
	const char *prefix;
	size_t diffs, box_diffs, boxes, msgs;
	const char *box;
};

struct far_ent {
	uint32_t uid;
	unsigned flags;
	int seen;
};

struct far_list {
	struct far_ent *v;
	size_t n, cap;
};

static void FCT_PRINTF(2, 3) diff(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	a->diffs++;
	if (++a->box_diffs > AUDIT_MAX_LINES)
		return;
	fprintf(a->out, "%s %s: ", a->ch->name, a->box);
	va_start(ap, fmt);
	vfprintf(a->out, fmt, ap);
	va_end(ap);
	fputc('\n', a->out);
}

static int on_far_msg(void *ctx, const struct imap_msg *m, struct fct_err *err)
{
	struct far_list *l = ctx;

	(void)err;
	if (!m->uid)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = fct_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].uid = m->uid;
	l->v[l->n].flags = m->flags & FCT_F_ALL;
	l->v[l->n].seen = 0;
	l->n++;
	return 0;
}

static int far_cmp(const void *x, const void *y)
{
	const struct far_ent *a = x, *b = y;

	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

static int near_cmp(const void *key, const void *x)
{
	return strcmp(key, ((const struct md_entry *)x)->uniq);
}

/* Lists the far box read-only; *exists = 0 when the server refuses to
 * EXAMINE it (a folder-level NO). */
static int far_scan(struct audit *a, const char *far_name, struct imap_box *ib,
                    struct far_list *l, int *exists, struct fct_err *err)
{
	*exists = 0;
	if (imap_select(a->im, far_name, 1, NULL, ib, NULL, NULL, NULL, err) < 0) {
		if (err->kind != FCT_E_FOLDER)
			return -1;
		fct_err_clear(err);
		return 0;
	}
	*exists = 1;
	if (ib->exists && imap_fetch_meta(a->im, 1, 0, 0, IMAP_META_FLAGS, on_far_msg, l, err) < 0)
		return -1;
	if (l->n)
		qsort(l->v, l->n, sizeof *l->v, far_cmp);
	return 0;
}

static void letters(unsigned flags, char out[8])
{
	fct_flags_to_letters(flags, out);
	if (!out[0]) {
		out[0] = '-';
		out[1] = '\0';
	}
}

static const char *const state_name[] = {
	"synced", "pending download", "pending upload", "pending move", "far only", "near only",
	"skipped",
};

static void check_record(struct audit *a, const struct jrnl_msg *m, struct far_list *fl,
                         int far_ok, struct md_entry *ne, size_t nn)
{
	char x[8], y[8];

	if (m->state != JRNL_SYNCED && m->state != JRNL_SKIPPED && m->state != JRNL_FAR_ONLY &&
	    m->state != JRNL_NEAR_ONLY)
		diff(a, "record %llu is %s (left by an interrupted run)", (unsigned long long)m->id,
		     m->state < 7 ? state_name[m->state] : "in an unknown state");
	if (m->far_uid && far_ok) {
		struct far_ent key = {m->far_uid, 0, 0};
		struct far_ent *f = fl->n ? bsearch(&key, fl->v, fl->n, sizeof *fl->v, far_cmp) : NULL;

		if (!f) {
			diff(a, "far UID %u is in the journal but not on the server", m->far_uid);
		} else {
			f->seen = 1;
			if (m->state == JRNL_SYNCED && f->flags != (m->flags & FCT_F_ALL)) {
				letters(f->flags, x);
				letters(m->flags & FCT_F_ALL, y);
				diff(a, "far UID %u has flags %s, the journal says %s", m->far_uid, x, y);
			}
		}
	}
	if (m->near_uniq) {
		struct md_entry *e = nn ? bsearch(m->near_uniq, ne, nn, sizeof *ne, near_cmp) : NULL;

		if (!e) {
			diff(a, "near message %s is in the journal but not in the Maildir", m->near_uniq);
		} else {
			e->mtime = -1; /* seen */
			if (m->state == JRNL_SYNCED && (e->flags & FCT_F_ALL) != (m->flags & FCT_F_ALL)) {
				letters(e->flags & FCT_F_ALL, x);
				letters(m->flags & FCT_F_ALL, y);
				diff(a, "near message %s has flags %s, the journal says %s", e->file, x, y);
			}
		}
	}
}

/* *f stays open for the caller to close: the entries' file names are its. */
static int near_scan(struct audit *a, const char *near_name, struct md_folder **f,
                     struct md_entry **ne, size_t *nn, int *exists, struct fct_err *err)
{
	*ne = NULL;
	*nn = 0;
	*exists = md_folder_exists(a->md, near_name);
	if (!*exists)
		return 0;
	if (md_folder_open(a->md, near_name, 0, f, err) < 0)
		return -1;
	return md_scan(*f, ne, nn, err);
}

static void compare(struct audit *a, const struct jrnl_box *jb, int found, const struct imap_box *ib,
                    int far_ok, struct far_list *fl, int near_ok, struct md_entry *ne, size_t nn,
                    const struct jrnl_msg *jm, size_t njm)
{
	if (!found) {
		if (fl->n || nn || far_ok != near_ok)
			diff(a, "not in the journal (%s: %zu message(s), %s: %zu)",
			     far_ok ? "server" : "not on the server", fl->n,
			     near_ok ? "Maildir" : "not in the Maildir", nn);
		return;
	}
	if (!far_ok && !near_ok) {
		diff(a, "in the journal but on neither side");
		return;
	}
	if (!far_ok)
		diff(a, "in the journal but not on the server");
	if (!near_ok)
		diff(a, "in the journal but not in the Maildir");
	if (far_ok && jb->uidvalidity && ib->uidvalidity != jb->uidvalidity) {
		diff(a, "UIDVALIDITY is %u on the server, the journal says %u", ib->uidvalidity,
		     jb->uidvalidity);
		far_ok = 0;
	}
	for (size_t i = 0; i < njm; i++)
		check_record(a, &jm[i], fl, far_ok, ne, nn);
	for (size_t i = 0; far_ok && i < fl->n; i++) {
		int is_new = fl->v[i].uid >= jb->uidnext;

		/* With MaxMessages, older server messages are left out on purpose. */
		if (!fl->v[i].seen && (is_new || !a->ch->max_messages))
			diff(a, "far UID %u is not in the journal%s", fl->v[i].uid,
			     is_new ? " (new since the last sync)" : "");
	}
	for (size_t i = 0; i < nn; i++)
		if (ne[i].mtime != -1)
			diff(a, "near message %s is not in the journal", ne[i].file);
}

/* One folder pair: key is its journal name. */
static int audit_box(struct audit *a, const char *key, const char *far_name,
                     const char *near_name, struct fct_err *err)
{
	struct jrnl_box jb;
	struct imap_box ib;
	struct far_list fl = {0};
	struct md_folder *nf = NULL;
	struct md_entry *ne = NULL;
	struct jrnl_msg *jm = NULL;
	size_t nn = 0, njm = 0;
	int found = 0, far_ok = 0, near_ok = 0, rc = -1;

	memset(&jb, 0, sizeof jb);
	memset(&ib, 0, sizeof ib);
	a->box = key;
	a->box_diffs = 0;
	if (jrnl_box_get(a->j, key, &jb, &found, err) < 0 ||
	    jrnl_msgs_load(a->j, key, &jm, &njm, err) < 0 ||
	    far_scan(a, far_name, &ib, &fl, &far_ok, err) < 0 ||
	    near_scan(a, near_name, &nf, &ne, &nn, &near_ok, err) < 0)
		goto out;
	compare(a, &jb, found, &ib, far_ok, &fl, near_ok, ne, nn, jm, njm);
	if (a->box_diffs > AUDIT_MAX_LINES)
		fprintf(a->out, "%s %s: ... and %zu more difference(s)\n", a->ch->name, key,
		        a->box_diffs - AUDIT_MAX_LINES);
	a->boxes++;
	a->msgs += njm;
	rc = 0;
out:
	if (rc < 0)
		fct_err_prefix(err, "box %s", key);
	jrnl_box_clear(&jb);
	jrnl_msgs_free(jm, njm);
	md_entries_free(ne, nn);
	md_folder_close(nf);
	free(fl.v);
	return rc;
}

/* ---- channels ---- */

static int on_near_box(void *ctx, const char *name)
{
	box_set_add(ctx, name, BOX_ON_NEAR);
	return 0;
}

static int on_jrnl_box(void *ctx, const char *name)
{
	box_set_add(ctx, name, 0);
	return 0;
}


static int audit_patterns(struct audit *a, struct fct_err *err)
{
	struct box_set set = {0};
	struct far_names fn = {a->delim, a->prefix};
	struct fct_buf far;
	int rc;

	fct_buf_init(&far);
	rc = far_list_boxes(a->im, a->ch->far, &fn, &set, a->ch->name, NULL, NULL, err);
	if (rc == 0)
		rc = md_list(a->md, on_near_box, &set, err);
	if (rc == 0)
		rc = jrnl_box_list(a->j, on_jrnl_box, &set, err) ? -1 : 0;
	box_set_finish(&set);
	for (size_t i = 0; rc == 0 && i < set.n; i++) {
		const char *name = set.v[i].name;

		if (!box_selected((const char *const *)a->ch->patterns, name) ||
		    !box_wanted((const char *const *)a->t->boxes, name))
			continue;
		rc = far_box_name(a->ch->far, &fn, name, &far, err);
		if (rc == 0)
			rc = audit_box(a, name, far.data, name, err);
	}
	fct_buf_free(&far);
	box_set_free(&set);
	return rc;
}

static int open_sides(struct audit *a, const char *dir, struct fct_err *err)
{
	const struct cfg_store *st = a->ch->near;
	struct md_store_opts o;
	struct far_names fn;
	struct stat sb;

	if (jrnl_open(&a->j, dir, err) < 0)
		return -1;
	sync_md_opts(a->cfg, st, &o);
	/* md_store_open would create a missing root: check has to leave no trace. */
	if (!o.path || stat(o.path, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return fct_err_set(err, FCT_E_STORE, "Maildir %s does not exist",
		                   o.path ? o.path : "(no Path)");
	if (md_store_open(&a->md, &o, err) < 0 ||
	    sync_imap_connect(a->ch->far->account, a->log, &a->im, err) < 0 ||
	    far_names_resolve(a->ch->far, a->im, &fn, err) < 0)
		return -1;
	a->delim = fn.delim;
	a->prefix = fn.prefix;
	return 0;
}

static int audit_channel(struct audit *a, int wait_lock, struct fct_err *err)
{
	char *dir = cfg_state_dir(a->cfg, a->ch), *data = NULL, *lockpath = NULL;
	struct fct_lock *lock = NULL;
	struct stat sb;
	int rc = -1;

	if (!dir)
		return fct_err_set(err, FCT_E_CONFIG, "no home directory for the journal");
	data = fct_xasprintf("%s/data.mdb", dir);
	if (stat(data, &sb) < 0) {
		a->box = "*";
		diff(a, "never synchronized (no journal in %s)", dir);
		rc = 0;
		goto out;
	}
	lockpath = fct_xasprintf("%s/lock", dir);
	if (fct_lock_take(&lock, lockpath, a->ch->name, wait_lock, err) < 0 ||
	    open_sides(a, dir, err) < 0)
		goto out;
	if (a->ch->patterns) {
		rc = audit_patterns(a, err);
	} else {
		const char *far = box_unmap_inbox(a->ch->far->map_inbox,
		                                  a->ch->far_box ? a->ch->far_box : "INBOX");
		const char *near = a->ch->near_box ? a->ch->near_box : "INBOX";

		rc = audit_box(a, near, far, near, err);
	}
out:
	imap_close(a->im);
	if (a->md)
		md_store_free(a->md);
	if (a->j)
		jrnl_close(a->j);
	fct_lock_release(lock);
	free(lockpath);
	free(data);
	free(dir);
	return rc;
}

int audit_run(const struct fct_config *cfg, const struct run_opts *r, FILE *out)
{
	int failed = 0;

	for (size_t i = 0; i < r->ntargets; i++) {
		struct audit a;
		struct fct_err err;

		memset(&a, 0, sizeof a);
		fct_err_clear(&err);
		a.cfg = cfg;
		a.ch = cfg_channel(cfg, r->targets[i].channel);
		a.t = &r->targets[i];
		a.log = &r->log;
		a.out = out;
		if (!a.ch)
			continue;
		if (a.ch->far->kind != CFG_STORE_IMAP || a.ch->near->kind != CFG_STORE_MAILDIR) {
			fprintf(out, "%s: not audited (check covers IMAP <-> Maildir channels)\n",
			        a.ch->name);
			continue;
		}
		if (audit_channel(&a, r->wait_lock, &err) < 0) {
			fct_log_error(&r->log, "%s: %s", a.ch->name, err.msg);
			failed = 1;
			continue;
		}
		if (a.diffs)
			fprintf(out, "%s: %zu difference(s) in %zu box(es)\n", a.ch->name, a.diffs,
			        a.boxes);
		else
			fprintf(out, "%s: the journal matches both sides (%zu box(es), %zu message(s))\n",
			        a.ch->name, a.boxes, a.msgs);
		failed |= a.diffs != 0;
	}
	return failed;
}
