/* The IMAP <-> Maildir channel driver, shared between its source files
 * (engine.c: channels and boxes; box.c: one folder pair; exec.c: applying a
 * plan).  Not a public interface: the command line enters through run.h.
 *
 * CRASH PROTOCOL (with sync/plan.h, which resolves what a crash leaves):
 *  - Flag changes and deletions are idempotent moves toward the merged
 *    state; they are journaled after they are done, and a crash in between
 *    is resolved by the next run's three-way merge (both sides then agree).
 *  - Downloads: bodies are streamed into tmp/ files; the journal records a
 *    PENDING_DOWNLOAD intent with the final unique name; the batch is then
 *    made durable and renamed into place; finally the records become
 *    SYNCED.  A crash before the intent leaves only tmp/ files (ignored);
 *    after it, the next run finds the file (pairs it) or downloads again.
 *  - Uploads: a PENDING_UPLOAD intent with the far UIDNEXT, the size and the
 *    Message-ID is committed before any APPEND; APPENDUID then links the far
 *    UID.  If the run dies before, or the server has no UIDPLUS, the next run
 *    finds the copy among UIDs >= that UIDNEXT by Message-ID and size instead
 *    of uploading again.  An APPEND still on its way when its run was
 *    killed can land after that listing: before uploading such a leftover
 *    again, the executor looks above the listing a few more times, after
 *    pauses (sync/exec.c, late_uploads).
 *  - The box's UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ are those read at SELECT,
 *    written last: changes made meanwhile (ours or another client's) are
 *    seen again next time, never skipped. */
#ifndef FACTEUR_ENGINE_H
#define FACTEUR_ENGINE_H

#include "proto/imap.h"
#include "store/journal.h"
#include "store/maildir.h"
#include "sync/config.h"
#include "sync/farbox.h"
#include "sync/plan.h"
#include "sync/pool.h"
#include "sync/run.h"

struct sync_counts {
	size_t act[PLAN_KIND_COUNT];
	uint64_t bytes_down, bytes_up;
	size_t boxes, boxes_failed, ambiguous, too_big;
	size_t moved_near, moved_far; /* moves replayed instead of transfers */
	unsigned long long wire_in, wire_out; /* bytes on the wire, below TLS/DEFLATE */
};

struct chan {
	const struct fct_config *cfg;
	const struct cfg_channel *ch;
	const struct run_opts *opts;
	const struct fct_log *log;
	struct imap *im;
	struct md_store *md;
	struct jrnl *j;
	char delim;         /* server hierarchy delimiter */
	const char *prefix; /* server namespace prefix stripped from names */
	unsigned caps;
	const struct box_job *selected; /* far box currently selected */
	int moves_failed;       /* the moves pass stopped midway */
	struct far_status stcache; /* STATUS from LIST-STATUS, by server name */
	char *scratch;          /* dry run: stand-in directory, removed at the end */
	char *scratch_paths[3];
	size_t nscratch;
	struct sync_counts sum;
	const char *state_path; /* the journal's directory, to reopen it */
	int worker;             /* a parallel folder worker (sync/parallel.c) */
	struct imap *parked_im; /* worker: the parent's session, never used */
};

/* What exec.c works on: the listings the plan indexes into. */
struct box_run {
	struct chan *c;
	const char *box;       /* canonical name (journal key) */
	const char *far_name;  /* server name */
	const char *near_name; /* Maildir folder name */
	struct md_folder *nf;
	struct imap_box fbox;  /* as SELECTed */
	int64_t near_stamp;    /* md_folder_stamp before the scan */
	struct plan_far *far;
	size_t nfar;
	struct plan_near *near;
	size_t nnear;
	struct jrnl_msg *jr;   /* loaded records, the planner's input as they are */
	size_t njr;
	const unsigned char *suppress; /* per plan action: 1 = done elsewhere (moves) */
};

/* One folder pair through a run: surveyed (both sides listed, plan built)
 * first, then, once moves across folders are settled, applied. */
enum job_state { JOB_SKIP, JOB_READY, JOB_DONE, JOB_FAILED };

struct box_job {
	struct box_run r;
	char *box, *far_name, *near_name;
	unsigned where;         /* BOX_ON_* (sync/boxes.h) */
	enum job_state state;
	struct pool pool;
	struct md_entry *ents;  /* the Maildir scan; r.near is written over it */
	size_t nents;
	struct jrnl_box jb;
	int found, uv_changed;
	struct plan_cfg pc;
	struct plan plan;
	unsigned char *suppress;
	unsigned vanished;      /* BOX_ON_* side the box left since the last run */
	size_t moved_out;       /* messages the moves pass took elsewhere */
	size_t moved_in;        /* messages the moves pass brought here */
	struct far_pushed *pushed; /* far flags the plan set (sync/settle.h) */
	size_t npushed;
};

/* Fills job->box/far_name/near_name/where first.  Lists both sides and
 * plans; state becomes JOB_READY, or JOB_SKIP (nothing to do or not to be
 * synchronized).  Errors leave JOB_FAILED. */
int box_survey(struct chan *c, struct box_job *j, struct fct_err *err);
/* Executes a JOB_READY plan and records the box state, then releases the
 * job (box_job_release): a done job keeps what settle_stamps needs. */
int box_apply(struct chan *c, struct box_job *j, struct fct_err *err);
void box_job_free(struct box_job *j);
/* A READY plan that neither transfers nor deletes (flags and journal
 * only): the moves pass has nothing to take from it. */
int box_plan_is_local(const struct box_job *j);
/* Frees the job's listings and plan and the folder's cached names, keeping
 * its names, folder and box record (what a done job still needs). */
void box_job_release(struct box_job *j);
/* Selects the job's far box again if another one is selected. */
int box_reselect(struct chan *c, struct box_job *j, struct fct_err *err);
/* Adds the plan's unsuppressed actions to the channel's summary. */
void box_count_plan(struct chan *c, const struct box_job *j);

/* A box the journal knows that is gone from one side (sync/vanish.c):
 * deleted or renamed there.  Its messages that were moved elsewhere follow;
 * the rest are deleted on the other side only with Remove, else the box is
 * recreated and its remaining messages copied again by the next run. */
int vanish_open(struct chan *c, struct box_job *j, struct fct_err *err);
int vanish_apply(struct chan *c, struct box_job *j, struct fct_err *err);
/* Remove/Create for one side (BOX_ON_FAR or BOX_ON_NEAR), command line first. */
int chan_may_remove(const struct chan *c, unsigned side);
int chan_may_create(const struct chan *c, unsigned side);

/* Moves across folders (sync/moves.c): pairs messages that left one folder
 * with messages that appeared in another, on either side, and moves them
 * instead of transferring them; the actions they replace are suppressed. */
int moves_apply(struct chan *c, struct box_job **jobs, size_t n, struct fct_err *err);

int exec_plan(struct box_run *r, const struct plan *p, struct fct_err *err);

#endif
