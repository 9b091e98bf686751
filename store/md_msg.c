/* Operations on single messages of a Maildir folder: flags, removal, moves,
 * reading, Message-ID.  Messages are found through the folder's uniq -> file
 * cache (filled by md_scan), rescanning once when another client renamed the
 * file since. */
#include "store/md_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* strcmp's order on the uniq parts. */
static int uniq_cmp(const struct md_cache_ent *a, const char *b, size_t bl)
{
	size_t al = a->ulen;
	int c = memcmp(a->file + MD_SUB_LEN, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

static int cache_cmp(const void *x, const void *y)
{
	const struct md_cache_ent *b = y;

	return uniq_cmp(x, b->file + MD_SUB_LEN, b->ulen);
}

/* ---- message lookup */

static struct md_cache_ent *cache_find(struct md_folder *f, const char *uniq)
{
	size_t lo = 0, hi, len = strlen(uniq);

	if (f->dirty) {
		qsort(f->c, f->nc, sizeof *f->c, cache_cmp);
		f->dirty = 0;
	}
	/* The first entry not below uniq; the same uniq may appear more than
	 * once (a removed entry, or new/ and cur/). */
	for (hi = f->nc; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		if (uniq_cmp(&f->c[mid], uniq, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < f->nc && uniq_cmp(&f->c[lo], uniq, len) == 0; lo++)
		if (!f->c[lo].gone)
			return &f->c[lo];
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
	if (!*out && !refresh && f->partial)
		return locate(f, uniq, 1, out, err);
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
			if (ent->own)
				free(ent->file);
			ent->file = nf;
			ent->own = 1;
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
		if (rc == 0 || e == ENOENT)
			ent->gone = 1;
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
			ent->gone = 1;
			md_cache_add(to, uniq, ent->file);
			return from->s->fsync && (fsync_sub(to, ent->file, err) < 0 ||
			                          fsync_sub(from, ent->file, err) < 0) ? -1 : 0;
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
