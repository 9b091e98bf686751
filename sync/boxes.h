/* Which mailboxes a channel synchronizes: the names both sides list, mapped
 * to one canonical form ('/' as hierarchy separator, "INBOX" for the inbox),
 * filtered by the channel's Patterns.  Pure functions plus a small sorted set;
 * listing the stores is the caller's job. */
#ifndef FACTEUR_BOXES_H
#define FACTEUR_BOXES_H

#include <stddef.h>

#include "sync/util.h"

enum { BOX_ON_FAR = 1, BOX_ON_NEAR = 2, BOX_NOSELECT = 4 };

struct box_ent {
	char *name;     /* canonical */
	unsigned where; /* BOX_ON_* */
};

struct box_set {
	struct box_ent *v;
	size_t n, cap;
};

void box_set_add(struct box_set *s, const char *name, unsigned where);
/* Sorts and merges duplicate names (OR-ing where). */
void box_set_finish(struct box_set *s);
void box_set_free(struct box_set *s);

/* Server name -> canonical.  prefix: personal namespace prefix to strip (may
 * be ""); delim: the server's hierarchy delimiter ('\0' flat).  A name whose
 * components hold '/' (with another delimiter) cannot be mapped: -1 with
 * FCT_E_FOLDER naming it.  Names outside the prefix are returned unchanged. */
int box_far_to_canon(const char *far, const char *prefix, char delim, struct fct_buf *out,
                     struct fct_err *err);
/* MapInbox: the second name a store gives its INBOX (mbsync's virtual
 * mailbox, relative to the store's Path or namespace like every canonical
 * name).  box_inbox_alias returns map when it is in effect, NULL when it is
 * unset, empty, or INBOX (any case) or under it: such a name already is
 * INBOX or its subfolder.  box_unmap_inbox returns "INBOX" for that name,
 * else name unchanged.  Both sides of a channel map through these. */
const char *box_inbox_alias(const char *map);
const char *box_unmap_inbox(const char *map, const char *name);

/* Canonical -> server name; a component holding delim cannot be mapped. */
int box_canon_to_far(const char *canon, const char *prefix, char delim, struct fct_buf *out,
                     struct fct_err *err);

#endif
