/* mbsync state files: the bounded parser, then the one-time import of a
 * box's state into the journal (see sync/mbsync_state.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/names.h"
#include "sync/boxes.h"
#include "sync/crlf.h"
#include "sync/engine.h"
#include "sync/mbsync_state.h"

struct rd {
	FILE *fp;
	const char *name;
	unsigned line;
	char buf[MBS_LINE_MAX + 1];
	size_t len;
};

static int rd_fail(struct rd *r, struct fct_err *err, const char *what)
{
	return fct_err_set(err, FCT_E_STORE, "%s:%u: %s", r->name, r->line, what);
}

/* Reads one line into r->buf (without its newline).  1: a line, 0: end of
 * file, -1: error. */
static int rd_line(struct rd *r, struct fct_err *err)
{
	int ch;

	r->len = 0;
	r->line++;
	while ((ch = getc(r->fp)) != EOF) {
		if (ch == '\n') {
			r->buf[r->len] = 0;
			return 1;
		}
		if (ch == 0)
			return rd_fail(r, err, "NUL byte in the sync state");
		if (r->len == MBS_LINE_MAX)
			return rd_fail(r, err, "line too long");
		r->buf[r->len++] = (char)ch;
	}
	if (ferror(r->fp))
		return fct_err_sys(err, errno, "%s:%u: reading", r->name, r->line);
	if (r->len)
		return rd_fail(r, err, "incomplete last line (no newline)");
	return 0;
}

/* A decimal uint32 at *p (no sign, no leading space); advances *p. */
static int num(const char **p, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	*p = s;
	*out = (uint32_t)v;
	return 0;
}

/* Pre-1.1 single-line header: "fuv:fmax nuv:nxmax:nmax". */
static int legacy_header(const char *s, struct mbs_state *st)
{
	uint32_t x;

	if (num(&s, &st->far_uidvalidity) || *s++ != ':' || num(&s, &st->max_pulled) ||
	    *s++ != ' ' || num(&s, &st->near_uidvalidity) || *s++ != ':' || num(&s, &x) ||
	    *s++ != ':' || num(&s, &st->max_pushed) || *s)
		return -1;
	return 0;
}

static const struct {
	const char *key;
	size_t off;
} keys[] = {
	{"FarUidValidity", offsetof(struct mbs_state, far_uidvalidity)},
	{"MasterUidValidity", offsetof(struct mbs_state, far_uidvalidity)},
	{"NearUidValidity", offsetof(struct mbs_state, near_uidvalidity)},
	{"SlaveUidValidity", offsetof(struct mbs_state, near_uidvalidity)},
	{"MaxPulledUid", offsetof(struct mbs_state, max_pulled)},
	{"MaxPushedUid", offsetof(struct mbs_state, max_pushed)},
	{"MaxExpiredFarUid", offsetof(struct mbs_state, max_expired_far)},
	{"MaxExpiredMasterUid", offsetof(struct mbs_state, max_expired_far)},
	{"MaxExpiredSlaveUid", (size_t)-1}, /* pre-1.3; meaningless now */
};

static int header_entry(const char *s, struct mbs_state *st, unsigned *seen)
{
	const char *sp = strchr(s, ' ');
	uint32_t v;
	size_t i;

	if (!sp || sp == s)
		return -1;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *q = sp + 1;

		if (strlen(keys[i].key) != (size_t)(sp - s) || memcmp(keys[i].key, s, (size_t)(sp - s)))
			continue;
		if (num(&q, &v) || *q)
			return -1;
		if (keys[i].off != (size_t)-1)
			*(uint32_t *)(void *)((char *)st + keys[i].off) = v;
		if (keys[i].off == offsetof(struct mbs_state, far_uidvalidity))
			*seen |= 1;
		else if (keys[i].off == offsetof(struct mbs_state, near_uidvalidity))
			*seen |= 2;
		return 0;
	}
	return -2;
}

static int parse_header(struct rd *r, struct mbs_state *st, struct fct_err *err)
{
	unsigned seen = 0;
	int rc;

	while ((rc = rd_line(r, err)) > 0) {
		if (r->len == 0) {
			if ((seen & 3) != 3)
				return rd_fail(r, err, "header lacks FarUidValidity or NearUidValidity");
			return 0;
		}
		if (r->line == 1 && r->buf[0] >= '0' && r->buf[0] <= '9') {
			if (legacy_header(r->buf, st) < 0)
				return rd_fail(r, err, "malformed legacy header");
			return 0;
		}
		rc = header_entry(r->buf, st, &seen);
		if (rc == -2)
			return rd_fail(r, err, "unknown header entry");
		if (rc < 0)
			return rd_fail(r, err, "malformed header entry");
	}
	if (rc == 0)
		return rd_fail(r, err, "unterminated header (no empty line)");
	return -1;
}

static int parse_flags(const char *s, unsigned *flags)
{
	*flags = 0;
	for (; *s; s++) {
		unsigned f = fct_flags_from_letters(s, 1);

		if (!f || (*flags & f))
			return -1;
		*flags |= f;
	}
	return 0;
}

static int parse_pair(const char *s, struct mbs_pair *p)
{
	memset(p, 0, sizeof *p);
	if (num(&s, &p->far_uid) || *s++ != ' ' || num(&s, &p->near_uid))
		return -1;
	if (*s == 0)
		return 0;
	if (*s++ != ' ')
		return -1;
	if (*s == '<' || *s == '>')
		p->status |= *s++ == '<' ? MBS_DUMMY_FAR : MBS_DUMMY_NEAR;
	if (*s == '^') {
		p->status |= MBS_SKIPPED;
		s++;
	} else if (*s == '~' || *s == 'X') {
		p->status |= MBS_EXPIRED;
		s++;
	}
	/* Pre-1.3 wrote (uint)-1 for the side a too-big message skipped. */
	if (p->far_uid == UINT32_MAX) {
		p->far_uid = 0;
		p->status |= MBS_SKIPPED;
	} else if (p->near_uid == UINT32_MAX) {
		p->near_uid = 0;
		p->status |= MBS_SKIPPED;
	}
	return parse_flags(s, &p->flags);
}

int mbs_parse(FILE *fp, const char *name, struct mbs_state *out, struct fct_err *err)
{
	struct rd *r = fct_xcalloc(1, sizeof *r);
	struct mbs_state st;
	size_t cap = 0;
	int rc;

	memset(&st, 0, sizeof st);
	memset(out, 0, sizeof *out);
	r->fp = fp;
	r->name = name;
	rc = parse_header(r, &st, err);
	while (rc == 0 && (rc = rd_line(r, err)) > 0) {
		if (st.npairs == MBS_PAIRS_MAX) {
			rc = rd_fail(r, err, "too many entries");
			break;
		}
		if (st.npairs == cap) {
			cap = cap ? cap * 2 : 256;
			st.pairs = fct_xrealloc(st.pairs, cap * sizeof *st.pairs);
		}
		if (parse_pair(r->buf, &st.pairs[st.npairs]) < 0) {
			rc = rd_fail(r, err, "malformed entry");
			break;
		}
		st.npairs++;
		rc = 0;
	}
	free(r);
	if (rc < 0) {
		mbs_state_free(&st);
		return -1;
	}
	*out = st;
	return 0;
}

int mbs_load(const char *path, struct mbs_state *out, struct fct_err *err)
{
	FILE *fp = fopen(path, "r");
	int rc;

	memset(out, 0, sizeof *out);
	if (!fp)
		return fct_err_sys(err, errno, "opening %s", path);
	rc = mbs_parse(fp, path, out, err);
	fclose(fp);
	return rc;
}

void mbs_state_free(struct mbs_state *s)
{
	free(s->pairs);
	memset(s, 0, sizeof *s);
}

uint32_t mbs_name_uid(const char *name)
{
	const char *p = name, *end = strchr(name, ':');
	uint32_t v;

	/* ':' is the usual info delimiter; ';' and '!' stand in for it where
	 * ':' is not allowed.  ",U=" is only looked for before it. */
	if (!end)
		end = strpbrk(name, ";!");
	if (!end)
		end = name + strlen(name);
	while ((p = strstr(p, ",U=")) && p < end) {
		const char *q = p + 3;

		if (num(&q, &v) == 0 && (q == end || *q == ',') && v)
			return v;
		p += 3;
	}
	return 0;
}

void mbs_tuid_step(struct mbs_tuid *t, const char *p, size_t n)
{
	static const char pat[] = "X-TUID:";
	size_t i;

	for (i = 0; i < n && !t->done; i++) {
		char ch = p[i];

		if (ch == '\r')
			continue;
		if (ch == '\n') {
			if (t->len == 0)
				t->done = 1;
			else if (t->match == (int)sizeof pat - 1)
				t->found += t->len + 2;
			t->len = 0;
			t->match = 0;
			continue;
		}
		if (t->match >= 0 && t->match < (int)sizeof pat - 1) {
			char up = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;

			t->match = up == pat[t->match] ? t->match + 1 : -1;
		}
		t->len++;
	}
}

/* ---- import ---- */

static char *clean_name(const char *s)
{
	char *c = fct_xstrdup(s), *q;

	for (q = c; *q; q++)
		if (*q == '/')
			*q = '!';
	return c;
}

/* The near folder's directory, as mbsync's Maildir driver names it. */
static char *folder_dir(const struct cfg_store *st, const char *near_name, struct fct_err *err)
{
	struct md_names n;
	struct fct_buf b;
	char *r;
	size_t len;

	memset(&n, 0, sizeof n);
	n.layout = st->subfolders == 1 ? MD_LAYOUT_MAILDIRPP
	         : st->subfolders == 2 ? MD_LAYOUT_LEGACY : MD_LAYOUT_VERBATIM;
	n.flatten = st->flatten;
	n.inbox_path = st->inbox;
	n.map_inbox = st->map_inbox;
	fct_buf_init(&b);
	if (md_name_to_path(&n, near_name, &b, err) < 0) {
		fct_buf_free(&b);
		return NULL;
	}
	if (b.len && b.data[0] == '/')
		return fct_buf_steal(&b);
	if (!st->path) {
		fct_buf_free(&b);
		fct_err_set(err, FCT_E_CONFIG, "near store has no Path");
		return NULL;
	}
	len = strlen(st->path);
	while (len > 1 && st->path[len - 1] == '/')
		len--;
	r = b.len ? fct_xasprintf("%.*s/%s", (int)len, st->path, b.data)
	          : fct_xasprintf("%.*s", (int)len, st->path);
	fct_buf_free(&b);
	return r;
}

/* Where mbsync keeps the box's state; NULL when there is no such file.
 * mbsync names it after the near box when SyncState is a channel's, and
 * after both stores and boxes when it is the global one (or the default
 * ~/.mbsync/); facteur's configuration folds the global value into each
 * channel, so both names are tried. */
static char *state_path(const struct chan *c, const struct box_job *j, const char *dir)
{
	const char *ss = c->ch->sync_state, *home = getenv("HOME");
	const char *fbox = (c->ch->far_box && !c->ch->patterns) ? c->ch->far_box : j->box;
	const char *nbox = (c->ch->near_box && !c->ch->patterns) ? c->ch->near_box : j->box;
	char fd = c->cfg->field_delim ? c->cfg->field_delim : ':';
	char *cand[2] = {NULL, NULL}, *cf, *cn, *pre;
	int i;

	if (ss && !strcmp(ss, "*")) {
		cand[0] = fct_xasprintf("%s/.mbsyncstate", dir);
		if (access(cand[0], F_OK) == 0)
			return cand[0];
		free(cand[0]);
		return NULL;
	}
	pre = ss ? fct_xstrdup(ss) : (home && *home) ? fct_xasprintf("%s/.mbsync/", home) : NULL;
	if (!pre)
		return NULL;
	cn = clean_name(nbox);
	cf = clean_name(fbox);
	if (ss)
		cand[0] = fct_xasprintf("%s%s", pre, cn);
	cand[1] = fct_xasprintf("%s%c%s%c%s_%c%s%c%s", pre, fd, c->ch->far->name, fd, cf, fd,
	                        c->ch->near->name, fd, cn);
	free(cf);
	free(cn);
	free(pre);
	for (i = 0; i < 2; i++) {
		if (cand[i] && access(cand[i], F_OK) == 0) {
			free(cand[1 - i]);
			return cand[i];
		}
	}
	free(cand[0]);
	free(cand[1]);
	return NULL;
}

/* The folder's .uidvalidity (mbsync's Maildir driver): the first line. */
static int read_near_uidvalidity(const char *dir, uint32_t *uv)
{
	char *p = fct_xasprintf("%s/.uidvalidity", dir);
	char buf[32];
	const char *q = buf;
	ssize_t n;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	free(p);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return (num(&q, uv) == 0 && (*q == '\n' || *q == 0)) ? 0 : -1;
}

int mbs_identity_size(struct md_folder *f, const char *uniq, uint64_t *size, struct fct_err *err)
{
	struct crlf_enc e = {0};
	struct mbs_tuid tu = {0};
	char buf[65536];
	uint64_t total = 0, fsize;
	ssize_t n;
	int fd;

	if (md_open_msg(f, uniq, &fd, &fsize, err) < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		total += crlf_enc_size(&e, buf, (size_t)n);
		mbs_tuid_step(&tu, buf, (size_t)n);
	}
	close(fd);
	if (n < 0)
		return fct_err_sys(err, errno, "reading message %s", uniq);
	/* The original's size, as the server counts it (see mbs_tuid_step). */
	*size = total - (tu.found <= total ? tu.found : 0);
	return 0;
}

struct uid_ent {
	uint32_t uid;
	size_t idx; /* into the scan; (size_t)-1: the UID is on two files */
};

static int uid_ent_cmp(const void *x, const void *y)
{
	const struct uid_ent *a = x, *b = y;

	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* The near UIDs of the state's pairs, sorted, to spot one listed twice. */
static uint32_t *near_uids(const struct mbs_state *st, size_t *n)
{
	uint32_t *v = fct_xcalloc(st->npairs + 1, sizeof *v);
	size_t i, k = 0;

	for (i = 0; i < st->npairs; i++)
		if (st->pairs[i].near_uid)
			v[k++] = st->pairs[i].near_uid;
	qsort(v, k, sizeof *v, u32_cmp);
	*n = k;
	return v;
}

static int listed_twice(const uint32_t *v, size_t n, uint32_t uid)
{
	const uint32_t *p = bsearch(&uid, v, n, sizeof *v, u32_cmp);

	return p && ((p > v && p[-1] == uid) || (p + 1 < v + n && p[1] == uid));
}

static int pair_cmp(const void *x, const void *y)
{
	const struct mbs_pair *a = x, *b = y;

	return a->far_uid < b->far_uid ? -1 : a->far_uid > b->far_uid;
}

/* Near files by ",U=" number, sorted; a number on two files is ambiguous. */
static struct uid_ent *index_uids(const struct md_entry *e, size_t n, size_t *nout)
{
	struct uid_ent *v = fct_xcalloc(n + 1, sizeof *v);
	size_t i, k = 0, o = 0;

	for (i = 0; i < n; i++) {
		uint32_t u = mbs_name_uid(e[i].uniq);

		if (u)
			v[k++] = (struct uid_ent){u, i};
	}
	qsort(v, k, sizeof *v, uid_ent_cmp);
	for (i = 0; i < k; i++) {
		if (o && v[o - 1].uid == v[i].uid)
			v[o - 1].idx = (size_t)-1;
		else
			v[o++] = v[i];
	}
	*nout = o;
	return v;
}

struct imp {
	struct chan *c;
	struct box_job *j;
	char *dir, *path;
	struct mbs_state st;
	struct md_folder *f;
	struct md_entry *ents;
	size_t nents;
	struct uid_ent *ix;
	size_t nix;
	size_t imported, missing;
};

static void imp_free(struct imp *m)
{
	if (m->f)
		md_folder_close(m->f);
	md_entries_free(m->ents, m->nents);
	free(m->ix);
	mbs_state_free(&m->st);
	free(m->dir);
	free(m->path);
}

/* Loads the state and checks it still describes both sides.  0: usable;
 * 1: not (why is in e, or e->kind is FCT_E_NONE when there is no state). */
static int check_state(struct imp *m, struct fct_err *e)
{
	struct chan *c = m->c;
	struct imap_box fb;
	uint32_t nuv;
	char *jn;
	int busy;

	fct_err_clear(e);
	m->dir = folder_dir(c->ch->near, m->j->near_name, e);
	if (!m->dir) {
		fct_err_clear(e); /* no place for a state: nothing to say */
		return 1;
	}
	m->path = state_path(c, m->j, m->dir);
	if (!m->path)
		return 1;
	jn = fct_xasprintf("%s.journal", m->path);
	busy = access(jn, F_OK) == 0;
	free(jn);
	if (busy)
		return fct_err_set(e, FCT_E_STORE, "%s.journal exists (mbsync was interrupted; run "
		                   "mbsync once more first)", m->path), 1;
	if (mbs_load(m->path, &m->st, e) < 0)
		return 1;
	if (read_near_uidvalidity(m->dir, &nuv) < 0 || nuv != m->st.near_uidvalidity)
		return fct_err_set(e, FCT_E_STORE, "%s/.uidvalidity is missing or differs from the "
		                   "state's NearUidValidity %u", m->dir, m->st.near_uidvalidity), 1;
	memset(&fb, 0, sizeof fb);
	if (imap_status(c->im, m->j->far_name, &fb, e) < 0)
		return 1;
	if (!fb.uidvalidity || fb.uidvalidity != m->st.far_uidvalidity)
		return fct_err_set(e, FCT_E_STORE, "the server's UIDVALIDITY %u is not the state's %u",
		                   fb.uidvalidity, m->st.far_uidvalidity), 1;
	if (md_folder_open(c->md, m->j->near_name, 0, &m->f, e) < 0 ||
	    md_scan(m->f, &m->ents, &m->nents, e) < 0)
		return 1;
	m->ix = index_uids(m->ents, m->nents, &m->nix);
	return 0;
}

static const struct md_entry *near_of(const struct imp *m, uint32_t uid)
{
	struct uid_ent k = {uid, 0};
	const struct uid_ent *u = bsearch(&k, m->ix, m->nix, sizeof k, uid_ent_cmp);

	return (u && u->idx != (size_t)-1) ? &m->ents[u->idx] : NULL;
}

/* One journal record for a pair present on both sides.  0: written or
 * skipped (counted); -1: the journal failed. */
static int import_pair(struct imp *m, struct jrnl_txn *t, const struct mbs_pair *p,
                       struct fct_err *err)
{
	const struct md_entry *ne = near_of(m, p->near_uid);
	struct jrnl_msg jm;
	struct fct_err e;
	int rc;

	if (!ne) {
		m->missing++;
		return 0;
	}
	memset(&jm, 0, sizeof jm);
	jm.far_uid = p->far_uid;
	jm.near_uniq = ne->uniq;
	jm.flags = p->flags;
	jm.state = JRNL_SYNCED;
	jm.stamp = (int64_t)time(NULL);
	if (mbs_identity_size(m->f, ne->uniq, &jm.size, &e) < 0) {
		m->missing++; /* vanished meanwhile: the planner will see it gone */
		return 0;
	}
	if (md_msgid(m->f, ne->uniq, &jm.msgid, &e) < 0)
		jm.msgid = NULL;
	rc = jrnl_msg_put(t, m->j->box, &jm, err);
	free(jm.msgid);
	if (rc == 0)
		m->imported++;
	return rc;
}

/* 0: written; 1: nothing to import (journal untouched); -1: error. */
static int write_records(struct imp *m, struct fct_err *err)
{
	struct jrnl_txn *t;
	struct jrnl_box b;
	uint32_t maxf = 0, *nu;
	size_t i, nnu;

	qsort(m->st.pairs, m->st.npairs, sizeof *m->st.pairs, pair_cmp);
	nu = near_uids(&m->st, &nnu);
	if (jrnl_begin(m->c->j, &t, err) < 0) {
		free(nu);
		return -1;
	}
	for (i = 0; i < m->st.npairs; i++) {
		const struct mbs_pair *p = &m->st.pairs[i];
		int dup = (i && p->far_uid == p[-1].far_uid) ||
		          (i + 1 < m->st.npairs && p->far_uid == p[1].far_uid) ||
		          listed_twice(nu, nnu, p->near_uid);

		if (p->far_uid > maxf)
			maxf = p->far_uid;
		/* Placeholders, skipped and expired entries are not copies of
		 * each other; a UID listed twice is not trusted either. */
		if (!p->far_uid || !p->near_uid || p->status || dup)
			continue;
		if (import_pair(m, t, p, err) < 0) {
			jrnl_abort(t);
			free(nu);
			return -1;
		}
	}
	free(nu);
	if (!m->imported) {
		/* Nothing linked (no ",U=" names, e.g. AltMap): a box record alone
		 * would turn adoption by Message-ID off and copy everything. */
		jrnl_abort(t);
		return 1;
	}
	memset(&b, 0, sizeof b);
	b.uidvalidity = m->st.far_uidvalidity;
	b.uidnext = maxf == UINT32_MAX ? maxf : maxf + 1;
	b.highestmodseq = 0;
	if (jrnl_box_put(t, m->j->box, &b, err) < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

int mbsync_state_present(struct chan *c, const struct box_job *j)
{
	struct fct_err e;
	char *dir, *path;
	int present;

	if (j->where != (BOX_ON_FAR | BOX_ON_NEAR) || c->ch->near->kind != CFG_STORE_MAILDIR)
		return 0;
	dir = folder_dir(c->ch->near, j->near_name, &e);
	if (!dir)
		return 0;
	path = state_path(c, j, dir);
	present = path != NULL;
	free(path);
	free(dir);
	return present;
}

int mbsync_import_box(struct chan *c, struct box_job *j, struct fct_err *err)
{
	struct imp m;
	struct fct_err e;
	int rc = 0;

	if (j->found || j->where != (BOX_ON_FAR | BOX_ON_NEAR) || c->ch->near->kind != CFG_STORE_MAILDIR)
		return 0;
	memset(&m, 0, sizeof m);
	m.c = c;
	m.j = j;
	if (check_state(&m, &e) != 0) {
		if (e.kind != FCT_E_NONE)
			fct_log_warn(c->log, "%s: %s: mbsync state not imported (messages are matched by "
			             "Message-ID instead): %s", c->ch->name, j->box, e.msg);
		imp_free(&m);
		return 0;
	}
	if (c->opts->dry_run) {
		fct_log_info(c->log, "%s: %s: would import the mbsync state %s (%zu entries)",
		             c->ch->name, j->box, m.path, m.st.npairs);
		imp_free(&m);
		return 0;
	}
	rc = write_records(&m, err);
	if (rc > 0) {
		fct_log_warn(c->log, "%s: %s: no pair of the mbsync state %s matches a near file by its "
		             ",U= number; matching messages by Message-ID instead", c->ch->name, j->box,
		             m.path);
		rc = 0;
	} else if (rc == 0) {
		fct_log_info(c->log, "%s: %s: imported %zu message pairs from the mbsync state %s",
		             c->ch->name, j->box, m.imported, m.path);
		if (m.missing)
			fct_log_warn(c->log, "%s: %s: %zu pairs of the mbsync state have no near file "
			             "(by its ,U= number); their far copies will be fetched again", c->ch->name,
			             j->box, m.missing);
		jrnl_box_clear(&j->jb);
		rc = jrnl_box_get(c->j, j->box, &j->jb, &j->found, err);
	}
	imp_free(&m);
	return rc;
}
