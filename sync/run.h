/* The command line's entry into synchronization: runs the selected channels
 * of a parsed configuration.  The config and options are borrowed. */
#ifndef FACTEUR_RUN_H
#define FACTEUR_RUN_H

#include "sync/util.h"

struct fct_config;

/* One selection from the command line: CHANNEL[:BOX[,BOX...]] or GROUP. */
struct run_target {
	const char *channel;  /* channel name */
	const char **boxes;   /* NULL-terminated list, or NULL for all boxes */
};

enum { RUN_SIDE_FAR = 1, RUN_SIDE_NEAR = 2 };

struct run_opts {
	const struct run_target *targets; /* resolved channels (groups expanded) */
	size_t ntargets;
	int dry_run;
	int list_only;   /* -l: list boxes, sync nothing */
	int json;        /* --json summaries on stdout */
	int wait_lock;   /* --wait: wait for a concurrent run instead of failing */
	unsigned ops_override; /* command-line -n/-d/-f/... restriction, 0 = channel's own */
	/* The command line's operation sets (mbsync's -n -N -d -f -0 -F -L -H):
	 * when ops_given, they replace the channel's pull/push sets (CFG_OP_*),
	 * and ops_override is their union. */
	int ops_given;
	unsigned pull_ops, push_ops;
	/* -C/-R/-X overrides: -1 = channel's own, else RUN_SIDE_* bits
	 * (-C = both, -Cf = far, -Cn = near; 0 never occurs). */
	int create_override, remove_override, expunge_override;
	struct fct_log log;
};

/* Returns 0 if every channel synchronized, 1 if any failed (each failure has
 * been reported on stderr as one line). */
int sync_run(const struct fct_config *cfg, const struct run_opts *opts);

#endif
