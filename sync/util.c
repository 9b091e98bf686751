#include "sync/util.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void fct_err_clear(struct fct_err *e)
{
	e->kind = FCT_E_NONE;
	e->temporary = 0;
	e->msg[0] = '\0';
}

int fct_err_set(struct fct_err *e, enum fct_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->kind = kind;
	e->temporary = (kind == FCT_E_IO || kind == FCT_E_TIMEOUT);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int fct_err_sys(struct fct_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!e)
		return -1;
	e->kind = FCT_E_IO;
	e->temporary = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errnum));
	return -1;
}

void fct_err_prefix(struct fct_err *e, const char *fmt, ...)
{
	struct fct_buf b;
	va_list ap;
	size_t n;

	fct_buf_init(&b);
	va_start(ap, fmt);
	fct_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	fct_buf_puts(&b, ": ");
	fct_buf_puts(&b, e->msg);
	n = b.len < sizeof e->msg - 1 ? b.len : sizeof e->msg - 1;
	memcpy(e->msg, b.data, n);
	e->msg[n] = '\0';
	fct_buf_free(&b);
}

FCT_PRINTF(3, 0)
static void vlog(const struct fct_log *l, const char *tag, const char *fmt, va_list ap)
{
	FILE *fp = (l && l->fp) ? l->fp : stderr;

	if (tag)
		fputs(tag, fp);
	vfprintf(fp, fmt, ap);
	fputc('\n', fp);
	fflush(fp);
}

#define DEFINE_LOG(name, cond, tag)                                           \
	void name(const struct fct_log *l, const char *fmt, ...)                  \
	{                                                                         \
		va_list ap;                                                           \
		if (!(cond))                                                          \
			return;                                                           \
		va_start(ap, fmt);                                                    \
		vlog(l, tag, fmt, ap);                                                \
		va_end(ap);                                                           \
	}

DEFINE_LOG(fct_log_error, 1, "facteur: error: ")
DEFINE_LOG(fct_log_warn, !l || l->level >= 0, "facteur: warning: ")
DEFINE_LOG(fct_log_info, !l || l->level >= 1, NULL)
DEFINE_LOG(fct_log_verbose, l && l->level >= 2, NULL)
DEFINE_LOG(fct_log_debug, l && l->debug, NULL)

void fct_oom(void)
{
	fputs("facteur: out of memory\n", stderr);
	abort();
}

void *fct_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		fct_oom();
	return p;
}

void *fct_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fct_oom();
	return p;
}

void *fct_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		fct_oom();
	return q;
}

char *fct_xstrdup(const char *s)
{
	return fct_xstrndup(s, strlen(s));
}

char *fct_xstrndup(const char *s, size_t n)
{
	char *p = fct_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *fct_xasprintf(const char *fmt, ...)
{
	struct fct_buf b;
	va_list ap;

	fct_buf_init(&b);
	va_start(ap, fmt);
	fct_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return fct_buf_steal(&b);
}

void fct_buf_init(struct fct_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void fct_buf_free(struct fct_buf *b)
{
	free(b->data);
	fct_buf_init(b);
}

void fct_buf_reset(struct fct_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void reserve(struct fct_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 64;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = fct_xrealloc(b->data, cap);
	b->cap = cap;
}

void fct_buf_append(struct fct_buf *b, const void *p, size_t n)
{
	reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void fct_buf_puts(struct fct_buf *b, const char *s)
{
	fct_buf_append(b, s, strlen(s));
}

void fct_buf_putc(struct fct_buf *b, char c)
{
	fct_buf_append(b, &c, 1);
}

void fct_buf_vprintf(struct fct_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void fct_buf_printf(struct fct_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fct_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *fct_buf_steal(struct fct_buf *b)
{
	char *p = b->data ? b->data : fct_xstrdup("");

	fct_buf_init(b);
	return p;
}

/* Order matches the bit order, which is also ASCII order of the letters. */
static const struct {
	char letter;
	const char *imap;
} flag_names[] = {
	{'D', "\\Draft"},  {'F', "\\Flagged"}, {'P', "$Forwarded"},
	{'R', "\\Answered"}, {'S', "\\Seen"},  {'T', "\\Deleted"},
};

void fct_flags_to_letters(unsigned flags, char out[7])
{
	size_t i, n = 0;

	for (i = 0; i < 6; i++)
		if (flags & (1u << i))
			out[n++] = flag_names[i].letter;
	out[n] = '\0';
}

unsigned fct_flags_from_letters(const char *s, size_t n)
{
	unsigned f = 0;
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < 6; j++)
			if (s[i] == flag_names[j].letter)
				f |= 1u << j;
	return f;
}

void fct_flags_to_imap(unsigned flags, char *out, size_t outsz)
{
	size_t i, n = 0;

	if (outsz)
		out[0] = '\0';
	for (i = 0; i < 6; i++) {
		if (!(flags & (1u << i)))
			continue;
		int w = snprintf(out + n, outsz > n ? outsz - n : 0, "%s%s",
		                 n ? " " : "", flag_names[i].imap);
		if (w > 0)
			n += (size_t)w;
	}
}

unsigned fct_flag_from_imap(const char *atom, size_t n)
{
	size_t i;

	for (i = 0; i < 6; i++)
		if (strlen(flag_names[i].imap) == n &&
		    strncasecmp(flag_names[i].imap, atom, n) == 0)
			return 1u << i;
	return 0;
}

int64_t fct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fct_mkdir_p(const char *path, struct fct_err *err)
{
	char *p = fct_xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = fct_err_sys(err, errno, "creating directory %s", p);
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}
