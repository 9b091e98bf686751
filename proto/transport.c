/* Bottom of the transport stack: TCP connection or tunnel command, waiting
 * with poll() so every wait is bounded, and the dispatch through the layers
 * above (TLS in tls.c, DEFLATE in deflate.c). */
#include "proto/xport_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* "30 s", or "0.2 s" for the short timeouts tests use. */
static void fmt_timeout(char *out, size_t n, int ms)
{
	if (ms % 1000 == 0)
		snprintf(out, n, "%d s", ms / 1000);
	else
		snprintf(out, n, "%.1f s", ms / 1000.0);
}

/* Waits until fd is ready for events, at most timeout_ms (what: "reading
 * from", "writing to", "connecting to" for the message). */
static int wait_fd(int fd, short events, int timeout_ms, const char *what, const char *name,
                   struct fct_err *err)
{
	int64_t deadline = timeout_ms > 0 ? fct_now_ms() + timeout_ms : 0;
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int left = -1;
		if (timeout_ms > 0) {
			int64_t d = deadline - fct_now_ms();
			left = d > 0 ? (int)d : 0;
		}
		int r = poll(&p, 1, left);
		if (r > 0)
			return 0; /* readiness or error/hangup: the I/O call will tell */
		if (r == 0) {
			char t[32];
			fmt_timeout(t, sizeof t, timeout_ms);
			return fct_err_set(err, FCT_E_TIMEOUT, "%s %s timed out after %s", what, name, t);
		}
		if (errno != EINTR)
			return fct_err_sys(err, errno, "poll on %s", name);
	}
}

/* A failed network call: worth retrying later, unlike a local error. */
static int net_err(struct fct_err *err, int e, const char *what, const char *name)
{
	fct_err_sys(err, e, "%s %s", what, name);
	if (err)
		err->temporary = 1;
	return -1;
}

ssize_t xport_raw_read(struct xport *x, void *buf, size_t n, struct fct_err *err)
{
	for (;;) {
		ssize_t r = read(x->rfd, buf, n);
		if (r >= 0) {
			x->nin += (unsigned long long)r;
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			x->broken = 1;
			if (errno == ECONNRESET)
				return fct_err_set(err, FCT_E_IO, "connection to %s reset by peer", x->name);
			return net_err(err, errno, "reading from", x->name);
		}
		if (wait_fd(x->rfd, POLLIN, x->timeout_ms, "reading from", x->name, err) < 0) {
			x->broken = 1;
			return -1;
		}
	}
}

/* write() on a pipe whose reader is gone raises SIGPIPE; block it around the
 * call and swallow the one we caused, leaving the process disposition alone. */
static ssize_t write_nosig(int fd, const void *p, size_t n)
{
	sigset_t pipeset, old, pend;
	int was_pending, e;
	ssize_t r;

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	sigpending(&pend);
	was_pending = sigismember(&pend, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &old);
	r = write(fd, p, n);
	e = errno;
	if (r < 0 && e == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipeset, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return r;
}

int xport_raw_write(struct xport *x, const void *p, size_t n, struct fct_err *err)
{
	const char *c = p;

	while (n > 0) {
		ssize_t r = x->is_socket ? send(x->wfd, c, n, MSG_NOSIGNAL) : write_nosig(x->wfd, c, n);
		if (r > 0) {
			x->nout += (unsigned long long)r;
			c += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(x->wfd, POLLOUT, x->timeout_ms, "writing to", x->name, err) < 0) {
				x->broken = 1;
				return -1;
			}
			continue;
		}
		x->broken = 1;
		if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
			return fct_err_set(err, FCT_E_IO, "connection to %s closed by peer while writing",
			                   x->name);
		return net_err(err, r < 0 ? errno : EIO, "writing to", x->name);
	}
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static struct xport *xport_alloc(const struct xport_opts *o)
{
	struct xport *x = fct_xcalloc(1, sizeof *x);

	x->rfd = x->wfd = -1;
	x->child = -1;
	x->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 0;
	x->log = o->log;
	x->host = fct_xstrdup(o->host ? o->host : "");
	if (o->tunnel)
		x->name = fct_xasprintf("tunnel \"%s\"", o->tunnel);
	else if (o->host && strchr(o->host, ':'))
		x->name = fct_xasprintf("[%s]:%d", o->host, o->port);
	else if (o->host)
		x->name = fct_xasprintf("%s:%d", o->host, o->port);
	else
		x->name = fct_xstrdup("peer");
	return x;
}

int xport_from_fds(struct xport **out, int rfd, int wfd, const struct xport_opts *o,
                   struct fct_err *err)
{
	struct xport *x = xport_alloc(o);
	struct stat st;

	x->rfd = rfd;
	x->wfd = wfd;
	*out = NULL;
	if (set_nonblock(rfd) < 0 || set_nonblock(wfd) < 0) {
		fct_err_sys(err, errno, "%s: cannot make descriptors non-blocking", x->name);
		xport_close(x);
		return -1;
	}
	x->is_socket = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
	*out = x;
	return 0;
}

/* One non-blocking connect bounded by the timeout; returns the fd or -1
 * with err set. */
static int connect_one(const struct addrinfo *ai, const struct xport *x, struct fct_err *err)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	const void *a = ai->ai_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
	int fd, e = 0, one = 1;
	socklen_t elen = sizeof e;

	inet_ntop(ai->ai_family, a, addr, sizeof addr);
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return fct_err_sys(err, errno, "connecting to %s (%s): socket", x->name, addr);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto fail;
		}
		if (wait_fd(fd, POLLOUT, x->timeout_ms, "connecting to", x->name, err) < 0) {
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e)
			goto fail;
	}
	/* We batch writes ourselves; Nagle would only delay each flush. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
fail:
	close(fd);
	fct_err_sys(err, e, "connecting to %s (%s)", x->name, addr);
	if (err)
		err->temporary = 1;
	return -1;
}

static int open_socket(struct xport *x, const struct xport_opts *o, struct fct_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16], host[256];
	size_t hl = strlen(o->host);
	int r;

	/* Accept "[::1]" as well as "::1". */
	if (hl >= 2 && o->host[0] == '[' && o->host[hl - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)(hl - 2), o->host + 1);
	else
		snprintf(host, sizeof host, "%s", o->host);
	if (o->port <= 0 || o->port > 65535)
		return fct_err_set(err, FCT_E_CONFIG, "%s: invalid port %d", x->name, o->port);
	snprintf(port, sizeof port, "%d", o->port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		fct_err_set(err, FCT_E_IO, "cannot resolve %s: %s", host,
		            r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		err->temporary = 1;
		return -1;
	}
	int tried = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		tried = 1;
		int fd = connect_one(ai, x, err);
		if (fd >= 0) {
			freeaddrinfo(res);
			x->rfd = x->wfd = fd;
			x->is_socket = 1;
			return 0;
		}
		fct_log_verbose(x->log, "%s", err->msg);
	}
	freeaddrinfo(res);
	if (!tried)
		fct_err_set(err, FCT_E_IO, "cannot connect to %s: no usable address", x->name);
	return -1;
}

static int open_tunnel(struct xport *x, const char *cmd, struct fct_err *err)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fct_err_sys(err, errno, "%s: socketpair", x->name);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return fct_err_sys(err, e, "%s: fork", x->name);
	}
	if (pid == 0) {
		/* Child: only async-signal-safe calls until exec. */
		signal(SIGPIPE, SIG_DFL);
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	x->child = pid;
	x->rfd = x->wfd = sv[0];
	x->is_socket = 1;
	if (set_nonblock(sv[0]) < 0)
		return fct_err_sys(err, errno, "%s: fcntl", x->name);
	return 0;
}

int xport_open(struct xport **out, const struct xport_opts *o, struct fct_err *err)
{
	struct xport *x = xport_alloc(o);
	int r;

	*out = NULL;
	if (o->tunnel)
		r = open_tunnel(x, o->tunnel, err);
	else if (!o->host || !*o->host)
		r = fct_err_set(err, FCT_E_CONFIG, "no host to connect to");
	else
		r = open_socket(x, o, err);
	if (r < 0) {
		xport_close(x);
		return -1;
	}
	fct_log_verbose(x->log, "connected to %s", x->name);
	*out = x;
	return 0;
}

int xport_start_tls(struct xport *x, const struct tls_opts *t, struct fct_err *err)
{
	if (x->tls)
		return fct_err_set(err, FCT_E_PROTO, "%s: TLS is already active", x->name);
	if (x->z)
		return fct_err_set(err, FCT_E_PROTO, "%s: cannot start TLS under compression", x->name);
	if (xport_flush(x, err) < 0)
		return -1;
	return xport_tls_push(x, t, err);
}

int xport_start_deflate(struct xport *x, struct fct_err *err)
{
	if (x->z)
		return fct_err_set(err, FCT_E_PROTO, "%s: compression is already active", x->name);
	if (xport_flush(x, err) < 0)
		return -1;
	return xport_z_push(x, err);
}

int xport_is_tls(const struct xport *x)
{
	return x->tls != NULL;
}

int xport_is_deflate(const struct xport *x)
{
	return x->z != NULL;
}

const struct tls_info *xport_tls_info(const struct xport *x)
{
	return x->tls ? xport_tls_get_info(x) : NULL;
}

ssize_t xport_below_z_read(struct xport *x, void *buf, size_t n, struct fct_err *err)
{
	return x->tls ? xport_tls_read(x, buf, n, err) : xport_raw_read(x, buf, n, err);
}

int xport_below_z_write(struct xport *x, const void *p, size_t n, struct fct_err *err)
{
	return x->tls ? xport_tls_write(x, p, n, err) : xport_raw_write(x, p, n, err);
}

ssize_t xport_read(struct xport *x, void *buf, size_t n, struct fct_err *err)
{
	if (x->wlen && xport_flush(x, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	return x->z ? xport_z_read(x, buf, n, err) : xport_below_z_read(x, buf, n, err);
}

static int push(struct xport *x, const void *p, size_t n, int sync, struct fct_err *err)
{
	return x->z ? xport_z_write(x, p, n, sync, err) : xport_below_z_write(x, p, n, err);
}

int xport_write(struct xport *x, const void *buf, size_t n, struct fct_err *err)
{
	if (x->wlen + n <= sizeof x->wbuf) {
		memcpy(x->wbuf + x->wlen, buf, n);
		x->wlen += n;
		return 0;
	}
	if (x->wlen) {
		size_t l = x->wlen;
		x->wlen = 0;
		if (push(x, x->wbuf, l, 0, err) < 0)
			return -1;
	}
	if (n >= sizeof x->wbuf)
		return push(x, buf, n, 0, err);
	memcpy(x->wbuf, buf, n);
	x->wlen = n;
	return 0;
}

int xport_flush(struct xport *x, struct fct_err *err)
{
	size_t l = x->wlen;

	x->wlen = 0;
	if (x->z)
		return xport_z_write(x, x->wbuf, l, 1, err);
	return l ? xport_below_z_write(x, x->wbuf, l, err) : 0;
}

int xport_pending(const struct xport *x)
{
	return (x->z && xport_z_pending(x)) || (x->tls && xport_tls_pending(x));
}

int xport_fd(const struct xport *x)
{
	return x->rfd;
}

int xport_peer_is_loopback(const struct xport *x)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (!x->is_socket || getpeername(x->rfd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

void xport_counters(const struct xport *x, unsigned long long *in, unsigned long long *out)
{
	if (in)
		*in = x->nin;
	if (out)
		*out = x->nout;
}

/* Gives the tunnel command time to exit on EOF, then insists. */
static void reap(struct xport *x)
{
	int64_t limit = fct_now_ms() + (x->timeout_ms > 0 ? x->timeout_ms : 5000);
	int status = 0, sig = 0;
	pid_t r;

	for (;;) {
		r = waitpid(x->child, &status, WNOHANG);
		if (r == x->child || (r < 0 && errno != EINTR))
			break;
		if (r == 0 && fct_now_ms() >= limit) {
			sig = sig ? SIGKILL : SIGTERM;
			kill(x->child, sig);
			limit = fct_now_ms() + 1000;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (r == x->child && WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fct_log_verbose(x->log, "%s exited with status %d", x->name, WEXITSTATUS(status));
	else if (r == x->child && WIFSIGNALED(status) && !sig)
		fct_log_verbose(x->log, "%s killed by signal %d", x->name, WTERMSIG(status));
}

void xport_close(struct xport *x)
{
	if (!x)
		return;
	xport_z_free(x->z);
	if (x->tls && !x->broken)
		xport_tls_goodbye(x);
	xport_tls_free(x->tls);
	if (x->rfd >= 0)
		close(x->rfd);
	if (x->wfd >= 0 && x->wfd != x->rfd)
		close(x->wfd);
	if (x->child > 0)
		reap(x);
	free(x->host);
	free(x->name);
	free(x);
}

int xport_timeout_ms(const struct xport *x)
{
	return x->timeout_ms;
}
