#include "sync/boxes.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void box_set_add(struct box_set *s, const char *name, unsigned where)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = fct_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n].name = fct_xstrdup(name);
	s->v[s->n].where = where;
	s->n++;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct box_ent *)a)->name, ((const struct box_ent *)b)->name);
}

void box_set_finish(struct box_set *s)
{
	size_t i, o = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof *s->v, ent_cmp);
	for (i = 1; i < s->n; i++) {
		if (strcmp(s->v[o].name, s->v[i].name) == 0) {
			s->v[o].where |= s->v[i].where;
			free(s->v[i].name);
		} else {
			s->v[++o] = s->v[i];
		}
	}
	s->n = o + 1;
}

void box_set_free(struct box_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

const char *box_inbox_alias(const char *map)
{
	if (!map || !*map || (strncasecmp(map, "INBOX", 5) == 0 && (!map[5] || map[5] == '/')))
		return NULL;
	return map;
}

const char *box_unmap_inbox(const char *map, const char *name)
{
	map = box_inbox_alias(map);
	return map && name && strcmp(map, name) == 0 ? "INBOX" : name;
}

int box_far_to_canon(const char *far, const char *prefix, char delim, struct fct_buf *out,
                     struct fct_err *err)
{
	size_t plen = strlen(prefix);
	const char *p;

	fct_buf_reset(out);
	if (is_inbox(far)) {
		fct_buf_puts(out, "INBOX");
		return 0;
	}
	if (plen && strncmp(far, prefix, plen) == 0 && far[plen])
		far += plen;
	for (p = far; *p; p++) {
		if (*p == '/' && delim != '/')
			return fct_err_set(err, FCT_E_FOLDER,
			                   "server folder '%s' has '/' in a name component", far);
		fct_buf_putc(out, (delim && *p == delim) ? '/' : *p);
	}
	/* "inbox/x" style names keep INBOX canonical in its first component. */
	if (out->len > 6 && strncasecmp(out->data, "INBOX/", 6) == 0)
		memcpy(out->data, "INBOX", 5);
	return 0;
}

int box_canon_to_far(const char *canon, const char *prefix, char delim, struct fct_buf *out,
                     struct fct_err *err)
{
	const char *p;

	fct_buf_reset(out);
	if (is_inbox(canon)) {
		fct_buf_puts(out, "INBOX");
		return 0;
	}
	if (strncmp(canon, "INBOX/", 6) != 0)
		fct_buf_puts(out, prefix);
	for (p = canon; *p; p++) {
		if (delim && *p == delim && delim != '/')
			return fct_err_set(err, FCT_E_FOLDER,
			                   "folder '%s' has the server's delimiter '%c' in a name",
			                   canon, delim);
		if (*p == '/' && !delim)
			return fct_err_set(err, FCT_E_FOLDER,
			                   "folder '%s' is nested but the server is flat", canon);
		fct_buf_putc(out, *p == '/' ? delim : *p);
	}
	return 0;
}
