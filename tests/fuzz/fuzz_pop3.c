/* libFuzzer target: the POP3 client's response handling (proto/pop3.c).
 *
 * Two parts, chosen by the first byte:
 *  - the multi-line body decoder (pop3_dec_feed), fed in pieces;
 *  - a whole session: the input is everything "the server" says, written
 *    into a socketpair before the client starts (then the write side is
 *    shut, so running out of input is an EOF, never a hang).  The client
 *    connects, logs in, runs UIDL, LIST and RETR of what LIST announced. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/pop3.h"
#include "proto/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	uint64_t *total = ctx;

	(void)err;
	(void)p;
	*total += n;
	return 0;
}

static int sink_begin(void *ctx, unsigned num, struct fct_err *err)
{
	(void)ctx;
	(void)num;
	(void)err;
	return 0;
}

static int sink_end(void *ctx, unsigned num, struct fct_err *err)
{
	return sink_begin(ctx, num, err);
}

static int sink_refused(void *ctx, unsigned num, const char *text, struct fct_err *err)
{
	(void)ctx;
	(void)num;
	(void)err;
	return text == NULL ? -1 : 0;
}

static void fuzz_decoder(const uint8_t *data, size_t size)
{
	struct pop3_dec d;
	struct fct_err err;
	uint64_t total = 0;
	size_t pos = 1, chunk = size ? (size_t)(data[0] % 7) + 1 : 1;

	pop3_dec_init(&d);
	while (pos < size && !d.done) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		ssize_t r = pop3_dec_feed(&d, (const char *)data + pos, n, sink_data, &total, &err);

		if (r < 0 || (size_t)r > n)
			__builtin_trap();
		if (!d.done && (size_t)r != n)
			__builtin_trap();
		pos += (size_t)r;
	}
	/* Decoding only ever removes bytes (dots, CRs). */
	if (total > size)
		__builtin_trap();
}

static void fuzz_session(const uint8_t *data, size_t size)
{
	int sv[2];
	struct xport *x = NULL;
	struct xport_opts xo;
	struct pop3_opts o;
	struct pop3 *p = NULL;
	struct fct_err err;
	struct fct_log log = {0, 0, NULL};
	struct pop3_uidl_ent *u = NULL;
	struct pop3_list_ent *l = NULL;
	size_t nu = 0, nl = 0;

	/* The whole script must fit in the socket buffer: input is capped. */
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	shutdown(sv[1], SHUT_WR);
	memset(&xo, 0, sizeof xo);
	xo.host = "fuzz";
	xo.timeout_ms = 1000;
	xo.log = &log;
	if (xport_from_fds(&x, sv[0], sv[0], &xo, &err) != 0) {
		close(sv[1]);
		return;
	}
	memset(&o, 0, sizeof o);
	o.tls = POP3_TLS_IMPLICIT; /* the test's socket counts as secured */
	o.user = "user";
	o.pass = "pass";
	o.auth_mechs = "USER";
	o.log = &log;
	if (pop3_connect_xport(&p, x, &o, &err) == 0) {
		if (pop3_uidl(p, &u, &nu, &err) == 0 && pop3_list(p, &l, &nl, &err) == 0) {
			unsigned nums[8];
			size_t k = 0;
			struct pop3_sink s = {sink_begin, sink_data, sink_end, sink_refused, NULL};
			uint64_t total = 0;

			for (size_t i = 0; i < nl && k < 8; i++)
				nums[k++] = l[i].num;
			s.ctx = &total;
			if (k && pop3_retr_many(p, nums, k, &s, &err) == 0)
				(void)pop3_dele(p, nums, k, NULL, &err);
			(void)pop3_quit(p, &err);
		}
		free(u);
		free(l);
		pop3_close(p);
	}
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_decoder(data, size);
	else
		fuzz_session(data + 1, size - 1);
	return 0;
}
