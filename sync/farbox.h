/* The far (IMAP) store's folder names as a channel sees them: the hierarchy
 * delimiter and namespace prefix that map server names to canonical ones,
 * and the listing of its selectable folders.  Shared by sync, watch and
 * check so all three see the same folders. */
#ifndef FACTEUR_FARBOX_H
#define FACTEUR_FARBOX_H

#include "proto/imap.h"
#include "sync/boxes.h"
#include "sync/config.h"

struct far_names {
	char delim;         /* PathDelimiter, else the server's */
	const char *prefix; /* IMAPStore Path, else the personal namespace (UseNamespace) */
};

/* The prefix string is borrowed from the config or the session. */
int far_names_resolve(const struct cfg_store *st, struct imap *im, struct far_names *out,
                      struct fct_err *err);
/* Adds every selectable far folder to set as BOX_ON_FAR, by canonical name;
 * a name that cannot be mapped is reported (warning, with channel) and
 * skipped.  log may be NULL to skip silently. */
int far_list_boxes(struct imap *im, const struct cfg_store *st, const struct far_names *fn,
                   struct box_set *set, const char *channel, const struct fct_log *log,
                   struct fct_err *err);

#endif
