/* Streaming, batched, durable Maildir delivery (see maildir.h).
 *
 * Order of events: write each tmp/<name> (md_tmp_done closes it); at
 * commit flush the whole batch to disk at once (syncfs on the folder's file
 * system: one flush for many files instead of one per file), then rename
 * every file into new/ or cur/ and finally fsync those directories.  A crash at any point leaves at worst a tmp/ leftover; a
 * file visible in new/ or cur/ is always complete. */
#include "store/md_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define TMP_TRIES 10

enum tmp_state { TMP_OPEN, TMP_DONE, TMP_COMMITTED, TMP_GONE };

struct md_tmp {
	struct md_batch *b;
	int fd;
	enum tmp_state state;
	char *name; /* base name in tmp/ */
	char *uniq; /* final unique name, known once done */
	uint64_t size;
	unsigned flags;
	size_t idx; /* index in the batch's committed names, once committed */
};

struct md_batch {
	struct md_folder *f;
	struct md_tmp **t;
	size_t n, cap;
	char **uniq, **file; /* committed, in queue order */
	size_t ncommitted;
};

static void fault(const struct md_store *s, const char *where)
{
	if (s->fault)
		s->fault(s->fault_ctx, where);
}

struct md_batch *md_batch_new(struct md_folder *f)
{
	struct md_batch *b = fct_xcalloc(1, sizeof *b);

	b->f = f;
	return b;
}

static char *tmp_path(const struct md_tmp *t)
{
	return fct_xasprintf("%s/tmp/%s", t->b->f->path, t->name);
}

int md_tmp_open(struct md_batch *b, struct md_tmp **out, struct fct_err *err)
{
	struct md_store *s = b->f->s;
	struct md_tmp *t = fct_xcalloc(1, sizeof *t);
	int e = 0;

	*out = NULL;
	t->b = b;
	t->fd = -1;
	for (int i = 0; i < TMP_TRIES && t->fd < 0; i++) {
		struct timeval tv;
		char *p;

		gettimeofday(&tv, NULL);
		free(t->name);
		t->name = fct_xasprintf("%lld.M%06ldP%ldN%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
					(long)getpid(), s->counter++, s->host);
		p = tmp_path(t);
		t->fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		e = errno;
		free(p);
		if (t->fd < 0 && e != EEXIST)
			break;
	}
	if (t->fd < 0) {
		fct_err_sys(err, e, "folder %s: create tmp/%s", b->f->name, t->name);
		err->kind = FCT_E_FOLDER;
		free(t->name);
		free(t);
		return -1;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->t = fct_xrealloc(b->t, b->cap * sizeof *b->t);
	}
	b->t[b->n++] = t;
	*out = t;
	return 0;
}

int md_tmp_write(struct md_tmp *t, const void *p, size_t n, struct fct_err *err)
{
	const char *c = p;

	if (t->state != TMP_OPEN)
		return fct_err_set(err, FCT_E_MSG, "folder %s: tmp/%s: write after done", t->b->f->name, t->name);
	while (n) {
		ssize_t w = write(t->fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fct_err_sys(err, errno, "folder %s: write tmp/%s", t->b->f->name, t->name);
		c += w;
		n -= (size_t)w;
		t->size += (uint64_t)w;
	}
	return 0;
}

void md_tmp_abort(struct md_tmp *t)
{
	char *p;

	if (!t || t->state == TMP_GONE || t->state == TMP_COMMITTED)
		return;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	p = tmp_path(t);
	unlink(p);
	free(p);
	t->state = TMP_GONE;
}

/* The batch's syncfs makes files durable; starting each large file's
 * writeback as soon as it is written lets the disk work while the next
 * messages arrive, so that flush has little left to wait for.  A hint only:
 * failure is ignored (syncfs reports real write errors). */
static void start_writeback(int fd)
{
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int md_tmp_done(struct md_tmp *t, unsigned flags, int64_t mtime, struct fct_err *err)
{
	struct md_store *s = t->b->f->s;
	const char *what = NULL;
	int e = 0;

	if (t->state != TMP_OPEN)
		return fct_err_set(err, FCT_E_MSG, "folder %s: tmp/%s: done twice", t->b->f->name, t->name);
	if (mtime > 0) {
		struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };
		if (futimens(t->fd, ts) < 0) {
			e = errno;
			what = "set time of";
		}
	}
	if (!what && s->fsync && t->size >= MD_EARLY_WRITEBACK)
		start_writeback(t->fd);
	if (!what) {
		/* The descriptor is gone after close(), even when it fails. */
		if (close(t->fd) < 0) {
			e = errno;
			what = "close";
		}
		t->fd = -1;
	}
	if (what) {
		fct_err_sys(err, e, "folder %s: %s tmp/%s", t->b->f->name, what, t->name);
		md_tmp_abort(t);
		return -1;
	}
	t->flags = flags & FCT_F_ALL;
	t->uniq = fct_xasprintf("%s,S=%llu", t->name, (unsigned long long)t->size);
	t->state = TMP_DONE;
	fault(s, "tmp-done");
	return 0;
}

static int commit_one(struct md_batch *b, struct md_tmp *t, int *used, struct fct_err *err)
{
	struct md_folder *f = b->f;
	char letters[7], *uniq, *file, *from, *to;
	int rc, e;

	uniq = fct_xstrdup(t->uniq);
	fct_flags_to_letters(t->flags, letters);
	if (t->flags)
		file = fct_xasprintf("cur/%s%c2,%s", uniq, f->s->delim, letters);
	else
		file = fct_xasprintf("new/%s", uniq);
	from = fct_xasprintf("%s/tmp/%s", f->path, t->name);
	to = fct_xasprintf("%s/%s", f->path, file);
	rc = md_rename_noreplace(from, to);
	e = errno;
	free(from);
	free(to);
	if (rc < 0) {
		fct_err_sys(err, e, "folder %s: rename tmp/%s to %s", f->name, t->name, file);
		err->kind = FCT_E_FOLDER;
		free(uniq);
		free(file);
		return -1;
	}
	*used |= t->flags ? 1 : 2;
	t->state = TMP_COMMITTED;
	t->idx = b->ncommitted;
	/* Not added to the folder's cache: a run seldom looks up what it just
	 * delivered, and a large pull would hold every name twice.  A lookup
	 * that misses scans again instead. */
	f->partial = f->have_cache;
	b->uniq = fct_xrealloc(b->uniq, (b->ncommitted + 1) * sizeof *b->uniq);
	b->file = fct_xrealloc(b->file, (b->ncommitted + 1) * sizeof *b->file);
	b->uniq[b->ncommitted] = uniq;
	b->file[b->ncommitted] = file;
	b->ncommitted++;
	fault(f->s, "renamed");
	return 0;
}

/* Makes every file written in tmp/ durable before any becomes visible. */
static int flush_batch(struct md_folder *f, struct fct_err *err)
{
	char *p = fct_xasprintf("%s/tmp", f->path);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || syncfs(fd) < 0) {
		fct_err_sys(err, errno, "folder %s: flushing new messages to disk", f->name);
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	free(p);
	return rc;
}

int md_batch_commit(struct md_batch *b, struct fct_err *err)
{
	struct md_folder *f = b->f;
	int used = 0, rc = 0;

	if (f->s->fsync && b->n && flush_batch(f, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n && rc == 0; i++)
		if (b->t[i]->state == TMP_DONE)
			rc = commit_one(b, b->t[i], &used, err);
	/* Make what was renamed durable even when a later rename failed. */
	if (f->s->fsync) {
		struct fct_err e2, *ep = rc ? &e2 : err;
		char *p;

		if (used & 1) {
			p = fct_xasprintf("%s/cur", f->path);
			if (md_fsync_dir(p, ep) < 0)
				rc = -1;
			free(p);
		}
		if ((used & 2) && rc == 0) {
			p = fct_xasprintf("%s/new", f->path);
			if (md_fsync_dir(p, ep) < 0)
				rc = -1;
			free(p);
		}
	}
	if (rc == 0)
		fault(f->s, "synced");
	return rc;
}

size_t md_batch_count(const struct md_batch *b)
{
	return b->ncommitted;
}

const char *md_batch_uniq(const struct md_batch *b, size_t i)
{
	return i < b->ncommitted ? b->uniq[i] : NULL;
}

const char *md_batch_file(const struct md_batch *b, size_t i)
{
	return i < b->ncommitted ? b->file[i] : NULL;
}

const char *md_tmp_uniq(const struct md_tmp *t)
{
	return t->state == TMP_COMMITTED ? t->b->uniq[t->idx] : NULL;
}

const char *md_tmp_file(const struct md_tmp *t)
{
	return t->state == TMP_COMMITTED ? t->b->file[t->idx] : NULL;
}

void md_batch_free(struct md_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		md_tmp_abort(b->t[i]);
		free(b->t[i]->name);
		free(b->t[i]->uniq);
		free(b->t[i]);
	}
	for (size_t i = 0; i < b->ncommitted; i++) {
		free(b->uniq[i]);
		free(b->file[i]);
	}
	free(b->t);
	free(b->uniq);
	free(b->file);
	free(b);
}

const char *md_tmp_next_uniq(const struct md_tmp *t)
{
	return (t->state == TMP_DONE || t->state == TMP_COMMITTED) ? t->uniq : NULL;
}
