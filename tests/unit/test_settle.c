/* settle_stamps (sync/settle.c): a folder's stamp is recorded after a run
 * only when the folder holds exactly the files the journal describes. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(matching_folder_records_its_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(extra_file_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(other_flags_are_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_file_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(stamp_ahead_of_the_clock_is_not_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(unfinished_or_dry_jobs_are_left_alone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
