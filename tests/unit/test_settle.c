/* settle_stamps (sync/settle.c): a folder's stamp is recorded after a run
 * only when the folder holds exactly the files the journal describes.
 * settle_far_*: the far HIGHESTMODSEQ only when the server's changes since
 * SELECT are exactly the flags the plan set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/journal.h"
#include "store/maildir.h"
#include "sync/engine.h"
#include "sync/run.h"
#include "sync/settle.h"
#include "tests/unit/imap_t.h"

static char root[80];

struct fx {
	struct md_store *md;
	struct jrnl *j;
	struct run_opts opts;
	struct chan c;
	struct box_job job;
	char state[128];
};

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void put_file(const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof p, "%s/mail/INBOX/cur/%s", root, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
}

static void journal_msg(struct fx *f, const char *uniq, unsigned flags)
{
	struct jrnl_txn *t;
	struct jrnl_msg m;
	struct fct_err e;

	memset(&m, 0, sizeof m);
	m.near_uniq = (char *)(uintptr_t)uniq;
	m.flags = flags;
	m.state = JRNL_SYNCED;
	assert_int_equal(jrnl_begin(f->j, &t, &e), 0);
	assert_int_equal(jrnl_msg_put(t, "INBOX", &m, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct md_store_opts o;
	struct fct_err e;
	struct jrnl_txn *t;
	struct jrnl_box b;
	struct fx *f = calloc(1, sizeof *f);

	if (!base || !*base || strlen(base) > 40)
		base = P_tmpdir;
	snprintf(root, sizeof root, "%s/fct-settle-XXXXXX", base);
	if (!f || !mkdtemp(root))
		return -1;
	snprintf(f->state, sizeof f->state, "%s/state", root);
	memset(&o, 0, sizeof o);
	o.path = fct_xasprintf("%s/mail", root);
	mkdir(o.path, 0700);
	o.info_delim = ':';
	if (md_store_open(&f->md, &o, &e) < 0 || jrnl_open(&f->j, f->state, &e) < 0) {
		free((char *)(uintptr_t)o.path);
		return -1;
	}
	free((char *)(uintptr_t)o.path);
	f->c.opts = &f->opts;
	f->c.j = f->j;
	f->job.box = fct_xstrdup("INBOX");
	f->job.state = JOB_DONE;
	if (md_folder_open(f->md, "INBOX", 1, &f->job.r.nf, &e) < 0)
		return -1;
	memset(&b, 0, sizeof b);
	b.uidvalidity = 7;
	if (jrnl_begin(f->j, &t, &e) < 0 || jrnl_box_put(t, "INBOX", &b, &e) < 0 ||
	    jrnl_commit(t, &e) < 0)
		return -1;
	put_file("1.a:2,S");
	put_file("2.b:2,");
	journal_msg(f, "1.a", FCT_F_SEEN);
	journal_msg(f, "2.b", 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	md_folder_close(f->job.r.nf);
	free(f->job.box);
	jrnl_close(f->j);
	md_store_free(f->md);
	free(f);
	return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t recorded(struct fx *f)
{
	struct jrnl_box b;
	struct fct_err e;
	int found;
	int64_t s;

	assert_int_equal(jrnl_box_get(f->j, "INBOX", &b, &found, &e), 0);
	assert_true(found);
	assert_int_equal(b.uidvalidity, 7); /* the rest of the record is kept */
	s = b.near_stamp;
	jrnl_box_clear(&b);
	return s;
}

static int64_t stamp_now(struct fx *f)
{
	int64_t s;
	struct fct_err e;

	assert_int_equal(md_folder_stamp(f->job.r.nf, &s, &e), 0);
	return s;
}

static void matching_folder_records_its_stamp(void **state)
{
	struct fx *f = *state;

	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), stamp_now(f));
	assert_true(recorded(f) != 0);
}

static void extra_file_is_not_trusted(void **state)
{
	struct fx *f = *state;

	put_file("3.c:2,");
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
}

static void other_flags_are_not_trusted(void **state)
{
	struct fx *f = *state;
	char a[256], b[256];

	snprintf(a, sizeof a, "%s/mail/INBOX/cur/2.b:2,", root);
	snprintf(b, sizeof b, "%s/mail/INBOX/cur/2.b:2,F", root);
	assert_int_equal(rename(a, b), 0);
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
}

static void missing_file_is_not_trusted(void **state)
{
	struct fx *f = *state;
	char a[256];

	snprintf(a, sizeof a, "%s/mail/INBOX/cur/1.a:2,S", root);
	assert_int_equal(unlink(a), 0);
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
}

static void stamp_ahead_of_the_clock_is_not_waited_for(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2];
	char p[256];

	/* An hour ahead, as a skewed file server would stamp it. */
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec += 3600;
	ts[1] = ts[0];
	snprintf(p, sizeof p, "%s/mail/INBOX/cur", root);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
}

static void unfinished_or_dry_jobs_are_left_alone(void **state)
{
	struct fx *f = *state;

	f->job.state = JOB_FAILED;
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
	f->job.state = JOB_DONE;
	f->opts.dry_run = 1;
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
	f->opts.dry_run = 0;
	f->c.moves_failed = 1;
	f->job.moved_in = 1;
	settle_stamps(&f->c, &f->job, 1);
	assert_int_equal(recorded(f), 0);
}

/* ---- the far check ---- */

/* The record as record_box wrote it from a SELECT at HIGHESTMODSEQ 12, and
 * a done job whose plan set \Flagged on UID 9 and \Seen on UID 5 and
 * paired UID 7.  The server's session, scripted, becomes the channel's. */
struct far {
	struct t t;
	struct cfg_channel ch;
	struct plan_far far[3];
	struct plan_action acts[3];
};

static void far_setup(struct fx *f, struct far *x, const char *const *script)
{
	static char name[] = "ch", box[] = "INBOX";
	struct jrnl_box b = {.uidvalidity = 7, .uidnext = 20, .highestmodseq = 12, .near_stamp = 5};
	struct jrnl_txn *tx;
	struct fct_err e;

	memset(x, 0, sizeof *x);
	assert_int_equal(jrnl_begin(f->j, &tx, &e), 0);
	assert_int_equal(jrnl_box_put(tx, "INBOX", &b, &e), 0);
	assert_int_equal(jrnl_commit(tx, &e), 0);
	x->ch.name = name;
	f->c.ch = &x->ch;
	f->c.caps = IMAP_CAP_QRESYNC | IMAP_CAP_CONDSTORE;
	f->job.far_name = box;
	f->job.r.c = &f->c;
	f->job.r.box = "INBOX";
	f->job.r.fbox = (struct imap_box){.uidvalidity = 7, .uidnext = 20, .highestmodseq = 12};
	f->job.pc.ops = PLAN_ALL;
	x->far[0].uid = 9;
	x->far[1].uid = 5;
	x->far[2].uid = 7;
	f->job.r.far = x->far;
	f->job.r.nfar = 3;
	x->acts[0] = (struct plan_action){.kind = PLAN_FLAGS_FAR, .far = 0, .flags = FCT_F_FLAGGED};
	x->acts[1] = (struct plan_action){.kind = PLAN_FLAGS_FAR, .far = 1, .flags = FCT_F_SEEN};
	x->acts[2] = (struct plan_action){.kind = PLAN_PAIR, .far = 2};
	f->job.plan.acts = x->acts;
	f->job.plan.n = 3;
	t_init(&x->t, IMAP_TLS_NONE);
	CONNECT_OK(&x->t, script);
	f->c.im = x->t.im;
}

/* Runs the check; returns the modseq the record keeps (its stamp kept). */
static uint64_t far_run(struct fx *f, struct far *x)
{
	struct jrnl_box b;
	struct fct_err e;
	uint64_t m;
	int found;

	f->c.selected = &f->job;
	settle_far(&f->c, &f->job, 1);
	/* Asked: the box it had selected is no longer. */
	assert_true(!f->c.selected == (f->job.pushed && f->job.state == JOB_DONE &&
	                               f->job.r.fbox.highestmodseq == 12 && f->job.r.fbox.uidnext == 20));
	t_finish(&x->t, 1);
	t_free(&x->t);
	f->c.im = NULL;
	free(f->job.pushed);
	f->job.pushed = NULL;
	f->job.npushed = 0;
	f->job.far_name = NULL;
	f->job.plan.acts = NULL;
	f->job.plan.n = 0;
	assert_int_equal(jrnl_box_get(f->j, "INBOX", &b, &found, &e), 0);
	assert_true(found);
	assert_int_equal(b.near_stamp, 5);
	m = b.highestmodseq;
	jrnl_box_clear(&b);
	return m;
}

#define FAR_LOGIN                                                                              \
	GREET_LOGIN("ENABLE CONDSTORE QRESYNC"), "C:A2 ENABLE QRESYNC", "S:* ENABLED QRESYNC",      \
		"S:A2 OK"
#define FAR_ASK "C:A3 EXAMINE \"INBOX\" (QRESYNC (7 12))"
#define FAR_BYE "C:A4 LOGOUT", "S:A4 OK"
#define FAR_HEAD(uidvalidity, uidnext, modseq)                                                 \
	"S:* OK [UIDVALIDITY " uidvalidity "] ok", "S:* OK [UIDNEXT " uidnext "] ok",               \
		"S:* OK [HIGHESTMODSEQ " modseq "] ok"
#define FAR_9 "S:* 2 FETCH (UID 9 FLAGS (\\Flagged) MODSEQ (13))"
#define FAR_5 "S:* 1 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (14))"

static uint64_t far_answer(struct fx *f, const char *const *script)
{
	struct far x;

	far_setup(f, &x, script);
	settle_far_note(&f->job);
	assert_non_null(f->job.pushed);
	return far_run(f, &x);
}

static void far_own_changes_are_recorded(void **state)
{
	static const char *const own[] = {FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_5,
	                                  FAR_9, "S:A3 OK [READ-ONLY] done", FAR_BYE, NULL};
	/* UID 5's STORE changed nothing: the answer leaves it out. */
	static const char *const partial[] = {FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "13"), FAR_9,
	                                      "S:A3 OK done", FAR_BYE, NULL};
	struct fx *f = *state;

	assert_true(far_answer(f, own) == 14);
	assert_true(far_answer(f, partial) == 13);
}

static void far_other_changes_keep_the_old_modseq(void **state)
{
	const char *const *const cases[] = {
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_5, FAR_9,
		                      "S:* 3 FETCH (UID 7 FLAGS () MODSEQ (14))", "S:A3 OK", FAR_BYE,
		                      NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_9,
		                      "S:* 1 FETCH (UID 5 FLAGS (\\Seen \\Answered) MODSEQ (14))",
		                      "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_5, FAR_9, FAR_9,
		                      "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_9,
		                      "S:* 1 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (12))", "S:A3 OK",
		                      FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_5, FAR_9,
		                      "S:* VANISHED (EARLIER) 3", "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "14"), FAR_9,
		                      "S:* 1 FETCH (UID 5 MODSEQ (14))", "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "21", "14"), FAR_5, FAR_9,
		                      "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("8", "20", "14"), FAR_5, FAR_9,
		                      "S:A3 OK", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, "S:A3 NO [NONEXISTENT] gone", FAR_BYE, NULL},
		(const char *const[]){FAR_LOGIN, FAR_ASK, FAR_HEAD("7", "20", "12"), "S:A3 OK", FAR_BYE,
		                      NULL},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (far_answer(f, cases[i]) != 12)
			fail_msg("case %zu: the new modseq was recorded", i);
}

/* Nothing is asked where the check could not vouch for the result or the
 * record does not keep a modseq. */
static void far_check_only_where_it_applies(void **state)
{
	static const char *const quiet[] = {FAR_LOGIN, "C:A3 LOGOUT", "S:A3 OK", NULL};
	static unsigned char done_elsewhere[] = {1, 1, 0};
	struct fx *f = *state;
	struct far x;

	for (int i = 0; i < 12; i++) {
		far_setup(f, &x, quiet);
		switch (i) {
		case 0: x.acts[2].kind = PLAN_UPLOAD; break;
		case 1: x.acts[2].kind = PLAN_DELETE_FAR; break;
		case 2: x.acts[2].kind = PLAN_EXPUNGE_FAR; break;
		case 3: f->job.moved_in = 1; break;
		case 4: f->job.pc.ops = PLAN_ALL & ~PLAN_PULL_DELETE; break;
		case 5: f->c.caps = IMAP_CAP_CONDSTORE; break;
		case 6: f->opts.dry_run = 1; break;
		case 7: f->job.suppress = done_elsewhere; break;
		case 8: f->job.r.fbox.nomodseq = 1; break;
		default: break;
		}
		settle_far_note(&f->job);
		if (i < 9 && f->job.pushed)
			fail_msg("case %d: flags noted", i);
		if (i == 9)
			f->job.state = JOB_FAILED;
		if (i == 10)
			f->job.r.fbox.highestmodseq = 11; /* record_box kept another */
		if (i == 11)
			f->job.r.fbox.uidnext = 19;
		assert_true(far_run(f, &x) == 12);
		f->job.state = JOB_DONE;
		f->job.moved_in = 0;
		f->job.suppress = NULL;
		f->opts.dry_run = 0;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(far_own_changes_are_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(far_other_changes_keep_the_old_modseq, setup, teardown),
		cmocka_unit_test_setup_teardown(far_check_only_where_it_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(matching_folder_records_its_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(extra_file_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(other_flags_are_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_file_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(stamp_ahead_of_the_clock_is_not_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(unfinished_or_dry_jobs_are_left_alone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
