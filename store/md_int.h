/* Internals shared by store/maildir.c and store/md_deliver.c; no other
 * module includes this. */
#ifndef FACTEUR_MD_INT_H
#define FACTEUR_MD_INT_H

#include "store/maildir.h"

struct md_store {
	char *root;
	struct md_names names;
	char *inbox_copy; /* owned copy names.inbox_path points to */
	char *map_copy;   /* owned copy names.map_inbox points to */
	char delim;
	int fsync;
	void (*fault)(void *ctx, const char *where);
	void *fault_ctx;
	char host[64];     /* sanitized host name for unique names */
	unsigned counter;  /* per-process delivery counter */
};

/* uniq -> current file ("cur/<uniq>..." or "new/<uniq>..."), so message
 * operations do not rescan the folder each time.  The uniq is not stored
 * again: it is the ulen bytes after the subdirectory.  gone: removed. */
#include "sync/pool.h"

struct md_cache_ent {
	char *file;     /* in the folder's names pool unless own */
	unsigned ulen;
	unsigned char gone;
	unsigned char own; /* file is malloc'd (added or renamed since the scan) */
};

struct md_folder {
	struct md_store *s;
	char *name;
	char *path;
	struct md_cache_ent *c;
	size_t nc, capc;
	struct pool names; /* the last scan's file names */
	int have_cache;
	int dirty; /* entries appended since the last sort */
	int partial; /* files delivered since the scan are missing from it */
};

int md_fsync_dir(const char *path, struct fct_err *err);
/* rename(2) that refuses to replace an existing target (EEXIST). */
int md_rename_noreplace(const char *from, const char *to);
void md_cache_drop(struct md_folder *f);
/* Records a new file for uniq (no-op without a cache); file is
 * "<sub>/<uniq>...". */
void md_cache_add(struct md_folder *f, const char *uniq, const char *file);

#endif
