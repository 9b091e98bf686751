/* Command-line parsing and target resolution (sync/cli.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sync/cli.h"

#define MAXARGS 16

/* Parses a NULL-terminated argument list (program name added). */
static int parse(struct cli_opts *o, struct fct_err *err, const char *const *args)
{
	static char store[MAXARGS][64];
	static char *argv[MAXARGS + 1];
	int argc = 0;
	memcpy(store[0], "facteur", sizeof "facteur");
	argv[argc] = store[argc];
	argc++;
	for (; *args; args++, argc++) {
		assert_true(argc < MAXARGS && strlen(*args) < sizeof store[0]);
		memcpy(store[argc], *args, strlen(*args) + 1);
		argv[argc] = store[argc];
	}
	argv[argc] = NULL;
	memset(err, 0, sizeof *err);
	return cli_parse(o, argc, argv, err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_box_overrides(void **state)
{
	(void)state;
	static const struct { const char *arg; int create, remove, expunge; } cases[] = {
		{"-V", -1, -1, -1},
		{"-C", 3, -1, -1},
		{"-Cf", 1, -1, -1},
		{"-Cn", 2, -1, -1},
		{"-Cfn", 3, -1, -1},
		{"-Cm", 1, -1, -1},
		{"-Rs", -1, 2, -1},
		{"-X", -1, -1, 3},
		{"-Xn", -1, -1, 2},
		{"--create-near", 2, -1, -1},
		{"--remove-far", -1, 1, -1},
		{"--expunge", -1, -1, 3},
		{"--expunge-slave", -1, -1, 2},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cli_opts o;
		struct fct_err err;
		assert_int_equal(parse(&o, &err, ARGS(cases[i].arg, "chan")), 0);
		if (o.create != cases[i].create || o.remove != cases[i].remove ||
		    o.expunge != cases[i].expunge)
			fail_msg("%s: %d %d %d", cases[i].arg, o.create, o.remove, o.expunge);
		cli_free(&o);
	}
	struct cli_opts o;
	struct fct_err err;
	assert_int_equal(parse(&o, &err, ARGS("-Cx", "chan")), -1);
	assert_string_equal(err.msg, "invalid letter 'x' after -C (use f or n)");
	cli_free(&o);
}

/* Operation options resolve to pull/push sets by mbsync's Sync rules. */
static void test_operation_options(void **state)
{
	(void)state;
	static const struct { const char *a, *b; unsigned pull, push; } cases[] = {
		{"-n", NULL, CFG_OP_NEW, CFG_OP_NEW},
		{"-L", NULL, CFG_OP_ALL, 0},
		{"-H", NULL, 0, CFG_OP_ALL},
		{"-L", "-n", CFG_OP_NEW, 0},
		{"-Ln", NULL, CFG_OP_NEW, 0},
		{"-LnN", "-Hf", CFG_OP_NEW | CFG_OP_RENEW, CFG_OP_FLAGS},
		{"-d", "-f", CFG_OP_DELETE | CFG_OP_FLAGS, CFG_OP_DELETE | CFG_OP_FLAGS},
		{"-0", NULL, 0, 0},
		{"-F", NULL, CFG_OP_ALL, CFG_OP_ALL},
		{"--pull-new", "--push", CFG_OP_NEW, CFG_OP_ALL},
		{"--renew", "--push", 0, CFG_OP_RENEW},
		{"--noop", NULL, 0, 0},
		{"-u", "-g", CFG_OP_RENEW | CFG_OP_DELETE, CFG_OP_RENEW | CFG_OP_DELETE},
		{"-Hug", "--pull-upgrade", CFG_OP_RENEW, CFG_OP_RENEW | CFG_OP_DELETE},
		{"--gone", "--pull", CFG_OP_DELETE, 0},
	};
	char name[] = "e.rc";
	struct fct_config cfg = {0};
	cfg.path = name;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cli_opts o;
		struct fct_err err;
		const char *const *args = cases[i].b ? ARGS(cases[i].a, cases[i].b, "-a")
		                                     : ARGS(cases[i].a, "-a");
		assert_int_equal(parse(&o, &err, args), 0);
		assert_true(o.ops_given);
		struct run_opts r;
		assert_int_equal(cli_resolve(&cfg, &o, &r, &err), -1); /* no channels */
		assert_string_equal(err.msg, "no channels defined in e.rc");
		cli_free(&o);
		/* cli_resolve filled the sets before failing on the empty config. */
		if (r.pull_ops != cases[i].pull || r.push_ops != cases[i].push || !r.ops_given)
			fail_msg("%s %s: pull %u push %u", cases[i].a, cases[i].b ? cases[i].b : "",
			         r.pull_ops, r.push_ops);
		assert_int_equal(r.ops_override, cases[i].pull | cases[i].push);
		cli_run_opts_free(&r);
	}
}

static void test_operation_conflict(void **state)
{
	(void)state;
	struct cli_opts o;
	struct fct_err err;
	const struct fct_config cfg = {0};
	assert_int_equal(parse(&o, &err, ARGS("-Ln", "-L", "x")), 0);
	struct run_opts r;
	assert_int_equal(cli_resolve(&cfg, &o, &r, &err), -1);
	assert_non_null(strstr(err.msg, "conflicting operation options"));
	cli_free(&o);
}

static void test_flags_and_positionals(void **state)
{
	(void)state;
	struct cli_opts o;
	struct fct_err err;
	assert_int_equal(parse(&o, &err, ARGS("-q", "a", "-c", "f.rc", "b:X,Y", "--dry-run",
	                                      "--json", "--wait", "-l", "-D")), 0);
	assert_string_equal(o.config_path, "f.rc");
	assert_int_equal(o.nargs, 2);
	assert_string_equal(o.args[0], "a");
	assert_string_equal(o.args[1], "b:X,Y");
	assert_true(o.dry_run && o.json && o.wait_lock && o.list);
	assert_true(o.log.debug);
	assert_false(o.ops_given);
	cli_free(&o);
	assert_int_equal(parse(&o, &err, ARGS("-q", "-q")), 0);
	assert_int_equal(o.log.level, -1);
	cli_free(&o);
	assert_int_equal(parse(&o, &err, ARGS("--verbose")), 0);
	assert_int_equal(o.log.level, 2);
	cli_free(&o);
	assert_int_equal(parse(&o, &err, ARGS("--frobnicate")), -1);
	assert_string_equal(err.msg, "unknown option '--frobnicate' (try 'facteur --help')");
	cli_free(&o);
	assert_int_equal(parse(&o, &err, ARGS("-c")), -1);
	assert_string_equal(err.msg, "missing argument for -c (try 'facteur --help')");
	cli_free(&o);
}

static const char cfg_text[] =
	"MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\n"
	"Channel one\nFar :a:\nNear :b:\n\n"
	"Channel two\nFar :a:\nNear :b:\n\n"
	"Channel both\nFar :a:\nNear :b:\n\n"
	"Group both one two:INBOX,Sent\n";

static void test_resolve(void **state)
{
	(void)state;
	struct fct_log quiet = {-1, 0, NULL};
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	assert_int_equal(cfg_parse_string(&c, cfg_text, "t.rc", &quiet, &err), 0);

	struct cli_opts o;
	struct run_opts r;
	/* A group hides the channel of the same name, as in mbsync. */
	assert_int_equal(parse(&o, &err, ARGS("both", "one:A\nB,C", "-Cn")), 0);
	assert_int_equal(cli_resolve(c, &o, &r, &err), 0);
	assert_int_equal(r.ntargets, 3);
	assert_string_equal(r.targets[0].channel, "one");
	assert_null(r.targets[0].boxes);
	assert_string_equal(r.targets[1].channel, "two");
	assert_string_equal(r.targets[1].boxes[0], "INBOX");
	assert_string_equal(r.targets[1].boxes[1], "Sent");
	assert_null(r.targets[1].boxes[2]);
	assert_string_equal(r.targets[2].channel, "one");
	assert_string_equal(r.targets[2].boxes[0], "A");
	assert_string_equal(r.targets[2].boxes[1], "B");
	assert_string_equal(r.targets[2].boxes[2], "C");
	assert_int_equal(r.create_override, RUN_SIDE_NEAR);
	assert_int_equal(r.expunge_override, -1);
	assert_false(r.ops_given);
	cli_run_opts_free(&r);
	cli_free(&o);

	assert_int_equal(parse(&o, &err, ARGS("-a", "ignored")), 0);
	assert_int_equal(cli_resolve(c, &o, &r, &err), 0);
	assert_int_equal(r.ntargets, 3);
	assert_string_equal(r.targets[2].channel, "both");
	cli_run_opts_free(&r);
	cli_free(&o);

	assert_int_equal(parse(&o, &err, ARGS("one", "three:X")), 0);
	assert_int_equal(cli_resolve(c, &o, &r, &err), -1);
	assert_string_equal(err.msg, "no channel or group named 'three'");
	assert_int_equal(r.ntargets, 0);
	cli_free(&o);

	assert_int_equal(parse(&o, &err, ARGS("-V")), 0);
	assert_int_equal(cli_resolve(c, &o, &r, &err), -1);
	assert_non_null(strstr(err.msg, "no channel specified"));
	cli_free(&o);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_box_overrides),
		cmocka_unit_test(test_operation_options),
		cmocka_unit_test(test_operation_conflict),
		cmocka_unit_test(test_flags_and_positionals),
		cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
