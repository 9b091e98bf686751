/* Placeholder until the engine lands: the command line links against it. */
#include "sync/run.h"

int sync_run(const struct fct_config *cfg, const struct run_opts *opts)
{
	(void)cfg;
	fct_log_error(&opts->log, "synchronization is not implemented yet");
	return 1;
}
