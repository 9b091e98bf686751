/* facteur status (see status.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync/connect.h"
#include "sync/report.h"
#include "sync/status.h"
#include "store/journal.h"

struct box_stat {
	char *name;
	size_t msgs, synced, pending, one_side, skipped, uidls;
	uint32_t uidvalidity, uidnext;
};

struct chan_stat {
	const struct cfg_channel *ch;
	char *dir;
	int64_t last_sync;   /* data.mdb mtime, 0 if never */
	long locked_by;      /* pid holding the run lock, 0 if none */
	struct box_stat *boxes;
	size_t nboxes;
	size_t msgs, pending;
	struct jrnl *j;
	struct fct_err err;
};

/* The pid of a run holding the channel, 0 if none.  store/lock.c writes
 * the holder's pid into the lock file and empties it on release; a crashed
 * holder leaves its pid behind, so the process must also still exist.
 * Reading the file takes no lock: status never delays or fails a run. */
static long lock_holder(const char *dir)
{
	char *path = fct_xasprintf("%s/lock", dir), buf[32];
	long pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	free(path);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))
		return 0;
	return pid;
}

static int count_state(struct box_stat *b, const struct jrnl_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (m[i].state) {
		case JRNL_SYNCED: b->synced++; break;
		case JRNL_FAR_ONLY: case JRNL_NEAR_ONLY: b->one_side++; break;
		case JRNL_SKIPPED: b->skipped++; break;
		default: b->pending++; break;
		}
	}
	b->msgs = n;
	return 0;
}

static int on_box(void *ctx, const char *name)
{
	struct chan_stat *c = ctx;
	struct box_stat *b;
	struct jrnl_box jb;
	struct jrnl_msg *m = NULL;
	struct jrnl_uidl *u = NULL;
	size_t n = 0, nu = 0;
	int found = 0;

	c->boxes = fct_xrealloc(c->boxes, (c->nboxes + 1) * sizeof *c->boxes);
	b = &c->boxes[c->nboxes++];
	memset(b, 0, sizeof *b);
	b->name = fct_xstrdup(name);
	if (jrnl_box_get(c->j, name, &jb, &found, &c->err) < 0)
		return -1;
	b->uidvalidity = jb.uidvalidity;
	b->uidnext = jb.uidnext;
	jrnl_box_clear(&jb);
	if (jrnl_msgs_load(c->j, name, &m, &n, &c->err) < 0)
		return -1;
	count_state(b, m, n);
	jrnl_msgs_free(m, n);
	if (jrnl_uidl_load(c->j, name, &u, &nu, &c->err) < 0)
		return -1;
	b->uidls = nu;
	jrnl_uidls_free(u, nu);
	c->msgs += b->msgs;
	c->pending += b->pending;
	return 0;
}

/* Reads everything status shows; -1 with c->err when the journal is
 * unreadable (its health is then "damaged"). */
static int gather(struct chan_stat *c, int dump, FILE *out)
{
	char *data = fct_xasprintf("%s/data.mdb", c->dir);
	struct stat st;
	int rc = 0;

	if (stat(data, &st) < 0) {
		free(data);
		return 0; /* never synchronized */
	}
	free(data);
	c->last_sync = st.st_mtime;
	c->locked_by = lock_holder(c->dir);
	if (jrnl_open(&c->j, c->dir, &c->err) < 0)
		return -1;
	if (jrnl_box_list(c->j, on_box, c, &c->err) != 0)
		rc = -1;
	if (rc == 0 && dump && jrnl_dump(c->j, out, &c->err) < 0)
		rc = -1;
	jrnl_close(c->j);
	c->j = NULL;
	return rc;
}

static void print_text(const struct chan_stat *c, int ok, FILE *out)
{
	char when[64] = "never";

	if (c->last_sync) {
		time_t t = (time_t)c->last_sync;
		struct tm tm;

		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
	}
	fprintf(out, "%s: last sync %s, %zu box(es), %zu message(s), journal %s\n", c->ch->name,
	        when, c->nboxes, c->msgs,
	        !ok ? "damaged" : c->pending ? "has pending records" : c->last_sync ? "ok" : "absent");
	fprintf(out, "  state: %s\n", c->dir);
	if (c->locked_by)
		fprintf(out, "  being synchronized now (pid %ld)\n", c->locked_by);
	if (!ok)
		fprintf(out, "  error: %s\n", c->err.msg);
	if (c->pending)
		fprintf(out, "  %zu record(s) pending from an interrupted run; the next sync "
		        "resolves them\n", c->pending);
	for (size_t i = 0; i < c->nboxes; i++) {
		const struct box_stat *b = &c->boxes[i];

		fprintf(out, "  %s: %zu message(s), %zu synced", b->name, b->msgs, b->synced);
		if (b->pending)
			fprintf(out, ", %zu pending", b->pending);
		if (b->one_side)
			fprintf(out, ", %zu on one side only", b->one_side);
		if (b->skipped)
			fprintf(out, ", %zu skipped", b->skipped);
		if (b->uidls)
			fprintf(out, ", %zu POP3 UIDL(s)", b->uidls);
		if (b->uidvalidity)
			fprintf(out, ", UIDVALIDITY %u, UIDNEXT %u", b->uidvalidity, b->uidnext);
		fputc('\n', out);
	}
}

static void print_json(const struct chan_stat *c, int ok, FILE *out)
{
	fputs("{\"channel\":", out);
	report_json_string(out, c->ch->name);
	fputs(",\"state_dir\":", out);
	report_json_string(out, c->dir);
	fprintf(out, ",\"ok\":%s,\"last_sync\":%lld,\"locked_by\":%ld,\"messages\":%zu,"
	        "\"pending\":%zu,\"error\":", ok ? "true" : "false", (long long)c->last_sync,
	        c->locked_by > 0 ? c->locked_by : 0, c->msgs, c->pending);
	if (ok)
		fputs("null", out);
	else
		report_json_string(out, c->err.msg);
	fputs(",\"boxes\":[", out);
	for (size_t i = 0; i < c->nboxes; i++) {
		const struct box_stat *b = &c->boxes[i];

		fputs(i ? ",{\"name\":" : "{\"name\":", out);
		report_json_string(out, b->name);
		fprintf(out, ",\"messages\":%zu,\"synced\":%zu,\"pending\":%zu,\"one_side\":%zu,"
		        "\"skipped\":%zu,\"uidls\":%zu,\"uidvalidity\":%u,\"uidnext\":%u}", b->msgs,
		        b->synced, b->pending, b->one_side, b->skipped, b->uidls, b->uidvalidity,
		        b->uidnext);
	}
	fputs("]}\n", out);
}

/* Where a channel's journal is: a POP3 channel's is its account's. */
static char *state_dir(const struct fct_config *cfg, const struct cfg_channel *ch)
{
	const struct cfg_account *a = ch->far ? ch->far->account : NULL;
	struct fct_err e;
	char *user, *dir;

	if (ch->far->kind != CFG_STORE_POP3 || !a)
		return cfg_state_dir(cfg, ch);
	if (cfg_get_user(a, &user, &e) < 0)
		return NULL;
	dir = cfg_pop3_state_dir(cfg, ch, user, sync_default_port(a));
	free(user);
	return dir;
}

int status_run(const struct fct_config *cfg, const struct run_opts *r, const struct status_opts *so,
               FILE *out)
{
	int failed = 0;

	for (size_t i = 0; i < r->ntargets; i++) {
		struct chan_stat c;
		int ok;

		memset(&c, 0, sizeof c);
		c.ch = cfg_channel(cfg, r->targets[i].channel);
		if (!c.ch)
			continue;
		c.dir = state_dir(cfg, c.ch);
		if (!c.dir) {
			fct_log_error(&r->log, "%s: no journal location (no home directory, or no User)", c.ch->name);
			failed = 1;
			continue;
		}
		ok = gather(&c, so->dump && !so->json, out) == 0;
		if (!ok) {
			fct_err_prefix(&c.err, "%s", c.ch->name);
			fct_log_error(&r->log, "%s", c.err.msg);
			failed = 1;
		}
		if (so->json)
			print_json(&c, ok, out);
		else
			print_text(&c, ok, out);
		for (size_t k = 0; k < c.nboxes; k++)
			free(c.boxes[k].name);
		free(c.boxes);
		free(c.dir);
	}
	return failed;
}
