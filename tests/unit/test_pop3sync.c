/* POP3 ingestion against the fake server on a loopback listener, with a
 * real Maildir and journal: Keep/DeleteAfter/MaxSize, reruns, new mail, and
 * the crash protocol at each of its points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>

#include "fakepop3.h"
#include "store/journal.h"
#include "store/lock.h"
#include "sync/config.h"
#include "sync/pop3sync.h"

#define T0 1700000000LL

struct sx {
	char base[128];
	char srvdir[200], mail[200], state[200];
	struct fakepop3_cfg cfg;
	struct fakepop3 srv;
	struct fct_log log;
	struct pop3sync_opts o;
	struct pop3sync_summary sum;
	struct fct_err err;
	int keep, delete_after;
	const char *max_size;
};

static int sx_setup(void **state)
{
	struct sx *s = calloc(1, sizeof *s);

	assert_non_null(fakepop3_tmpdir(s->base, sizeof s->base, "pop3sync"));
	snprintf(s->srvdir, sizeof s->srvdir, "%s/srv", s->base);
	snprintf(s->mail, sizeof s->mail, "%s/mail", s->base);
	snprintf(s->state, sizeof s->state, "%s/state/pop", s->base);
	s->cfg.dir = s->srvdir;
	s->cfg.user = "bob";
	s->cfg.pass = "s3cret";
	s->cfg.capa = "USER\r\nUIDL\r\nPIPELINING\r\nRESP-CODES\r\n";
	s->log.fp = tmpfile();
	s->o.log = &s->log;
	s->o.state_dir = s->state;
	s->o.now = T0;
	s->keep = 1;
	*state = s;
	return 0;
}

static int sx_teardown(void **state)
{
	struct sx *s = *state;
	char *cmd;

	if (s->srv.pid > 0)
		fakepop3_stop(&s->srv);
	fclose(s->log.fp);
	cmd = fct_xasprintf("rm -rf '%s'", s->base);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(s);
	return 0;
}

static void sx_start(struct sx *s)
{
	assert_int_equal(fakepop3_listen(&s->srv, &s->cfg), 0);
}

static void sx_restart(struct sx *s)
{
	fakepop3_stop(&s->srv);
	sx_start(s);
}

static int sx_run(struct sx *s)
{
	struct fct_config *c = NULL;
	struct fct_err e;
	char *text;
	int rc;

	text = fct_xasprintf("MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
	                     "POP3Account pop\nHost 127.0.0.1\nPort %d\nUser bob\nPass s3cret\n"
	                     "TLSType None\nAuthMechs USER\nTimeout 5\n\n"
	                     "POP3Store popbox\nAccount pop\nKeep %s\nDeleteAfter %d\n%s%s%s\n"
	                     "Channel pop\nFar :popbox:\nNear :local:\nSync Pull\n",
	                     s->mail, s->mail, s->srv.port, s->keep ? "yes" : "no",
	                     s->delete_after, s->max_size ? "MaxSize " : "",
	                     s->max_size ? s->max_size : "", s->max_size ? "\n" : "");
	if (cfg_parse_string(&c, text, "test", &s->log, &e) < 0)
		fail_msg("config: %s", e.msg);
	free(text);
	rc = pop3_ingest(c, cfg_channel(c, "pop"), &s->o, &s->sum, &s->err);
	cfg_free(c);
	return rc;
}

/* Every message file of the Maildir INBOX (new/ and cur/), sorted. */
static size_t md_files(struct sx *s, char **out, size_t max)
{
	static const char *const sub[] = {"new", "cur"};
	char path[400], rel[600];
	struct dirent *de;
	size_t n = 0, i, j;
	DIR *d;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/INBOX/%s", s->mail, sub[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			assert_true(n < max);
			snprintf(rel, sizeof rel, "INBOX/%s/%s", sub[i], de->d_name);
			out[n++] = fakepop3_slurp(s->mail, rel, NULL);
		}
		closedir(d);
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(out[j - 1], out[j]) > 0; j--) {
			char *t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static char body[64][128];

static void add_msgs(struct sx *s, int from, int n)
{
	char uidl[32];
	int i;

	for (i = from; i < from + n; i++) {
		snprintf(uidl, sizeof uidl, "uid%03d", i);
		snprintf(body[i], sizeof body[i], "Subject: message %03d\n\n.dot line %d\nbye\n", i, i);
		assert_int_equal(fakepop3_add(s->srvdir, uidl, body[i]), 0);
	}
}

/* The Maildir holds exactly messages [0, n), once each. */
static void assert_delivered(struct sx *s, int n)
{
	char *files[64];
	size_t got = md_files(s, files, 64), i;

	assert_int_equal(got, (size_t)n);
	for (i = 0; i < got; i++) {
		assert_string_equal(files[i], body[i]);
		free(files[i]);
	}
}

static void keep_yes_then_rerun(void **state)
{
	struct sx *s = *state;

	add_msgs(s, 0, 3);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.on_server, 3);
	assert_int_equal(s->sum.downloaded, 3);
	assert_int_equal(s->sum.bytes, strlen(body[0]) + strlen(body[1]) + strlen(body[2]));
	assert_int_equal(s->sum.deleted, 0);
	assert_int_equal(fakepop3_count(s->srvdir), 3);
	assert_delivered(s, 3);

	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 0);
	assert_delivered(s, 3);

	/* Keep no afterwards: nothing downloaded again, everything deleted. */
	s->keep = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 0);
	assert_int_equal(s->sum.deleted, 3);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	assert_delivered(s, 3);

	/* The server forgot them, so does the journal. */
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.forgotten, 3);
}

static void keep_no_and_new_mail(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	add_msgs(s, 0, 2);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.deleted, 2);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	add_msgs(s, 2, 3);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 3);
	assert_int_equal(s->sum.deleted, 3);
	assert_delivered(s, 5);
}

static void delete_after_days(void **state)
{
	struct sx *s = *state;

	s->delete_after = 2;
	add_msgs(s, 0, 2);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.deleted, 0);
	add_msgs(s, 2, 1); /* first seen a day later */
	s->o.now = T0 + 86400;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 1);
	assert_int_equal(s->sum.deleted, 0);
	s->o.now = T0 + 2 * 86400 - 1;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.deleted, 0);
	/* Through the environment, as the integration tests do it. */
	s->o.now = 0;
	setenv("FACTEUR_TEST_NOW", "1700172800", 1); /* T0 + 2 days */
	assert_int_equal(sx_run(s), 0);
	unsetenv("FACTEUR_TEST_NOW");
	assert_int_equal(s->sum.deleted, 2);
	assert_int_equal(fakepop3_count(s->srvdir), 1);
	s->o.now = T0 + 3 * 86400;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.deleted, 1);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	assert_delivered(s, 3);
}

static void max_size_left_on_server(void **state)
{
	struct sx *s = *state;
	char big[3000];
	char *logged;
	long n;

	s->keep = 0;
	s->max_size = "1k";
	add_msgs(s, 0, 2);
	memset(big, 'x', sizeof big - 2);
	big[sizeof big - 2] = '\n';
	big[sizeof big - 1] = '\0';
	assert_int_equal(fakepop3_add(s->srvdir, "zzbig", big), 0);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.too_big, 1);
	assert_int_equal(s->sum.too_big_bytes, sizeof big);
	assert_int_equal(s->sum.deleted, 2);
	assert_int_equal(fakepop3_count(s->srvdir), 1);
	assert_delivered(s, 2);
	/* Reported, with its UIDL. */
	fflush(s->log.fp);
	n = ftell(s->log.fp);
	logged = fct_xcalloc(1, (size_t)n + 1);
	rewind(s->log.fp);
	assert_int_equal(fread(logged, 1, (size_t)n, s->log.fp), (size_t)n);
	assert_non_null(strstr(logged, "zzbig"));
	assert_non_null(strstr(logged, "MaxSize"));
	free(logged);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.too_big, 1);
	assert_int_equal(s->sum.downloaded, 0);
}

static void no_uidl_with_keep(void **state)
{
	struct sx *s = *state;

	s->cfg.capa = "USER\r\nPIPELINING\r\n";
	add_msgs(s, 0, 1);
	sx_start(s);
	assert_int_equal(sx_run(s), -1);
	assert_int_equal(s->err.kind, FCT_E_CONFIG);
	assert_non_null(strstr(s->err.msg, "server has no UIDL: Keep yes impossible"));
	assert_non_null(strstr(s->err.msg, "channel pop"));
	assert_delivered(s, 0);
}

/* Journaled UIDLs (or content names) of the channel. */
static size_t journaled(struct sx *s)
{
	struct jrnl *j = NULL;
	struct jrnl_uidl *u = NULL;
	struct fct_err e;
	size_t n = 0;

	assert_int_equal(jrnl_open(&j, s->state, &e), 0);
	assert_int_equal(jrnl_uidl_load(j, "INBOX", &u, &n, &e), 0);
	jrnl_uidls_free(u, n);
	jrnl_close(j);
	return n;
}

static void no_uidl_keep_no(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	s->cfg.capa = "USER\r\nPIPELINING\r\n";
	add_msgs(s, 0, 3);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 3);
	assert_int_equal(s->sum.deleted, 3);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	assert_int_equal(journaled(s), 0);
	assert_delivered(s, 3);
}

/* Without UIDL (learnt from a -ERR, no CAPA), a run that stored messages
 * but never reached QUIT is finished by the next one without duplicates:
 * the content names match. */
static void no_uidl_crash_before_quit(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	s->cfg.capa = NULL;
	s->cfg.no_uidl = 1;
	s->o.batch_msgs = 2;
	add_msgs(s, 0, 5);
	sx_start(s);
	s->o.test_crash = POP3SYNC_CRASH_AFTER_JOURNAL;
	assert_int_equal(sx_run(s), -1);
	assert_int_equal(journaled(s), 2);
	s->o.test_crash = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 3);
	assert_int_equal(s->sum.deleted, 5);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	assert_int_equal(journaled(s), 0);
	assert_delivered(s, 5);
}

/* A refused RETR leaves a message unexamined: content names are kept. */
static void no_uidl_refused_keeps_names(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	s->cfg.capa = "USER\r\n";
	s->cfg.quit_err = 1;
	add_msgs(s, 0, 3);
	sx_start(s);
	assert_int_equal(sx_run(s), -1); /* QUIT failed: nothing deleted */
	assert_int_equal(fakepop3_count(s->srvdir), 3);
	assert_int_equal(journaled(s), 3);
	s->cfg.quit_err = 0;
	s->cfg.retr_refuse = "uid001";
	sx_restart(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 0);
	assert_int_equal(s->sum.deleted, 2);
	assert_int_equal(journaled(s), 3);
	s->cfg.retr_refuse = NULL;
	sx_restart(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 0);
	assert_int_equal(s->sum.deleted, 1);
	assert_int_equal(journaled(s), 0);
	assert_delivered(s, 3);
}

/* Without UIDL, MaxSize still leaves big messages and names them by number. */
static void no_uidl_max_size(void **state)
{
	struct sx *s = *state;
	char big[3000];

	s->keep = 0;
	s->max_size = "1k";
	s->cfg.capa = "USER\r\n";
	add_msgs(s, 0, 2);
	memset(big, 'x', sizeof big - 2);
	big[sizeof big - 2] = '\n';
	big[sizeof big - 1] = '\0';
	assert_int_equal(fakepop3_add(s->srvdir, "zzbig", big), 0);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.too_big, 1);
	assert_int_equal(s->sum.deleted, 2);
	assert_int_equal(fakepop3_count(s->srvdir), 1);
	/* The big one was never stored: names do not pile up because of it. */
	assert_int_equal(journaled(s), 0);
	assert_delivered(s, 2);
}

static void dry_run_changes_nothing(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	s->o.dry_run = 1;
	add_msgs(s, 0, 3);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 3);
	assert_int_equal(s->sum.deleted, 0);
	assert_int_equal(fakepop3_count(s->srvdir), 3);
	assert_delivered(s, 0);
	s->o.dry_run = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 3);
	assert_delivered(s, 3);
}

/* Interrupted at each point of the protocol after the first batch of 2,
 * then rerun: every message exactly once. */
static void crash_then_rerun(struct sx *s, int point, size_t recovered)
{
	s->keep = 0;
	s->o.batch_msgs = 2;
	add_msgs(s, 0, 5);
	sx_start(s);
	s->o.test_crash = point;
	assert_int_equal(sx_run(s), -1);
	assert_int_equal(s->err.kind, FCT_E_CANCEL);
	assert_int_equal(fakepop3_count(s->srvdir), 5);
	s->o.test_crash = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.recovered, recovered);
	assert_int_equal(s->sum.downloaded, point == POP3SYNC_CRASH_AFTER_INTENT ? 5 : 3);
	assert_int_equal(s->sum.deleted, 5);
	assert_int_equal(fakepop3_count(s->srvdir), 0);
	assert_delivered(s, 5);
}

static void crash_after_intent(void **state)
{
	crash_then_rerun(*state, POP3SYNC_CRASH_AFTER_INTENT, 0);
}

static void crash_after_commit(void **state)
{
	crash_then_rerun(*state, POP3SYNC_CRASH_AFTER_COMMIT, 2);
}

static void crash_after_journal(void **state)
{
	crash_then_rerun(*state, POP3SYNC_CRASH_AFTER_JOURNAL, 0);
}

/* Two identical messages under two UIDLs, interrupted after commit: each
 * pending record claims its own file. */
static void crash_with_identical_messages(void **state)
{
	struct sx *s = *state;
	char *files[8];
	size_t n, i;

	s->keep = 0;
	assert_int_equal(fakepop3_add(s->srvdir, "a", "same\n"), 0);
	assert_int_equal(fakepop3_add(s->srvdir, "b", "same\n"), 0);
	assert_int_equal(fakepop3_add(s->srvdir, "c", "other\n"), 0);
	sx_start(s);
	s->o.test_crash = POP3SYNC_CRASH_AFTER_COMMIT;
	assert_int_equal(sx_run(s), -1);
	s->o.test_crash = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.recovered, 3);
	assert_int_equal(s->sum.downloaded, 0);
	n = md_files(s, files, 8);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		free(files[i]);
}

/* A file already journaled for another UIDL is never claimed again, even
 * when a later message has the same content. */
static void crash_recovery_skips_claimed_files(void **state)
{
	struct sx *s = *state;
	struct jrnl *j = NULL;
	struct jrnl_uidl *u = NULL;
	struct fct_err e;
	char *files[8];
	size_t n = 0, i;

	assert_int_equal(fakepop3_add(s->srvdir, "a", "same\n"), 0);
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(fakepop3_add(s->srvdir, "b", "same\n"), 0);
	s->o.test_crash = POP3SYNC_CRASH_AFTER_COMMIT;
	assert_int_equal(sx_run(s), -1);
	s->o.test_crash = 0;
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.recovered, 1);
	assert_int_equal(s->sum.downloaded, 0);
	assert_int_equal(md_files(s, files, 8), 2);
	for (i = 0; i < 2; i++)
		free(files[i]);
	assert_int_equal(jrnl_open(&j, s->state, &e), 0);
	assert_int_equal(jrnl_uidl_load(j, "INBOX", &u, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_non_null(u[0].near_uniq);
	assert_non_null(u[1].near_uniq);
	assert_string_not_equal(u[0].near_uniq, u[1].near_uniq);
	jrnl_uidls_free(u, n);
	jrnl_close(j);
}

static void connection_lost_keeps_received(void **state)
{
	struct sx *s = *state;

	s->keep = 0;
	s->cfg.close_after_retr = 2;
	add_msgs(s, 0, 4);
	sx_start(s);
	assert_int_equal(sx_run(s), -1);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.deleted, 0);
	assert_int_equal(fakepop3_count(s->srvdir), 4);
	s->cfg.close_after_retr = 0;
	sx_restart(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.deleted, 4);
	assert_delivered(s, 4);
}

static void refused_message_retried(void **state)
{
	struct sx *s = *state;

	add_msgs(s, 0, 3);
	s->cfg.retr_refuse = "uid001";
	sx_start(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 2);
	assert_int_equal(s->sum.refused, 1);
	s->cfg.retr_refuse = NULL;
	sx_restart(s);
	assert_int_equal(sx_run(s), 0);
	assert_int_equal(s->sum.downloaded, 1);
	assert_delivered(s, 3);
}

static void locked_channel(void **state)
{
	struct sx *s = *state;
	struct fct_lock *l = NULL;
	struct fct_err e;
	char path[300];

	add_msgs(s, 0, 1);
	sx_start(s);
	assert_int_equal(sx_run(s), 0); /* creates the state directory */
	snprintf(path, sizeof path, "%s/lock", s->state);
	/* flock locks are per open file: a second open in this process conflicts. */
	assert_int_equal(fct_lock_take(&l, path, "pop", 0, &e), 0);
	assert_int_equal(sx_run(s), -1);
	assert_int_equal(s->err.kind, FCT_E_STORE);
	assert_non_null(strstr(s->err.msg, "being synchronized"));
	assert_null(strstr(s->err.msg, "channel pop: channel pop"));
	fct_lock_release(l);
	assert_int_equal(sx_run(s), 0);
}

#define SX(t) cmocka_unit_test_setup_teardown(t, sx_setup, sx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SX(keep_yes_then_rerun),
		SX(keep_no_and_new_mail),
		SX(delete_after_days),
		SX(max_size_left_on_server),
		SX(no_uidl_with_keep),
		SX(no_uidl_keep_no),
		SX(no_uidl_crash_before_quit),
		SX(no_uidl_refused_keeps_names),
		SX(no_uidl_max_size),
		SX(dry_run_changes_nothing),
		SX(crash_after_intent),
		SX(crash_after_commit),
		SX(crash_after_journal),
		SX(crash_with_identical_messages),
		SX(crash_recovery_skips_claimed_files),
		SX(connection_lost_keeps_received),
		SX(refused_message_retried),
		SX(locked_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
