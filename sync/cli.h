/* The command line: mbsync-compatible options and targets, turned into the
 * run_opts the sync engine takes.  Owns the parsed options and the resolved
 * target list (cli_free releases both); borrows argv and the config. */
#ifndef FACTEUR_CLI_H
#define FACTEUR_CLI_H

#include "sync/config.h"
#include "sync/run.h"
#include "sync/util.h"

#define FCT_VERSION "0.1"

struct cli_opts {
	const char *config_path; /* -c, or NULL for the default lookup */
	int all, list, dry_run, json, wait_lock;
	int help, version;
	struct fct_log log;      /* -V / -q / -D */
	int ops_given;           /* any of -n -N -d -f -0 -F -L -H */
	struct cfg_sync_spec ops;
	int create, remove, expunge; /* -1 or RUN_SIDE_* bits */
	char **args;             /* positional arguments (point into argv) */
	size_t nargs;
};

/* Parses options; positional arguments are collected in order.  Errors
 * (unknown option, bad letters after -C/-L, conflicting -L/-n) are
 * FCT_E_CONFIG with a one-line message.  argv is reordered (getopt). */
int cli_parse(struct cli_opts *o, int argc, char **argv, struct fct_err *err);

/* Expands -a, groups and CHANNEL[:BOX[,BOX...]] into r->targets, and copies
 * the overrides into r.  Groups hide channels of the same name, as in mbsync.
 * Unknown names: "no channel or group named X".  On success the caller
 * frees r's targets with cli_run_opts_free. */
int cli_resolve(const struct fct_config *c, const struct cli_opts *o, struct run_opts *r,
                struct fct_err *err);
void cli_run_opts_free(struct run_opts *r);

void cli_free(struct cli_opts *o);

/* Usage text for --help. */
void cli_usage(FILE *fp);

#endif
