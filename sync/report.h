/* What a run tells the user: one summary line per channel (or one JSON
 * object per channel on stdout with --json), and the PostSyncCommand hook
 * with the counts in its environment. */
#ifndef FACTEUR_REPORT_H
#define FACTEUR_REPORT_H

#include <stdio.h>

#include "sync/engine.h"
#include "sync/pop3sync.h"

struct report {
	const char *channel;
	int ok;
	const char *error;  /* one line, or NULL */
	int dry_run;
	size_t boxes, boxes_failed;
	size_t pulled, pushed, flags_far, flags_near, deleted_far, deleted_near, expunged_far;
	size_t too_big, ambiguous, paired, moved_near, moved_far;
	uint64_t bytes_down, bytes_up;
	unsigned long long wire_in, wire_out;
};

void report_from_counts(struct report *r, const struct sync_counts *s);
void report_from_pop3(struct report *r, const struct pop3sync_summary *s);
/* Human line on the log (info level), or JSON on out when json. */
void report_print(const struct report *r, int json, const struct fct_log *log, FILE *out);
/* Runs cmd through sh -c with FACTEUR_* variables describing r; returns its
 * exit status (0 ok), -1 if it could not run. */
int report_hook(const struct report *r, const char *cmd, const struct fct_log *log);
/* Writes s as a JSON string literal (quotes and escapes included). */
void report_json_string(FILE *out, const char *s);

#endif
