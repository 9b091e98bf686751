/* The synchronization journal: per channel, what was known after the last
 * run about each box (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ...) and each
 * message pair (far UID <-> near uniq, flags, state), plus the POP3 UIDLs
 * already delivered.  It is an LMDB environment in one directory (data.mdb,
 * lock.mdb) with named databases "meta" (key "schema" = version 1), "boxes",
 * "msgs" (key: box NUL big-endian id, so a box's messages are contiguous)
 * and "uidls" (key: box NUL uidl).  Values use a small versioned binary
 * encoding, bounds-checked on read (a message record may end with an
 * optional EMAILID, so records written before it existed still load): a
 * corrupt record, an unknown schema or a
 * damaged file is FCT_E_STORE naming the file, never a crash and never a
 * silent reset.
 *
 * Concurrency: one writer process at a time (the run lock, store/lock.h,
 * guarantees it); readers never block the writer.  LMDB environments do not
 * survive fork(): a child must not use its parent's struct jrnl.  Getters that take a
 * struct jrnl read the last committed state, not an open transaction's.
 * Ownership: struct jrnl owns the environment; a jrnl_txn borrows it and is
 * freed by jrnl_commit or jrnl_abort; every loaded array and string belongs
 * to the caller and has its own free function. */
#ifndef FACTEUR_JOURNAL_H
#define FACTEUR_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sync/util.h"

#define JRNL_SCHEMA 1

/* How much of the journal's map a process keeps resident, at most, beyond
 * what one read or update maps on its own: the pages stay in the page
 * cache, but would count in its RSS. */
#define JRNL_RESIDENT_MAX (256 * 1024)

struct jrnl;
struct jrnl_txn;

/* Opens (creating dir 0700, with parents, and the environment if missing)
 * the journal in dir.  Unknown schema version, a corrupt or an empty
 * (truncated) data.mdb: FCT_E_STORE naming the file. */
int jrnl_open(struct jrnl **out, const char *dir, struct fct_err *err);
/* jrnl_open with an initial map size in bytes (0: the default, 1 GiB), for
 * tests.  The map grows by itself whatever the start: a transaction that
 * fills it is redone in a larger one, and a map another process grew is
 * adopted. */
int jrnl_open_size(struct jrnl **out, const char *dir, size_t map_size, struct fct_err *err);
void jrnl_close(struct jrnl *j);

/* One write transaction at a time per journal.  jrnl_commit frees t whether
 * it succeeds or not; jrnl_abort frees it and drops its changes.  After any
 * failed put/del inside t, commit fails (the changes are dropped). */
int jrnl_begin(struct jrnl *j, struct jrnl_txn **out, struct fct_err *err);
int jrnl_commit(struct jrnl_txn *t, struct fct_err *err);
void jrnl_abort(struct jrnl_txn *t);

struct jrnl_box {
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	int64_t near_stamp;
	uint64_t next_id; /* next message id; maintained by the journal */
	char *near_name;  /* may be NULL */
};

/* *found = 0 and *out zeroed when the box is unknown.  Free with
 * jrnl_box_clear. */
int jrnl_box_get(struct jrnl *j, const char *box, struct jrnl_box *out, int *found, struct fct_err *err);
void jrnl_box_clear(struct jrnl_box *b);
/* Stores b (copied).  next_id never goes backwards: the stored value is the
 * larger of b->next_id and what the journal already has. */
int jrnl_box_put(struct jrnl_txn *t, const char *box, const struct jrnl_box *b, struct fct_err *err);
/* Deletes the box with all its messages and UIDLs (absent box: no error). */
int jrnl_box_del(struct jrnl_txn *t, const char *box, struct fct_err *err);
/* Calls cb for each known box, in byte order; non-zero from cb stops and is
 * returned. */
int jrnl_box_list(struct jrnl *j, int (*cb)(void *ctx, const char *box), void *ctx, struct fct_err *err);

enum jrnl_state {
	JRNL_SYNCED = 0,
	JRNL_PENDING_DOWNLOAD,
	JRNL_PENDING_UPLOAD,
	JRNL_PENDING_MOVE,
	JRNL_FAR_ONLY,
	JRNL_NEAR_ONLY,
	JRNL_SKIPPED,
};

#define JRNL_FP_LEN 32 /* a fingerprint: SHA-256 of the message */

/* Fields in decreasing alignment: a run holds a folder's records at once. */
struct jrnl_msg {
	uint64_t id;        /* journal-assigned, unique within the box, never 0 */
	uint64_t size;
	int64_t stamp;
	char *near_uniq;    /* NULL: not (yet) on the near side */
	char *msgid;              /* may be NULL */
	char *aux;                /* e.g. destination of a pending move; may be NULL */
	char *emailid;            /* RFC 8474 EMAILID of the far copy; may be NULL */
	unsigned char *fp;        /* 32-byte content fingerprint; may be NULL */
	uint32_t far_uid;   /* 0: not (yet) on the far side */
	unsigned flags;     /* FCT_F_* last synchronized */
	uint32_t upload_uidnext;  /* far UIDNEXT when an upload was started */
	uint8_t state;      /* enum jrnl_state */
	uint8_t shared;     /* JRNL_SHARED_*: fields that belong to a loaded array */
	uint8_t lean;       /* loaded by jrnl_msgs_load_lean without msgid and fp */
};

/* A record's strings and fingerprint are its own (malloc'd; zero) unless
 * it was loaded by jrnl_msgs_load: the array then owns them (shared bits),
 * and they are replaced only with jrnl_msg_set_str and jrnl_msg_set_fp. */
enum {
	JRNL_SHARED_NEAR_UNIQ = 1,
	JRNL_SHARED_MSGID = 2,
	JRNL_SHARED_AUX = 4,
	JRNL_SHARED_EMAILID = 8,
	JRNL_SHARED_FP = 16,
};

/* Sets *field (one of m's strings) to a copy of src (or NULL), freeing the
 * old one if m owned it. */
void jrnl_msg_set_str(struct jrnl_msg *m, char **field, const char *src);
/* Sets m's fingerprint to a copy of fp (32 bytes, or NULL). */
void jrnl_msg_set_fp(struct jrnl_msg *m, const unsigned char *fp);
/* Frees what m owns (not the shared fields) and zeroes it. */
void jrnl_msg_clear(struct jrnl_msg *m);

/* All messages of box, sorted by far_uid then id.  Unknown box: *n = 0
 * and *out NULL.  The array is freed only with jrnl_msgs_free (its strings
 * are packed with it), never realloc'd. */
int jrnl_msgs_load(struct jrnl *j, const char *box, struct jrnl_msg **out, size_t *n, struct fct_err *err);
/* The same, but a synchronized record comes without its Message-ID and
 * fingerprint (lean set when it has either): what a folder's plan needs,
 * in less memory.  jrnl_msg_put keeps the stored ones unless m has its own;
 * jrnl_msg_complete reads them when needed. */
int jrnl_msgs_load_lean(struct jrnl *j, const char *box, struct jrnl_msg **out, size_t *n,
                        struct fct_err *err);
/* Gives a lean record its stored Message-ID and fingerprint (unless it has
 * its own); no-op for others. */
int jrnl_msg_complete(struct jrnl *j, const char *box, struct jrnl_msg *m, struct fct_err *err);
void jrnl_msgs_free(struct jrnl_msg *m, size_t n);
/* Calls each for every message of box, in key order, without loading them
 * all: m and its strings live only for the call.  each returning nonzero
 * stops the walk (returned as is). */
int jrnl_msgs_each(struct jrnl *j, const char *box, int (*each)(void *ctx, const struct jrnl_msg *m),
                   void *ctx, struct fct_err *err);
/* Inserts or replaces m.  m->id == 0: a new id is assigned and stored in
 * m->id.  The box record is created if missing.  A lean m is completed
 * first (jrnl_msg_complete): it keeps the stored Message-ID and
 * fingerprint where its own are NULL. */
int jrnl_msg_put(struct jrnl_txn *t, const char *box, struct jrnl_msg *m, struct fct_err *err);
/* Deletes message id of box (absent: no error). */
int jrnl_msg_del(struct jrnl_txn *t, const char *box, uint64_t id, struct fct_err *err);

/* POP3: UIDLs already delivered, with first-seen time (for DeleteAfter). */
struct jrnl_uidl {
	char *uidl;
	int64_t first_seen;
	char *near_uniq; /* may be NULL */
};

/* All UIDLs of box, sorted by uidl (byte order). */
int jrnl_uidl_load(struct jrnl *j, const char *box, struct jrnl_uidl **out, size_t *n, struct fct_err *err);
void jrnl_uidls_free(struct jrnl_uidl *u, size_t n);
/* Inserts or replaces u; the box record is created if missing. */
int jrnl_uidl_put(struct jrnl_txn *t, const char *box, const struct jrnl_uidl *u, struct fct_err *err);
int jrnl_uidl_del(struct jrnl_txn *t, const char *box, const char *uidl, struct fct_err *err);

/* Human-readable dump of everything, for `facteur status --dump`. */
int jrnl_dump(struct jrnl *j, FILE *fp, struct fct_err *err);

#endif
