/* Maildir store: folders, listing and scanning.  Message operations live in
 * md_msg.c, delivery in md_deliver.c; they share store/md_int.h. */
#include "store/md_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIST_DEPTH_MAX 32

/* ---- small file-system helpers */

int md_fsync_dir(const char *path, struct fct_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fct_err_sys(err, errno, "open directory %s", path);
	if (fsync(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return fct_err_sys(err, e, "fsync directory %s", path);
	}
	close(fd);
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_maildir(const char *path)
{
	char *c = fct_xasprintf("%s/cur", path), *n = fct_xasprintf("%s/new", path);
	int r = is_dir(c) && is_dir(n);

	free(c);
	free(n);
	return r;
}

/* mkdir -p; each directory created has its parent fsynced (when sync). */
static int mkdir_p(const char *path, int sync, struct fct_err *err)
{
	char *p = fct_xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			char *slash = strrchr(p, '/');
			if (sync && slash) {
				char *parent = slash == p ? fct_xstrdup("/") : fct_xstrndup(p, (size_t)(slash - p));
				rc = md_fsync_dir(parent, err);
				free(parent);
			}
		} else if (errno != EEXIST || !is_dir(p)) {
			rc = fct_err_sys(err, errno == EEXIST ? ENOTDIR : errno, "mkdir %s", p);
		}
		*s = c;
		if (rc < 0 || c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* ---- store */

int md_store_open(struct md_store **out, const struct md_store_opts *o, struct fct_err *err)
{
	struct md_store *s;
	char host[256];
	size_t i, n;

	*out = NULL;
	if (!o->path || !*o->path)
		return fct_err_set(err, FCT_E_CONFIG, "maildir store: no path");
	if (mkdir_p(o->path, o->fsync, err) < 0) {
		err->kind = FCT_E_STORE;
		return -1;
	}
	s = fct_xcalloc(1, sizeof *s);
	s->root = fct_xstrdup(o->path);
	n = strlen(s->root);
	while (n > 1 && s->root[n - 1] == '/')
		s->root[--n] = '\0';
	s->names = o->names;
	if (o->names.inbox_path) {
		s->names.inbox_path = s->inbox_copy = fct_xstrdup(o->names.inbox_path);
		n = strlen(s->inbox_copy);
		while (n > 1 && s->inbox_copy[n - 1] == '/')
			s->inbox_copy[--n] = '\0';
	}
	if (o->names.map_inbox)
		s->names.map_inbox = s->map_copy = fct_xstrdup(o->names.map_inbox);
	s->delim = o->info_delim ? o->info_delim : ':';
	s->fsync = o->fsync;
	s->fault = o->fault;
	s->fault_ctx = o->fault_ctx;
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	for (i = 0; host[i] && i < sizeof s->host - 1; i++) {
		unsigned char c = (unsigned char)host[i];
		/* Keep only what can never be read as a separator. */
		s->host[i] = (c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == ',' || c == (unsigned char)s->delim ||
			      c == '%') ? '_' : (char)c;
	}
	s->host[i] = '\0';
	*out = s;
	return 0;
}

void md_store_free(struct md_store *s)
{
	if (!s)
		return;
	free(s->root);
	free(s->inbox_copy);
	free(s->map_copy);
	free(s);
}

const char *md_store_root(const struct md_store *s)
{
	return s->root;
}

/* Absolute path of folder name, or -1 (FCT_E_FOLDER) for a bad name. */
static int folder_path(struct md_store *s, const char *name, char **out, struct fct_err *err)
{
	struct fct_buf b;

	fct_buf_init(&b);
	if (md_name_to_path(&s->names, name, &b, err) < 0) {
		fct_buf_free(&b);
		return -1;
	}
	if (b.data[0] == '/')
		*out = fct_buf_steal(&b);
	else if (b.data[0] == '\0')
		*out = fct_xstrdup(s->root);
	else
		*out = fct_xasprintf("%s/%s", s->root, b.data);
	fct_buf_free(&b);
	return 0;
}

int md_folder_exists(struct md_store *s, const char *name)
{
	char *p;
	struct fct_err e;
	int r;

	if (folder_path(s, name, &p, &e) < 0)
		return 0;
	r = is_maildir(p);
	free(p);
	return r;
}

static int make_folder_dirs(struct md_store *s, const char *path, struct fct_err *err)
{
	static const char *const sub[] = { "cur", "new", "tmp" };

	if (mkdir_p(path, s->fsync, err) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		char *p = fct_xasprintf("%s/%s", path, sub[i]);
		int rc = mkdir(p, 0700);
		int e = errno;
		free(p);
		if (rc < 0 && e != EEXIST)
			return fct_err_sys(err, e, "mkdir %s/%s", path, sub[i]);
	}
	return s->fsync ? md_fsync_dir(path, err) : 0;
}

/* Makes tmp/ if another program left it out, and removes what crashed
 * deliveries left there: files whose inode has not changed for
 * MD_TMP_STALE seconds (ctime, which setting a file's times also bumps). */
static void tidy_tmp(const char *path)
{
	char *tmp = fct_xasprintf("%s/tmp", path);
	struct dirent *de;
	time_t now = time(NULL);
	DIR *d;

	if (mkdir(tmp, 0700) < 0 && errno == EEXIST && (d = opendir(tmp))) {
		while ((de = readdir(d))) {
			struct stat st;

			if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (S_ISREG(st.st_mode) && now - st.st_ctime > MD_TMP_STALE)
				unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	}
	free(tmp);
}

int md_folder_open(struct md_store *s, const char *name, int create, struct md_folder **out, struct fct_err *err)
{
	struct md_folder *f;
	char *path;

	*out = NULL;
	if (folder_path(s, name, &path, err) < 0)
		return -1;
	if (!is_maildir(path)) {
		if (!create) {
			free(path);
			return fct_err_set(err, FCT_E_FOLDER, "folder %s: does not exist", name);
		}
		if (make_folder_dirs(s, path, err) < 0) {
			free(path);
			fct_err_prefix(err, "folder %s", name);
			err->kind = FCT_E_FOLDER;
			return -1;
		}
	} else {
		tidy_tmp(path);
	}
	f = fct_xcalloc(1, sizeof *f);
	f->s = s;
	f->name = fct_xstrdup(name);
	f->path = path;
	*out = f;
	return 0;
}

void md_folder_close(struct md_folder *f)
{
	if (!f)
		return;
	md_cache_drop(f);
	free(f->name);
	free(f->path);
	free(f);
}

void md_folder_forget(struct md_folder *f)
{
	if (f)
		md_cache_drop(f);
}

const char *md_folder_name(const struct md_folder *f)
{
	return f->name;
}

int md_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* File systems without RENAME_NOREPLACE: link() refuses to replace. */
	if (link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

/* ---- listing */

struct walk {
	struct md_store *s;
	int (*cb)(void *ctx, const char *name);
	void *ctx;
	struct fct_buf name;
};

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Subdirectory names of dir (sorted; not ".", "..", cur, new, tmp). */
static char **subdirs(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strcmp(nm, "cur") || !strcmp(nm, "new") ||
		    !strcmp(nm, "tmp"))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = fct_xrealloc(v, cap * sizeof *v);
		}
		v[(*n)++] = fct_xstrdup(nm);
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, str_cmp);
	return v;
}

/* Walks the directory abs; key is what md_path_to_name gets for it (a path
 * relative to the root, or an absolute one inside inbox_path). */
static int walk_dir(struct walk *w, const char *abs, const char *key, int depth)
{
	struct fct_err e;
	char **sub;
	size_t n, i;
	int rc = 0;

	if (is_maildir(abs) && md_path_to_name(&w->s->names, key, &w->name, &e) == 0)
		rc = w->cb(w->ctx, w->name.data);
	sub = rc || depth >= LIST_DEPTH_MAX ? NULL : subdirs(abs, &n);
	for (i = 0; sub && i < n; i++) {
		if (!rc) {
			char *a = fct_xasprintf("%s/%s", abs, sub[i]);
			char *k = *key ? fct_xasprintf("%s/%s", key, sub[i]) : fct_xstrdup(sub[i]);
			/* INBOX's own tree is walked separately, under its names. */
			int skip = w->s->names.inbox_path && strcmp(a, w->s->names.inbox_path) == 0;
			if (!skip && is_dir(a))
				rc = walk_dir(w, a, k, depth + 1);
			free(a);
			free(k);
		}
		free(sub[i]);
	}
	free(sub);
	return rc;
}

int md_list(struct md_store *s, int (*cb)(void *ctx, const char *name), void *ctx, struct fct_err *err)
{
	struct walk w = { s, cb, ctx, { NULL, 0, 0 } };
	const char *alias;
	int rc = 0;

	(void)err;
	if (s->names.inbox_path)
		rc = walk_dir(&w, s->names.inbox_path, s->names.inbox_path, 0);
	if (!rc)
		rc = walk_dir(&w, s->root, "", 0);
	/* MapInbox: INBOX is listed under its second name too (mbsync does). */
	alias = md_names_inbox_alias(&s->names);
	if (!rc && alias && md_folder_exists(s, "INBOX"))
		rc = cb(ctx, alias);
	fct_buf_free(&w.name);
	return rc;
}

/* ---- folder delete / rename */

/* 1 if dir holds a non-dot entry, 0 if not, -1 on error (err set). */
static int has_messages(const char *dir, struct fct_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : fct_err_sys(err, errno, "opendir %s", dir);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			r = 1;
			break;
		}
	closedir(d);
	return r;
}

static void empty_tmp(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static char *parent_of(const char *path)
{
	const char *sl = strrchr(path, '/');

	return sl && sl != path ? fct_xstrndup(path, (size_t)(sl - path)) : fct_xstrdup(sl ? "/" : ".");
}

int md_folder_delete(struct md_store *s, const char *name, struct fct_err *err)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char *path, *p;
	int rc = 0;

	if (md_name_is_inbox(md_name_unmap(&s->names, name)))
		return fct_err_set(err, FCT_E_FOLDER, "folder %s: INBOX cannot be deleted", name);
	if (folder_path(s, name, &path, err) < 0)
		return -1;
	for (size_t i = 1; i < 3 && rc == 0; i++) {
		p = fct_xasprintf("%s/%s", path, sub[i]);
		rc = has_messages(p, err);
		free(p);
	}
	if (rc != 0) {
		free(path);
		if (rc > 0)
			return fct_err_set(err, FCT_E_FOLDER, "folder %s: not empty, not deleted", name);
		fct_err_prefix(err, "folder %s", name);
		return -1;
	}
	p = fct_xasprintf("%s/tmp", path);
	empty_tmp(p);
	free(p);
	for (size_t i = 0; i < 3; i++) {
		p = fct_xasprintf("%s/%s", path, sub[i]);
		if (rmdir(p) < 0 && errno != ENOENT)
			rc = fct_err_sys(err, errno, "folder %s: rmdir %s", name, p);
		free(p);
		if (rc < 0) {
			err->kind = FCT_E_FOLDER;
			free(path);
			return -1;
		}
	}
	/* Subfolders or other programs' files may keep the directory alive. */
	rmdir(path);
	p = parent_of(path);
	rc = s->fsync ? md_fsync_dir(p, err) : 0;
	free(p);
	free(path);
	return rc;
}

struct child_acc {
	const char *prefix;
	size_t plen;
	char **v;
	size_t n;
};

static int collect_child(void *ctx, const char *name)
{
	struct child_acc *a = ctx;

	if (strncmp(name, a->prefix, a->plen) == 0 && name[a->plen] == '/') {
		a->v = fct_xrealloc(a->v, (a->n + 1) * sizeof *a->v);
		a->v[a->n++] = fct_xstrdup(name + a->plen);
	}
	return 0;
}

static int rename_one(struct md_store *s, const char *from, const char *to, struct fct_err *err)
{
	char *pf, *pt, *parent = NULL;
	int rc = -1;

	if (folder_path(s, from, &pf, err) < 0)
		return -1;
	if (folder_path(s, to, &pt, err) < 0) {
		free(pf);
		return -1;
	}
	parent = parent_of(pt);
	if (mkdir_p(parent, s->fsync, err) < 0)
		goto out;
	if (md_rename_noreplace(pf, pt) < 0) {
		fct_err_sys(err, errno, "folder %s: rename to %s", from, to);
		err->kind = FCT_E_FOLDER;
		goto out;
	}
	rc = 0;
	if (s->fsync) {
		char *pp = parent_of(pf);
		rc = md_fsync_dir(parent, err) < 0 || md_fsync_dir(pp, err) < 0 ? -1 : 0;
		free(pp);
	}
out:
	free(parent);
	free(pf);
	free(pt);
	return rc;
}

int md_folder_rename(struct md_store *s, const char *from, const char *to, struct fct_err *err)
{
	struct child_acc a = { from, strlen(from), NULL, 0 };
	int rc;

	if (md_name_is_inbox(md_name_unmap(&s->names, from)) ||
	    md_name_is_inbox(md_name_unmap(&s->names, to)))
		return fct_err_set(err, FCT_E_FOLDER, "folder %s: renaming INBOX is not supported", from);
	if (!md_folder_exists(s, from))
		return fct_err_set(err, FCT_E_FOLDER, "folder %s: does not exist", from);
	if (md_folder_exists(s, to))
		return fct_err_set(err, FCT_E_FOLDER, "folder %s: cannot rename to %s: exists", from, to);
	/* Layouts that keep one directory per folder need each child renamed;
	 * nested layouts carry children along with the parent directory. */
	if (s->names.flatten || s->names.layout == MD_LAYOUT_MAILDIRPP)
		md_list(s, collect_child, &a, err);
	rc = rename_one(s, from, to, err);
	for (size_t i = 0; i < a.n; i++) {
		if (rc == 0) {
			char *cf = fct_xasprintf("%s%s", from, a.v[i]), *ct = fct_xasprintf("%s%s", to, a.v[i]);
			rc = rename_one(s, cf, ct, err);
			free(cf);
			free(ct);
		}
		free(a.v[i]);
	}
	free(a.v);
	return rc;
}

/* ---- names and scanning */

void md_parse_name(const char *name, char delim, size_t *uniq_len, unsigned *flags, uint64_t *size, int *has_size)
{
	const char *info = strrchr(name, delim), *p, *end;

	*flags = 0;
	*size = 0;
	*has_size = 0;
	if (info && (info[1] == '1' || info[1] == '2') && info[2] == ',') {
		*uniq_len = (size_t)(info - name);
		if (info[1] == '2')
			*flags = fct_flags_from_letters(info + 3, strlen(info + 3));
	} else {
		*uniq_len = strlen(name);
	}
	end = name + *uniq_len;
	for (p = name; p + 3 < end; p++) {
		uint64_t v = 0;
		const char *q;

		if (p[0] != ',' || p[1] != 'S' || p[2] != '=')
			continue;
		for (q = p + 3; q < end && *q >= '0' && *q <= '9' && v < UINT64_MAX / 10 - 10; q++)
			v = v * 10 + (uint64_t)(*q - '0');
		if (q > p + 3 && (q == end || *q == ',')) {
			*size = v;
			*has_size = 1;
			return;
		}
	}
}

/* A scan's array is preceded by this header, which owns the entries'
 * uniq names (the union keeps the entries aligned). */
union ents_hdr {
	struct pool pool;
	struct md_entry align;
};

struct scan_acc {
	union ents_hdr *h; /* entries follow it */
	size_t n, cap;
	struct pool names; /* file names, for the folder's cache */
	int no_uniq;       /* md_scan_names */
};

static struct md_entry *acc_ents(const struct scan_acc *a)
{
	return (struct md_entry *)(void *)(a->h + 1);
}

/* "sub/name" in pool. */
static char *file_name(struct pool *pool, const char *sub, const char *name)
{
	size_t sl = strlen(sub), nl = strlen(name);
	char *out = pool_alloc(pool, sl + 1 + nl + 1);

	memcpy(out, sub, sl);
	out[sl] = '/';
	memcpy(out + sl + 1, name, nl + 1);
	return out;
}

static int scan_sub(struct md_folder *f, const char *sub, struct scan_acc *a, struct fct_err *err)
{
	char *dir = fct_xasprintf("%s/%s", f->path, sub);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		int e = errno;
		free(dir);
		fct_err_sys(err, e, "folder %s: opendir %s", f->name, sub);
		err->kind = FCT_E_FOLDER;
		return -1;
	}
	while ((de = readdir(d))) {
		struct md_entry *m;
		size_t ul;
		int has;

		if (de->d_name[0] == '.')
			continue;
		if (a->n == a->cap) {
			a->cap *= 2;
			a->h = fct_xrealloc(a->h, sizeof *a->h + a->cap * sizeof *m);
		}
		m = &acc_ents(a)[a->n];
		memset(m, 0, sizeof *m);
		md_parse_name(de->d_name, f->s->delim, &ul, &m->flags, &m->size, &has);
		if (!has || de->d_type == DT_UNKNOWN || de->d_type == DT_DIR) {
			struct stat st;
			/* Vanished since readdir (another client moved it): skip. */
			if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
				continue;
			m->size = (uint64_t)st.st_size;
			m->mtime = (int64_t)st.st_mtime;
		}
		m->ulen = (unsigned)ul;
		if (!a->no_uniq)
			m->uniq = pool_dupn(&a->h->pool, de->d_name, ul);
		m->file = file_name(&a->names, sub, de->d_name);
		a->n++;
	}
	closedir(d);
	free(dir);
	return 0;
}

/* By uniq (the order strcmp gives), then by file name. */
static int entry_cmp(const void *x, const void *y)
{
	const struct md_entry *a = x, *b = y;
	int c = memcmp(a->file + MD_SUB_LEN, b->file + MD_SUB_LEN, a->ulen < b->ulen ? a->ulen : b->ulen);

	if (!c)
		c = (a->ulen > b->ulen) - (a->ulen < b->ulen);
	return c ? c : strcmp(a->file, b->file);
}

void md_cache_drop(struct md_folder *f)
{
	for (size_t i = 0; i < f->nc; i++)
		if (f->c[i].own)
			free(f->c[i].file);
	free(f->c);
	pool_free(&f->names);
	f->c = NULL;
	f->nc = f->capc = 0;
	f->have_cache = 0;
	f->dirty = 0;
	f->partial = 0;
}

void md_cache_add(struct md_folder *f, const char *uniq, const char *file)
{
	if (!f->have_cache)
		return;
	if (f->nc == f->capc) {
		f->capc = f->capc ? f->capc * 2 : 64;
		f->c = fct_xrealloc(f->c, f->capc * sizeof *f->c);
	}
	f->c[f->nc].file = fct_xstrdup(file);
	f->c[f->nc].ulen = (unsigned)strlen(uniq);
	f->c[f->nc].gone = 0;
	f->c[f->nc].own = 1;
	f->nc++;
	f->dirty = 1;
}

/* The cache takes the scan's file names (the entries keep pointing at
 * them): one copy of each name, not two. */
static void cache_fill(struct md_folder *f, struct md_entry *e, size_t n, struct pool *names)
{
	md_cache_drop(f);
	f->names = *names;
	names->head = NULL;
	f->c = fct_xcalloc(n ? n : 1, sizeof *f->c);
	f->capc = n ? n : 1;
	for (size_t i = 0; i < n; i++) {
		f->c[i].file = (char *)(uintptr_t)e[i].file;
		f->c[i].ulen = e[i].ulen;
	}
	f->nc = n;
	f->have_cache = 1;
}

static int scan(struct md_folder *f, int no_uniq, struct md_entry **out, size_t *n,
                struct fct_err *err)
{
	struct scan_acc a = { NULL, 0, 256, { NULL }, no_uniq };

	*out = NULL;
	*n = 0;
	a.h = fct_xmalloc(sizeof *a.h + a.cap * sizeof **out);
	a.h->pool.head = NULL;
	if (scan_sub(f, "cur", &a, err) < 0 || scan_sub(f, "new", &a, err) < 0) {
		pool_free(&a.names);
		md_entries_free(acc_ents(&a), a.n);
		return -1;
	}
	if (a.n)
		qsort(acc_ents(&a), a.n, sizeof **out, entry_cmp);
	cache_fill(f, acc_ents(&a), a.n, &a.names);
	*out = acc_ents(&a);
	*n = a.n;
	return 0;
}

int md_scan(struct md_folder *f, struct md_entry **out, size_t *n, struct fct_err *err)
{
	return scan(f, 0, out, n, err);
}

int md_scan_names(struct md_folder *f, struct md_entry **out, size_t *n, struct fct_err *err)
{
	return scan(f, 1, out, n, err);
}

static int names_sub(struct md_folder *f, const char *sub,
                     int (*each)(void *, const char *, size_t, unsigned), void *ctx,
                     struct fct_err *err)
{
	char *dir = fct_xasprintf("%s/%s", f->path, sub);
	DIR *d = opendir(dir);
	int e = errno;
	struct dirent *de;
	int ret = 0;

	free(dir);
	if (!d) {
		fct_err_sys(err, e, "folder %s: opendir %s", f->name, sub);
		err->kind = FCT_E_FOLDER;
		return -1;
	}
	while (!ret && (de = readdir(d))) {
		struct stat st;
		size_t ul;
		unsigned flags;
		uint64_t size;
		int has;

		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (de->d_type == DT_UNKNOWN &&
		    (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode)))
			continue;
		md_parse_name(de->d_name, f->s->delim, &ul, &flags, &size, &has);
		ret = each(ctx, de->d_name, ul, flags);
	}
	closedir(d);
	return ret;
}

int md_names_each(struct md_folder *f,
                  int (*each)(void *ctx, const char *name, size_t uniq_len, unsigned flags),
                  void *ctx, struct fct_err *err)
{
	int rc = names_sub(f, "cur", each, ctx, err);

	return rc ? rc : names_sub(f, "new", each, ctx, err);
}

void md_entries_free(struct md_entry *e, size_t n)
{
	union ents_hdr *h;

	(void)n; /* the names are the array's pool's */
	if (!e)
		return;
	h = (union ents_hdr *)(void *)e - 1;
	pool_free(&h->pool);
	free(h);
}

int md_folder_stamp(struct md_folder *f, int64_t *stamp, struct fct_err *err)
{
	static const char *const sub[] = {"cur", "new"};
	int64_t best = 0;
	size_t i;

	for (i = 0; i < 2; i++) {
		char *p = fct_xasprintf("%s/%s", f->path, sub[i]);
		struct stat st;
		int rc = stat(p, &st);

		free(p);
		if (rc < 0)
			return fct_err_sys(err, errno, "folder %s: stat %s/", f->name, sub[i]);
		int64_t ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (ns > best)
			best = ns;
	}
	*stamp = best;
	return 0;
}
