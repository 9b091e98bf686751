/* Maildir store: folders, scanning and message operations.  Delivery lives
 * in md_deliver.c; both share store/md_int.h. */
#include "store/md_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
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
	int rc = 0;

	(void)err;
	if (s->names.inbox_path)
		rc = walk_dir(&w, s->names.inbox_path, s->names.inbox_path, 0);
	if (!rc)
		rc = walk_dir(&w, s->root, "", 0);
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

	if (md_name_is_inbox(name))
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

	if (md_name_is_inbox(from) || md_name_is_inbox(to))
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

struct scan_acc {
	struct md_entry *e;
	size_t n, cap;
};

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
			a->cap = a->cap ? a->cap * 2 : 256;
			a->e = fct_xrealloc(a->e, a->cap * sizeof *a->e);
		}
		m = &a->e[a->n];
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
		m->uniq = fct_xstrndup(de->d_name, ul);
		m->file = fct_xasprintf("%s/%s", sub, de->d_name);
		a->n++;
	}
	closedir(d);
	free(dir);
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct md_entry *a = x, *b = y;
	int c = strcmp(a->uniq, b->uniq);

	return c ? c : strcmp(a->file, b->file);
}

static int cache_cmp(const void *x, const void *y)
{
	const struct md_cache_ent *a = x, *b = y;

	return strcmp(a->uniq, b->uniq);
}

void md_cache_drop(struct md_folder *f)
{
	for (size_t i = 0; i < f->nc; i++) {
		free(f->c[i].uniq);
		free(f->c[i].file);
	}
	free(f->c);
	f->c = NULL;
	f->nc = f->capc = 0;
	f->have_cache = 0;
	f->dirty = 0;
}

void md_cache_add(struct md_folder *f, const char *uniq, const char *file)
{
	if (!f->have_cache)
		return;
	if (f->nc == f->capc) {
		f->capc = f->capc ? f->capc * 2 : 64;
		f->c = fct_xrealloc(f->c, f->capc * sizeof *f->c);
	}
	f->c[f->nc].uniq = fct_xstrdup(uniq);
	f->c[f->nc].file = fct_xstrdup(file);
	f->nc++;
	f->dirty = 1;
}

static void cache_fill(struct md_folder *f, const struct md_entry *e, size_t n)
{
	md_cache_drop(f);
	f->c = fct_xcalloc(n ? n : 1, sizeof *f->c);
	f->capc = n ? n : 1;
	for (size_t i = 0; i < n; i++) {
		f->c[i].uniq = fct_xstrdup(e[i].uniq);
		f->c[i].file = fct_xstrdup(e[i].file);
	}
	f->nc = n;
	f->have_cache = 1;
}

int md_scan(struct md_folder *f, struct md_entry **out, size_t *n, struct fct_err *err)
{
	struct scan_acc a = { NULL, 0, 0 };

	*out = NULL;
	*n = 0;
	if (scan_sub(f, "cur", &a, err) < 0 || scan_sub(f, "new", &a, err) < 0) {
		md_entries_free(a.e, a.n);
		return -1;
	}
	if (a.n)
		qsort(a.e, a.n, sizeof *a.e, entry_cmp);
	cache_fill(f, a.e, a.n);
	*out = a.e;
	*n = a.n;
	return 0;
}

void md_entries_free(struct md_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].uniq);
		free(e[i].file);
	}
	free(e);
}

/* ---- message lookup */

static struct md_cache_ent *cache_find(struct md_folder *f, const char *uniq)
{
	struct md_cache_ent key, *e;
	size_t i;

	if (f->dirty) {
		qsort(f->c, f->nc, sizeof *f->c, cache_cmp);
		f->dirty = 0;
	}
	key.uniq = (char *)(uintptr_t)uniq;
	e = f->nc ? bsearch(&key, f->c, f->nc, sizeof *f->c, cache_cmp) : NULL;
	if (!e)
		return NULL;
	/* The same uniq may appear twice (a removed entry, or new/ and cur/). */
	i = (size_t)(e - f->c);
	while (i > 0 && strcmp(f->c[i - 1].uniq, uniq) == 0)
		i--;
	for (; i < f->nc && strcmp(f->c[i].uniq, uniq) == 0; i++)
		if (f->c[i].file)
			return &f->c[i];
	return NULL;
}

/* Finds uniq's current file; refresh: rescan first (the cache was stale). */
static int locate(struct md_folder *f, const char *uniq, int refresh, struct md_cache_ent **out,
		  struct fct_err *err)
{
	if (!f->have_cache || refresh) {
		struct md_entry *e;
		size_t n;

		if (md_scan(f, &e, &n, err) < 0)
			return -1;
		md_entries_free(e, n);
	}
	*out = cache_find(f, uniq);
	if (!*out)
		return fct_err_set(err, FCT_E_MSG, "folder %s: message %s not found", f->name, uniq);
	return 0;
}

static char *msg_path(const struct md_folder *f, const char *file)
{
	return fct_xasprintf("%s/%s", f->path, file);
}

static int insert_letter(char *v, size_t *n, size_t max, char c)
{
	size_t i = 0;

	while (i < *n && v[i] < c)
		i++;
	if (i < *n && v[i] == c)
		return 0;
	if (*n >= max)
		return -1;
	memmove(v + i + 1, v + i, *n - i);
	v[i] = c;
	(*n)++;
	return 0;
}

/* New file name for flags, keeping unknown info letters of base. */
static char *flagged_name(const struct md_folder *f, const char *base, unsigned flags)
{
	char letters[80], ours[7];
	size_t n = 0, ul;
	unsigned old;
	uint64_t sz;
	int has;
	const char *info;

	md_parse_name(base, f->s->delim, &ul, &old, &sz, &has);
	fct_flags_to_letters(flags & FCT_F_ALL, ours);
	for (const char *p = ours; *p; p++)
		insert_letter(letters, &n, sizeof letters - 1, *p);
	info = base + ul;
	if (info[0] == f->s->delim && info[1] == '2' && info[2] == ',') {
		for (const char *p = info + 3; *p; p++) {
			unsigned char c = (unsigned char)*p;
			if (!fct_flags_from_letters(p, 1) && c > ' ' && c < 0x7f && c != '/' && c != (unsigned char)f->s->delim)
				insert_letter(letters, &n, sizeof letters - 1, (char)c);
		}
	}
	letters[n] = '\0';
	return fct_xasprintf("cur/%.*s%c2,%s", (int)ul, base, f->s->delim, letters);
}

int md_set_flags(struct md_folder *f, const char *uniq, unsigned flags, struct fct_err *err)
{
	struct md_cache_ent *ent;

	for (int attempt = 0; attempt < 2; attempt++) {
		char *nf, *from, *to;
		int rc, e;

		if (locate(f, uniq, attempt, &ent, err) < 0)
			return -1;
		nf = flagged_name(f, strchr(ent->file, '/') + 1, flags);
		if (strcmp(nf, ent->file) == 0) {
			free(nf);
			return 0;
		}
		from = msg_path(f, ent->file);
		to = msg_path(f, nf);
		rc = md_rename_noreplace(from, to);
		e = errno;
		free(from);
		free(to);
		if (rc == 0) {
			free(ent->file);
			ent->file = nf;
			return 0;
		}
		free(nf);
		if (e != ENOENT)
			return fct_err_sys(err, e, "folder %s: message %s: rename", f->name, uniq);
	}
	return fct_err_set(err, FCT_E_MSG, "folder %s: message %s vanished", f->name, uniq);
}

int md_remove(struct md_folder *f, const char *uniq, struct fct_err *err)
{
	struct md_cache_ent *ent;

	for (int attempt = 0; attempt < 2; attempt++) {
		char *p;
		int rc, e;

		if (locate(f, uniq, attempt, &ent, err) < 0)
			return -1;
		p = msg_path(f, ent->file);
		rc = unlink(p);
		e = errno;
		free(p);
		if (rc == 0 || e == ENOENT) {
			free(ent->file);
			ent->file = NULL;
		}
		if (rc == 0)
			return 0;
		if (e != ENOENT)
			return fct_err_sys(err, e, "folder %s: message %s: unlink", f->name, uniq);
	}
	return fct_err_set(err, FCT_E_MSG, "folder %s: message %s vanished", f->name, uniq);
}

int md_folder_sync(struct md_folder *f, struct fct_err *err)
{
	char *p;
	int rc = 0;

	if (!f->s->fsync)
		return 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		p = fct_xasprintf("%s/%s", f->path, i ? "new" : "cur");
		rc = md_fsync_dir(p, err);
		free(p);
	}
	return rc;
}

static int fsync_sub(const struct md_folder *f, const char *file, struct fct_err *err)
{
	char *p = fct_xasprintf("%s/%.3s", f->path, file);
	int rc = md_fsync_dir(p, err);

	free(p);
	return rc;
}

int md_move(struct md_folder *from, const char *uniq, struct md_folder *to, struct fct_err *err)
{
	struct md_cache_ent *ent;

	if (from == to || strcmp(from->path, to->path) == 0)
		return fct_err_set(err, FCT_E_MSG, "folder %s: message %s: move into the same folder", from->name, uniq);
	for (int attempt = 0; attempt < 2; attempt++) {
		char *src, *dst;
		int rc, e;

		if (locate(from, uniq, attempt, &ent, err) < 0)
			return -1;
		src = msg_path(from, ent->file);
		dst = msg_path(to, ent->file);
		rc = md_rename_noreplace(src, dst);
		e = errno;
		free(src);
		free(dst);
		if (rc == 0) {
			char *file = ent->file;

			ent->file = NULL;
			md_cache_add(to, uniq, file);
			rc = from->s->fsync && (fsync_sub(to, file, err) < 0 || fsync_sub(from, file, err) < 0) ? -1 : 0;
			free(file);
			return rc;
		}
		if (e != ENOENT) {
			fct_err_sys(err, e, "folder %s: message %s: move to %s", from->name, uniq, to->name);
			err->kind = e == EEXIST ? FCT_E_MSG : FCT_E_FOLDER;
			return -1;
		}
	}
	return fct_err_set(err, FCT_E_MSG, "folder %s: message %s vanished", from->name, uniq);
}

int md_open_msg(struct md_folder *f, const char *uniq, int *fd_out, uint64_t *size_out, struct fct_err *err)
{
	struct md_cache_ent *ent;

	*fd_out = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct stat st;
		char *p;
		int fd, e;

		if (locate(f, uniq, attempt, &ent, err) < 0)
			return -1;
		p = msg_path(f, ent->file);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		e = errno;
		free(p);
		if (fd >= 0) {
			if (fstat(fd, &st) < 0) {
				e = errno;
				close(fd);
				return fct_err_sys(err, e, "folder %s: message %s: fstat", f->name, uniq);
			}
			*fd_out = fd;
			if (size_out)
				*size_out = (uint64_t)st.st_size;
			return 0;
		}
		if (e != ENOENT)
			return fct_err_sys(err, e, "folder %s: message %s: open", f->name, uniq);
	}
	return fct_err_set(err, FCT_E_MSG, "folder %s: message %s vanished", f->name, uniq);
}

/* ---- Message-ID */

/* Reads the header (up to the blank line, at most MD_HEADER_MAX bytes). */
static int read_header(int fd, struct fct_buf *b, const char *what, struct fct_err *err)
{
	char chunk[8192];

	while (b->len < MD_HEADER_MAX) {
		size_t want = MD_HEADER_MAX - b->len < sizeof chunk ? MD_HEADER_MAX - b->len : sizeof chunk;
		ssize_t r = read(fd, chunk, want);
		size_t from = b->len > 3 ? b->len - 3 : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fct_err_sys(err, errno, "%s: read", what);
		if (r == 0)
			break;
		fct_buf_append(b, chunk, (size_t)r);
		if (memmem(b->data + from, b->len - from, "\n\n", 2) || memmem(b->data + from, b->len - from, "\n\r\n", 3))
			break;
	}
	return 0;
}

/* The value of the first Message-ID field in h[0..n), unfolded. */
static int msgid_value(const char *h, size_t n, struct fct_buf *val)
{
	size_t i = 0;
	int in_field = 0;

	while (i < n) {
		const char *nl = memchr(h + i, '\n', n - i);
		size_t le = nl ? (size_t)(nl - h) : n, len = le - i;
		const char *line = h + i;

		if (len && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break; /* end of header */
		if (in_field && (line[0] == ' ' || line[0] == '\t')) {
			fct_buf_append(val, line, len);
		} else if (in_field) {
			return 1;
		} else if (len >= 10 && strncasecmp(line, "Message-ID", 10) == 0) {
			size_t k = 10;
			while (k < len && (line[k] == ' ' || line[k] == '\t'))
				k++;
			if (k < len && line[k] == ':') {
				in_field = 1;
				fct_buf_append(val, line + k + 1, len - k - 1);
			}
		}
		i = le + 1;
	}
	return in_field;
}

static char *extract_msgid(const char *v)
{
	const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	size_t a, b;

	if (lt && gt && gt > lt + 1)
		return fct_xstrndup(lt, (size_t)(gt - lt + 1));
	/* No angle brackets: accept a single bare token, as some senders write. */
	for (a = 0; v[a] == ' ' || v[a] == '\t'; a++)
		;
	for (b = strlen(v); b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'); b--)
		;
	if (b == a || memchr(v + a, ' ', b - a) || memchr(v + a, '\t', b - a) || memchr(v + a, '<', b - a))
		return NULL;
	return fct_xstrndup(v + a, b - a);
}

int md_msgid(struct md_folder *f, const char *uniq, char **msgid_out, struct fct_err *err)
{
	struct fct_buf h, val;
	char *what;
	int fd, rc;

	*msgid_out = NULL;
	if (md_open_msg(f, uniq, &fd, NULL, err) < 0)
		return -1;
	fct_buf_init(&h);
	fct_buf_init(&val);
	what = fct_xasprintf("folder %s: message %s", f->name, uniq);
	rc = read_header(fd, &h, what, err);
	close(fd);
	if (rc == 0 && h.len && msgid_value(h.data, h.len, &val) && val.len)
		*msgid_out = extract_msgid(val.data);
	free(what);
	fct_buf_free(&h);
	fct_buf_free(&val);
	return rc;
}
