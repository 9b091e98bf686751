/* Shared by the moves pass (sync/moves.c) and folder renames
 * (sync/renames.c); not an interface for anything else. */
#ifndef FACTEUR_MOVES_INT_H
#define FACTEUR_MOVES_INT_H

#include "sync/engine.h"

/* One message that left a folder (out) or arrived in one (in). */
struct end {
	struct box_job *j;
	size_t act;          /* the action replaced */
	size_t jr;           /* leaving side: the record; arriving: PLAN_NONE */
	size_t far, near;    /* listing indexes (PLAN_NONE where n/a) */
	const char *msgid;
	const char *uniq;
	const char *emailid;
	uint64_t size;
	size_t peer;         /* matched end index + 1, 0 = none */
	/* leaving: the journal's content fingerprint, or NULL; arriving local
	 * file: its SHA-256 once read (fp_state 1), owned by the end */
	const unsigned char *fp;
	int fp_state;        /* arriving: 0 not read, 1 read, 2 unreadable */
};

struct ends {
	struct end *v;
	size_t n, cap;
};

/* The arriving record of one move, kept across the three steps. */
struct mv {
	struct end *out, *in;
	struct jrnl_msg rec;
	unsigned near_flags, merged;
	int done;
	size_t ren;          /* folder rename carrying it: index + 1, 0 = none */
};

/* A folder renamed on one side, replayed as one rename on the other. */
struct ren {
	struct box_job *from, *to;
	size_t root;         /* index of the pair whose rename carries this one */
	int done;
	int uv_lost;         /* the server gave the renamed box a new UIDVALIDITY */
};

struct renames {
	struct ren *v;
	size_t n;
};

/* Finds folders renamed on the side the moves m[0..n) were made on
 * (side_far: on the server): a box gone from that side whose messages all
 * arrived in one new box there, which the other side does not have, with
 * its subfolders likewise.  Marks the moves such a rename carries. */
void renames_find(struct box_job **jobs, size_t njobs, struct mv *m, size_t n, int side_far,
                  struct renames *rs);
/* Replays each rename found on the other side.  A rename refused there
 * (FCT_E_FOLDER) puts things back and unmarks its moves, left to the
 * message-by-message path; other errors stop.  Moves carried are done. */
int renames_apply(struct chan *c, struct renames *rs, struct mv *m, size_t n, int side_far,
                  struct fct_err *err);
void renames_free(struct renames *rs);

#endif
