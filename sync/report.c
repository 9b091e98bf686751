#include "sync/report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void report_from_counts(struct report *r, const struct sync_counts *s)
{
	r->boxes = s->boxes;
	r->boxes_failed = s->boxes_failed;
	r->pulled = s->act[PLAN_DOWNLOAD];
	r->pushed = s->act[PLAN_UPLOAD];
	r->flags_far = s->act[PLAN_FLAGS_FAR];
	r->flags_near = s->act[PLAN_FLAGS_NEAR];
	r->deleted_far = s->act[PLAN_DELETE_FAR];
	r->deleted_near = s->act[PLAN_DELETE_NEAR];
	r->expunged_far = s->act[PLAN_EXPUNGE_FAR];
	r->too_big = s->act[PLAN_SKIP_TOO_BIG];
	r->paired = s->act[PLAN_PAIR];
	r->ambiguous = s->ambiguous;
	r->moved_near = s->moved_near;
	r->moved_far = s->moved_far;
	r->bytes_down = s->bytes_down;
	r->bytes_up = s->bytes_up;
	r->wire_in = s->wire_in;
	r->wire_out = s->wire_out;
}

void report_from_pop3(struct report *r, const struct pop3sync_summary *s)
{
	r->boxes = 1;
	r->pulled = s->downloaded;
	r->bytes_down = s->bytes;
	r->deleted_far = s->deleted;
	r->too_big = s->too_big;
	r->paired = s->recovered;
}

void report_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void print_json(const struct report *r, FILE *out)
{
	fputs("{\"channel\":", out);
	report_json_string(out, r->channel);
	fprintf(out, ",\"ok\":%s,\"dry_run\":%s,\"error\":", r->ok ? "true" : "false",
	        r->dry_run ? "true" : "false");
	if (r->error)
		report_json_string(out, r->error);
	else
		fputs("null", out);
	fprintf(out,
	        ",\"boxes\":%zu,\"boxes_failed\":%zu,\"pulled\":%zu,\"pushed\":%zu,"
	        "\"flags_far\":%zu,\"flags_near\":%zu,\"deleted_far\":%zu,\"deleted_near\":%zu,"
	        "\"expunged_far\":%zu,\"too_big\":%zu,\"ambiguous\":%zu,\"paired\":%zu,"
	        "\"moved_near\":%zu,\"moved_far\":%zu,"
	        "\"bytes_down\":%llu,\"bytes_up\":%llu,\"wire_in\":%llu,\"wire_out\":%llu}\n",
	        r->boxes, r->boxes_failed, r->pulled, r->pushed, r->flags_far, r->flags_near,
	        r->deleted_far, r->deleted_near, r->expunged_far, r->too_big, r->ambiguous,
	        r->paired, r->moved_near, r->moved_far, (unsigned long long)r->bytes_down, (unsigned long long)r->bytes_up,
	        r->wire_in, r->wire_out);
	fflush(out);
}

void report_print(const struct report *r, int json, const struct fct_log *log, FILE *out)
{
	if (json) {
		print_json(r, out);
		return;
	}
	fct_log_info(log,
	             "%s%s: %zu box%s; pulled %zu (%llu bytes), pushed %zu (%llu bytes); "
	             "flags %zu far, %zu near; deleted %zu far, %zu near; expunged %zu far; "
	             "moved %zu far, %zu near; %zu too big, %zu paired without transfer",
	             r->dry_run ? "(dry run) " : "", r->channel, r->boxes, r->boxes == 1 ? "" : "es",
	             r->pulled, (unsigned long long)r->bytes_down, r->pushed,
	             (unsigned long long)r->bytes_up, r->flags_far, r->flags_near, r->deleted_far,
	             r->deleted_near, r->expunged_far, r->moved_far, r->moved_near, r->too_big,
	             r->paired);
}

static void setenv_num(const char *name, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%llu", v);
	setenv(name, buf, 1);
}

int report_hook(const struct report *r, const char *cmd, const struct fct_log *log)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("FACTEUR_CHANNEL", r->channel, 1);
		setenv_num("FACTEUR_PULLED", r->pulled);
		setenv_num("FACTEUR_PUSHED", r->pushed);
		setenv_num("FACTEUR_FLAGS_NEAR", r->flags_near);
		setenv_num("FACTEUR_FLAGS_FAR", r->flags_far);
		setenv_num("FACTEUR_DELETED_NEAR", r->deleted_near);
		setenv_num("FACTEUR_DELETED_FAR", r->deleted_far);
		setenv_num("FACTEUR_CHANGED_NEAR",
		           r->pulled + r->flags_near + r->deleted_near);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fct_log_error(log, "%s: PostSyncCommand failed (status %d)", r->channel,
		              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 1;
	}
	return 0;
}
