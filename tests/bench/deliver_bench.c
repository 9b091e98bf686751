/* Delivery-only benchmark (issue 4): the cost of facteur's durable Maildir
 * delivery against a bare loop writing the same bytes.
 *
 *   deliver_bench facteur|bare SRC DEST
 *
 * Every message file under SRC (any cur/ or new/, folder by folder) is
 * delivered into a fresh tree under DEST, in batches of 256 messages or 64
 * MiB as sync/exec.c downloads them:
 *   facteur: what a download batch does, minus the network: md_tmp_open,
 *            md_tmp_write in 64 KiB pieces, md_tmp_done (flags, mtime); one
 *            journal transaction recording the PENDING_DOWNLOAD intents;
 *            md_batch_commit (syncfs, renames, directory fsyncs); one journal
 *            transaction marking the batch SYNCED.
 *   bare:    open(O_EXCL) in tmp/, write the same pieces, start the
 *            writeback of a file of MD_EARLY_WRITEBACK bytes or more
 *            (sync_file_range, as md_tmp_done does), close; per batch syncfs, rename into new/
 *            or cur/, fsync those directories.
 * Both read the sources the same way; the listing (with one stat per file,
 * for the mtime the engine would get from the server) is not timed.  Prints
 * one JSON line: mode, messages, bytes, wall and CPU seconds of the timed
 * part, the peak RSS in KiB, and the seconds spent in the batch steps
 * (struct phases): the rest of the wall time is writing the files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/journal.h"
#include "store/maildir.h"

#define BATCH_MSGS 256
#define BATCH_BYTES (64ull << 20)
#define PIECE 65536

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds spent in the batch steps, to see where a difference comes from:
 * [0] journal intent (facteur only), [1] syncfs + renames + directory
 * fsyncs, [2] journal confirmation (facteur only). */
struct phases {
	double t[3];
};

struct src {
	char *path;
	char *folder; /* destination folder name */
	uint64_t size;
	int64_t mtime;
	unsigned flags;
};

struct srcs {
	struct src *v;
	size_t n, cap;
};

static void die(const char *what, const struct fct_err *e)
{
	fprintf(stderr, "deliver_bench: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(struct srcs *s, const char *path, const char *folder, const char *base)
{
	struct stat st;
	size_t ul;
	uint64_t sz;
	int has;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = fct_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n].path = fct_xstrdup(path);
	s->v[s->n].folder = fct_xstrdup(folder);
	s->v[s->n].size = (uint64_t)st.st_size;
	s->v[s->n].mtime = (int64_t)st.st_mtime;
	md_parse_name(base, ':', &ul, &s->v[s->n].flags, &sz, &has);
	s->n++;
}

/* The names in dir but dot files, sorted; NULL when it cannot be read. */
static char **list_sorted(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			names = fct_xrealloc(names, cap * sizeof *names);
		}
		names[(*n)++] = fct_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof *names, name_cmp);
	return names;
}

/* Adds the messages under dir, folder rel ("" for the root, INBOX). */
static void walk(struct srcs *s, const char *dir, const char *rel)
{
	size_t n, nf;
	char **names = list_sorted(dir, &n);

	for (size_t i = 0; i < n; i++) {
		char *p = fct_xasprintf("%s/%s", dir, names[i]);

		if (strcmp(names[i], "cur") == 0 || strcmp(names[i], "new") == 0) {
			char **files = list_sorted(p, &nf);

			for (size_t k = 0; k < nf; k++) {
				char *fp = fct_xasprintf("%s/%s", p, files[k]);
				add_file(s, fp, *rel ? rel : "INBOX", files[k]);
				free(fp);
				free(files[k]);
			}
			free(files);
		} else if (strcmp(names[i], "tmp") != 0) {
			char *r = *rel ? fct_xasprintf("%s/%s", rel, names[i]) : fct_xstrdup(names[i]);
			struct stat st;

			if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
				walk(s, p, r);
			free(r);
		}
		free(p);
		free(names[i]);
	}
	free(names);
}

/* Streams one source file through put(ctx, piece, len). */
static void copy_src(const struct src *m, char *buf, int (*put)(void *ctx, const char *p, size_t n), void *ctx)
{
	int fd = open(m->path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		die(m->path, NULL);
	while ((r = read(fd, buf, PIECE)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || put(ctx, buf, (size_t)r) < 0)
			die(m->path, NULL);
	}
	close(fd);
}

/* ---- facteur's path */

struct fac {
	struct md_store *st;
	struct jrnl *j;
	struct md_folder *f;
	struct md_batch *b;
	struct md_tmp *tmps[BATCH_MSGS];
	const struct src *srcs[BATCH_MSGS];
	struct jrnl_msg recs[BATCH_MSGS];
	size_t n;
	uint32_t next_uid;
	struct phases *ph;
	struct fct_err err;
};

static int fac_put(void *ctx, const char *p, size_t n)
{
	struct fac *x = ctx;

	return md_tmp_write(x->tmps[x->n], p, n, &x->err);
}

static void fac_journal(struct fac *x, const char *box, int state)
{
	struct jrnl_txn *t;

	if (jrnl_begin(x->j, &t, &x->err) < 0)
		die("journal begin", &x->err);
	for (size_t i = 0; i < x->n; i++) {
		struct jrnl_msg *m = &x->recs[i];

		free(m->near_uniq);
		m->near_uniq = fct_xstrdup(md_tmp_next_uniq(x->tmps[i]));
		m->flags = x->srcs[i]->flags;
		m->state = (uint8_t)state;
		if (jrnl_msg_put(t, box, m, &x->err) < 0)
			die("journal put", &x->err);
	}
	if (jrnl_commit(t, &x->err) < 0)
		die("journal commit", &x->err);
}

static void fac_flush(struct fac *x, const char *box)
{
	if (x->n) {
		double t0 = now(), t1, t2;

		fac_journal(x, box, JRNL_PENDING_DOWNLOAD);
		t1 = now();
		if (md_batch_commit(x->b, &x->err) < 0)
			die("commit", &x->err);
		t2 = now();
		fac_journal(x, box, JRNL_SYNCED);
		x->ph->t[0] += t1 - t0;
		x->ph->t[1] += t2 - t1;
		x->ph->t[2] += now() - t2;
	}
	md_batch_free(x->b);
	x->b = NULL;
	for (size_t i = 0; i < x->n; i++) {
		free(x->recs[i].near_uniq);
		free(x->recs[i].msgid);
	}
	memset(x->recs, 0, sizeof x->recs);
	x->n = 0;
}

static void run_facteur(const struct srcs *s, const char *dest, struct phases *ph)
{
	struct fac *x = fct_xcalloc(1, sizeof *x);
	struct md_store_opts o = { 0 };
	char *root = fct_xasprintf("%s/mail", dest), *state = fct_xasprintf("%s/state", dest);
	char *buf = fct_xcalloc(1, PIECE);
	const char *box = NULL;
	uint64_t bytes = 0;

	x->ph = ph;
	o.path = root;
	o.fsync = 1;
	if (md_store_open(&x->st, &o, &x->err) < 0 || jrnl_open(&x->j, state, &x->err) < 0)
		die("open", &x->err);
	for (size_t i = 0; i < s->n; i++) {
		const struct src *m = &s->v[i];

		if (box && (strcmp(box, m->folder) != 0 || x->n == BATCH_MSGS || bytes >= BATCH_BYTES)) {
			fac_flush(x, box);
			bytes = 0;
		}
		if (!box || strcmp(box, m->folder) != 0) {
			if (x->f)
				md_folder_close(x->f);
			if (md_folder_open(x->st, m->folder, 1, &x->f, &x->err) < 0)
				die(m->folder, &x->err);
			box = m->folder;
		}
		if (!x->b)
			x->b = md_batch_new(x->f);
		if (md_tmp_open(x->b, &x->tmps[x->n], &x->err) < 0)
			die("tmp open", &x->err);
		copy_src(m, buf, fac_put, x);
		if (md_tmp_done(x->tmps[x->n], m->flags, m->mtime, &x->err) < 0)
			die("tmp done", &x->err);
		/* What the engine's listing gives a record before delivery. */
		x->recs[x->n].far_uid = ++x->next_uid;
		x->recs[x->n].size = m->size;
		x->recs[x->n].msgid = fct_xasprintf("<bench.%u.%zu@example.org>", x->next_uid, i);
		x->srcs[x->n++] = m;
		bytes += m->size;
	}
	if (box)
		fac_flush(x, box);
	if (x->f)
		md_folder_close(x->f);
	jrnl_close(x->j);
	md_store_free(x->st);
	free(buf);
	free(root);
	free(state);
	free(x);
}

/* ---- the bare loop */

struct bare {
	char *dir; /* folder directory */
	char *names[BATCH_MSGS];
	unsigned flags[BATCH_MSGS];
	size_t n;
	int fd;
	struct phases *ph;
};

static int bare_put(void *ctx, const char *p, size_t n)
{
	struct bare *x = ctx;

	while (n) {
		ssize_t w = write(x->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fsync_path(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		die(p, NULL);
	close(fd);
}

static void bare_flush(struct bare *x)
{
	char *p = fct_xasprintf("%s/tmp", x->dir);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC), used = 0;
	double t0 = now();

	if (fd < 0 || syncfs(fd) < 0)
		die("syncfs", NULL);
	close(fd);
	free(p);
	for (size_t i = 0; i < x->n; i++) {
		char *from = fct_xasprintf("%s/tmp/%s", x->dir, x->names[i]);
		char letters[7], *to;

		fct_flags_to_letters(x->flags[i], letters);
		to = x->flags[i] ? fct_xasprintf("%s/cur/%s:2,%s", x->dir, x->names[i], letters)
				 : fct_xasprintf("%s/new/%s", x->dir, x->names[i]);

		if (rename(from, to) < 0)
			die(to, NULL);
		used |= x->flags[i] ? 1 : 2;
		free(from);
		free(to);
		free(x->names[i]);
	}
	x->n = 0;
	for (int k = 0; k < 2; k++) {
		if (!(used & (1 << k)))
			continue;
		p = fct_xasprintf("%s/%s", x->dir, k ? "new" : "cur");
		fsync_path(p);
		free(p);
	}
	x->ph->t[1] += now() - t0;
}

static void bare_mkdirs(const char *dir)
{
	static const char *const sub[] = { "", "/cur", "/new", "/tmp" };

	for (size_t i = 0; i < 4; i++) {
		char *p = fct_xasprintf("%s%s", dir, sub[i]);
		for (char *c = p + 1; *c; c++) {
			if (*c != '/')
				continue;
			*c = '\0';
			mkdir(p, 0700);
			*c = '/';
		}
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			die(p, NULL);
		free(p);
	}
}

static void run_bare(const struct srcs *s, const char *dest, struct phases *ph)
{
	struct bare x = { 0 };
	char *buf = fct_xcalloc(1, PIECE);
	const char *box = NULL;
	uint64_t bytes = 0;

	x.ph = ph;
	for (size_t i = 0; i < s->n; i++) {
		const struct src *m = &s->v[i];

		if (box && (strcmp(box, m->folder) != 0 || x.n == BATCH_MSGS || bytes >= BATCH_BYTES)) {
			if (x.n)
				bare_flush(&x);
			bytes = 0;
		}
		if (!box || strcmp(box, m->folder) != 0) {
			free(x.dir);
			x.dir = fct_xasprintf("%s/mail/%s", dest, m->folder);
			bare_mkdirs(x.dir);
			box = m->folder;
		}
		x.names[x.n] = fct_xasprintf("%zu.bare", i);
		char *p = fct_xasprintf("%s/tmp/%s", x.dir, x.names[x.n]);
		x.fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (x.fd < 0)
			die(p, NULL);
		free(p);
		copy_src(m, buf, bare_put, &x);
		if (m->size >= MD_EARLY_WRITEBACK)
			(void)sync_file_range(x.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		if (close(x.fd) < 0)
			die("close", NULL);
		x.flags[x.n++] = m->flags;
		bytes += m->size;
	}
	if (x.n)
		bare_flush(&x);
	free(x.dir);
	free(buf);
}

static double cpu(long *rss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*rss_kb = ru.ru_maxrss;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct srcs s = { 0 };
	uint64_t bytes = 0;
	double t0, c0;
	struct phases ph = { { 0, 0, 0 } };
	long rss;
	int fac;

	if (argc != 4 || (strcmp(argv[1], "facteur") && strcmp(argv[1], "bare"))) {
		fprintf(stderr, "usage: deliver_bench facteur|bare SRC DEST\n");
		return 2;
	}
	fac = strcmp(argv[1], "facteur") == 0;
	walk(&s, argv[2], "");
	if (mkdir(argv[3], 0700) < 0 && errno != EEXIST)
		die(argv[3], NULL);
	for (size_t i = 0; i < s.n; i++)
		bytes += s.v[i].size;
	t0 = now();
	c0 = cpu(&rss);
	if (fac)
		run_facteur(&s, argv[3], &ph);
	else
		run_bare(&s, argv[3], &ph);
	t0 = now() - t0;
	c0 = cpu(&rss) - c0;
	printf("{\"mode\": \"%s\", \"messages\": %zu, \"bytes\": %llu, \"wall\": %.4f, \"cpu\": %.4f, "
	       "\"rss_kb\": %ld, \"intent\": %.4f, \"commit\": %.4f, \"confirm\": %.4f}\n",
	       argv[1], s.n, (unsigned long long)bytes, t0, c0, rss, ph.t[0], ph.t[1], ph.t[2]);
	for (size_t i = 0; i < s.n; i++) {
		free(s.v[i].path);
		free(s.v[i].folder);
	}
	free(s.v);
	return 0;
}
