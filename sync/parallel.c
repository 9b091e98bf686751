/* Applying several folders' plans at once (ParallelFolders).
 *
 * Why processes: each folder needs its own IMAP session (a session has one
 * selected mailbox), and the executors are written as straight-line
 * blocking code.  A worker is forked once the plans are made and the moves
 * across folders are settled, so it inherits everything the survey learnt;
 * it opens its own connection and its own handle on the journal (LMDB is
 * multi-process safe: writers take turns, readers never block), takes
 * folders from a shared queue until none is left, and reports each
 * folder's outcome and its counters through a shared anonymous mapping.
 *
 * The parent closes its journal handle before forking (an LMDB environment
 * must not be used across fork) and reopens it; it takes from the queue
 * too (the heaviest folder first, while the workers log in), then applies
 * the light folders on its own session.  Only folders
 * with enough to transfer are worth a connection: the rest stay in the
 * parent.  Each folder is applied by exactly one process, so the crash
 * protocol is unchanged (sync/engine.h).
 *
 * A first sync (par_first_sync) has no moves to settle, so nothing needs
 * every folder listed before any is applied: there the queue holds whole
 * folders, each surveyed and applied by the process that takes it.  Each
 * process then holds one folder's listings at a time, not the channel's. */
#include "sync/engine.h"
#include "sync/connect.h"
#include "sync/parallel.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* A folder is worth its own connection from this much to transfer: below
 * it, a login costs more than the overlap wins. */
#define HEAVY_BYTES (512u << 10)
#define PER_MSG_COST 4096u /* per-message round trips and commits, as bytes */

enum { SLOT_FREE, SLOT_TAKEN, SLOT_DONE };

struct slot {
	int status;       /* SLOT_* */
	int failed;       /* the folder failed; e holds why */
	enum job_state state; /* the job's, once done */
	struct fct_err e;
};

struct shared {
	atomic_size_t next;        /* next queue position to take */
	pid_t parent;
	size_t nworkers;
	int whole;                 /* folders are surveyed too (first sync) */
	struct sync_counts sums[PAR_MAX_WORKERS + 1]; /* per worker, 0 = parent */
	struct slot slots[];       /* per queue position */
};

static uint64_t job_weight(const struct box_job *j)
{
	uint64_t w = 0;

	if (j->state != JOB_READY || j->vanished)
		return 0;
	for (size_t i = 0; i < j->plan.n; i++) {
		const struct plan_action *a = &j->plan.acts[i];

		if (j->suppress && j->suppress[i])
			continue;
		if (a->kind == PLAN_DOWNLOAD)
			w += j->r.far[a->far].size + PER_MSG_COST;
		else if (a->kind == PLAN_UPLOAD)
			w += j->r.near[a->near].size + PER_MSG_COST;
	}
	return w;
}

static int by_weight_desc(const void *a, const void *b)
{
	uint64_t wa = job_weight(*(struct box_job *const *)a);
	uint64_t wb = job_weight(*(struct box_job *const *)b);

	return wa < wb ? 1 : wa > wb ? -1 : 0;
}

/* One folder from the queue, applied (surveyed first if whole) with this
 * process's session. */
static int apply_slot(struct chan *c, struct box_job *j, struct slot *s, int whole)
{
	struct fct_err e;
	int rc = 0;

	fct_err_clear(&e);
	if (whole) {
		c->sum.boxes++;
		rc = box_survey(c, j, &e);
	}
	if (rc == 0)
		rc = box_apply(c, j, &e);
	if (rc < 0) {
		fct_log_error(c->log, "%s", e.msg);
		s->failed = 1;
		s->e = e;
	}
	box_job_release(j);
	s->state = j->state;
	s->status = SLOT_DONE;
	return s->failed && e.kind != FCT_E_FOLDER && e.kind != FCT_E_MSG ? -1 : 0;
}

/* Takes folders until the queue is empty (0) or the session is lost (-1). */
static int drain(struct chan *c, struct box_job **heavy, size_t n, struct shared *sh)
{
	for (;;) {
		size_t i = atomic_fetch_add(&sh->next, 1);

		if (i >= n)
			return 0;
		sh->slots[i].status = SLOT_TAKEN;
		if (apply_slot(c, heavy[i], &sh->slots[i], sh->whole) < 0)
			return -1;
	}
}

static void add_counts(struct sync_counts *to, const struct sync_counts *from)
{
	for (size_t k = 0; k < PLAN_KIND_COUNT; k++)
		to->act[k] += from->act[k];
	to->bytes_down += from->bytes_down;
	to->bytes_up += from->bytes_up;
	to->boxes += from->boxes;
	to->boxes_failed += from->boxes_failed;
	to->ambiguous += from->ambiguous;
	to->too_big += from->too_big;
	to->moved_near += from->moved_near;
	to->moved_far += from->moved_far;
	to->wire_in += from->wire_in;
	to->wire_out += from->wire_out;
}

/* In the child: never touch the parent's session or journal handle (their
 * state is shared with the parent's); open new ones, work, report, leave
 * without running the parent's exit handlers. */
static void worker(struct chan *c, struct box_job **heavy, size_t n, struct shared *sh,
                   size_t id)
{
	struct fct_err e;
	unsigned long long in = 0, out = 0;

	/* A worker never outlives the run that started it: killing facteur
	 * stops all of it (the crash protocol covers any moment). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != sh->parent)
		_exit(1);
	c->parked_im = c->im; /* the parent's: kept, never used here */
	c->im = NULL;
	c->j = NULL;
	c->selected = NULL;
	c->worker = 1;
	memset(&c->sum, 0, sizeof c->sum);
	fct_err_clear(&e);
	if (jrnl_open(&c->j, c->state_path, &e) == 0 &&
	    sync_imap_connect(c->ch->far->account, c->log, &c->im, &e) == 0) {
		c->caps = imap_caps(c->im);
		(void)drain(c, heavy, n, sh);
	} else {
		/* The parent and the other workers still empty the queue. */
		fct_log_warn(c->log, "%s: parallel folder worker: %s", c->ch->name, e.msg);
	}
	if (c->im) {
		imap_counters(c->im, &in, &out);
		imap_close(c->im);
	}
	c->sum.wire_in += in;
	c->sum.wire_out += out;
	if (c->j)
		jrnl_close(c->j);
	sh->sums[id] = c->sum;
	fflush(NULL);
	_exit(0);
}

static size_t spawn(struct chan *c, struct box_job **heavy, size_t n, struct shared *sh,
                    size_t want, pid_t *pids)
{
	size_t k;

	fflush(NULL);
	for (k = 0; k < want; k++) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (pid == 0)
			worker(c, heavy, n, sh, k + 1);
		pids[k] = pid;
	}
	return k;
}

/* Reports the queue's outcome into the channel as run_jobs would have. */
static int collect(struct chan *c, struct box_job **heavy, size_t n, struct shared *sh, int *stop,
                   struct fct_err *err)
{
	int failed = 0;

	for (size_t k = 1; k <= sh->nworkers; k++)
		add_counts(&c->sum, &sh->sums[k]);
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &sh->slots[i];

		/* A worker's folder: this process's copy of its listings is no
		 * longer needed, whatever became of it. */
		box_job_release(heavy[i]);
		if (s->status == SLOT_DONE && !s->failed) {
			heavy[i]->state = s->state; /* a worker's copy said so */
			/* settle_stamps looks at the folders a worker surveyed. */
			if (sh->whole && s->state == JOB_DONE && !heavy[i]->r.nf &&
			    md_folder_open(c->md, heavy[i]->near_name, 0, &heavy[i]->r.nf, &s->e) < 0)
				heavy[i]->r.nf = NULL;
			continue;
		}
		if (s->status == SLOT_TAKEN)
			fct_err_set(&s->e, FCT_E_IO, "%s: a parallel folder worker died", c->ch->name);
		else if (s->status == SLOT_FREE)
			fct_err_set(&s->e, FCT_E_FOLDER, "%s: not synchronized: every session was lost",
			            c->ch->name);
		if (s->status != SLOT_DONE)
			fct_log_error(c->log, "%s", s->e.msg);
		c->sum.boxes_failed++;
		failed = 1;
		*err = s->e;
		if (s->e.kind != FCT_E_FOLDER && s->e.kind != FCT_E_MSG)
			*stop = 1;
	}
	return failed;
}

size_t par_split(const struct chan *c, struct box_job **ready, size_t n)
{
	size_t nheavy = 0;

	if (c->opts->dry_run || c->cfg->parallel_folders < 2 || n < 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		nheavy += job_weight(ready[i]) >= HEAVY_BYTES;
	if (nheavy < 2)
		return 0;
	qsort(ready, n, sizeof *ready, by_weight_desc);
	return nheavy;
}

/* The queue's folders across workers and this process, then light (if any)
 * here. */
static int run_queue(struct chan *c, struct box_job **heavy, size_t n, int whole,
                     par_light_fn light, void *light_ctx, int *stop, struct fct_err *err)
{
	size_t want = (size_t)c->cfg->parallel_folders - 1, size, started;
	pid_t pids[PAR_MAX_WORKERS];
	struct shared *sh;
	int failed = 0, st;

	if (want > n - 1)
		want = n - 1;
	if (want > PAR_MAX_WORKERS)
		want = PAR_MAX_WORKERS;
	size = sizeof *sh + n * sizeof sh->slots[0];
	sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1; /* not started: the caller applies them in turn */
	memset(sh, 0, size);
	atomic_init(&sh->next, 0);
	sh->parent = getpid();
	sh->whole = whole;
	jrnl_close(c->j);
	c->j = NULL;
	started = spawn(c, heavy, n, sh, want, pids);
	sh->nworkers = started;
	fct_log_verbose(c->log, "%s: %zu folders %s over %zu sessions", c->ch->name, n,
	                whole ? "listed and applied (first sync)" : "applied", started + 1);
	if (jrnl_open(&c->j, c->state_path, err) < 0) {
		*stop = 1;
		failed = -1;
	} else {
		/* The heaviest folder first, here, while the workers log in. */
		if (drain(c, heavy, n, sh) < 0)
			*stop = 1; /* this session is gone: the light folders wait */
		else if (light)
			failed = light(light_ctx);
	}
	for (size_t k = 0; k < started; k++)
		while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR)
			;
	if (collect(c, heavy, n, sh, stop, err))
		failed = -1;
	munmap(sh, size);
	return failed < 0 ? -1 : 0;
}

int par_apply(struct chan *c, struct box_job **heavy, size_t n, par_light_fn light,
              void *light_ctx, int *stop, struct fct_err *err)
{
	return run_queue(c, heavy, n, 0, light, light_ctx, stop, err);
}

int par_first_sync(struct chan *c, struct box_job *jobs, size_t n, int *stop,
                   struct fct_err *err)
{
	struct box_job **q;
	int rc;

	if (c->opts->dry_run || c->cfg->parallel_folders < 2 || n < 2)
		return 1;
	q = fct_xcalloc(n, sizeof *q);
	for (size_t i = 0; i < n; i++)
		q[i] = &jobs[i];
	rc = run_queue(c, q, n, 1, NULL, NULL, stop, err);
	free(q);
	return rc;
}
