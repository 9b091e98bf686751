#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/lock.h"

static char dir[80];
static char path[128];

/* A fresh directory under TMPDIR (short ones only: paths are built in
 * fixed buffers). */
static char *make_tmpdir(char *buf, size_t n, const char *tag)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base || strlen(base) > 40)
		base = P_tmpdir;
	snprintf(buf, n, "%s/fct-%s-XXXXXX", base, tag);
	return mkdtemp(buf);
}

static int setup(void **state)
{
	(void)state;
	if (!make_tmpdir(dir, sizeof dir, "lock"))
		return -1;
	snprintf(path, sizeof path, "%s/chan.lock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/* Forks a child that takes the lock, reports through a pipe, and holds it
 * until it reads a byte from the second pipe. */
static pid_t spawn_holder(int *go_fd)
{
	int ready[2], go[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fct_lock *l;
		struct fct_err e;

		close(ready[0]);
		close(go[1]);
		if (fct_lock_take(&l, path, "work", 0, &e) < 0)
			_exit(2);
		c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		if (read(go[0], &c, 1) < 0)
			_exit(4);
		fct_lock_release(l);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*go_fd = go[1];
	return pid;
}

static void contention(void **state)
{
	struct fct_lock *l = NULL;
	struct fct_err e;
	char want[64];
	int go, st;
	pid_t pid;

	(void)state;
	pid = spawn_holder(&go);
	assert_int_equal(fct_lock_take(&l, path, "work", 0, &e), -1);
	assert_null(l);
	assert_int_equal(e.kind, FCT_E_STORE);
	snprintf(want, sizeof want, "channel work is being synchronized by pid %ld", (long)pid);
	assert_string_equal(e.msg, want);
	/* Release the holder; with wait the second taker gets it. */
	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	assert_int_equal(fct_lock_take(&l, path, "work", 1, &e), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fct_lock_release(l);
}

static void waits_for_holder(void **state)
{
	struct fct_lock *l = NULL;
	struct fct_err e;
	int go, st;
	pid_t pid, releaser;

	(void)state;
	pid = spawn_holder(&go);
	/* A second child releases the holder a little later, while we block. */
	releaser = fork();
	assert_true(releaser >= 0);
	if (releaser == 0) {
		usleep(200 * 1000);
		_exit(write(go, "g", 1) == 1 ? 0 : 1);
	}
	close(go);
	assert_int_equal(fct_lock_take(&l, path, "work", 1, &e), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(waitpid(releaser, &st, 0), releaser);
	fct_lock_release(l);
}

static void crash_frees_lock(void **state)
{
	struct fct_lock *l = NULL;
	struct fct_err e;
	int go, st;
	pid_t pid;

	(void)state;
	pid = spawn_holder(&go);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(go);
	assert_int_equal(fct_lock_take(&l, path, "work", 0, &e), 0);
	/* Taken twice in one process through two opens: the second fails too. */
	struct fct_lock *l2 = NULL;
	assert_int_equal(fct_lock_take(&l2, path, "work", 0, &e), -1);
	assert_non_null(strstr(e.msg, "by pid"));
	fct_lock_release(l);
}

static void bad_path(void **state)
{
	struct fct_lock *l = NULL;
	struct fct_err e;
	char p[160];

	(void)state;
	snprintf(p, sizeof p, "%s/missing/dir/x.lock", dir);
	assert_int_equal(fct_lock_take(&l, p, "work", 0, &e), -1);
	assert_int_equal(e.kind, FCT_E_IO);
	assert_non_null(strstr(e.msg, "missing/dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(contention, setup, teardown),
		cmocka_unit_test_setup_teardown(waits_for_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_frees_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
