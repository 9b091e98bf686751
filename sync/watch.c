/* Watch mode (see watch.h).  The main thread owns the configuration, the
 * channel and box tables, inotify and every sync_run; idle threads each own
 * one IMAP session and only tell the main thread "box B of channel C
 * changed" through a pipe; the signal thread turns signals into bytes on
 * another pipe.  Nothing here is global: the process-wide pieces (signal
 * mask, fork handler) are set up once by watch_run. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "store/maildir.h"
#include "store/names.h"
#include "sync/boxes.h"
#include "sync/connect.h"
#include "sync/farbox.h"
#include "sync/pattern.h"
#include "sync/watch.h"

struct wbox {
	char *name;          /* canonical name: the journal key and run_target box */
	char *far;           /* server name */
	int idle;            /* has an idle thread (else polled) */
	int64_t due;         /* sync at this time; 0 = nothing pending */
	int64_t first_event; /* start of the current burst */
	int64_t quiet_until; /* ignore inotify events before this (our own sync) */
};

struct wchan {
	char *name;
	int imap;            /* IMAP far side: IDLE and inotify; else polled */
	int single;          /* no Patterns: the target carries no box list */
	const struct run_target *target; /* in the resolved run_opts */
	struct wbox *boxes;
	size_t nboxes;
	int64_t backoff_ms;  /* after a failed sync */
	int64_t poll_due;    /* next poll of boxes without an idle thread */
};

struct idler {
	struct watch *w;
	const struct cfg_account *acct;
	char *far;
	uint32_t chan, box, gen;
	int stop_fd;         /* read end of the stop pipe: readable = stop */
	pthread_t tid;
	int started;
};

struct wd_map {
	int wd;
	size_t chan, box;
};

struct watch {
	const struct cli_opts *cli;
	const struct watch_opts *wo;
	struct fct_log log;
	struct fct_config *cfg;
	struct run_opts ro;
	struct wchan *ch;
	size_t nch;
	struct idler *idl;
	size_t nidl;
	uint32_t gen;          /* idle thread generation, to drop stale events */
	int ev[2];             /* idle threads -> main */
	int stop[2];           /* main -> idle threads (closing [1] stops them) */
	int sig[2];            /* signal thread -> main */
	int ino;               /* inotify fd, -1 when none */
	struct wd_map *wds;
	size_t nwds;
	atomic_int overflow;   /* an event could not be queued: all boxes due */
	int stopping, reload;
	int64_t next_full, full_backoff_ms;
	pthread_t sigthr;
	int have_sigthr;
};

struct ev_msg {
	uint32_t chan, box, gen;
};

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ---- signals ---- */

static void signal_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGHUP);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGUSR1);
}

/* Children (PostSyncCommand, tunnels) must not inherit the blocked set. */
static void unblock_in_child(void)
{
	sigset_t s;

	signal_set(&s);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static void *signal_thread(void *arg)
{
	struct watch *w = arg;
	sigset_t s;
	int terms = 0;

	signal_set(&s);
	for (;;) {
		int sig = sigwaitinfo(&s, NULL);
		unsigned char b;

		if (sig < 0)
			continue;
		if (sig == SIGUSR1)
			break; /* watch_run is done */
		if ((sig == SIGTERM || sig == SIGINT) && ++terms >= 2) {
			fct_log_warn(&w->log, "second signal: stopping now");
			_exit(1);
		}
		b = (unsigned char)sig;
		if (write(w->sig[1], &b, 1) < 0)
			fct_log_warn(&w->log, "signal pipe: %s", strerror(errno));
	}
	return NULL;
}

/* ---- idle threads ---- */

static void notify(struct idler *t)
{
	struct ev_msg m = {t->chan, t->box, t->gen};

	/* Non-blocking: a full pipe must not stall a thread the main thread
	 * may be joining; the main thread then resyncs everything instead. */
	if (write(t->w->ev[1], &m, sizeof m) != (ssize_t)sizeof m)
		atomic_store(&t->w->overflow, 1);
}

/* Sleeps ms or until stopped; returns 1 when stopped. */
static int wait_stop(int fd, int64_t ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	int r;

	do
		r = poll(&p, 1, (int)ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* One session's life: select, IDLE until an error or the stop pipe. */
static int idle_session(struct idler *t, struct imap *im, struct fct_err *err)
{
	struct imap_box ib;

	if (imap_select(im, t->far, 1, NULL, &ib, NULL, NULL, NULL, err) < 0)
		return -1;
	/* Whatever happened before this session (a restart, a failure, our own
	 * start) has to be caught up with. */
	notify(t);
	for (;;) {
		int changed = 0;

		if (imap_idle(im, WATCH_IDLE_MAX_MS, t->stop_fd, &changed, err) < 0) {
			if (err->kind != FCT_E_STORE)
				return -1;
			/* No IDLE: poll the box instead. */
			while (!wait_stop(t->stop_fd, WATCH_POLL_S * 1000))
				notify(t);
			return 0;
		}
		if (wait_stop(t->stop_fd, 0))
			return 0;
		if (changed)
			notify(t);
	}
}

static void *idle_thread(void *arg)
{
	struct idler *t = arg;
	int64_t backoff = WATCH_BACKOFF_MIN_MS;

	while (!wait_stop(t->stop_fd, 0)) {
		struct imap *im = NULL;
		struct fct_err err;
		int64_t began = fct_now_ms();

		fct_err_clear(&err);
		if (sync_imap_connect(t->acct, &t->w->log, &im, &err) == 0 &&
		    idle_session(t, im, &err) == 0) {
			imap_close(im);
			break;
		}
		imap_close(im);
		/* A session that lived a while was a working one: start over. */
		if (fct_now_ms() - began > WATCH_BACKOFF_MAX_MS)
			backoff = WATCH_BACKOFF_MIN_MS;
		fct_log_warn(&t->w->log, "watch %s: %s; retrying in %lld s", t->far, err.msg,
		             (long long)(backoff / 1000));
		if (wait_stop(t->stop_fd, backoff))
			break;
		backoff = min64(backoff * 2, WATCH_BACKOFF_MAX_MS);
	}
	return NULL;
}

static void stop_idlers(struct watch *w)
{
	if (w->stop[1] >= 0)
		close(w->stop[1]);
	w->stop[1] = -1;
	for (size_t i = 0; i < w->nidl; i++) {
		if (w->idl[i].started)
			pthread_join(w->idl[i].tid, NULL);
		free(w->idl[i].far);
	}
	free(w->idl);
	w->idl = NULL;
	w->nidl = 0;
	if (w->stop[0] >= 0)
		close(w->stop[0]);
	w->stop[0] = -1;
	w->gen++;
}

static void start_idler(struct watch *w, size_t c, size_t b, const struct cfg_account *acct)
{
	struct idler *t = &w->idl[w->nidl++];

	memset(t, 0, sizeof *t);
	t->w = w;
	t->acct = acct;
	t->far = fct_xstrdup(w->ch[c].boxes[b].far);
	t->chan = (uint32_t)c;
	t->box = (uint32_t)b;
	t->gen = w->gen;
	t->stop_fd = w->stop[0];
	if (pthread_create(&t->tid, NULL, idle_thread, t) != 0) {
		fct_log_warn(&w->log, "watch %s: cannot start a thread; polling it", t->far);
		return;
	}
	t->started = 1;
	w->ch[c].boxes[b].idle = 1;
}

/* INBOX first, then in order, up to WATCH_MAX_IDLE sessions in all. */
static void start_idlers(struct watch *w)
{
	if (pipe2(w->stop, O_CLOEXEC) < 0) {
		fct_log_warn(&w->log, "watch: pipe: %s; polling every box", strerror(errno));
		w->stop[0] = w->stop[1] = -1;
		return;
	}
	w->idl = fct_xcalloc(WATCH_MAX_IDLE, sizeof *w->idl);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t c = 0; c < w->nch; c++) {
			const struct cfg_channel *ch = cfg_channel(w->cfg, w->ch[c].name);

			for (size_t b = 0; ch && w->ch[c].imap && b < w->ch[c].nboxes; b++) {
				int inbox = !strcasecmp(w->ch[c].boxes[b].far, "INBOX");

				if (w->nidl < WATCH_MAX_IDLE && inbox == !pass && !w->ch[c].boxes[b].idle)
					start_idler(w, c, b, ch->far->account);
			}
		}
	}
}

/* ---- the box tables ---- */

static void free_chans(struct watch *w)
{
	for (size_t c = 0; c < w->nch; c++) {
		for (size_t b = 0; b < w->ch[c].nboxes; b++) {
			free(w->ch[c].boxes[b].name);
			free(w->ch[c].boxes[b].far);
		}
		free(w->ch[c].boxes);
		free(w->ch[c].name);
	}
	free(w->ch);
	w->ch = NULL;
	w->nch = 0;
}

static void add_box(struct wchan *c, const char *name, const char *far)
{
	struct wbox *b;

	c->boxes = fct_xrealloc(c->boxes, (c->nboxes + 1) * sizeof *c->boxes);
	b = &c->boxes[c->nboxes++];
	memset(b, 0, sizeof *b);
	b->name = fct_xstrdup(name);
	b->far = fct_xstrdup(far);
}

/* The far boxes a Patterns channel synchronizes (those the server lists;
 * near-only boxes have just been created on the server by the full sync, or
 * are not meant to be). */
static int list_far(struct watch *w, struct wchan *wc, const struct cfg_channel *ch,
                    struct fct_err *err)
{
	struct box_set set = {0};
	struct far_names fn;
	struct imap *im = NULL;
	struct fct_buf far;
	struct fct_err e;
	int rc = -1;

	fct_buf_init(&far);
	if (sync_imap_connect(ch->far->account, &w->log, &im, err) < 0 ||
	    far_names_resolve(ch->far, im, &fn, err) < 0 ||
	    far_list_boxes(im, ch->far, &fn, &set, ch->name, NULL, NULL, err) < 0)
		goto out;
	box_set_finish(&set);
	for (size_t i = 0; i < set.n; i++) {
		const char *name = set.v[i].name;

		if (box_selected((const char *const *)ch->patterns, name) &&
		    box_wanted((const char *const *)wc->target->boxes, name) &&
		    far_box_name(ch->far, &fn, name, &far, &e) == 0)
			add_box(wc, name, far.data);
	}
	rc = 0;
out:
	imap_close(im);
	fct_buf_free(&far);
	box_set_free(&set);
	return rc;
}

/* Builds the channel table from the resolved targets; 0, or -1 when a
 * server could not be listed (the caller retries soon). */
static int build_chans(struct watch *w)
{
	int rc = 0;

	w->ch = fct_xcalloc(w->ro.ntargets, sizeof *w->ch);
	for (size_t i = 0; i < w->ro.ntargets; i++) {
		const struct cfg_channel *ch = cfg_channel(w->cfg, w->ro.targets[i].channel);
		struct wchan *wc = &w->ch[w->nch++];
		struct fct_err err;

		wc->name = fct_xstrdup(w->ro.targets[i].channel);
		wc->target = &w->ro.targets[i];
		wc->backoff_ms = WATCH_BACKOFF_MIN_MS;
		wc->poll_due = fct_now_ms() + WATCH_POLL_S * 1000;
		wc->imap = ch && ch->far->kind == CFG_STORE_IMAP && ch->near->kind == CFG_STORE_MAILDIR;
		if (!wc->imap)
			continue;
		if (!ch->patterns) {
			wc->single = 1;
			add_box(wc, ch->near_box ? ch->near_box : "INBOX", ch->far_box ? ch->far_box : "INBOX");
			continue;
		}
		fct_err_clear(&err);
		if (list_far(w, wc, ch, &err) < 0) {
			fct_log_warn(&w->log, "watch %s: %s", wc->name, err.msg);
			rc = -1;
		}
	}
	return rc;
}

/* ---- inotify ---- */

static enum md_layout layout_of(int subfolders)
{
	return subfolders == 1 ? MD_LAYOUT_MAILDIRPP
	     : subfolders == 2 ? MD_LAYOUT_LEGACY : MD_LAYOUT_VERBATIM;
}

static void watch_dir(struct watch *w, const char *dir, size_t c, size_t b)
{
	int wd = inotify_add_watch(w->ino, dir, IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
	                                         IN_ATTRIB | IN_ONLYDIR);

	if (wd < 0) {
		fct_log_verbose(&w->log, "watch: inotify on %s: %s", dir, strerror(errno));
		return;
	}
	w->wds = fct_xrealloc(w->wds, (w->nwds + 1) * sizeof *w->wds);
	w->wds[w->nwds].wd = wd;
	w->wds[w->nwds].chan = c;
	w->wds[w->nwds].box = b;
	w->nwds++;
}

static void watch_box(struct watch *w, const struct cfg_store *st, size_t c, size_t b)
{
	struct md_names n = {layout_of(st->subfolders), st->flatten, st->inbox, st->map_inbox};
	struct fct_buf rel;
	struct fct_err e;

	fct_buf_init(&rel);
	if (md_name_to_path(&n, w->ch[c].boxes[b].name, &rel, &e) == 0) {
		const char *sep = *st->path && st->path[strlen(st->path) - 1] == '/' ? "" : "/";
		char *base = rel.data[0] == '/' ? fct_xstrdup(rel.data)
		           : fct_xasprintf("%s%s%s", st->path, sep, rel.data);
		char *cur = fct_xasprintf("%s/cur", base), *nw = fct_xasprintf("%s/new", base);

		watch_dir(w, cur, c, b);
		watch_dir(w, nw, c, b);
		free(cur);
		free(nw);
		free(base);
	}
	fct_buf_free(&rel);
}

static void start_inotify(struct watch *w)
{
	w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino < 0) {
		fct_log_warn(&w->log, "watch: inotify: %s; local changes wait for the next full sync",
		             strerror(errno));
		return;
	}
	for (size_t c = 0; c < w->nch; c++) {
		const struct cfg_channel *ch = cfg_channel(w->cfg, w->ch[c].name);

		for (size_t b = 0; ch && w->ch[c].imap && b < w->ch[c].nboxes; b++)
			watch_box(w, ch->near, c, b);
	}
}

static void stop_inotify(struct watch *w)
{
	if (w->ino >= 0)
		close(w->ino);
	w->ino = -1;
	free(w->wds);
	w->wds = NULL;
	w->nwds = 0;
}

/* ---- scheduling ---- */

static void make_due(struct wbox *b, int64_t now, int64_t delay)
{
	if (!b->due)
		b->first_event = now;
	b->due = min64(now + delay, b->first_event + WATCH_DEBOUNCE_MAX_MS);
}

static void all_due(struct watch *w, int64_t now)
{
	for (size_t c = 0; c < w->nch; c++)
		for (size_t b = 0; b < w->ch[c].nboxes; b++)
			make_due(&w->ch[c].boxes[b], now, 0);
}

static void read_events(struct watch *w, int64_t now)
{
	struct ev_msg m[64];
	ssize_t n;

	while ((n = read(w->ev[0], m, sizeof m)) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof *m; i++) {
			if (m[i].gen != w->gen || m[i].chan >= w->nch || m[i].box >= w->ch[m[i].chan].nboxes)
				continue;
			/* Shorter than for inotify: a server burst (a mailing list
			 * digest, a move of many messages) still lands as one sync. */
			make_due(&w->ch[m[i].chan].boxes[m[i].box], now, WATCH_DEBOUNCE_MS / 2);
		}
	}
	if (atomic_exchange(&w->overflow, 0))
		all_due(w, now);
}

static void read_inotify(struct watch *w, int64_t now)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(w->ino, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)(void *)p;

			p += sizeof *e + e->len;
			if (e->mask & IN_Q_OVERFLOW) {
				all_due(w, now);
				continue;
			}
			if (e->len && e->name[0] == '.')
				continue;
			for (size_t i = 0; i < w->nwds; i++) {
				struct wbox *b;

				if (w->wds[i].wd != e->wd)
					continue;
				b = &w->ch[w->wds[i].chan].boxes[w->wds[i].box];
				if (now >= b->quiet_until)
					make_due(b, now, WATCH_DEBOUNCE_MS);
				break;
			}
		}
	}
}

static void read_signals(struct watch *w)
{
	unsigned char s[16];
	ssize_t n = read(w->sig[0], s, sizeof s);

	for (ssize_t i = 0; i < n; i++) {
		if (s[i] == SIGHUP) {
			fct_log_info(&w->log, "watch: SIGHUP: reloading the configuration");
			w->reload = 1;
		} else {
			fct_log_info(&w->log, "watch: stopping");
			w->stopping = 1;
		}
	}
}

/* Runs one sync_run over the given targets; 0 on success. */
static int run(struct watch *w, const struct run_target *t, size_t n)
{
	struct run_opts ro = w->ro;

	ro.targets = t;
	ro.ntargets = n;
	return sync_run(w->cfg, &ro);
}

/* Syncs the due boxes of channel c (and, at poll time, its polled ones). */
static void sync_chan(struct watch *w, size_t c, int64_t now)
{
	struct wchan *wc = &w->ch[c];
	const char **boxes = fct_xcalloc(wc->nboxes + 1, sizeof *boxes);
	char *mine = fct_xcalloc(wc->nboxes + 1, 1);
	struct run_target t = {wc->name, NULL};
	int poll_now = now >= wc->poll_due, rc;
	size_t n = 0;

	for (size_t b = 0; b < wc->nboxes; b++) {
		mine[b] = (wc->boxes[b].due && wc->boxes[b].due <= now) ||
		          (poll_now && !wc->boxes[b].idle);
		if (mine[b])
			boxes[n++] = wc->boxes[b].name;
	}
	if (poll_now)
		wc->poll_due = now + WATCH_POLL_S * 1000;
	if (n || (poll_now && !wc->imap)) {
		t.boxes = wc->single || !wc->imap ? NULL : boxes;
		fct_log_verbose(&w->log, "watch: syncing %s (%zu box(es))", wc->name, n);
		rc = run(w, &t, 1);
		now = fct_now_ms();
		for (size_t b = 0; b < wc->nboxes; b++) {
			if (!mine[b])
				continue;
			wc->boxes[b].quiet_until = now + WATCH_DEBOUNCE_MS;
			wc->boxes[b].due = rc ? now + wc->backoff_ms : 0;
		}
		wc->backoff_ms = rc ? min64(wc->backoff_ms * 2, WATCH_BACKOFF_MAX_MS)
		                    : WATCH_BACKOFF_MIN_MS;
	}
	free(mine);
	free(boxes);
}

static int64_t next_deadline(const struct watch *w)
{
	int64_t d = w->next_full;

	for (size_t c = 0; c < w->nch; c++) {
		int polled = !w->ch[c].imap;

		for (size_t b = 0; b < w->ch[c].nboxes; b++) {
			if (w->ch[c].boxes[b].due)
				d = min64(d, w->ch[c].boxes[b].due);
			polled |= !w->ch[c].boxes[b].idle;
		}
		if (polled)
			d = min64(d, w->ch[c].poll_due);
	}
	return d;
}

/* Waits for events until something is due or a signal asks to stop or
 * reload; then runs what is due. */
static void wait_and_sync(struct watch *w)
{
	struct pollfd p[3] = {{w->sig[0], POLLIN, 0}, {w->ev[0], POLLIN, 0}, {w->ino, POLLIN, 0}};
	int64_t now = fct_now_ms(), left = next_deadline(w) - now;
	int r;

	r = poll(p, w->ino >= 0 ? 3 : 2, left <= 0 ? 0 : (int)min64(left, 60000));
	if (r < 0 && errno != EINTR) {
		fct_log_error(&w->log, "watch: poll: %s", strerror(errno));
		w->stopping = 1;
		return;
	}
	now = fct_now_ms();
	if (p[0].revents)
		read_signals(w);
	if (p[1].revents)
		read_events(w, now);
	if (w->ino >= 0 && p[2].revents)
		read_inotify(w, now);
	for (size_t c = 0; c < w->nch && !w->stopping && !w->reload && now < w->next_full; c++) {
		sync_chan(w, c, now);
		if (poll(p, 1, 0) > 0)
			read_signals(w);
		now = fct_now_ms();
	}
}

/* ---- configuration ---- */

static void drop_config(struct watch *w)
{
	stop_idlers(w);
	stop_inotify(w);
	free_chans(w);
	cli_run_opts_free(&w->ro);
	cfg_free(w->cfg);
	w->cfg = NULL;
}

/* Keeps only the channels configured "Watch yes", unless none is. */
static void keep_watched(struct watch *w)
{
	struct run_target *t = (struct run_target *)(uintptr_t)w->ro.targets;
	size_t n = 0;

	for (size_t i = 0; i < w->ro.ntargets; i++) {
		const struct cfg_channel *ch = cfg_channel(w->cfg, t[i].channel);

		n += ch && ch->watch;
	}
	if (!n)
		return;
	n = 0;
	for (size_t i = 0; i < w->ro.ntargets; i++) {
		const struct cfg_channel *ch = cfg_channel(w->cfg, t[i].channel);

		/* With no channel named, targets are whole channels: no box
		 * lists to free when one is dropped. */
		if (ch && ch->watch)
			t[n++] = t[i];
	}
	w->ro.ntargets = n;
}

static int load_config(struct watch *w)
{
	struct fct_config *cfg = NULL;
	struct run_opts ro;
	struct fct_err err;

	fct_err_clear(&err);
	if (cfg_load(&cfg, w->cli->config_path, &w->log, &err) < 0 ||
	    cli_resolve(cfg, w->cli, &ro, &err) < 0) {
		fct_log_error(&w->log, "%s", err.msg);
		cfg_free(cfg);
		return -1;
	}
	drop_config(w);
	w->cfg = cfg;
	w->ro = ro;
	w->ro.wait_lock = 1; /* a manual run meanwhile delays us, never fails us */
	if (!w->wo->explicit)
		keep_watched(w);
	return 0;
}

/* Full sync of every channel, then (re)build the tables when the set of
 * boxes may have changed: at start, after a reload, or periodically. */
static void full_sync(struct watch *w)
{
	int64_t interval = (w->wo->interval_s > 0 ? w->wo->interval_s : WATCH_INTERVAL_DEFAULT) * 1000;
	int failed;

	fct_log_verbose(&w->log, "watch: full sync");
	failed = run(w, w->ro.targets, w->ro.ntargets) != 0;
	if (poll(&(struct pollfd){w->sig[0], POLLIN, 0}, 1, 0) > 0)
		read_signals(w);
	if (w->stopping || w->reload)
		return;
	stop_idlers(w);
	stop_inotify(w);
	free_chans(w);
	failed |= build_chans(w) < 0;
	start_inotify(w);
	start_idlers(w);
	if (failed) {
		w->next_full = fct_now_ms() + w->full_backoff_ms;
		w->full_backoff_ms = min64(w->full_backoff_ms * 2, WATCH_BACKOFF_MAX_MS);
	} else {
		w->next_full = fct_now_ms() + interval;
		w->full_backoff_ms = WATCH_BACKOFF_MIN_MS;
	}
	fct_log_info(&w->log, "watch: watching %zu channel(s), %zu IDLE session(s)", w->nch, w->nidl);
}

static void main_loop(struct watch *w)
{
	while (!w->stopping) {
		if (w->reload) {
			w->reload = 0;
			if (load_config(w) < 0)
				fct_log_warn(&w->log, "watch: keeping the previous configuration");
			else
				w->next_full = 0;
		}
		if (fct_now_ms() >= w->next_full)
			full_sync(w);
		while (!w->stopping && !w->reload && fct_now_ms() < w->next_full)
			wait_and_sync(w);
	}
}

static int setup(struct watch *w)
{
	sigset_t s;

	if (pipe2(w->ev, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(w->sig, O_CLOEXEC | O_NONBLOCK) < 0) {
		fct_log_error(&w->log, "watch: pipe: %s", strerror(errno));
		return -1;
	}
	signal_set(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	pthread_atfork(NULL, NULL, unblock_in_child);
	if (pthread_create(&w->sigthr, NULL, signal_thread, w) != 0) {
		fct_log_error(&w->log, "watch: cannot start the signal thread");
		return -1;
	}
	w->have_sigthr = 1;
	return 0;
}

int watch_run(const struct cli_opts *o, const struct watch_opts *wo)
{
	struct watch w;
	int rc = 1;

	memset(&w, 0, sizeof w);
	w.cli = o;
	w.wo = wo;
	w.log = o->log;
	w.ev[0] = w.ev[1] = w.sig[0] = w.sig[1] = w.stop[0] = w.stop[1] = w.ino = -1;
	w.full_backoff_ms = WATCH_BACKOFF_MIN_MS;
	if (load_config(&w) == 0 && setup(&w) == 0) {
		main_loop(&w);
		rc = 0;
	}
	drop_config(&w);
	if (w.have_sigthr) {
		pthread_kill(w.sigthr, SIGUSR1);
		pthread_join(w.sigthr, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (w.ev[i] >= 0)
			close(w.ev[i]);
		if (w.sig[i] >= 0)
			close(w.sig[i]);
	}
	return rc;
}
