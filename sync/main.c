/* facteur's entry point: parse the command line, dispatch a subcommand or
 * load the configuration and run the selected channels.  Exit 0 on success,
 * 1 on any failure (each reported as one line on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "sync/cli.h"
#include "sync/config.h"
#include "sync/audit.h"
#include "sync/probe.h"
#include "sync/setup.h"
#include "sync/run.h"
#include "sync/status.h"
#include "sync/watch.h"

/* Options only subcommands take, removed from argv before cli_parse (which
 * knows only mbsync's options). */
struct sub_args {
	long interval_s; /* watch --interval SECONDS, 0 = default */
	int dump;        /* status --dump */
	const char *given; /* the first such option seen, for the error if unused */
};

/* A subcommand gets the parsed options (its own arguments follow its name
 * in o->args) and returns the exit status. */
typedef int (*subcmd_fn)(const struct cli_opts *o, const struct sub_args *sa);

/* The subcommand's own arguments as a command line of channels: none means
 * all of them. */
static struct cli_opts sub_opts(const struct cli_opts *o)
{
	struct cli_opts s = *o;

	s.args = o->args + 1;
	s.nargs = o->nargs - 1;
	if (!s.nargs)
		s.all = 1;
	return s;
}

/* Loads the configuration and resolves the subcommand's channels; 0 or 1
 * (error reported). */
static int sub_setup(const struct cli_opts *o, struct fct_config **cfg, struct run_opts *r)
{
	struct cli_opts s = sub_opts(o);
	struct fct_err err = {0};

	if (cfg_load(cfg, o->config_path, &o->log, &err) == 0 && cli_resolve(*cfg, &s, r, &err) == 0)
		return 0;
	fct_log_error(&o->log, "%s", err.msg);
	cfg_free(*cfg);
	*cfg = NULL;
	return 1;
}

static int cmd_watch(const struct cli_opts *o, const struct sub_args *sa)
{
	struct cli_opts s = sub_opts(o);
	struct watch_opts w = {0};

	w.interval_s = sa->interval_s;
	w.explicit = o->nargs > 1;
	return watch_run(&s, &w);
}

static int cmd_status(const struct cli_opts *o, const struct sub_args *sa)
{
	struct fct_config *cfg = NULL;
	struct run_opts r;
	struct status_opts so = {sa->dump, o->json};
	int rc;

	if (sub_setup(o, &cfg, &r))
		return 1;
	rc = status_run(cfg, &r, &so, stdout);
	cli_run_opts_free(&r);
	cfg_free(cfg);
	return rc ? 1 : 0;
}

static int cmd_check(const struct cli_opts *o, const struct sub_args *sa)
{
	struct fct_config *cfg = NULL;
	struct run_opts r;
	int rc;

	(void)sa;
	if (sub_setup(o, &cfg, &r))
		return 1;
	rc = audit_run(cfg, &r, stdout);
	cli_run_opts_free(&r);
	cfg_free(cfg);
	return rc ? 1 : 0;
}

static int cmd_probe(const struct cli_opts *o, const struct sub_args *sa)
{
	(void)sa;
	return probe_main((int)o->nargs, o->args, &o->log, o->json);
}

static int cmd_setup(const struct cli_opts *o, const struct sub_args *sa)
{
	(void)sa;
	return setup_main((int)o->nargs, o->args, o->config_path, &o->log);
}

/* Removes --interval[=]N and --dump from argv (keeping argv[0]); returns the
 * new argc, or -1 with a message on a bad value. */
static int take_sub_args(int argc, char **argv, struct sub_args *sa)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "--")) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--dump")) {
			sa->dump = 1;
		} else if (!strncmp(a, "--interval=", 11)) {
			val = a + 11;
		} else if (!strcmp(a, "--interval")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "facteur: missing argument for --interval\n");
				return -1;
			}
			val = argv[++i];
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (!sa->given)
			sa->given = a;
		if (val) {
			char *end;

			sa->interval_s = strtol(val, &end, 10);
			if (end == val || *end || sa->interval_s < 1 || sa->interval_s > 7 * 86400) {
				fprintf(stderr, "facteur: --interval wants seconds (1 to 604800), not '%s'\n",
				        val);
				return -1;
			}
		}
	}
	argv[out] = NULL;
	return out;
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

/* glibc raises its mmap threshold each time a mapped block is freed, so a
 * folder's listings after the first large one come from the heap, where
 * their doubling growth leaves freed but resident holes.  A fixed
 * threshold keeps them mapped: grown in place and returned when freed. */
static void tune_malloc(void)
{
#ifdef __GLIBC__
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	struct fct_err err = {0};
	struct sub_args sa = {0};
	tune_malloc();
	argc = take_sub_args(argc, argv, &sa);
	if (argc < 0)
		return 1;
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
			rc = sub(&o, &sa);
		} else if (sa.given) {
			fprintf(stderr, "facteur: %s belongs to a subcommand (watch --interval, "
			        "status --dump)\n", sa.given);
			rc = 1;
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
