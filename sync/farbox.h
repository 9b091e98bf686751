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
/* STATUS of far folders as the listing returned it (LIST-STATUS), so an
 * unchanged folder costs no round trip of its own.  Owns its names. */
struct far_status {
	struct far_status_ent {
		char *name; /* server name, UTF-8 */
		struct imap_box st;
	} *v;
	size_t n, cap;
};

/* The cached STATUS of server folder name, or NULL. */
const struct imap_box *far_status_get(const struct far_status *fs, const char *name);
void far_status_free(struct far_status *fs);

/* Adds every selectable far folder to set as BOX_ON_FAR, by canonical name,
 * and the store's MapInbox name (see box_inbox_alias); a name that cannot be
 * mapped is reported (warning, with channel) and skipped.  log may be NULL to skip silently.  With cache and a server
 * offering LIST-STATUS, the folders' STATUS is kept in cache too. */
int far_list_boxes(struct imap *im, const struct cfg_store *st, const struct far_names *fn,
                   struct box_set *set, const char *channel, const struct fct_log *log,
                   struct far_status *cache, struct fct_err *err);

/* Canonical box -> server name for far store st: box_canon_to_far after
 * MapInbox (the store's MapInbox name is the server's INBOX). */
int far_box_name(const struct cfg_store *st, const struct far_names *fn, const char *canon,
                 struct fct_buf *out, struct fct_err *err);

#endif
