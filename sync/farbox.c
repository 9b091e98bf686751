#include "sync/farbox.h"

int far_names_resolve(const struct cfg_store *st, struct imap *im, struct far_names *out,
                      struct fct_err *err)
{
	struct fct_err e;

	fct_err_clear(&e);
	out->delim = st->path_delim ? st->path_delim : imap_delimiter(im, &e);
	if (e.kind != FCT_E_NONE) {
		*err = e;
		return -1;
	}
	out->prefix = st->imap_path ? st->imap_path : st->use_namespace ? imap_namespace(im) : "";
	return 0;
}

int far_box_name(const struct cfg_store *st, const struct far_names *fn, const char *canon,
                 struct fct_buf *out, struct fct_err *err)
{
	return box_canon_to_far(box_unmap_inbox(st->map_inbox, canon), fn->prefix, fn->delim, out,
	                        err);
}

#include <stdlib.h>
#include <string.h>

struct walk {
	const struct far_names *fn;
	struct box_set *set;
	const char *channel;
	const struct fct_log *log;
	struct far_status *cache;
	struct fct_buf name;
};

const struct imap_box *far_status_get(const struct far_status *fs, const char *name)
{
	size_t i;

	for (i = 0; fs && i < fs->n; i++)
		if (strcmp(fs->v[i].name, name) == 0)
			return &fs->v[i].st;
	return NULL;
}

void far_status_free(struct far_status *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->v[i].name);
	free(fs->v);
	memset(fs, 0, sizeof *fs);
}

static void cache_add(struct far_status *fs, const char *name, const struct imap_box *st)
{
	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? fs->cap * 2 : 16;
		fs->v = fct_xrealloc(fs->v, fs->cap * sizeof *fs->v);
	}
	fs->v[fs->n].name = fct_xstrdup(name);
	fs->v[fs->n].st = *st;
	fs->n++;
}

static int on_box(void *ctx, const char *name, char delim, unsigned attrs)
{
	struct walk *w = ctx;
	struct fct_err e;

	(void)delim;
	if (attrs & (IMAP_LIST_NOSELECT | IMAP_LIST_NONEXISTENT))
		return 0;
	fct_err_clear(&e);
	if (box_far_to_canon(name, w->fn->prefix, w->fn->delim, &w->name, &e) < 0) {
		if (w->log)
			fct_log_warn(w->log, "%s: %s; skipped", w->channel, e.msg);
		return 0;
	}
	box_set_add(w->set, w->name.data, BOX_ON_FAR);
	return 0;
}

static int on_box_status(void *ctx, const char *name, char delim, unsigned attrs,
                         const struct imap_box *st)
{
	struct walk *w = ctx;

	if (st && !(attrs & (IMAP_LIST_NOSELECT | IMAP_LIST_NONEXISTENT)))
		cache_add(w->cache, name, st);
	return on_box(ctx, name, delim, attrs);
}

int far_list_boxes(struct imap *im, const struct cfg_store *st, const struct far_names *fn,
                   struct box_set *set, const char *channel, const struct fct_log *log,
                   struct far_status *cache, struct fct_err *err)
{
	struct walk w = {fn, set, channel, log, cache, {0}};
	const char *alias = box_inbox_alias(st->map_inbox);
	int rc;

	fct_buf_init(&w.name);
	if (cache && !st->subscribed_only && (imap_caps(im) & IMAP_CAP_LIST_STATUS))
		rc = imap_list_status(im, "*", on_box_status, &w, err);
	else
		rc = imap_list(im, "*", st->subscribed_only, on_box, &w, err);
	fct_buf_free(&w.name);
	/* The server's INBOX always exists, whatever LIST said (mbsync adds it too). */
	if (rc == 0 && alias)
		box_set_add(set, alias, BOX_ON_FAR);
	return rc;
}
