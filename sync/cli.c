/* Command-line parsing and target resolution (see cli.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/cli.h"

enum {
	O_DRY_RUN = 256, O_JSON, O_WAIT,
	O_CREATE_FAR, O_CREATE_NEAR, O_REMOVE_FAR, O_REMOVE_NEAR, O_EXPUNGE_FAR, O_EXPUNGE_NEAR,
	O_NEW, O_RENEW, O_DELETE, O_FLAGS, O_NOOP, O_FULL, O_OLD, O_PULL_OLD, O_PUSH_OLD,
	O_PULL, O_PULL_NEW, O_PULL_RENEW, O_PULL_DELETE, O_PULL_FLAGS,
	O_PUSH, O_PUSH_NEW, O_PUSH_RENEW, O_PUSH_DELETE, O_PUSH_FLAGS,
};

static const struct option longopts[] = {
	{"config", required_argument, NULL, 'c'},
	{"all", no_argument, NULL, 'a'},
	{"list", no_argument, NULL, 'l'},
	{"create", no_argument, NULL, 'C'},
	{"create-far", no_argument, NULL, O_CREATE_FAR},
	{"create-master", no_argument, NULL, O_CREATE_FAR},
	{"create-near", no_argument, NULL, O_CREATE_NEAR},
	{"create-slave", no_argument, NULL, O_CREATE_NEAR},
	{"remove", no_argument, NULL, 'R'},
	{"remove-far", no_argument, NULL, O_REMOVE_FAR},
	{"remove-master", no_argument, NULL, O_REMOVE_FAR},
	{"remove-near", no_argument, NULL, O_REMOVE_NEAR},
	{"remove-slave", no_argument, NULL, O_REMOVE_NEAR},
	{"expunge", no_argument, NULL, 'X'},
	{"expunge-far", no_argument, NULL, O_EXPUNGE_FAR},
	{"expunge-master", no_argument, NULL, O_EXPUNGE_FAR},
	{"expunge-near", no_argument, NULL, O_EXPUNGE_NEAR},
	{"expunge-slave", no_argument, NULL, O_EXPUNGE_NEAR},
	{"new", no_argument, NULL, O_NEW},
	{"old", no_argument, NULL, O_OLD},
	{"renew", no_argument, NULL, O_RENEW},
	{"upgrade", no_argument, NULL, O_RENEW},
	{"delete", no_argument, NULL, O_DELETE},
	{"gone", no_argument, NULL, O_DELETE},
	{"flags", no_argument, NULL, O_FLAGS},
	{"noop", no_argument, NULL, O_NOOP},
	{"full", no_argument, NULL, O_FULL},
	{"pull", no_argument, NULL, O_PULL},
	{"pull-new", no_argument, NULL, O_PULL_NEW},
	{"pull-old", no_argument, NULL, O_PULL_OLD},
	{"pull-renew", no_argument, NULL, O_PULL_RENEW},
	{"pull-upgrade", no_argument, NULL, O_PULL_RENEW},
	{"pull-delete", no_argument, NULL, O_PULL_DELETE},
	{"pull-gone", no_argument, NULL, O_PULL_DELETE},
	{"pull-flags", no_argument, NULL, O_PULL_FLAGS},
	{"push", no_argument, NULL, O_PUSH},
	{"push-new", no_argument, NULL, O_PUSH_NEW},
	{"push-old", no_argument, NULL, O_PUSH_OLD},
	{"push-renew", no_argument, NULL, O_PUSH_RENEW},
	{"push-upgrade", no_argument, NULL, O_PUSH_RENEW},
	{"push-delete", no_argument, NULL, O_PUSH_DELETE},
	{"push-gone", no_argument, NULL, O_PUSH_DELETE},
	{"push-flags", no_argument, NULL, O_PUSH_FLAGS},
	{"verbose", no_argument, NULL, 'V'},
	{"quiet", no_argument, NULL, 'q'},
	{"debug", optional_argument, NULL, 'D'},
	{"version", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"dry-run", no_argument, NULL, O_DRY_RUN},
	{"json", no_argument, NULL, O_JSON},
	{"wait", no_argument, NULL, O_WAIT},
	{NULL, 0, NULL, 0},
};

void cli_usage(FILE *fp)
{
	fputs("usage: facteur [OPTIONS] {-a | CHANNEL[:BOX[,BOX...]] | GROUP}...\n"
	      "       facteur {watch|status|check|probe|setup} [OPTIONS]\n"
	      "  -c, --config FILE  read FILE (default: $XDG_CONFIG_HOME/facteur/config,\n"
	      "                     then ~/.mbsyncrc)\n"
	      "  -a, --all          all channels\n"
	      "  -l, --list         list the selected channels' mailboxes, sync nothing\n"
	      "  -C[f][n], --create[-far|-near]    override Create\n"
	      "  -R[f][n], --remove[-far|-near]    override Remove\n"
	      "  -X[f][n], --expunge[-far|-near]   override Expunge\n"
	      "  -n -N -d -f, --new --renew --delete --flags   only these operations\n"
	      "               (mbsync 1.5 names: -o --old, -u --upgrade, -g --gone)\n"
	      "  -0, --noop / -F, --full            no / all operations\n"
	      "  -L[nNdf], -H[nNdf], --pull[-new|...], --push[-new|...]  one direction\n"
	      "  --dry-run          show what would be done, change nothing\n"
	      "  --json             print a JSON summary on stdout\n"
	      "  --wait             wait for another run on the same channel to finish\n"
	      "  -V, --verbose      more output      -q, --quiet  less (twice: no warnings)\n"
	      "  -D, --debug        show the protocol exchange\n"
	      "  -v, --version      print the version   -h, --help  this help\n", fp);
}

/* Letters after -C/-R/-X: f (m) far, n (s) near; none means both. */
static int side_letters(const char *s, int *out, char opt, struct fct_err *err)
{
	int v = 0;
	for (; s && *s; s++) {
		if (*s == 'f' || *s == 'm')
			v |= RUN_SIDE_FAR;
		else if (*s == 'n' || *s == 's')
			v |= RUN_SIDE_NEAR;
		else
			return fct_err_set(err, FCT_E_CONFIG, "invalid letter '%c' after -%c (use f or n)",
			                   *s, opt);
	}
	*out |= v ? v : RUN_SIDE_FAR | RUN_SIDE_NEAR;
	return 0;
}

static unsigned type_letter(char c)
{
	switch (c) {
	case 'n': case 'o': return CFG_OP_NEW;
	case 'N': case 'u': return CFG_OP_RENEW;
	case 'd': case 'g': return CFG_OP_DELETE;
	case 'f': return CFG_OP_FLAGS;
	default: return 0;
	}
}

/* -L / -H with optional type letters: bare is a direction, letters make cells. */
static int dir_letters(struct cli_opts *o, char opt, const char *s, struct fct_err *err)
{
	unsigned *cells = opt == 'L' ? &o->ops.pull : &o->ops.push;
	if (!s || !*s) {
		o->ops.dirs |= opt == 'L' ? 1 : 2;
		return 0;
	}
	for (; *s; s++) {
		unsigned t = type_letter(*s);
		if (!t)
			return fct_err_set(err, FCT_E_CONFIG, "invalid letter '%c' after -%c (use n, N, "
			                   "d, f, o, u or g)", *s, opt);
		*cells |= t;
	}
	return 0;
}

static int long_ops(struct cli_opts *o, int c)
{
	switch (c) {
	case O_NEW: case O_OLD: o->ops.types |= CFG_OP_NEW; return 1;
	case O_RENEW: o->ops.types |= CFG_OP_RENEW; return 1;
	case O_DELETE: o->ops.types |= CFG_OP_DELETE; return 1;
	case O_FLAGS: o->ops.types |= CFG_OP_FLAGS; return 1;
	case O_NOOP: return 1;
	case O_FULL: o->ops.dirs |= 3; return 1;
	case O_PULL: o->ops.dirs |= 1; return 1;
	case O_PUSH: o->ops.dirs |= 2; return 1;
	case O_PULL_NEW: case O_PULL_OLD: o->ops.pull |= CFG_OP_NEW; return 1;
	case O_PULL_RENEW: o->ops.pull |= CFG_OP_RENEW; return 1;
	case O_PULL_DELETE: o->ops.pull |= CFG_OP_DELETE; return 1;
	case O_PULL_FLAGS: o->ops.pull |= CFG_OP_FLAGS; return 1;
	case O_PUSH_NEW: case O_PUSH_OLD: o->ops.push |= CFG_OP_NEW; return 1;
	case O_PUSH_RENEW: o->ops.push |= CFG_OP_RENEW; return 1;
	case O_PUSH_DELETE: o->ops.push |= CFG_OP_DELETE; return 1;
	case O_PUSH_FLAGS: o->ops.push |= CFG_OP_FLAGS; return 1;
	default: return 0;
	}
}

static int box_override(struct cli_opts *o, int c, struct fct_err *err)
{
	switch (c) {
	case 'C': return side_letters(optarg, &o->create, 'C', err);
	case 'R': return side_letters(optarg, &o->remove, 'R', err);
	case 'X': return side_letters(optarg, &o->expunge, 'X', err);
	case O_CREATE_FAR: o->create |= RUN_SIDE_FAR; return 0;
	case O_CREATE_NEAR: o->create |= RUN_SIDE_NEAR; return 0;
	case O_REMOVE_FAR: o->remove |= RUN_SIDE_FAR; return 0;
	case O_REMOVE_NEAR: o->remove |= RUN_SIDE_NEAR; return 0;
	case O_EXPUNGE_FAR: o->expunge |= RUN_SIDE_FAR; return 0;
	case O_EXPUNGE_NEAR: o->expunge |= RUN_SIDE_NEAR; return 0;
	default: return 1;
	}
}

static int short_opt(struct cli_opts *o, int c, struct fct_err *err)
{
	switch (c) {
	case 'c': o->config_path = optarg; return 0;
	case 'a': o->all = 1; return 0;
	case 'l': o->list = 1; return 0;
	case 'n': case 'N': case 'd': case 'f': case 'o': case 'u': case 'g':
		o->ops_given = 1;
		o->ops.types |= type_letter((char)c);
		return 0;
	case '0': o->ops_given = 1; return 0;
	case 'F': o->ops_given = 1; o->ops.dirs |= 3; return 0;
	case 'L': case 'H': o->ops_given = 1; return dir_letters(o, (char)c, optarg, err);
	case 'V': o->log.level = 2; return 0;
	case 'q': o->log.level = o->log.level > 0 ? 0 : -1; return 0;
	case 'D': o->log.debug = 1; if (o->log.level < 2) o->log.level = 2; return 0;
	case 'v': o->version = 1; return 0;
	case 'h': o->help = 1; return 0;
	case O_DRY_RUN: o->dry_run = 1; return 0;
	case O_JSON: o->json = 1; return 0;
	case O_WAIT: o->wait_lock = 1; return 0;
	default: break;
	}
	if (long_ops(o, c)) {
		o->ops_given = 1;
		return 0;
	}
	int r = box_override(o, c, err);
	if (r <= 0)
		return r;
	return fct_err_set(err, FCT_E_CONFIG, "unknown option (try 'facteur --help')");
}

/* Mark the box overrides as unset until an option sets them. */
static void normalize_box(int *v)
{
	if (*v == 0)
		*v = -1;
}

/* Short options that take a separate argument; the optional ones (-C -R -X
 * -L -H -D) only take attached text. */
static int skips_next(const char *a)
{
	if (!strcmp(a, "--config"))
		return 1;
	if (a[1] == '-')
		return 0;
	for (const char *p = a + 1; *p; p++) {
		if (*p == 'c')
			return p[1] == '\0';
		if (strchr("CRXLHD", *p))
			return 0;
	}
	return 0;
}

/* `probe` and `setup` have options of their own: everything from the first
 * operand on, if it names one of them, is left to the subcommand. */
static int own_options_from(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			return argc;
		if (a[0] == '-' && a[1]) {
			i += skips_next(a);
			continue;
		}
		return (!strcmp(a, "probe") || !strcmp(a, "setup")) ? i : argc;
	}
	return argc;
}

int cli_parse(struct cli_opts *o, int argc, char **argv, struct fct_err *err)
{
	int full_argc = argc;

	memset(o, 0, sizeof *o);
	argc = own_options_from(argc, argv);
	o->log.level = 1;
	opterr = 0;
	optind = 0; /* GNU getopt: full reinitialization, so parsing can be repeated */
	int c;
	while ((c = getopt_long(argc, argv, ":c:alC::R::X::nNdfoug0FL::H::VqD::vh", longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			if (optopt && optopt < 256)
				return fct_err_set(err, FCT_E_CONFIG, "%s -%c (try 'facteur --help')",
				                   c == ':' ? "missing argument for" : "unknown option",
				                   optopt);
			return fct_err_set(err, FCT_E_CONFIG, "unknown option '%s' (try 'facteur --help')",
			                   bad);
		}
		if (short_opt(o, c, err))
			return -1;
	}
	normalize_box(&o->create);
	normalize_box(&o->remove);
	normalize_box(&o->expunge);
	for (int i = optind; i < full_argc; i++) {
		o->args = fct_xrealloc(o->args, (o->nargs + 1) * sizeof *o->args);
		o->args[o->nargs++] = argv[i];
	}
	return 0;
}

void cli_free(struct cli_opts *o)
{
	free(o->args);
	o->args = NULL;
	o->nargs = 0;
}

/* ---- targets ---- */

/* run_opts exposes its arrays as const to the engine; we own them. */
static void *unconst(const void *p)
{
	union { const void *c; void *m; } u;
	u.c = p;
	return u.m;
}

/* Box list "a,b" (mbsync also takes newlines) as a NULL-terminated array. */
static const char **split_boxes(const char *s)
{
	const char **v = NULL;
	size_t n = 0;
	while (*s) {
		size_t len = strcspn(s, ",\n");
		if (len) {
			v = fct_xrealloc(v, (n + 2) * sizeof *v);
			v[n++] = fct_xstrndup(s, len);
			v[n] = NULL;
		}
		s += len;
		if (*s)
			s++;
	}
	return v;
}

static void add_target(struct run_opts *r, const char *channel, const char *boxes)
{
	struct run_target *t = fct_xrealloc(unconst(r->targets), (r->ntargets + 1) * sizeof *t);
	t[r->ntargets].channel = channel;
	t[r->ntargets].boxes = boxes ? split_boxes(boxes) : NULL;
	r->targets = t;
	r->ntargets++;
}

/* One "CHANNEL[:BOXES]" entry, from the command line or a Group. */
static int add_spec(const struct fct_config *c, struct run_opts *r, const char *spec,
                    const char *group, struct fct_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	for (size_t i = 0; i < c->nchannels; i++) {
		const char *name = c->channels[i]->name;
		if (strlen(name) == len && !strncmp(name, spec, len)) {
			add_target(r, name, colon ? colon + 1 : NULL);
			return 0;
		}
	}
	if (group)
		return fct_err_set(err, FCT_E_CONFIG, "group '%s' refers to unknown channel '%.*s'",
		                   group, (int)len, spec);
	return fct_err_set(err, FCT_E_CONFIG, "no channel or group named '%.*s'", (int)len, spec);
}

static void copy_overrides(const struct cli_opts *o, struct run_opts *r)
{
	r->dry_run = o->dry_run;
	r->list_only = o->list;
	r->json = o->json;
	r->wait_lock = o->wait_lock;
	r->create_override = o->create;
	r->remove_override = o->remove;
	r->expunge_override = o->expunge;
	r->log = o->log;
}

int cli_resolve(const struct fct_config *c, const struct cli_opts *o, struct run_opts *r,
                struct fct_err *err)
{
	memset(r, 0, sizeof *r);
	copy_overrides(o, r);
	if (o->ops_given) {
		if (cfg_sync_merge(&o->ops, &r->pull_ops, &r->push_ops))
			return fct_err_set(err, FCT_E_CONFIG, "conflicting operation options "
			                   "(e.g. -Ln together with -L or -n)");
		r->ops_given = 1;
		r->ops_override = r->pull_ops | r->push_ops;
	}
	if (o->all) {
		for (size_t i = 0; i < c->nchannels; i++)
			add_target(r, c->channels[i]->name, NULL);
		if (!c->nchannels)
			return fct_err_set(err, FCT_E_CONFIG, "no channels defined in %s", c->path);
		return 0;
	}
	if (!o->nargs)
		return fct_err_set(err, FCT_E_CONFIG, "no channel specified (use -a for all; "
		                   "try 'facteur --help')");
	for (size_t i = 0; i < o->nargs; i++) {
		const char *a = o->args[i];
		const struct cfg_group *g = strchr(a, ':') ? NULL : cfg_group(c, a);
		int rc = 0;
		if (g) {
			for (char **m = g->channels; m && *m && !rc; m++)
				rc = add_spec(c, r, *m, g->name, err);
		} else {
			rc = add_spec(c, r, a, NULL, err);
		}
		if (rc) {
			cli_run_opts_free(r);
			return -1;
		}
	}
	return 0;
}

void cli_run_opts_free(struct run_opts *r)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		const char **b = r->targets[i].boxes;
		for (size_t k = 0; b && b[k]; k++)
			free(unconst(b[k]));
		free(unconst(b));
	}
	free(unconst(r->targets));
	r->targets = NULL;
	r->ntargets = 0;
}
