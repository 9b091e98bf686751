/* Channels: resolve stores, take the channel's lock, open the journal and
 * both stores, decide which boxes to synchronize, run each, and report.
 * POP3 channels are handed to the ingestion module. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/lock.h"
#include "sync/boxes.h"
#include "sync/connect.h"
#include "sync/engine.h"
#include "sync/parallel.h"
#include "sync/farbox.h"
#include "sync/mbsync_state.h"
#include "sync/pattern.h"
#include "sync/pop3sync.h"
#include "sync/report.h"
#include "sync/settle.h"

/* A dry run touches nothing: a journal or Maildir root that does not exist
 * yet is stood in for by an empty scratch directory, removed afterwards. */
static const char *dry_path(struct chan *c, const char *path, const char *what)
{
	struct stat st;

	if (!c->opts->dry_run || !path || stat(path, &st) == 0)
		return path;
	if (!c->scratch) {
		const char *tmp = getenv("TMPDIR");
		char *t = fct_xasprintf("%s/facteur-dry-XXXXXX", tmp && *tmp ? tmp : "/tmp");

		if (!mkdtemp(t)) {
			free(t);
			return path;
		}
		c->scratch = t;
	}
	free(c->scratch_paths[c->nscratch]);
	c->scratch_paths[c->nscratch] = fct_xasprintf("%s/%s", c->scratch, what);
	return c->scratch_paths[c->nscratch++];
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void drop_scratch(struct chan *c)
{
	size_t i;

	if (c->scratch)
		nftw(c->scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c->scratch);
	for (i = 0; i < c->nscratch; i++)
		free(c->scratch_paths[i]);
}

static int open_near(struct chan *c, struct fct_err *err)
{
	const struct cfg_store *st = c->ch->near;
	struct md_store_opts o;

	const char *root;

	sync_md_opts(c->cfg, st, &o);
	root = o.path; /* Maildir++ without Path: the Inbox */
	o.path = dry_path(c, root, "near");
	o.names.inbox_path = st->inbox == root ? o.path : dry_path(c, st->inbox, "near/INBOX");
	return md_store_open(&c->md, &o, err);
}

static int on_near_box(void *ctx, const char *name)
{
	box_set_add(ctx, name, BOX_ON_NEAR);
	return 0;
}

static int list_boxes(struct chan *c, struct box_set *set, struct fct_err *err)
{
	struct far_names fn = {c->delim, c->prefix};
	int rc;

	rc = far_list_boxes(c->im, c->ch->far, &fn, set, c->ch->name, c->log, &c->stcache, err);
	if (rc == 0)
		rc = md_list(c->md, on_near_box, set, err);
	box_set_finish(set);
	return rc;
}

/* Failures that end the whole channel rather than one box. */
static int fatal(const struct fct_err *e)
{
	return e->kind != FCT_E_FOLDER && e->kind != FCT_E_MSG;
}

/* Reports one box's failure; the run stops if the session or the store is
 * gone.  The last error is what the channel reports. */
static void box_failed(struct chan *c, const struct fct_err *e, int *failed, int *stop,
                       struct fct_err *err)
{
	fct_log_error(c->log, "%s", e->msg);
	c->sum.boxes_failed++;
	*failed = 1;
	*stop = fatal(e);
	*err = *e;
}

/* Applies jobs in turn on this process's session. */
struct in_turn {
	struct chan *c;
	struct box_job **jobs;
	size_t n;
	int *stop;
	struct fct_err *err;
};

static int apply_in_turn(void *ctx)
{
	struct in_turn *t = ctx;
	struct fct_err e;
	int failed = 0;

	for (size_t i = 0; i < t->n && !*t->stop; i++) {
		fct_err_clear(&e);
		if (box_apply(t->c, t->jobs[i], &e) < 0)
			box_failed(t->c, &e, &failed, t->stop, t->err);
	}
	return failed ? -1 : 0;
}

/* The heavy folders go to parallel sessions (sync/parallel.c) while this
 * one applies the rest; else all in turn. */
static int apply_all(struct chan *c, struct box_job **ready, size_t n, int *stop,
                     struct fct_err *err)
{
	size_t nheavy = par_split(c, ready, n);
	struct in_turn light = {c, ready + nheavy, n - nheavy, stop, err};
	struct in_turn all = {c, ready, n, stop, err};
	int rc;

	if (!nheavy)
		return apply_in_turn(&all);
	rc = par_apply(c, ready, nheavy, apply_in_turn, &light, stop, err);
	return rc == 1 ? apply_in_turn(&all) : rc;
}

/* A first sync of every folder (none known to the journal, no mbsync state
 * to take over) gives the moves pass nothing: a message can only have left
 * a folder whose last state the journal holds. */
static int nothing_can_move(struct chan *c, const struct box_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct jrnl_box b;
		struct fct_err e;
		int found = 0;

		if (jrnl_box_get(c->j, jobs[i].box, &b, &found, &e) < 0)
			return 0;
		jrnl_box_clear(&b);
		if (found || mbsync_state_present(c, &jobs[i]))
			return 0;
	}
	return 1;
}

/* Surveys every box, settles moves across them, then applies each plan;
 * in a first sync each box is applied as soon as it is surveyed.  Returns
 * 1 if a box failed (reported; *stop when the session or the store is
 * gone), else 0. */
static int survey_all(struct chan *c, struct box_job *jobs, size_t n, int first, int *stop,
                      struct fct_err *err)
{
	struct box_job **ready = fct_xcalloc(n + 1, sizeof *ready);
	size_t i, nready = 0;
	int failed = 0;
	struct fct_err e;

	for (i = 0; i < n && !*stop; i++) {
		fct_err_clear(&e);
		c->sum.boxes++;
		if (box_survey(c, &jobs[i], &e) < 0) {
			box_failed(c, &e, &failed, stop, err);
		} else if (jobs[i].state == JOB_READY && (first || box_plan_is_local(&jobs[i]))) {
			/* Nothing in it for the moves pass (empty plans included,
			 * any in a first sync): done now, so that its listings are
			 * not held while the other folders are listed. */
			if (box_apply(c, &jobs[i], &e) < 0)
				box_failed(c, &e, &failed, stop, err);
		} else if (jobs[i].state == JOB_READY) {
			ready[nready++] = &jobs[i];
		}
	}
	fct_err_clear(&e);
	if (!*stop && nready && moves_apply(c, ready, nready, &e) < 0) {
		c->moves_failed = 1;
		fct_log_error(c->log, "%s", e.msg);
		failed = 1;
		*stop = fatal(&e);
		*err = e;
	}
	if (!*stop && nready && apply_all(c, ready, nready, stop, err) < 0)
		failed = 1;
	free(ready);
	return failed;
}

/* A failure in one box is reported and the others go on, unless the
 * session or the store is gone.  A first sync has no moves: its folders
 * are surveyed and applied whole, over parallel sessions when allowed. */
static int run_jobs(struct chan *c, struct box_job *jobs, size_t n, struct fct_err *err)
{
	int stop = 0, rc = 1, failed, first = !c->opts->dry_run && nothing_can_move(c, jobs, n);

	if (first)
		rc = par_first_sync(c, jobs, n, &stop, err);
	failed = rc == 1 ? survey_all(c, jobs, n, first, &stop, err) : rc < 0;
	if (!stop) {
		settle_stamps(c, jobs, n);
		settle_far(c, jobs, n);
	}
	if (failed && !stop)
		fct_err_set(err, FCT_E_FOLDER, "%s: %zu box(es) failed", c->ch->name,
		            c->sum.boxes_failed);
	return failed ? -1 : 0;
}

static void job_init(struct box_job *j, const char *box, const char *far, const char *near,
                     unsigned where)
{
	memset(j, 0, sizeof *j);
	j->box = fct_xstrdup(box);
	j->far_name = fct_xstrdup(far);
	j->near_name = fct_xstrdup(near);
	j->where = where;
}

static int run_patterns(struct chan *c, const struct run_target *t, struct fct_err *err)
{
	struct box_set set = {0};
	struct far_names fn = {c->delim, c->prefix};
	struct box_job *jobs;
	struct fct_buf far;
	size_t i, n = 0, unmapped = 0;
	int rc;

	if (list_boxes(c, &set, err) < 0) {
		box_set_free(&set);
		return -1;
	}
	fct_buf_init(&far);
	jobs = fct_xcalloc(set.n + 1, sizeof *jobs);
	for (i = 0; i < set.n; i++) {
		const char *name = set.v[i].name;
		struct fct_err e;

		if (!box_selected((const char *const *)c->ch->patterns, name) ||
		    !box_wanted((const char *const *)t->boxes, name))
			continue;
		if (c->opts->list_only) {
			printf("%s\n", name);
			continue;
		}
		if (far_box_name(c->ch->far, &fn, name, &far, &e) < 0) {
			fct_log_error(c->log, "%s: %s", c->ch->name, e.msg);
			unmapped++;
			continue;
		}
		job_init(&jobs[n++], name, far.data, name, set.v[i].where);
	}
	rc = run_jobs(c, jobs, n, err);
	/* A folder that cannot exist on the server is a failure, not a skip. */
	if (rc == 0 && unmapped) {
		c->sum.boxes_failed += unmapped;
		rc = fct_err_set(err, FCT_E_FOLDER, "%s: %zu folder(s) cannot be named on the server",
		                 c->ch->name, unmapped);
	}
	for (i = 0; i < n; i++)
		box_job_free(&jobs[i]);
	free(jobs);
	fct_buf_free(&far);
	box_set_free(&set);
	return rc;
}

/* Without Patterns a channel pairs exactly one box on each side. */
static int run_single(struct chan *c, struct fct_err *err)
{
	const char *far = box_unmap_inbox(c->ch->far->map_inbox,
	                                  c->ch->far_box ? c->ch->far_box : "INBOX");
	const char *near = c->ch->near_box ? c->ch->near_box : "INBOX";
	unsigned where = 0;
	struct box_set set = {0};
	struct box_job job;
	size_t i;
	int rc;

	if (c->opts->list_only) {
		printf("%s\n", near);
		return 0;
	}
	if (list_boxes(c, &set, err) < 0) {
		box_set_free(&set);
		return -1;
	}
	for (i = 0; i < set.n; i++) {
		if ((set.v[i].where & BOX_ON_FAR) && strcmp(set.v[i].name, far) == 0)
			where |= BOX_ON_FAR;
		if ((set.v[i].where & BOX_ON_NEAR) && strcmp(set.v[i].name, near) == 0)
			where |= BOX_ON_NEAR;
	}
	box_set_free(&set);
	/* INBOX always exists on an IMAP server, whatever LIST said. */
	if (strcasecmp(far, "INBOX") == 0)
		where |= BOX_ON_FAR;
	job_init(&job, near, far, near, where);
	rc = run_jobs(c, &job, 1, err);
	box_job_free(&job);
	return rc;
}

static int open_far(struct chan *c, struct fct_err *err)
{
	struct far_names fn;

	if (sync_imap_connect(c->ch->far->account, c->log, &c->im, err) < 0)
		return -1;
	c->caps = imap_caps(c->im);
	if (far_names_resolve(c->ch->far, c->im, &fn, err) < 0)
		return -1;
	c->delim = fn.delim;
	c->prefix = fn.prefix;
	return 0;
}

static int imap_channel(struct chan *c, const struct run_target *t, struct fct_err *err)
{
	char *state = cfg_state_dir(c->cfg, c->ch), *lockpath = NULL;
	const char *dir = dry_path(c, state, "state");
	struct fct_lock *lock = NULL;
	int rc = -1;

	if (fct_mkdir_p(dir, err) < 0)
		goto out;
	lockpath = fct_xasprintf("%s/lock", dir);
	if (fct_lock_take(&lock, lockpath, c->ch->name, c->opts->wait_lock, err) < 0)
		goto out;
	c->state_path = dir;
	if (jrnl_open(&c->j, dir, err) < 0 || open_near(c, err) < 0 || open_far(c, err) < 0)
		goto out;
	rc = c->ch->patterns ? run_patterns(c, t, err) : run_single(c, err);
out:
	far_status_free(&c->stcache);
	if (c->im) {
		imap_counters(c->im, &c->sum.wire_in, &c->sum.wire_out);
		imap_close(c->im);
		c->im = NULL;
	}
	if (c->md)
		md_store_free(c->md);
	if (c->j)
		jrnl_close(c->j);
	if (lock)
		fct_lock_release(lock);
	free(lockpath);
	free(state);
	drop_scratch(c);
	return rc;
}

static int pop3_channel(const struct fct_config *cfg, const struct cfg_channel *ch,
                        const struct run_opts *o, struct report *rep, struct fct_err *err)
{
	struct pop3sync_opts po;
	struct pop3sync_summary sum;
	int rc;

	memset(&po, 0, sizeof po);
	po.dry_run = o->dry_run;
	po.wait_lock = o->wait_lock;
	po.log = &o->log;
	rc = pop3_ingest(cfg, ch, &po, &sum, err);
	report_from_pop3(rep, &sum);
	return rc;
}

static int run_channel(const struct fct_config *cfg, const struct run_target *t,
                       const struct run_opts *o, struct report *rep, struct fct_err *err)
{
	const struct cfg_channel *ch = cfg_channel(cfg, t->channel);
	struct chan c;
	int rc;

	if (!ch)
		return fct_err_set(err, FCT_E_CONFIG, "no channel named %s", t->channel);
	if (ch->far->kind == CFG_STORE_POP3)
		return pop3_channel(cfg, ch, o, rep, err);
	if (ch->far->kind != CFG_STORE_IMAP || ch->near->kind != CFG_STORE_MAILDIR)
		return fct_err_set(err, FCT_E_CONFIG,
		                   "%s:%d: channel %s: the far store must be IMAP (or POP3) and the "
		                   "near store a Maildir", ch->file, ch->line, ch->name);
	memset(&c, 0, sizeof c);
	c.cfg = cfg;
	c.ch = ch;
	c.opts = o;
	c.log = &o->log;
	rc = imap_channel(&c, t, err);
	report_from_counts(rep, &c.sum);
	return rc;
}

/* One channel from start to report and hook; returns 1 if anything failed. */
static int one_channel(const struct fct_config *cfg, const struct run_target *t,
                       const struct run_opts *opts)
{
	const struct cfg_channel *ch = cfg_channel(cfg, t->channel);
	struct report rep;
	struct fct_err err;
	const char *hook;
	int failed = 0;

	memset(&rep, 0, sizeof rep);
	fct_err_clear(&err);
	rep.channel = t->channel;
	rep.dry_run = opts->dry_run;
	rep.ok = run_channel(cfg, t, opts, &rep, &err) == 0;
	if (!rep.ok) {
		fct_log_error(&opts->log, "%s", err.msg);
		rep.error = err.msg;
		failed = 1;
	}
	if (!opts->list_only)
		report_print(&rep, opts->json, &opts->log, stdout);
	hook = ch && ch->post_sync_cmd ? ch->post_sync_cmd : cfg->post_sync_cmd;
	if (rep.ok && hook && !opts->dry_run && !opts->list_only &&
	    report_hook(&rep, hook, &opts->log) != 0)
		failed = 1;
	return failed;
}

/* Waits for one child; returns 1 if it failed. */
static int reap_one(void)
{
	int status;
	pid_t pid;

	while ((pid = wait(&status)) < 0 && errno == EINTR)
		;
	if (pid < 0)
		return 0;
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* Parallel N: channels are independent (own lock, journal, connection,
 * Maildir), so each runs in a process of its own, at most N at a time. */
static int run_parallel(const struct fct_config *cfg, const struct run_opts *opts)
{
	size_t i, running = 0;
	int failed = 0;

	for (i = 0; i < opts->ntargets; i++) {
		pid_t pid;

		if (running == (size_t)cfg->parallel) {
			failed |= reap_one();
			running--;
		}
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			int rc = one_channel(cfg, &opts->targets[i], opts);

			fflush(NULL);
			_exit(rc);
		}
		if (pid < 0) {
			failed |= one_channel(cfg, &opts->targets[i], opts);
			continue;
		}
		running++;
	}
	while (running--)
		failed |= reap_one();
	return failed;
}

int sync_run(const struct fct_config *cfg, const struct run_opts *opts)
{
	size_t i;
	int failed = 0;

	if (cfg->parallel > 1 && opts->ntargets > 1 && !opts->list_only)
		return run_parallel(cfg, opts);
	for (i = 0; i < opts->ntargets; i++)
		failed |= one_channel(cfg, &opts->targets[i], opts);
	return failed;
}
