/* Configuration parser: every keyword, mbsync's combination rules, the
 * error messages (FILE:LINE), credentials commands and path defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sync/config.h"

#define HOME "/home/tester"

static struct fct_log quiet_log = {-1, 0, NULL}; /* not even warnings */

static int set_home(void **state)
{
	(void)state;
	setenv("HOME", HOME, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	return 0;
}

static struct fct_config *parse_ok(const char *text)
{
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	int rc = cfg_parse_string(&c, text, "t.conf", &quiet_log, &err);
	if (rc)
		print_error("unexpected error: %s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

/* Parses text that must fail; returns the message in err. */
static void parse_bad(const char *text, struct fct_err *err)
{
	struct fct_config *c = (struct fct_config *)0x1;
	memset(err, 0, sizeof *err);
	assert_int_equal(cfg_parse_string(&c, text, "t.conf", &quiet_log, err), -1);
	assert_null(c);
	assert_int_equal(err->kind, FCT_E_CONFIG);
}

static const struct cfg_account *account(const struct fct_config *c, const char *name)
{
	for (size_t i = 0; i < c->naccounts; i++)
		if (!strcmp(c->accounts[i]->name, name))
			return c->accounts[i];
	fail_msg("no account %s", name);
	return NULL;
}

static void assert_strv(char **v, const char *const *want)
{
	size_t i = 0;
	assert_non_null(v);
	for (; want[i]; i++) {
		assert_non_null(v[i]);
		assert_string_equal(v[i], want[i]);
	}
	assert_null(v[i]);
}

static struct fct_config *load_full(void)
{
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	int rc = cfg_load(&c, "tests/data/full.mbsyncrc", &quiet_log, &err);
	if (rc)
		print_error("%s\n", err.msg);
	assert_int_equal(rc, 0);
	return c;
}

static void test_full_globals(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	assert_string_equal(c->path, "tests/data/full.mbsyncrc");
	assert_int_equal(c->fsync, 0);
	assert_int_equal(c->field_delim, ';');
	assert_int_equal(c->buffer_limit, 4u << 20);
	assert_int_equal(c->parallel, 3);
	assert_int_equal(c->parallel_folders, 2);
	assert_string_equal(c->post_sync_cmd, "notmuch new");
	assert_int_equal(c->naccounts, 4); /* work, cmd, inline (from the store), pop */
	assert_int_equal(c->nstores, 5);
	assert_int_equal(c->nchannels, 3);
	assert_int_equal(c->ngroups, 1);
	cfg_free(c);
}

static void test_full_imap_account(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	const struct cfg_account *a = account(c, "work");
	assert_false(a->is_pop3);
	assert_string_equal(a->host, "imap.example.org");
	assert_int_equal(a->port, 993);
	assert_int_equal(a->timeout_s, 45);
	assert_string_equal(a->user, "jane doe");
	assert_string_equal(a->pass, "se\"cret word");
	assert_strv(a->auth_mechs, (const char *const[]){"PLAIN", "LOGIN", NULL});
	assert_int_equal(a->tls, CFG_TLS_IMPLICIT);
	assert_true(a->tls_explicit);
	assert_string_equal(a->tls_versions, "TLSv1.2 TLSv1.3");
	assert_false(a->system_certs);
	assert_string_equal(a->cert_file, HOME "/certs/ca.pem");
	assert_string_equal(a->client_cert, HOME "/certs/me.crt");
	assert_string_equal(a->client_key, HOME "/certs/me.key");
	assert_string_equal(a->cipher_string, "HIGH:!aNULL");
	assert_int_equal(a->pipeline_depth, 8);
	assert_strv(a->disabled_exts, (const char *const[]){"COMPRESS", "ID", "CONDSTORE", NULL});
	assert_false(a->compress);
	assert_string_equal(a->file, "tests/data/full.mbsyncrc");
	assert_true(a->line > 1);

	const struct cfg_account *b = account(c, "cmd");
	assert_string_equal(b->host, "secure.example.org");
	assert_int_equal(b->tls, CFG_TLS_NONE); /* TLSType None after imaps: wins */
	assert_true(b->tls_explicit);
	assert_string_equal(b->tunnel, "ssh -q example.org /usr/lib/dovecot/imap");
	assert_string_equal(b->tls_versions, "+1.3");
	assert_null(b->pass);
	assert_true(b->compress);
	cfg_free(c);
}

static void test_full_stores(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	const struct cfg_store *r = cfg_store(c, "work-remote");
	assert_non_null(r);
	assert_int_equal(r->kind, CFG_STORE_IMAP);
	assert_ptr_equal(r->account, account(c, "work"));
	assert_false(r->use_namespace);
	assert_int_equal(r->path_delim, '.');
	assert_true(r->subscribed_only);
	assert_string_equal(r->trash, "Trash");
	assert_true(r->trash_new_only);
	assert_true(r->trash_remote_new);
	assert_int_equal(r->max_size, 1u << 20);
	assert_string_equal(r->map_inbox, "inbox-alias");
	assert_int_equal(r->flatten, '.');
	assert_string_equal(r->imap_path, "INBOX.");
	assert_null(r->path);

	const struct cfg_store *in = cfg_store(c, "inline");
	assert_non_null(in->account);
	assert_string_equal(in->account->name, "inline");
	assert_string_equal(in->account->host, "mail.example.net");
	assert_string_equal(in->account->user, "bob");
	assert_string_equal(in->account->pass_cmd, "cat ~/.pw");
	assert_int_equal(in->account->port, 143);
	assert_int_equal(in->account->tls, CFG_TLS_STARTTLS);
	assert_false(in->account->tls_explicit);
	assert_strv(in->account->auth_mechs, (const char *const[]){"CRAM-MD5", NULL});
	assert_true(in->account->inline_decl);
	assert_false(r->account->inline_decl);

	const struct cfg_store *l = cfg_store(c, "local");
	assert_int_equal(l->kind, CFG_STORE_MAILDIR);
	assert_string_equal(l->path, HOME "/Mail/");
	assert_string_equal(l->inbox, HOME "/Mail/INBOX");
	assert_int_equal(l->subfolders, 0);
	assert_int_equal(l->info_delim, '!');
	assert_false(l->trash_new_only);
	assert_int_equal(l->max_size, 200u << 10);
	assert_int_equal(l->flatten, '/');
	assert_string_equal(l->map_inbox, "Inbox");

	const struct cfg_store *pp = cfg_store(c, "pp");
	assert_int_equal(pp->subfolders, 1);
	assert_null(pp->path);
	assert_string_equal(pp->inbox, HOME "/pp");
	assert_int_equal(pp->info_delim, ';'); /* from FieldDelimiter */
	cfg_free(c);
}

static void test_full_pop3(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	const struct cfg_account *a = account(c, "pop");
	assert_true(a->is_pop3);
	assert_string_equal(a->host, "pop.example.com");
	assert_int_equal(a->port, 995);
	assert_int_equal(a->timeout_s, 10);
	assert_string_equal(a->user, "alice");
	assert_int_equal(a->tls, CFG_TLS_IMPLICIT);
	assert_string_equal(a->cert_file, HOME "/pop.pem");
	assert_true(a->system_certs);
	assert_strv(a->auth_mechs, (const char *const[]){"USER", NULL});
	assert_int_equal(a->pipeline_depth, 4);
	assert_string_equal(a->client_cert, HOME "/pop.crt");
	assert_string_equal(a->client_key, HOME "/pop.key");
	assert_string_equal(a->tls_versions, "TLSv1.2");
	assert_string_equal(a->cipher_string, "DEFAULT");
	const struct cfg_store *s = cfg_store(c, "popbox");
	assert_int_equal(s->kind, CFG_STORE_POP3);
	assert_ptr_equal(s->account, a);
	assert_false(s->keep);
	assert_int_equal(s->delete_after_days, 30);
	assert_int_equal(s->max_size, 10u << 20);
	const struct cfg_channel *ch = cfg_channel(c, "pop");
	assert_int_equal(ch->pull, CFG_OP_ALL);
	assert_int_equal(ch->push, 0);
	cfg_free(c);
}

static void test_full_channels(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	const struct cfg_channel *w = cfg_channel(c, "work");
	assert_non_null(w);
	assert_ptr_equal(w->far, cfg_store(c, "work-remote"));
	assert_ptr_equal(w->near, cfg_store(c, "local"));
	assert_null(w->far_box);
	assert_string_equal(w->near_box, "work");
	assert_strv(w->patterns, (const char *const[]){"*", "!Junk Mail", "!Trash", "INBOX", NULL});
	assert_int_equal(w->max_size, 2u << 20);
	assert_int_equal(w->max_messages, 100);
	assert_int_equal(w->expire_unread, 0);
	assert_false(w->expire_far);
	assert_int_equal(w->pull, CFG_OP_ALL);
	assert_int_equal(w->push, CFG_OP_ALL);
	assert_true(w->create_far && w->create_near);
	assert_true(w->remove_far && !w->remove_near);
	assert_true(!w->expunge_far && !w->expunge_near);
	assert_true(!w->expunge_solo_far && w->expunge_solo_near);
	assert_false(w->copy_arrival_date);
	assert_string_equal(w->sync_state, "*");
	assert_string_equal(w->post_sync_cmd, "mu index");
	assert_true(w->watch);

	/* legacy takes the global defaults it does not override. */
	const struct cfg_channel *l = cfg_channel(c, "legacy");
	assert_ptr_equal(l->far, cfg_store(c, "inline"));
	assert_string_equal(l->far_box, "INBOX");
	assert_ptr_equal(l->near, cfg_store(c, "pp"));
	assert_int_equal(l->pull, CFG_OP_NEW);
	assert_int_equal(l->push, CFG_OP_FLAGS);
	assert_true(!l->create_far && l->create_near);
	assert_true(l->expunge_far && !l->expunge_near);
	assert_true(l->expunge_solo_far && !l->expunge_solo_near);
	assert_false(l->remove_far || l->remove_near);
	assert_int_equal(l->max_messages, 500);
	assert_int_equal(l->expire_unread, 1);
	assert_true(l->expire_far);
	assert_true(l->copy_arrival_date);
	assert_string_equal(l->sync_state, HOME "/state/");
	assert_null(l->post_sync_cmd);
	assert_false(l->watch);

	const struct cfg_group *g = cfg_group(c, "everything");
	assert_non_null(g);
	assert_strv(g->channels, (const char *const[]){"work", "legacy", "pop:INBOX,Other", NULL});
	assert_null(cfg_group(c, "work"));
	assert_null(cfg_channel(c, "everything"));
	cfg_free(c);
}

static void test_sample(void **state)
{
	(void)state;
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	int rc = cfg_load(&c, "tests/data/sample.mbsyncrc", &quiet_log, &err);
	if (rc)
		print_error("%s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(c->nchannels, 6);
	assert_int_equal(c->ngroups, 2);
	const struct cfg_channel *o = cfg_channel(c, "office");
	assert_int_equal(o->pull, CFG_OP_NEW);
	assert_int_equal(o->push, CFG_OP_ALL);
	assert_true(o->create_far && o->create_near); /* global Create Both */
	assert_true(!o->expunge_far && o->expunge_near);
	const struct cfg_store *l = cfg_store(c, "leisure");
	assert_int_equal(l->account->port, 6789);
	assert_int_equal(l->account->tls, CFG_TLS_NONE);
	assert_int_equal(cfg_store(c, "far-away")->account->tls, CFG_TLS_NONE);
	assert_false(cfg_store(c, "far-away")->account->tls_explicit);
	const struct cfg_store *ce = cfg_store(c, "central");
	assert_int_equal(ce->account->tls, CFG_TLS_IMPLICIT);
	assert_string_equal(ce->account->host, "central.invalid");
	assert_string_equal(ce->trash, "~/trash"); /* a mailbox name, not a path */
	assert_int_equal(cfg_channel(c, "leisure")->max_messages, 150);
	assert_strv(cfg_group(c, "some")->channels,
	            (const char *const[]){"one-to-one:inbox,sent-mail,other", NULL});
	cfg_free(c);
}

static void test_inline_account_is_private(void **state)
{
	(void)state;
	struct fct_config *c = parse_ok("IMAPStore s\nHost h\n\nIMAPAccount s\nHost other\n\n"
	                                "IMAPStore t\nAccount s\n");
	assert_string_equal(cfg_store(c, "s")->account->host, "h");
	assert_string_equal(cfg_store(c, "t")->account->host, "other");
	cfg_free(c);
	struct fct_err err;
	parse_bad("IMAPStore s\nHost h\n\nIMAPStore t\nAccount s\n", &err);
	assert_non_null(strstr(err.msg, "t.conf:5: Account: unknown account 's'"));
}

static void test_defaults(void **state)
{
	(void)state;
	struct fct_config *c = parse_ok(
		"IMAPAccount a\nHost h\n\n"
		"IMAPAccount b\nHost h\nPort 993\n\n"
		"POP3Account p\nHost h\n\n"
		"POP3Account q\nHost h\nPort 995\n\n"
		"IMAPStore s\nAccount a\n\n"
		"POP3Store ps\nAccount p\n\n"
		"MaildirStore m\nPath /m/\n\n"
		"Channel c\nFar :s:\nNear :m:\n\n"
		"Channel pc\nFar :ps:\nNear :m:pop\n");
	assert_int_equal(c->fsync, 1);
	assert_int_equal(c->field_delim, ':');
	assert_int_equal(c->buffer_limit, 10u << 20);
	assert_int_equal(c->parallel, 1);
	assert_int_equal(c->parallel_folders, 4);
	assert_null(c->post_sync_cmd);
	const struct cfg_account *a = account(c, "a");
	assert_int_equal(a->port, 0);
	assert_int_equal(a->compress, -1);
	assert_int_equal(a->timeout_s, 20);
	assert_int_equal(a->tls, CFG_TLS_STARTTLS);
	assert_false(a->tls_explicit);
	assert_true(a->system_certs);
	assert_true(a->compress);
	assert_int_equal(a->pipeline_depth, 0);
	assert_null(a->auth_mechs);
	assert_int_equal(account(c, "b")->tls, CFG_TLS_IMPLICIT);
	assert_int_equal(account(c, "p")->tls, CFG_TLS_STARTTLS);
	assert_int_equal(account(c, "q")->tls, CFG_TLS_IMPLICIT);
	const struct cfg_store *s = cfg_store(c, "s");
	assert_true(s->use_namespace);
	assert_int_equal(s->path_delim, 0);
	assert_int_equal(s->max_size, 0);
	const struct cfg_store *m = cfg_store(c, "m");
	assert_int_equal(m->subfolders, -1);
	assert_int_equal(m->info_delim, ':');
	assert_string_equal(m->inbox, HOME "/Maildir");
	assert_true(cfg_store(c, "ps")->keep);
	assert_int_equal(cfg_store(c, "ps")->delete_after_days, 0);
	const struct cfg_channel *ch = cfg_channel(c, "c");
	assert_int_equal(ch->pull, CFG_OP_ALL);
	assert_int_equal(ch->push, CFG_OP_ALL);
	assert_false(ch->create_far || ch->create_near || ch->remove_far || ch->remove_near);
	assert_false(ch->expunge_far || ch->expunge_near);
	assert_int_equal(ch->expire_unread, -1);
	assert_int_equal(ch->max_messages, 0);
	assert_null(ch->sync_state);
	assert_null(ch->patterns);
	/* POP3 can only be read: without a Sync line the channel only pulls. */
	assert_int_equal(cfg_channel(c, "pc")->pull, CFG_OP_ALL);
	assert_int_equal(cfg_channel(c, "pc")->push, 0);
	cfg_free(c);
}

/* Sync lines and the pull/push sets they make, as mbsync documents them. */
static void test_sync_combinations(void **state)
{
	(void)state;
	static const struct { const char *sync; unsigned pull, push; } cases[] = {
		{"All", CFG_OP_ALL, CFG_OP_ALL},
		{"Full", CFG_OP_ALL, CFG_OP_ALL},
		{"None", 0, 0},
		{"Noop", 0, 0},
		{"Pull", CFG_OP_ALL, 0},
		{"Push", 0, CFG_OP_ALL},
		{"Pull Push", CFG_OP_ALL, CFG_OP_ALL},
		{"New", CFG_OP_NEW, CFG_OP_NEW},
		{"Pull New Flags", CFG_OP_NEW | CFG_OP_FLAGS, 0},
		{"New Delete", CFG_OP_NEW | CFG_OP_DELETE, CFG_OP_NEW | CFG_OP_DELETE},
		{"pull renew", CFG_OP_RENEW, 0},
		{"PullNew", CFG_OP_NEW, 0},
		{"PushFlags", 0, CFG_OP_FLAGS},
		{"PullNew PullDelete Push", CFG_OP_NEW | CFG_OP_DELETE, CFG_OP_ALL},
		{"PullNew Flags", CFG_OP_NEW | CFG_OP_FLAGS, CFG_OP_FLAGS},
		{"PullNew PushReNew PullFlags PushDelete", CFG_OP_NEW | CFG_OP_FLAGS,
		 CFG_OP_RENEW | CFG_OP_DELETE},
		{"Upgrade Gone", CFG_OP_RENEW | CFG_OP_DELETE, CFG_OP_RENEW | CFG_OP_DELETE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = NULL;
		if (asprintf(&text, "MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\n"
		                    "Channel c\nFar :a:\nNear :b:\nSync %s\n", cases[i].sync) < 0)
			fail();
		struct fct_config *c = parse_ok(text);
		const struct cfg_channel *ch = cfg_channel(c, "c");
		if (ch->pull != cases[i].pull || ch->push != cases[i].push)
			fail_msg("Sync %s: pull %u push %u", cases[i].sync, ch->pull, ch->push);
		cfg_free(c);
		free(text);
	}
}

static void test_sync_conflicts(void **state)
{
	(void)state;
	static const char *const bad[] = {"PullNew Pull", "PullNew New", "PullNew Delete Push"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *text = NULL;
		if (asprintf(&text, "MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\n"
		                    "Channel c\nFar :a:\nNear :b:\nSync %s\n", bad[i]) < 0)
			fail();
		struct fct_err err;
		parse_bad(text, &err);
		assert_non_null(strstr(err.msg, "t.conf:10: conflicting Sync"));
		free(text);
	}
}

static void test_sizes(void **state)
{
	(void)state;
	static const struct { const char *v; uint64_t want; } ok[] = {
		{"0", 0}, {"123", 123}, {"200k", 200 * 1024}, {"200K", 200 * 1024},
		{"3m", 3u << 20}, {"3MB", 3u << 20}, {"2g", 2ull << 30}, {"10b", 10},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char *text = NULL;
		if (asprintf(&text, "MaildirStore a\nPath /a/\nMaxSize %s\n", ok[i].v) < 0)
			fail();
		struct fct_config *c = parse_ok(text);
		assert_int_equal(cfg_store(c, "a")->max_size, ok[i].want);
		cfg_free(c);
		free(text);
	}
	static const char *const bad[] = {"k", "-1", "12q", "1kk", "99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *text = NULL;
		if (asprintf(&text, "MaildirStore a\nPath /a/\nMaxSize %s\n", bad[i]) < 0)
			fail();
		struct fct_err err;
		parse_bad(text, &err);
		assert_non_null(strstr(err.msg, "t.conf:3: MaxSize: invalid size"));
		free(text);
	}
}

static void test_quoting(void **state)
{
	(void)state;
	struct fct_config *c = parse_ok(
		"# leading comment\n"
		"MaildirStore a\n"
		"   Path   \"/with space/\"   # trailing comment\n"
		"\n"
		"MaildirStore b\n"
		"path /b/\r\n"
		"\n"
		"CHANNEL c\n"
		"far :a:\n"
		"# a comment inside a section does not end it\n"
		"NEAR \":b:x y\"\n"
		"Patterns a\\ b \"c\\\"d\" e\\\\f g\"h i\"j \"\" k#l\n");
	assert_string_equal(cfg_store(c, "a")->path, "/with space/");
	const struct cfg_channel *ch = cfg_channel(c, "c");
	assert_string_equal(ch->near_box, "x y");
	assert_strv(ch->patterns,
	            (const char *const[]){"a b", "c\"d", "e\\f", "gh ij", "", "k#l", NULL});
	cfg_free(c);

	struct fct_err err;
	parse_bad("MaildirStore a\nPath \"/x\n", &err);
	assert_string_equal(err.msg, "t.conf:2: missing closing quote");
	parse_bad("MaildirStore a\nPath /x\\\n", &err);
	assert_string_equal(err.msg, "t.conf:2: unterminated escape sequence");
}

struct bad_case {
	const char *text;
	const char *msg; /* expected error, exactly */
};

static void run_bad(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fct_err err;
		parse_bad(cases[i].text, &err);
		if (strcmp(err.msg, cases[i].msg))
			fail_msg("case %zu: got '%s', want '%s'", i, err.msg, cases[i].msg);
	}
}

#define MD_AB "MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\n"

static void test_errors_keywords(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"IMAPAccount a\nHots x\n", "t.conf:2: unknown keyword 'Hots'"},
		{"MaildirStore a\nHost x\n",
		 "t.conf:2: keyword 'Host' is not allowed in a MaildirStore section"},
		{MD_AB "Channel c\nFar :a:\nNear :b:\nPath /x\n",
		 "t.conf:10: keyword 'Path' is not allowed in a Channel section"},
		{"POP3Account p\nHost h\nDisableExtension ID\n",
		 "t.conf:3: keyword 'DisableExtension' is not allowed in a POP3Account section"},
		{"MaildirStore a\nPath /a/\n\nFSync no\n",
		 "t.conf:4: global option 'FSync' must come before the first section"},
		{"MaildirStore a\nPath /a/\n\nInbox /x\n",
		 "t.conf:4: keyword 'Inbox' outside of any section (an empty line ends a section)"},
		{"Host x\n", "t.conf:1: keyword 'Host' outside of any section (an empty line ends a "
		             "section)"},
		{"Group g\nFar :a:\n", "t.conf:2: keyword 'Far' is not allowed in a Group section"},
		{"IMAPAccount a\nHost\n", "t.conf:2: Host: missing value"},
		{"IMAPAccount\n", "t.conf:1: IMAPAccount: missing name"},
		{"IMAPAccount a\nHost h1 h2\n",
		 "t.conf:2: Host: takes one value, got 2 (quote values containing spaces)"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_values(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FSync maybe\n", "t.conf:1: FSync: invalid boolean 'maybe' (use yes or no)"},
		{"IMAPAccount a\nHost h\nPort 70000\n",
		 "t.conf:3: Port: invalid number '70000' (0 to 65535)"},
		{"IMAPAccount a\nHost h\nPort x1\n", "t.conf:3: Port: invalid number 'x1'"},
		{"IMAPAccount a\nHost h\nTLSType SSL\n",
		 "t.conf:3: TLSType: invalid value 'SSL' (None, STARTTLS or IMAPS)"},
		{"IMAPAccount a\nHost h\nSSLVersions TLSv9\n",
		 "t.conf:3: SSLVersions: unknown TLS version 'TLSv9'"},
		{"MaildirStore a\nPath /a\nSubFolders Flat\n",
		 "t.conf:3: SubFolders: invalid value 'Flat' (Verbatim, Maildir++ or Legacy)"},
		{"MaildirStore a\nPath /a\nFlatten ab\n",
		 "t.conf:3: Flatten: expected exactly one character, got 'ab'"},
		{"FieldDelimiter a\n", "t.conf:1: FieldDelimiter: must be a punctuation character"},
		{"BufferLimit 0\n", "t.conf:1: BufferLimit: cannot be zero"},
		{"Sync Sideways\n", "t.conf:1: Sync: invalid argument 'Sideways'"},
		{"Create Up\n", "t.conf:1: Create: invalid argument 'Up' (None, Far, Near or Both)"},
		{"ExpireSide Both\n", "t.conf:1: ExpireSide: invalid value 'Both' (Far or Near)"},
		{MD_AB "Channel c\nFar a\n",
		 "t.conf:8: Far: malformed mailbox spec 'a' (expected :store:[box])"},
		{"Parallel 0\n", "t.conf:1: Parallel: must be at least 1"},
		{"ParallelFolders 0\n", "t.conf:1: ParallelFolders: must be at least 1"},
		{"ParallelFolders 17\n", "t.conf:1: ParallelFolders: invalid number '17' (0 to 16)"},
		{"IMAPAccount a\nHost h\nCompress maybe\n",
		 "t.conf:3: Compress: invalid boolean 'maybe' (use yes or no)"},
		{"IMAPAccount a\nHost h\nPipelineDepth 0\n",
		 "t.conf:3: PipelineDepth: must be at least 1"},
		{"MaildirStore a\nPath ~nosuchuser-facteur/x\n",
		 "t.conf:2: cannot expand '~nosuchuser-facteur': no such user"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_references(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{MD_AB "Channel c\nFar :nope:\n",
		 "t.conf:8: Far: unknown store 'nope' (stores must be defined before the channels "
		 "using them)"},
		{"IMAPStore s\nAccount nope\n",
		 "t.conf:2: Account: unknown account 'nope' (accounts must be defined before the "
		 "stores using them)"},
		{"POP3Account p\nHost h\n\nIMAPStore s\nAccount p\n",
		 "t.conf:5: Account: 'p' is a POP3 account, not an IMAP one"},
		{"IMAPAccount a\nHost h\n\nIMAPAccount a\nHost h\n",
		 "t.conf:4: duplicate account name 'a' (first defined at t.conf:1)"},
		{MD_AB "MaildirStore a\nPath /c/\n",
		 "t.conf:7: duplicate store name 'a' (first defined at t.conf:1)"},
		{MD_AB "Channel c\nFar :a:\nNear :b:\n\nChannel c\n",
		 "t.conf:11: duplicate channel name 'c' (first defined at t.conf:7)"},
		{MD_AB "Channel c\nFar :a:\nNear :b:\n\nGroup g c\n\nGroup g c\n",
		 "t.conf:13: duplicate group name 'g' (first defined at t.conf:11)"},
		{MD_AB "Group g c nope\n\nChannel c\nFar :a:\nNear :b:\n",
		 "t.conf:7: Group 'g' refers to unknown channel 'nope'"},
		{MD_AB "Channel c\nFar :a:\n", "t.conf:7: Channel 'c' has no Near store"},
		{"IMAPAccount a\nHost h\n\nIMAPStore s\nAccount a\nHost h\n",
		 "t.conf:4: IMAPStore 's' has both Account and account options"},
		{"IMAPStore s\nUseNamespace no\n", "t.conf:1: IMAPStore 's' has no Account and no Host"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_errors_validation(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"IMAPAccount a\nPort 143\n", "t.conf:1: IMAPAccount 'a' has no Host"},
		{"POP3Account p\nUser u\n", "t.conf:1: POP3Account 'p' has no Host"},
		{"IMAPStore s\nUser u\n", "t.conf:1: IMAPStore 's' has no Host"},
		{"MaildirStore m\nInbox /x\n", "t.conf:1: MaildirStore 'm' has no Path"},
		{"MaildirStore m\nPath /x/\nSubFolders Maildir++\n",
		 "t.conf:1: MaildirStore 'm': Path cannot be used with SubFolders Maildir++ (set Inbox)"},
		{"POP3Account p\nHost h\n\nPOP3Store ps\nAccount p\n\nMaildirStore m\nPath /m/\n\n"
		 "Channel c\nFar :ps:\nNear :m:\nSync Pull Push\n",
		 "t.conf:13: Channel 'c': the Far store 'ps' is POP3, so Sync must be Pull only"},
		{"Sync All\n\nPOP3Account p\nHost h\n\nPOP3Store ps\nAccount p\n\nMaildirStore m\n"
		 "Path /m/\n\nChannel c\nFar :ps:\nNear :m:\n",
		 "t.conf:12: Channel 'c': the Far store 'ps' is POP3, so Sync must be Pull only"},
		{"POP3Account p\nHost h\n\nPOP3Store ps\nAccount p\n\nMaildirStore m\nPath /m/\n\n"
		 "Channel c\nFar :m:\nNear :ps:\n",
		 "t.conf:10: Channel 'c': a POP3 store can only be the Far side"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void test_secret_not_in_errors(void **state)
{
	(void)state;
	struct fct_err err;
	parse_bad("IMAPAccount a\nHost h\nPass hunter2xyz and more\n", &err);
	assert_non_null(strstr(err.msg, "t.conf:3: Pass: takes one value"));
	assert_null(strstr(err.msg, "hunter2xyz"));
	parse_bad("IMAPAccount a\nHost h\nPass \"hunter2xyz\n", &err);
	assert_null(strstr(err.msg, "hunter2xyz"));
}

static void test_limits(void **state)
{
	(void)state;
	struct fct_err err;
	size_t n = 5000;
	char *text = fct_xmalloc(n + 64);
	memcpy(text, "MaildirStore a\nPath /", 21);
	memset(text + 21, 'x', n);
	memcpy(text + 21 + n, "\n", 2);
	parse_bad(text, &err);
	assert_string_equal(err.msg, "t.conf:2: line too long (at most 4096 characters)");
	struct fct_buf b;
	fct_buf_init(&b);
	fct_buf_puts(&b, "MaildirStore a\nPath /a/\n\nMaildirStore b\nPath /b/\n\n"
	                 "Channel c\nFar :a:\nNear :b:\nPatterns");
	for (int i = 0; i < 300; i++)
		fct_buf_printf(&b, " p%d", i);
	fct_buf_putc(&b, '\n');
	parse_bad(b.data, &err);
	assert_string_equal(err.msg, "t.conf:10: too many arguments (at most 256)");
	fct_buf_free(&b);
	free(text);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	assert_int_equal(cfg_load(&c, "tests/data/does-not-exist", &quiet_log, &err), -1);
	assert_null(c);
	assert_int_equal(err.kind, FCT_E_CONFIG);
	assert_non_null(strstr(err.msg, "tests/data/does-not-exist: cannot open configuration file"));
	/* A directory opens but cannot be read. */
	assert_int_equal(cfg_load(&c, "tests/data", &quiet_log, &err), -1);
	assert_null(c);
	assert_int_equal(err.kind, FCT_E_CONFIG);
	assert_non_null(strstr(err.msg, "tests/data: cannot read configuration file"));
}

static void test_credentials(void **state)
{
	(void)state;
	struct fct_config *c = load_full();
	char *s = NULL;
	struct fct_err err = {0};
	const struct cfg_account *cmd = account(c, "cmd");
	assert_int_equal(cfg_get_pass(cmd, &s, &err), 0);
	assert_string_equal(s, "from-cmd"); /* first line only, '+' marker dropped */
	free(s);
	assert_int_equal(cfg_get_user(cmd, &s, &err), 0);
	assert_string_equal(s, "jane");
	free(s);
	assert_int_equal(cfg_get_pass(account(c, "work"), &s, &err), 0);
	assert_string_equal(s, "se\"cret word");
	free(s);
	cfg_free(c);

	c = parse_ok("IMAPAccount a\nHost h\nPassCmd \"echo leaked; exit 3\"\nUserCmd true\n\n"
	             "IMAPAccount b\nHost h\n\n"
	             "IMAPAccount e\nHost h\nPass \"\"\n");
	assert_int_equal(cfg_get_pass(account(c, "a"), &s, &err), -1);
	assert_null(s);
	assert_string_equal(err.msg, "account 'a': PassCmd failed (exit status 3)");
	assert_int_equal(cfg_get_user(account(c, "a"), &s, &err), -1);
	assert_string_equal(err.msg, "account 'a': UserCmd printed nothing");
	assert_int_equal(cfg_get_pass(account(c, "b"), &s, &err), -1);
	assert_string_equal(err.msg, "account 'b' (t.conf:6): no Pass or PassCmd");
	assert_int_equal(cfg_get_user(account(c, "b"), &s, &err), -1);
	assert_int_equal(err.kind, FCT_E_CONFIG);
	assert_int_equal(cfg_get_pass(account(c, "e"), &s, &err), -1);
	assert_int_equal(err.kind, FCT_E_AUTH);
	cfg_free(c);
}

static void test_state_dir(void **state)
{
	(void)state;
	struct fct_config *c = parse_ok(
		"MaildirStore a\nPath /mail/a/\n\nMaildirStore b\nPath /b/\n\n"
		"IMAPAccount i\nHost h\n\nIMAPStore s\nAccount i\n\n"
		"Channel plain\nFar :s:\nNear :a:\n\n"
		"Channel star\nFar :s:\nNear :a:\nSyncState *\n\n"
		"Channel dir\nFar :s:\nNear :b:\nSyncState ~/st/\n\n"
		"Channel odd/name\nFar :s:\nNear :b:\n");
	char *d = cfg_state_dir(c, cfg_channel(c, "plain"));
	assert_string_equal(d, HOME "/.local/state/facteur/plain");
	free(d);
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	d = cfg_state_dir(c, cfg_channel(c, "plain"));
	assert_string_equal(d, "/xdg/state/facteur/plain");
	free(d);
	d = cfg_state_dir(c, cfg_channel(c, "odd/name"));
	assert_string_equal(d, "/xdg/state/facteur/odd_name");
	free(d);
	unsetenv("XDG_STATE_HOME");
	d = cfg_state_dir(c, cfg_channel(c, "star"));
	assert_string_equal(d, "/mail/a.facteur-state/star");
	free(d);
	d = cfg_state_dir(c, cfg_channel(c, "dir"));
	assert_string_equal(d, HOME "/st/dir");
	free(d);
	cfg_free(c);
}

/* POP3 state: the account's (user, host, port), under the channel's base;
 * unsafe bytes escaped so that no two identities share a directory. */
static void test_pop3_state_dir(void **state)
{
	(void)state;
	struct fct_config *c = parse_ok(
		"MaildirStore a\nPath /mail/a/\n\n"
		"POP3Account p\nHost Mail.Example.ORG\nUser u\nPass x\n\n"
		"POP3Store ps\nAccount p\n\n"
		"POP3Account t\nTunnel \"nc host 110\"\nUser u\nPass x\n\n"
		"POP3Store ts\nAccount t\n\n"
		"Channel one\nFar :ps:\nNear :a:\nSyncState *\n\n"
		"Channel two\nFar :ps:\nNear :a:\nSyncState *\n\n"
		"Channel tun\nFar :ts:\nNear :a:\nSyncState /st/\n");
	char *d = cfg_pop3_state_dir(c, cfg_channel(c, "one"), "bob", 995);
	assert_string_equal(d, "/mail/a.facteur-state/pop3/bob@mail.example.org:995");
	free(d);
	d = cfg_pop3_state_dir(c, cfg_channel(c, "two"), "bob", 995);
	assert_string_equal(d, "/mail/a.facteur-state/pop3/bob@mail.example.org:995");
	free(d);
	d = cfg_pop3_state_dir(c, cfg_channel(c, "one"), "b/o@b ..", 110);
	assert_string_equal(d, "/mail/a.facteur-state/pop3/b%2Fo%40b%20..@mail.example.org:110");
	free(d);
	d = cfg_pop3_state_dir(c, cfg_channel(c, "one"), "..", 110);
	assert_string_equal(d, "/mail/a.facteur-state/pop3/%2E.@mail.example.org:110");
	free(d);
	d = cfg_pop3_state_dir(c, cfg_channel(c, "tun"), "u", 110);
	assert_string_equal(d, "/st/pop3/u@tunnel-t:110");
	free(d);
	cfg_free(c);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_default_path(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	char *tmpl = fct_xasprintf("%s/facteur-cfg-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	char *home = NULL, *xdg = NULL, *mbsyncrc = NULL, *xdgdir = NULL, *xdgfile = NULL;
	if (asprintf(&home, "%s/home", dir) < 0 || asprintf(&xdg, "%s/xdg", dir) < 0 ||
	    asprintf(&mbsyncrc, "%s/.mbsyncrc", home) < 0 ||
	    asprintf(&xdgdir, "%s/facteur", xdg) < 0 || asprintf(&xdgfile, "%s/config", xdgdir) < 0)
		fail();
	assert_int_equal(mkdir(home, 0700), 0);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);

	struct fct_config *c = NULL;
	struct fct_err err = {0};
	assert_int_equal(cfg_load(&c, NULL, &quiet_log, &err), -1);
	assert_non_null(strstr(err.msg, "no configuration file found"));
	assert_non_null(strstr(err.msg, xdgfile));

	write_file(mbsyncrc, "MaildirStore from-mbsyncrc\nPath /x/\n");
	assert_int_equal(cfg_load(&c, NULL, &quiet_log, &err), 0);
	assert_string_equal(c->path, mbsyncrc);
	assert_non_null(cfg_store(c, "from-mbsyncrc"));
	cfg_free(c);

	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(mkdir(xdgdir, 0700), 0);
	write_file(xdgfile, "MaildirStore from-xdg\nPath /x/\n");
	assert_int_equal(cfg_load(&c, NULL, &quiet_log, &err), 0);
	assert_string_equal(c->path, xdgfile);
	assert_non_null(cfg_store(c, "from-xdg"));
	cfg_free(c);

	unlink(xdgfile);
	unlink(mbsyncrc);
	rmdir(xdgdir);
	rmdir(xdg);
	rmdir(home);
	rmdir(dir);
	free(home); free(xdg); free(mbsyncrc); free(xdgdir); free(xdgfile);
	free(tmpl);
	set_home(NULL);
}

static void test_unimplemented_warning(void **state)
{
	(void)state;
	FILE *fp = tmpfile();
	assert_non_null(fp);
	struct fct_log log = {1, 0, fp};
	struct fct_config *c = NULL;
	struct fct_err err = {0};
	assert_int_equal(cfg_parse_string(&c, "IMAPAccount a\nHost h\nUseKeychain yes\n\n"
	                                     "MaildirStore m\nPath /m/\nAltMap yes\n",
	                                  "w.conf", &log, &err), 0);
	cfg_free(c);
	rewind(fp);
	char buf[1024];
	int lines = 0;
	char first[1024] = "";
	while (fgets(buf, sizeof buf, fp)) {
		if (!lines)
			memcpy(first, buf, sizeof first);
		lines++;
	}
	fclose(fp);
	assert_int_equal(lines, 1);
	assert_non_null(strstr(first, "UseKeychain (w.conf:3)"));
	assert_non_null(strstr(first, "AltMap (w.conf:7)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_full_globals, set_home),
		cmocka_unit_test_setup(test_full_imap_account, set_home),
		cmocka_unit_test_setup(test_full_stores, set_home),
		cmocka_unit_test_setup(test_full_pop3, set_home),
		cmocka_unit_test_setup(test_full_channels, set_home),
		cmocka_unit_test_setup(test_sample, set_home),
		cmocka_unit_test_setup(test_inline_account_is_private, set_home),
		cmocka_unit_test_setup(test_defaults, set_home),
		cmocka_unit_test_setup(test_sync_combinations, set_home),
		cmocka_unit_test_setup(test_sync_conflicts, set_home),
		cmocka_unit_test_setup(test_sizes, set_home),
		cmocka_unit_test_setup(test_quoting, set_home),
		cmocka_unit_test_setup(test_errors_keywords, set_home),
		cmocka_unit_test_setup(test_errors_values, set_home),
		cmocka_unit_test_setup(test_errors_references, set_home),
		cmocka_unit_test_setup(test_errors_validation, set_home),
		cmocka_unit_test_setup(test_secret_not_in_errors, set_home),
		cmocka_unit_test_setup(test_limits, set_home),
		cmocka_unit_test_setup(test_missing_file, set_home),
		cmocka_unit_test_setup(test_credentials, set_home),
		cmocka_unit_test_setup(test_state_dir, set_home),
		cmocka_unit_test(test_pop3_state_dir),
		cmocka_unit_test_setup(test_default_path, set_home),
		cmocka_unit_test_setup(test_unimplemented_warning, set_home),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
