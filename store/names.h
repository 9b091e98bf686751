/* The one mapping between folder names and on-disk paths of a Maildir store.
 *
 * A folder name is UTF-8 with '/' as the hierarchy separator; "INBOX" (any
 * case, as the first component) is special.  Every other module that needs a
 * path for a folder (or a folder for a path) goes through here, so the rules
 * for hostile names live in one place.
 *
 * Escaping: bytes a layout cannot store verbatim (control characters, '%',
 * a leading '.', the layout's own separator inside a component, components
 * named cur/new/tmp where they would collide with a Maildir's own
 * directories) become "%XX" (two upper-case hex digits), so the mapping is
 * reversible.  Names that cannot be stored at all ("", "/abs", "a//b", "..",
 * ".", "a/./b", a component longer than MD_NAME_COMPONENT_MAX bytes once
 * escaped) are refused with FCT_E_FOLDER naming the folder.  A produced path
 * never starts with '/' (except inbox_path), never contains "." or ".."
 * components, and so can never leave the store root.
 *
 * Layouts (mbsync's "SubFolders"):
 *   Verbatim   "a/b"   -> "a/b"          INBOX -> "INBOX"
 *   Maildir++  "a/b"   -> ".a.b"         INBOX -> "" (the root itself)
 *   Legacy     "a/b/c" -> "a/.b/.c"      INBOX -> "INBOX"
 * Flatten (flatten != 0) overrides the layout: "a/b" -> "a<flatten>b", one
 * directory under the root.
 * With inbox_path set, "INBOX" maps to that absolute path, and (as mbsync
 * does) in Verbatim and Legacy its subfolders live inside it:
 * "INBOX/x" -> "<inbox_path>/x" (Legacy "<inbox_path>/.x").  Maildir++ and
 * Flatten keep them under the root (".INBOX.x", "INBOX<flatten>x").
 * Absolute results only ever start with inbox_path.
 * MapInbox (map_inbox set): that folder name is a second name of INBOX, as
 * in mbsync: it maps to INBOX's path, and the path maps back to "INBOX". */
#ifndef FACTEUR_NAMES_H
#define FACTEUR_NAMES_H

#include "sync/util.h"

/* Longest single path component produced (file systems allow 255). */
#define MD_NAME_COMPONENT_MAX 255
/* Longest folder name accepted, in bytes. */
#define MD_NAME_MAX 4096

enum md_layout { MD_LAYOUT_VERBATIM, MD_LAYOUT_MAILDIRPP, MD_LAYOUT_LEGACY };

struct md_names {
	enum md_layout layout;
	char flatten;           /* 0 = none, else the char replacing '/' */
	const char *inbox_path; /* absolute path for INBOX, or NULL (borrowed) */
	const char *map_inbox;  /* MapInbox: another name of INBOX, or NULL (borrowed) */
};

/* Folder name -> path relative to the store root (or inbox_path, absolute,
 * for INBOX).  out is reset then filled.  Returns 0, or -1 with FCT_E_FOLDER
 * "folder NAME: why" for a name that cannot be stored. */
int md_name_to_path(const struct md_names *n, const char *name, struct fct_buf *out, struct fct_err *err);

/* Same for a name of len bytes that may hold a NUL (as decoded from a
 * server): a NUL is refused with FCT_E_FOLDER. */
int md_name_to_path_n(const struct md_names *n, const char *name, size_t len, struct fct_buf *out,
		      struct fct_err *err);

/* The reverse: a path relative to the root (as md_name_to_path makes it, or
 * inbox_path itself) -> folder name.  -1 with FCT_E_FOLDER for a path that no
 * folder name maps to (e.g. a bad escape, a dot-less Maildir++ directory). */
int md_path_to_name(const struct md_names *n, const char *relpath, struct fct_buf *out, struct fct_err *err);

/* 1 if name is INBOX (case-insensitive), 0 otherwise. */
int md_name_is_inbox(const char *name);

/* n's MapInbox name when in effect, or NULL (the rule is box_inbox_alias's). */
const char *md_names_inbox_alias(const struct md_names *n);
/* "INBOX" if name is n's MapInbox name, else name itself. */
const char *md_name_unmap(const struct md_names *n, const char *name);

#endif
