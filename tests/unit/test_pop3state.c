/* POP3 state location and the takeover of a per-channel journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fakepop3.h"
#include "sync/config.h"
#include "sync/pop3state.h"

static struct fct_log quiet = {-1, 0, NULL};

struct fx {
	char base[512];
	struct fct_config *cfg;
	struct pop3sync_opts o;
	struct fct_lock *lock;
	struct jrnl *j;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct fct_err e = {0};
	char *text;

	assert_non_null(fakepop3_tmpdir(f->base, sizeof f->base, "pop3state"));
	/* Two channels on one account; "pop" delivers into a folder, so its
	 * old journal keyed the UIDLs by that folder. */
	text = fct_xasprintf("MaildirStore m\nPath %s/Mail/\n\n"
	                     "POP3Account a\nHost POP.example.org\nUser bob\nPass x\n\n"
	                     "POP3Store p\nAccount a\n\n"
	                     "Channel pop\nFar :p:\nNear :m:pop-in\nSyncState %s/st/\n\n"
	                     "Channel other\nFar :p:\nNear :m:\nSyncState %s/st/\n",
	                     f->base, f->base, f->base);
	assert_int_equal(cfg_parse_string(&f->cfg, text, "t.conf", &quiet, &e), 0);
	free(text);
	f->o.log = &quiet;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char *cmd = fct_xasprintf("rm -rf '%s'", f->base);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	cfg_free(f->cfg);
	free(f);
	return 0;
}

static void put_uidl(struct jrnl *j, const char *box, const char *uidl, int64_t seen)
{
	struct jrnl_uidl u = {fct_xstrdup(uidl), seen, NULL};
	struct jrnl_txn *t;
	struct fct_err e;

	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_uidl_put(t, box, &u, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	free(u.uidl);
}

/* Writes an old-style journal for channel name at its cfg_state_dir. */
static void old_journal(struct fx *f, const char *name, const char *box, const char *uidl,
                        int64_t seen)
{
	char *dir = cfg_state_dir(f->cfg, cfg_channel(f->cfg, name));
	struct jrnl *j;
	struct fct_err e;

	assert_int_equal(jrnl_open(&j, dir, &e), 0);
	put_uidl(j, box, uidl, seen);
	jrnl_close(j);
	free(dir);
}

static size_t count_uidls(struct jrnl *j, const char *box, const char *uidl, int64_t *seen)
{
	struct jrnl_uidl *u;
	size_t n, i;
	struct fct_err e;

	assert_int_equal(jrnl_uidl_load(j, box, &u, &n, &e), 0);
	for (i = 0; i < n && seen; i++)
		if (strcmp(u[i].uidl, uidl) == 0)
			*seen = u[i].first_seen;
	jrnl_uidls_free(u, n);
	return n;
}

static void open_chan(struct fx *f, const char *name)
{
	struct fct_err e = {0};

	if (pop3_state_open(f->cfg, cfg_channel(f->cfg, name), &f->o, &f->lock, &f->j, &e) < 0)
		fail_msg("pop3_state_open: %s", e.msg);
}

static void close_chan(struct fx *f)
{
	jrnl_close(f->j);
	fct_lock_release(f->lock);
	f->j = NULL;
	f->lock = NULL;
}

static void takes_over_old_journals(void **state)
{
	struct fx *f = *state;
	char *dir = fct_xasprintf("%s/st/pop", f->base);
	struct jrnl *oj;
	struct fct_err e;
	int64_t seen = 0;

	old_journal(f, "pop", "pop-in", "u1", 100);
	old_journal(f, "pop", "pop-in", "u2", 200);
	old_journal(f, "other", "INBOX", "u2", 150);
	old_journal(f, "other", "INBOX", "u3", 300);

	open_chan(f, "pop");
	assert_int_equal(count_uidls(f->j, POP3_JOURNAL_BOX, "u1", &seen), 2);
	assert_int_equal(seen, 100);
	close_chan(f);
	assert_int_equal(jrnl_open(&oj, dir, &e), 0);
	assert_int_equal(count_uidls(oj, "pop-in", "", NULL), 0); /* emptied */
	jrnl_close(oj);

	/* The other channel's journal joins the same account state; a UIDL
	 * both knew keeps the earlier first-seen time. */
	open_chan(f, "other");
	assert_int_equal(count_uidls(f->j, POP3_JOURNAL_BOX, "u2", &seen), 3);
	assert_int_equal(seen, 150);
	close_chan(f);

	/* Again: nothing left to take over, nothing changes. */
	open_chan(f, "pop");
	assert_int_equal(count_uidls(f->j, POP3_JOURNAL_BOX, "u3", &seen), 3);
	assert_int_equal(seen, 300);
	close_chan(f);
	free(dir);
}

/* Both channels lock the same account: one run at a time. */
static void one_lock_per_account(void **state)
{
	struct fx *f = *state;
	struct fct_lock *l2 = NULL;
	struct jrnl *j2 = NULL;
	struct fct_err e = {0};
	char *acct = fct_xasprintf("%s/st/pop3/bob@pop.example.org:110", f->base);

	open_chan(f, "pop");
	assert_int_equal(pop3_state_open(f->cfg, cfg_channel(f->cfg, "other"), &f->o, &l2, &j2, &e),
	                 -1);
	assert_int_equal(e.kind, FCT_E_STORE);
	assert_non_null(strstr(e.msg, "POP3 account a"));
	jrnl_close(j2);
	fct_lock_release(l2);
	close_chan(f);
	struct stat st;
	assert_int_equal(stat(acct, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(acct);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(takes_over_old_journals, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(one_lock_per_account, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests_name("pop3state", tests, NULL, NULL);
}
