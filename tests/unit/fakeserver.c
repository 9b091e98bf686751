/* Scripted fake server for unit tests: see fakeserver.h. */
#include "tests/unit/fakeserver.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "sync/util.h"

struct fake_server {
	const char *const *script;
	int fd;
	pthread_t thread;
	struct fct_buf recv;  /* all bytes from the client */
	size_t pos;           /* consumed part of recv */
	int eof;
	int ok;
	SSL_CTX *ctx;         /* after a "T:" step */
	SSL *ssl;
	size_t tls_at;        /* bytes of recv that arrived before TLS */
	int z;                /* raw DEFLATE both ways after a "Z:" step */
	z_stream zin, zout;
	char why[512];
};

static int inflate_in(struct fake_server *fs, char *p, size_t n)
{
	char out[4096];

	fs->zin.next_in = (unsigned char *)p;
	fs->zin.avail_in = (unsigned)n;
	do {
		int r;
		fs->zin.next_out = (unsigned char *)out;
		fs->zin.avail_out = sizeof out;
		r = inflate(&fs->zin, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR) {
			fs->eof = 1;
			return -1;
		}
		fct_buf_append(&fs->recv, out, sizeof out - fs->zin.avail_out);
	} while (fs->zin.avail_in > 0 || fs->zin.avail_out == 0);
	return 0;
}

static int raw_send(struct fake_server *fs, const char *p, size_t n);

static int deflate_out(struct fake_server *fs, const char *p, size_t n)
{
	char out[4096];

	fs->zout.next_in = (unsigned char *)(uintptr_t)p;
	fs->zout.avail_in = (unsigned)n;
	do {
		fs->zout.next_out = (unsigned char *)out;
		fs->zout.avail_out = sizeof out;
		if (deflate(&fs->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR ||
		    raw_send(fs, out, sizeof out - fs->zout.avail_out) < 0)
			return -1;
	} while (fs->zout.avail_out == 0);
	return 0;
}

/* Reads more client bytes into recv; 0, or -1 at EOF/timeout/error. */
static int fill(struct fake_server *fs)
{
	char buf[4096];
	struct pollfd pf = {fs->fd, POLLIN, 0};
	ssize_t n;

	if (fs->eof)
		return -1;
	if (!(fs->ssl && SSL_pending(fs->ssl)) && poll(&pf, 1, 10000) <= 0) {
		fs->eof = 1;
		return -1;
	}
	n = fs->ssl ? SSL_read(fs->ssl, buf, sizeof buf) : read(fs->fd, buf, sizeof buf);
	if (n <= 0) {
		fs->eof = 1;
		return -1;
	}
	if (fs->z)
		return inflate_in(fs, buf, (size_t)n);
	fct_buf_append(&fs->recv, buf, (size_t)n);
	return 0;
}

/* Next client line without CRLF into line (malloc'd); -1 at EOF. */
static int get_line(struct fake_server *fs, char **line)
{
	for (;;) {
		char *nl = memchr(fs->recv.data + fs->pos, '\n', fs->recv.len - fs->pos);
		if (fs->recv.data && nl) {
			size_t len = (size_t)(nl - (fs->recv.data + fs->pos));
			if (len > 0 && fs->recv.data[fs->pos + len - 1] == '\r')
				len--;
			*line = fct_xstrndup(fs->recv.data + fs->pos, len);
			fs->pos = (size_t)(nl - fs->recv.data) + 1;
			return 0;
		}
		if (fill(fs) < 0)
			return -1;
	}
}

static int send_all(struct fake_server *fs, const char *p, size_t n)
{
	return fs->z ? deflate_out(fs, p, n) : raw_send(fs, p, n);
}

static int raw_send(struct fake_server *fs, const char *p, size_t n)
{
	if (fs->ssl)
		return n == 0 || SSL_write(fs->ssl, p, (int)n) == (int)n ? 0 : -1;
	while (n > 0) {
		ssize_t w = send(fs->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Self-signed P-256 certificate for CN=localhost, in memory. */
static int make_cert(X509 **cert, EVP_PKEY **key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *c = X509_new();
	X509_NAME *n;

	if (!k || !c)
		goto fail;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 143);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
	                           0);
	X509_set_issuer_name(c, n);
	if (X509_sign(c, k, EVP_sha256()) <= 0)
		goto fail;
	*cert = c;
	*key = k;
	return 0;
fail:
	X509_free(c);
	EVP_PKEY_free(k);
	return -1;
}

/* Server side of a TLS handshake on the connection (STARTTLS). */
static int start_tls(struct fake_server *fs)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r = -1;

	fs->tls_at = fs->recv.len;
	if (fs->recv.len != fs->pos) {
		snprintf(fs->why, sizeof fs->why, "client sent data before the TLS handshake");
		return -1;
	}
	if (make_cert(&cert, &key) < 0 || !(fs->ctx = SSL_CTX_new(TLS_server_method())) ||
	    SSL_CTX_use_certificate(fs->ctx, cert) != 1 || SSL_CTX_use_PrivateKey(fs->ctx, key) != 1 ||
	    !(fs->ssl = SSL_new(fs->ctx)) || SSL_set_fd(fs->ssl, fs->fd) != 1 ||
	    SSL_accept(fs->ssl) != 1)
		snprintf(fs->why, sizeof fs->why, "TLS handshake failed");
	else
		r = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

static int step(struct fake_server *fs, const char *s)
{
	char *line = NULL;
	int r = 0;

	if (strncmp(s, "C:", 2) == 0) {
		size_t n = strlen(s + 2);
		if (get_line(fs, &line) < 0) {
			snprintf(fs->why, sizeof fs->why, "expected \"%s\", got end of stream", s + 2);
			return -1;
		}
		if (n > 0 && s[2 + n - 1] == '*' ? strncmp(line, s + 2, n - 1) != 0
		                                 : strcmp(line, s + 2) != 0) {
			snprintf(fs->why, sizeof fs->why, "expected \"%s\", got \"%s\"", s + 2, line);
			r = -1;
		}
		free(line);
		return r;
	}
	if (strncmp(s, "S:", 2) == 0)
		return send_all(fs, s + 2, strlen(s + 2)) < 0 || send_all(fs, "\r\n", 2) < 0 ? -1 : 0;
	if (strncmp(s, "W:", 2) == 0)
		return send_all(fs, s + 2, strlen(s + 2));
	if (strncmp(s, "R:", 2) == 0) {
		size_t n = (size_t)strtoul(s + 2, NULL, 10);
		while (fs->recv.len - fs->pos < n)
			if (fill(fs) < 0) {
				snprintf(fs->why, sizeof fs->why, "expected %zu raw bytes, got end of stream", n);
				return -1;
			}
		fs->pos += n;
		return 0;
	}
	if (strncmp(s, "N:", 2) == 0) {
		struct pollfd pf = {fs->fd, POLLIN, 0};
		if (fs->recv.len == fs->pos && poll(&pf, 1, atoi(s + 2)) == 0)
			return 0;
		if (fs->recv.len == fs->pos)
			fill(fs);
		snprintf(fs->why, sizeof fs->why, "client sent \"%.60s\" too early",
		         fs->recv.data + fs->pos);
		return -1;
	}
	if (strncmp(s, "E:", 2) == 0) {
		shutdown(fs->fd, SHUT_RDWR);
		return 0;
	}
	if (strncmp(s, "T:", 2) == 0)
		return start_tls(fs);
	if (strncmp(s, "Z:", 2) == 0) {
		if (fs->recv.len != fs->pos) {
			snprintf(fs->why, sizeof fs->why, "client sent data before COMPRESS took effect");
			return -1;
		}
		fs->z = inflateInit2(&fs->zin, -15) == Z_OK &&
		        deflateInit2(&fs->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
		                     Z_DEFAULT_STRATEGY) == Z_OK;
		return fs->z ? 0 : -1;
	}
	snprintf(fs->why, sizeof fs->why, "bad script step \"%s\"", s);
	return -1;
}

static void *run(void *arg)
{
	struct fake_server *fs = arg;
	sigset_t pipe_set;
	size_t i;

	/* OpenSSL writes with write(): a client that hung up must not kill the
	 * test process with SIGPIPE (it goes to the writing thread). */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	fs->ok = 1;
	for (i = 0; fs->script[i]; i++) {
		if (step(fs, fs->script[i]) < 0) {
			fs->ok = 0;
			shutdown(fs->fd, SHUT_WR);
			break;
		}
		if (strncmp(fs->script[i], "E:", 2) == 0)
			return NULL;
	}
	while (fill(fs) == 0)
		;
	return NULL;
}

int fake_server_start(struct fake_server **out, const char *const *script, int *client_fd)
{
	struct fake_server *fs = fct_xcalloc(1, sizeof *fs);
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		free(fs);
		return -1;
	}
	fs->script = script;
	fs->fd = sv[0];
	fct_buf_init(&fs->recv);
	fct_buf_puts(&fs->recv, "");
	if (pthread_create(&fs->thread, NULL, run, fs) != 0) {
		close(sv[0]);
		close(sv[1]);
		fct_buf_free(&fs->recv);
		free(fs);
		return -1;
	}
	*client_fd = sv[1];
	*out = fs;
	return 0;
}

int fake_server_finish(struct fake_server *fs, char *why, size_t whylen)
{
	pthread_join(fs->thread, NULL);
	if (fs->ok)
		return 0;
	snprintf(why, whylen, "%s", fs->why);
	return -1;
}

size_t fake_server_tls_offset(const struct fake_server *fs)
{
	return fs->ssl ? fs->tls_at : fs->recv.len;
}

const char *fake_server_received(const struct fake_server *fs, size_t *len)
{
	if (len)
		*len = fs->recv.len;
	return fs->recv.data;
}

void fake_server_free(struct fake_server *fs)
{
	if (!fs)
		return;
	if (fs->z) {
		inflateEnd(&fs->zin);
		deflateEnd(&fs->zout);
	}
	SSL_free(fs->ssl);
	SSL_CTX_free(fs->ctx);
	close(fs->fd);
	fct_buf_free(&fs->recv);
	free(fs);
}
