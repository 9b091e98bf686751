/* facteur's entry point: parse the command line, dispatch a subcommand or
 * load the configuration and run the selected channels.  Exit 0 on success,
 * 1 on any failure (each reported as one line on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/cli.h"
#include "sync/config.h"
#include "sync/probe.h"
#include "sync/setup.h"
#include "sync/run.h"

/* A subcommand gets the parsed options (its own arguments follow its name
 * in o->args) and returns the exit status. */
typedef int (*subcmd_fn)(const struct cli_opts *o);

static int not_yet(const char *name)
{
	fprintf(stderr, "facteur: '%s' is not available yet\n", name);
	return 1;
}

static int cmd_watch(const struct cli_opts *o) { (void)o; return not_yet("watch"); }
static int cmd_status(const struct cli_opts *o) { (void)o; return not_yet("status"); }
static int cmd_check(const struct cli_opts *o) { (void)o; return not_yet("check"); }
static int cmd_probe(const struct cli_opts *o)
{
	return probe_main((int)o->nargs, o->args, &o->log, o->json);
}
static int cmd_setup(const struct cli_opts *o)
{
	return setup_main((int)o->nargs, o->args, o->config_path, &o->log);
}

/* Adding a subcommand is one line here. */
static const struct {
	const char *name;
	subcmd_fn fn;
} subcmds[] = {
	{"watch", cmd_watch},
	{"status", cmd_status},
	{"check", cmd_check},
	{"probe", cmd_probe},
	{"setup", cmd_setup},
};

static subcmd_fn find_subcmd(const char *name)
{
	for (size_t i = 0; i < sizeof subcmds / sizeof subcmds[0]; i++)
		if (!strcmp(subcmds[i].name, name))
			return subcmds[i].fn;
	return NULL;
}

/* Subcommand names yield to a channel or group of the same name. */
static int names_target(const struct cli_opts *o)
{
	struct fct_config *cfg = NULL;
	struct fct_err err = {0};
	struct fct_log quiet = o->log;
	quiet.level = -1;
	if (cfg_load(&cfg, o->config_path, &quiet, &err))
		return 0;
	int found = cfg_channel(cfg, o->args[0]) || cfg_group(cfg, o->args[0]);
	cfg_free(cfg);
	return found;
}

static int run_sync(const struct fct_config *cfg, const struct cli_opts *o)
{
	struct run_opts r;
	struct fct_err err = {0};
	if (cli_resolve(cfg, o, &r, &err)) {
		fct_log_error(&o->log, "%s", err.msg);
		return 1;
	}
	int rc = sync_run(cfg, &r);
	cli_run_opts_free(&r);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	struct fct_err err = {0};
	if (cli_parse(&o, argc, argv, &err)) {
		fprintf(stderr, "facteur: %s\n", err.msg);
		cli_free(&o);
		return 1;
	}
	int rc = 0;
	if (o.help) {
		cli_usage(stdout);
	} else if (o.version) {
		puts("facteur " FCT_VERSION);
	} else {
		subcmd_fn sub = (o.nargs && !o.all) ? find_subcmd(o.args[0]) : NULL;
		struct fct_config *cfg = NULL;
		if (sub && !names_target(&o)) {
			rc = sub(&o);
		} else if (cfg_load(&cfg, o.config_path, &o.log, &err)) {
			fct_log_error(&o.log, "%s", err.msg);
			rc = 1;
		} else {
			rc = run_sync(cfg, &o);
			cfg_free(cfg);
		}
	}
	cli_free(&o);
	return rc;
}
