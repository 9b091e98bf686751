/* An LD_PRELOAD companion to libfiu's POSIX preload for the disk-fault
 * tests: libfiu 1.1 wraps rename() but not renameat2() or link(), which is
 * how the Maildir store commits files (RENAME_NOREPLACE, with a link()
 * fallback).  Both fail here under libfiu's own "posix/io/dir/rename"
 * point, with the errno given as failinfo (EIO if none), so one fiu-run
 * option covers every way a file is renamed.
 *
 * Built by tests/faults/diskfault.py: cc -shared -fPIC ... -lfiu -ldl. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define FIU_ENABLE 1 /* else fiu.h turns every call into a no-op */
#include <fiu.h>

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags);
int link(const char *oldpath, const char *newpath);

static int injected(void)
{
	if (!fiu_fail("posix/io/dir/rename"))
		return 0;
	errno = fiu_failinfo() ? (int)(intptr_t)fiu_failinfo() : EIO;
	return 1;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
	static int (*real)(int, const char *, int, const char *, unsigned int);

	if (injected())
		return -1;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "renameat2");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

int link(const char *oldpath, const char *newpath)
{
	static int (*real)(const char *, const char *);

	if (injected())
		return -1;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "link");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(oldpath, newpath);
}
