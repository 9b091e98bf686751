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

struct walk {
	const struct far_names *fn;
	struct box_set *set;
	const char *channel;
	const struct fct_log *log;
	struct fct_buf name;
};

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

int far_list_boxes(struct imap *im, const struct cfg_store *st, const struct far_names *fn,
                   struct box_set *set, const char *channel, const struct fct_log *log,
                   struct fct_err *err)
{
	struct walk w = {fn, set, channel, log, {0}};
	int rc;

	fct_buf_init(&w.name);
	rc = imap_list(im, "*", st->subscribed_only, on_box, &w, err);
	fct_buf_free(&w.name);
	return rc;
}
