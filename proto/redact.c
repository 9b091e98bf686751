#include "proto/redact.h"

#include <stdlib.h>
#include <string.h>

#include "sync/util.h"

void redact_add(struct redact *r, const char *s, size_t n)
{
	size_t i;

	if (!s || n < 4)
		return;
	for (i = 0; i < r->n; i++)
		if (strlen(r->s[i]) == n && memcmp(r->s[i], s, n) == 0)
			return;
	if (r->n == REDACT_MAX) {
		explicit_bzero(r->s[0], strlen(r->s[0]));
		free(r->s[0]);
		memmove(r->s, r->s + 1, (REDACT_MAX - 1) * sizeof *r->s);
		r->n--;
	}
	r->s[r->n++] = fct_xstrndup(s, n);
}

void redact_add_line(struct redact *r, const char *line, size_t n)
{
	size_t i = 0;

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	redact_add(r, line, n);
	while (i < n) {
		size_t j = i;

		while (j < n && line[j] != ' ')
			j++;
		if (j - i >= 2 && line[i] == '"' && line[j - 1] == '"')
			redact_add(r, line + i + 1, j - i - 2);
		else
			redact_add(r, line + i, j - i);
		i = j + 1;
	}
}

/* Longest secrets first, so a line is replaced whole before its words. */
static size_t longest(const struct redact *r, const char *p, size_t *len)
{
	size_t i, best = REDACT_MAX;

	*len = 0;
	for (i = 0; i < r->n; i++) {
		size_t l = strlen(r->s[i]);

		if (l > *len && strncmp(p, r->s[i], l) == 0) {
			*len = l;
			best = i;
		}
	}
	return best;
}

char *redact_text(const struct redact *r, const char *text)
{
	struct fct_buf b;
	const char *p = text ? text : "";

	fct_buf_init(&b);
	while (*p) {
		size_t len;

		if (r && r->n && longest(r, p, &len) < REDACT_MAX) {
			fct_buf_puts(&b, "<secret>");
			p += len;
		} else {
			fct_buf_putc(&b, *p++);
		}
	}
	return fct_buf_steal(&b);
}

void redact_free(struct redact *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		explicit_bzero(r->s[i], strlen(r->s[i]));
		free(r->s[i]);
	}
	r->n = 0;
}
