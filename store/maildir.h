/* Maildir folders of one local store: listing, scanning, durable streaming
 * delivery, flag changes, removal and moves.
 *
 * File names follow the Maildir spec: <uniq>[<delim>2,<letters>], where
 * <delim> is info_delim (':' by default; ';' or '!' where ':' is not
 * allowed).  uniq, the base name without the info part, is a message's
 * stable identity: flag changes and moves keep it.  Info letters are read in
 * any order, written sorted; letters we do not know (e.g. keywords 'a'..'z')
 * are preserved.  Delivered names carry ",S=<size>" so a scan needs no stat.
 *
 * Ownership: md_store owns its root path and options (copied at open);
 * md_folder borrows its store (close folders before freeing the store) and
 * owns its paths and a cache of uniq -> file name.  Nothing here logs;
 * errors come back as FCT_E_FOLDER/FCT_E_MSG/FCT_E_IO with the folder name
 * and file in the message.  No function is thread-safe on the same object. */
#ifndef FACTEUR_MAILDIR_H
#define FACTEUR_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "store/names.h"
#include "sync/util.h"

struct md_store_opts {
	const char *path;      /* store root (copied) */
	struct md_names names; /* layout; inbox_path is copied */
	char info_delim;       /* ':' when 0; InfoDelimiter */
	int fsync;             /* 1: fsync files and directories (default) */
	/* Testing only (NULL in production): called at each durability step of
	 * delivery with where = "tmp-done", "renamed" (after each rename, before
	 * the directory fsync) or "synced", so a test can kill the process. */
	void (*fault)(void *ctx, const char *where);
	void *fault_ctx;
};

struct md_store;
struct md_folder;

/* Opens a store; the root is created (with parents) if missing.
 * Errors: FCT_E_STORE naming the root. */
int md_store_open(struct md_store **out, const struct md_store_opts *o, struct fct_err *err);
void md_store_free(struct md_store *s);
/* The store's root path, as given (borrowed). */
const char *md_store_root(const struct md_store *s);

/* Calls cb(ctx, name) for every folder (a directory with cur/ and new/),
 * recursively, INBOX included when it exists (and then its MapInbox name
 * too, after the others).  Directories that map to no
 * valid folder name are skipped.  A non-zero return from cb stops the walk
 * and is returned as is (cb fills err if it wants to). */
int md_list(struct md_store *s, int (*cb)(void *ctx, const char *name), void *ctx, struct fct_err *err);

/* Opens folder name.  create=1: makes cur/, new/, tmp/ (and parents) and
 * fsyncs the new directories and their parents.  create=0 and missing:
 * FCT_E_FOLDER "folder NAME: does not exist".  *out borrows s.
 * An existing folder gets tmp/ if it lacks one, and tmp/ files left by
 * crashed deliveries (unchanged for MD_TMP_STALE seconds) are removed. */
#define MD_TMP_STALE (36 * 3600)
int md_folder_open(struct md_store *s, const char *name, int create, struct md_folder **out, struct fct_err *err);
void md_folder_close(struct md_folder *f);
/* Forgets the names md_scan and deliveries cached (the next message lookup
 * lists the folder again): a folder done with would otherwise hold a copy
 * of every name until it is closed. */
void md_folder_forget(struct md_folder *f);
const char *md_folder_name(const struct md_folder *f);
/* 1 if the folder exists (has cur/ and new/), 0 if not or the name is bad. */
int md_folder_exists(struct md_store *s, const char *name);
/* Removes an empty folder (cur/ and new/ empty; tmp/ leftovers are removed).
 * A folder holding messages: FCT_E_FOLDER.  The directory itself stays if
 * subfolders live inside it. */
int md_folder_delete(struct md_store *s, const char *name, struct fct_err *err);
/* Renames a folder and its subfolders; the target must not exist. */
int md_folder_rename(struct md_store *s, const char *from, const char *to, struct fct_err *err);

#define MD_SUB_LEN 4 /* "cur/", "new/": a file name's uniq starts after it */

struct md_entry {
	char *uniq;     /* base name without the info part: the identity */
	/* "cur/<name>" or "new/<name>", relative to the folder: borrowed from
	 * the folder's name cache, valid until the folder's next scan, message
	 * operation, md_folder_forget or close. */
	const char *file;
	uint64_t size;  /* from ,S= in the name when present, else stat */
	int64_t mtime;  /* seconds; 0 when the name gave the size (no stat) */
	unsigned ulen;  /* uniq's length; it is also at file + MD_SUB_LEN */
	unsigned flags; /* FCT_F_* */
};

/* Lists the messages in cur/ and new/, sorted by uniq (strcmp).  Readdir
 * only; stat only for names without ,S=.  Dot files are ignored.  *out,
 * with the uniq strings packed beside it, belongs to the caller and goes
 * only with md_entries_free() (never realloc'd, nor its names freed one by
 * one); the file names are the folder's (see md_entry).  A file vanishing mid-scan is skipped,
 * not an error. */
int md_scan(struct md_folder *f, struct md_entry **out, size_t *n, struct fct_err *err);
/* The same without uniq strings (NULL; the names are in the files, see
 * md_entry), for a caller that finds most of them elsewhere.  Still
 * sorted by uniq. */
int md_scan_names(struct md_folder *f, struct md_entry **out, size_t *n, struct fct_err *err);
void md_entries_free(struct md_entry *e, size_t n);
/* Walks the message file names of cur/ and new/ (readdir only, nothing
 * kept): each gets the base name, the length of its uniq part and its
 * flags.  each returning nonzero stops the walk (returned as is). */
int md_names_each(struct md_folder *f,
                  int (*each)(void *ctx, const char *name, size_t uniq_len, unsigned flags),
                  void *ctx, struct fct_err *err);

/* Parses a Maildir file base name (no directory) with info delimiter delim.
 * Fills the length of the uniq part, the flags, and whether ,S= gave a size.
 * Never fails: a name without info is all uniq with no flags. */
void md_parse_name(const char *name, char delim, size_t *uniq_len, unsigned *flags, uint64_t *size, int *has_size);

/* Streaming, batched, durable delivery.
 *   b = md_batch_new(f);
 *   for each message: md_tmp_open, md_tmp_write..., md_tmp_done (or _abort)
 *   md_batch_commit(b); read the names with md_batch_uniq/md_batch_file;
 *   md_batch_free(b).
 * A batch borrows its folder; a tmp belongs to its batch (freed by it). */
struct md_batch;
struct md_tmp;

struct md_batch *md_batch_new(struct md_folder *f);
/* Creates tmp/<unique> with O_EXCL: <sec>.M<usec>P<pid>N<counter>.<host>
 * (host with '/', ':', ',' and the delimiter replaced).  *out stays owned by
 * the batch. */
int md_tmp_open(struct md_batch *b, struct md_tmp **out, struct fct_err *err);
int md_tmp_write(struct md_tmp *t, const void *p, size_t n, struct fct_err *err);
/* Finishes writing and queues the file with its flags and mtime (0: keep
 * the current time); md_batch_commit makes the batch durable at once.  On
 * failure the tmp file is unlinked and forgotten.  A file of
 * MD_EARLY_WRITEBACK bytes or more starts its writeback here (a hint, when
 * fsync is on), so the disk works while the next messages arrive. */
#define MD_EARLY_WRITEBACK (16u << 10)
int md_tmp_done(struct md_tmp *t, unsigned flags, int64_t mtime, struct fct_err *err);
/* The unique name the message will have once committed (valid after
 * md_tmp_done, until md_batch_free), so a caller can journal its intent
 * before the file becomes visible.  NULL before md_tmp_done or after abort. */
const char *md_tmp_next_uniq(const struct md_tmp *t);
/* Unlinks and forgets a tmp not yet done (or done but not committed). */
void md_tmp_abort(struct md_tmp *t);
/* Flushes the batch to disk in one go (syncfs), renames every queued file
 * into new/ (no flags) or cur/ (with flags), as
 * <uniq>,S=<size>[<delim>2,<letters>], then fsyncs new/ and cur/.  Files are
 * durable before they become visible, and visible before commit returns.
 * On failure, files already renamed stay (md_batch_count says how many);
 * the others are unlinked by md_batch_free. */
int md_batch_commit(struct md_batch *b, struct fct_err *err);
/* After commit: number of delivered files and, per index in queue order,
 * their uniq and folder-relative file ("new/..." or "cur/...") (borrowed,
 * valid until md_batch_free). */
size_t md_batch_count(const struct md_batch *b);
const char *md_batch_uniq(const struct md_batch *b, size_t i);
const char *md_batch_file(const struct md_batch *b, size_t i);
/* After commit: the uniq and folder-relative file a tmp was delivered as,
 * or NULL if it was not (aborted, never done, commit failed before it).
 * Borrowed from the batch. */
const char *md_tmp_uniq(const struct md_tmp *t);
const char *md_tmp_file(const struct md_tmp *t);
/* Frees the batch, unlinking tmp files that were not committed. */
void md_batch_free(struct md_batch *b);

/* Sets the flags of message uniq (rename keeping uniq and unknown letters;
 * moves new/ -> cur/).  Missing message: FCT_E_MSG.  Not fsynced: call
 * md_folder_sync after a series of changes, before journaling them. */
int md_set_flags(struct md_folder *f, const char *uniq, unsigned flags, struct fct_err *err);
/* Unlinks message uniq.  Missing: FCT_E_MSG.  Not fsynced (md_folder_sync). */
int md_remove(struct md_folder *f, const char *uniq, struct fct_err *err);
/* The latest modification time of cur/ and new/ in nanoseconds: any
 * delivery, flag change (rename) or removal moves it, so an unchanged stamp
 * lets a sync skip the folder without scanning it. */
int md_folder_stamp(struct md_folder *f, int64_t *stamp, struct fct_err *err);
/* fsyncs cur/ and new/ (no-op when fsync is off). */
int md_folder_sync(struct md_folder *f, struct fct_err *err);
/* Moves message uniq to folder to (same store file system), same file name,
 * then fsyncs the target and source directories. */
int md_move(struct md_folder *from, const char *uniq, struct md_folder *to, struct fct_err *err);
/* Opens message uniq read-only: *fd_out is the caller's to close; *size_out
 * from fstat.  Missing: FCT_E_MSG. */
int md_open_msg(struct md_folder *f, const char *uniq, int *fd_out, uint64_t *size_out, struct fct_err *err);
/* The Message-ID of message uniq ("<...>" as written, unfolded, trimmed), or
 * *msgid_out = NULL when it has none.  Reads the header only (at most
 * MD_HEADER_MAX bytes).  The string is the caller's to free. */
#define MD_HEADER_MAX (256 * 1024)
int md_msgid(struct md_folder *f, const char *uniq, char **msgid_out, struct fct_err *err);

#endif
