/* Per-channel run lock: flock(2) plus the holder's pid in the file. */
#include "store/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct fct_lock {
	int fd;
};

/* The pid written by the holder, or 0 if unreadable (it may be writing it). */
static long read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	long pid = 0;
	int i;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (pid > 100000000L)
			return 0;
		pid = pid * 10 + (buf[i] - '0');
	}
	return pid;
}

static int write_pid(int fd, const char *path, struct fct_err *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0)
		return fct_err_sys(err, errno, "lock %s: truncate", path);
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		return fct_err_sys(err, errno, "lock %s: write pid", path);
	return 0;
}

int fct_lock_take(struct fct_lock **out, const char *path, const char *channel, int wait, struct fct_err *err)
{
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fct_err_sys(err, errno, "lock %s: open", path);
	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc < 0 && errno == EWOULDBLOCK) {
		if (!wait) {
			long pid = read_pid(fd);

			close(fd);
			if (pid > 0)
				return fct_err_set(err, FCT_E_STORE, "channel %s is being synchronized by pid %ld", channel, pid);
			return fct_err_set(err, FCT_E_STORE, "channel %s is being synchronized by another process", channel);
		}
		while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
	}
	if (rc < 0) {
		int e = errno;
		close(fd);
		return fct_err_sys(err, e, "lock %s", path);
	}
	if (write_pid(fd, path, err) < 0) {
		close(fd);
		return -1;
	}
	*out = fct_xcalloc(1, sizeof **out);
	(*out)->fd = fd;
	return 0;
}

void fct_lock_release(struct fct_lock *l)
{
	if (!l)
		return;
	/* Empty the file first so a later reader never sees a stale pid. */
	if (ftruncate(l->fd, 0) < 0) {
		/* Harmless: the flock, not the content, is the lock. */
	}
	close(l->fd);
	free(l);
}
