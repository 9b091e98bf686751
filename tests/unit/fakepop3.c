/* Fake POP3 server for unit tests; see fakepop3.h. */
#include "fakepop3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* More than the deepest pipeline window (POP3_MAX_DEPTH). */
#define FP_MAXMSG 512

struct fp_msg {
	char name[256];
	char *wire;   /* CRLF, dot-stuffed, ending in CRLF (no terminator) */
	size_t size;  /* RFC 1939 size: CRLF form before stuffing */
	int deleted;
};

struct fp_sess {
	const struct fakepop3_cfg *c;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[8192];
	size_t len;
	int authed;
	char user[256];
	struct fp_msg msgs[FP_MAXMSG];
	int nmsgs;
	int nretr;
};

static void fp_path(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void fp_log(struct fp_sess *s, const char *name, const void *p, size_t n)
{
	char path[700];
	int fd;

	fp_path(path, sizeof path, s->c->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return;
	if (write(fd, p, n) < 0) {
		/* nothing to do in a test helper */
	}
	close(fd);
}

static void fp_send(struct fp_sess *s, const char *p, size_t n)
{
	size_t step = s->c->chunk > 0 ? (size_t)s->c->chunk : n;

	while (n > 0) {
		size_t k = step < n ? step : n;
		ssize_t w = s->ssl ? SSL_write(s->ssl, p, (int)k) : write(s->fd, p, k);
		if (w <= 0)
			_exit(3);
		p += w;
		n -= (size_t)w;
		if (s->c->chunk > 0)
			usleep(200);
	}
}

static void fp_puts(struct fp_sess *s, const char *str)
{
	fp_send(s, str, strlen(str));
}

/* One command line without CRLF into line; 0 at EOF. */
static int fp_getline(struct fp_sess *s, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(s->buf, '\n', s->len);
		if (nl) {
			size_t k = (size_t)(nl - s->buf), m = k;
			if (m > 0 && s->buf[m - 1] == '\r')
				m--;
			if (m >= max)
				m = max - 1;
			memcpy(line, s->buf, m);
			line[m] = '\0';
			memmove(s->buf, nl + 1, s->len - k - 1);
			s->len -= k + 1;
			return 1;
		}
		if (s->len == sizeof s->buf)
			return 0;
		ssize_t r = s->ssl ? SSL_read(s->ssl, s->buf + s->len, (int)(sizeof s->buf - s->len))
		                   : read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
		if (r <= 0)
			return 0;
		fp_log(s, "received.log", s->buf + s->len, (size_t)r);
		{
			char cnt[32];
			int lines = 0;
			for (ssize_t i = 0; i < r; i++)
				lines += s->buf[s->len + (size_t)i] == '\n';
			snprintf(cnt, sizeof cnt, "%d\n", lines);
			fp_log(s, "reads.log", cnt, strlen(cnt));
		}
		s->len += (size_t)r;
	}
}

static int fp_cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct fp_msg *)a)->name, ((const struct fp_msg *)b)->name);
}

static void fp_wire(struct fp_msg *m, const char *raw, size_t n)
{
	size_t i, o = 0;
	int bol = 1;

	m->wire = malloc(2 * n + 3);
	m->size = 0;
	for (i = 0; i < n; i++) {
		if (bol && raw[i] == '.')
			m->wire[o++] = '.';
		bol = 0;
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) {
			m->wire[o++] = '\r';
			m->size++;
		}
		m->wire[o++] = raw[i];
		m->size++;
		if (raw[i] == '\n')
			bol = 1;
	}
	if (!bol) {
		m->wire[o++] = '\r';
		m->wire[o++] = '\n';
		m->size += 2;
	}
	m->wire[o] = '\0';
}

static void fp_load(struct fp_sess *s)
{
	char path[700], fpath[1000];
	struct dirent *de;
	DIR *d;

	fp_path(path, sizeof path, s->c->dir, "box");
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && s->nmsgs < FP_MAXMSG) {
		if (de->d_name[0] == '.')
			continue;
		char *raw;
		size_t n;
		snprintf(fpath, sizeof fpath, "box/%s", de->d_name);
		raw = fakepop3_slurp(s->c->dir, fpath, &n);
		snprintf(s->msgs[s->nmsgs].name, sizeof s->msgs[0].name, "%s", de->d_name);
		fp_wire(&s->msgs[s->nmsgs], raw, n);
		free(raw);
		s->nmsgs++;
	}
	closedir(d);
	qsort(s->msgs, (size_t)s->nmsgs, sizeof s->msgs[0], fp_cmp_names);
}

static struct fp_msg *fp_msg(struct fp_sess *s, const char *arg)
{
	int n = atoi(arg);

	if (n < 1 || n > s->nmsgs || s->msgs[n - 1].deleted)
		return NULL;
	return &s->msgs[n - 1];
}

static void fp_tls_start(struct fp_sess *s)
{
	char crt[700], key[700];

	fp_path(crt, sizeof crt, s->c->dir, "cert.pem");
	fp_path(key, sizeof key, s->c->dir, "key.pem");
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (!s->ctx || SSL_CTX_use_certificate_file(s->ctx, crt, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1)
		_exit(2);
	s->ssl = SSL_new(s->ctx);
	SSL_set_fd(s->ssl, s->fd);
	fp_log(s, "received.log", "--TLS--\n", 8);
	if (SSL_accept(s->ssl) != 1)
		_exit(0); /* the client refused the certificate: expected in some tests */
}

static void fp_b64(const unsigned char *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* Decodes base64 into out (NUL-terminated); returns the length or -1. */
static int fp_unb64(const char *in, unsigned char *out, size_t outsz)
{
	size_t n = strlen(in);
	int k;

	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	if (n % 4 || (n / 4) * 3 + 1 > outsz)
		return -1;
	k = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (k < 0)
		return -1;
	k -= (in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
	out[k] = '\0';
	return k;
}

static void fp_login_ok(struct fp_sess *s);
static void fp_login_fail(struct fp_sess *s);

/* The server side of SCRAM-SHA-256 (RFC 5802/7677), with RFC 5034 framing. */
static void fp_scram(struct fp_sess *s, const char *ir)
{
	static const unsigned char salt[] = "fakesalt0123";
	unsigned char cf[512], fin[512], salted[32], ckey[32], stored[32], csig[32], proof[32];
	unsigned char skey[32], ssig[32];
	char line[1024], sfirst[512], auth[2048], b[512], b2[256], want[64];
	const char *bare, *r, *p;
	unsigned int l = 0;
	int i;

	if (!*ir) {
		fp_puts(s, "+ \r\n");
		if (!fp_getline(s, line, sizeof line))
			_exit(0);
		ir = line;
	}
	if (fp_unb64(ir, cf, sizeof cf) < 0 || strncmp((char *)cf, "n,,", 3) != 0 ||
	    !(r = strstr((char *)cf, ",r="))) {
		fp_login_fail(s);
		return;
	}
	bare = (char *)cf + 3;
	fp_b64(salt, sizeof salt - 1, b2);
	snprintf(sfirst, sizeof sfirst, "r=%sSRVNONCE,s=%s,i=4096", r + 3, b2);
	fp_b64((unsigned char *)sfirst, strlen(sfirst), b);
	fp_puts(s, "+ ");
	fp_puts(s, b);
	fp_puts(s, "\r\n");
	if (!fp_getline(s, line, sizeof line))
		_exit(0);
	if (fp_unb64(line, fin, sizeof fin) < 0 || !(p = strstr((char *)fin, ",p="))) {
		fp_login_fail(s);
		return;
	}
	snprintf(auth, sizeof auth, "%s,%s,%.*s", bare, sfirst, (int)(p - (char *)fin),
	         (char *)fin);
	PKCS5_PBKDF2_HMAC(s->c->pass, (int)strlen(s->c->pass), salt, sizeof salt - 1, 4096,
	                  EVP_sha256(), 32, salted);
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, ckey, &l);
	EVP_Digest(ckey, 32, stored, NULL, EVP_sha256(), NULL);
	HMAC(EVP_sha256(), stored, 32, (unsigned char *)auth, strlen(auth), csig, &l);
	for (i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ csig[i];
	fp_b64(proof, 32, want);
	if (strcmp(p + 3, want) != 0) {
		fp_login_fail(s);
		return;
	}
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Server Key", 10, skey, &l);
	HMAC(EVP_sha256(), skey, 32, (unsigned char *)auth, strlen(auth), ssig, &l);
	if (s->c->scram == 2)
		ssig[0] ^= 1;
	fp_b64(ssig, 32, want);
	snprintf(b2, sizeof b2, "v=%s", want);
	fp_b64((unsigned char *)b2, strlen(b2), b);
	fp_puts(s, "+ ");
	fp_puts(s, b);
	fp_puts(s, "\r\n");
	if (!fp_getline(s, line, sizeof line))
		_exit(0);
	if (strcmp(line, "*") == 0)
		fp_puts(s, "-ERR cancelled\r\n");
	else
		fp_login_ok(s);
}

/* XOAUTH2: a wrong token gets the JSON error challenge, then -ERR. */
static void fp_xoauth2(struct fp_sess *s, const char *ir)
{
	static const char json[] = "{\"status\":\"401\",\"schemes\":\"bearer\"}";
	unsigned char got[1024];
	char want[600], b[128], line[256];

	snprintf(want, sizeof want, "user=%s\001auth=Bearer %s\001\001", s->c->user, s->c->pass);
	if (fp_unb64(ir, got, sizeof got) >= 0 && strcmp((char *)got, want) == 0) {
		fp_login_ok(s);
		return;
	}
	fp_b64((const unsigned char *)json, sizeof json - 1, b);
	fp_puts(s, "+ ");
	fp_puts(s, b);
	fp_puts(s, "\r\n");
	if (!fp_getline(s, line, sizeof line))
		_exit(0);
	fp_puts(s, line[0] ? "-ERR protocol violation\r\n" : "-ERR [AUTH] invalid token\r\n");
}

static void fp_login_fail(struct fp_sess *s)
{
	static const char *const codes[] = {"[AUTH] ", "[IN-USE] ", "[LOGIN-DELAY] ",
	                                    "[SYS/TEMP] "};
	char out[128];
	int k = s->c->login_err_code;

	snprintf(out, sizeof out, "-ERR %sAuthentication failed.\r\n",
	         codes[(k >= 0 && k <= 3) ? k : 0]);
	fp_puts(s, out);
}

static void fp_login_ok(struct fp_sess *s)
{
	if (s->c->login_err_code) {
		fp_login_fail(s);
		return;
	}
	s->authed = 1;
	fp_load(s);
	fp_puts(s, "+OK Logged in.\r\n");
}

static void fp_apop(struct fp_sess *s, const char *arg)
{
	const char *greet = s->c->greeting ? s->c->greeting : "+OK fake <1896.697170952@fake>";
	const char *lt = strchr(greet, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[80], want[400];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!lt || !gt || s->c->no_apop) {
		fp_puts(s, "-ERR APOP not available\r\n");
		EVP_MD_CTX_free(c);
		return;
	}
	EVP_DigestInit_ex(c, EVP_md5(), NULL);
	EVP_DigestUpdate(c, lt, (size_t)(gt - lt + 1));
	EVP_DigestUpdate(c, s->c->pass, strlen(s->c->pass));
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(want, sizeof want, "%s %s", s->c->user, hex);
	if (strcmp(arg, want) == 0)
		fp_login_ok(s);
	else
		fp_login_fail(s);
}

static void fp_auth_plain(struct fp_sess *s, const char *arg)
{
	char line[1024], want[600];
	unsigned char dec[600];
	int n, wl;

	if (s->c->no_sasl_plain) {
		fp_puts(s, "-ERR unsupported mechanism\r\n");
		return;
	}
	if (!*arg) {
		fp_puts(s, "+ \r\n");
		if (!fp_getline(s, line, sizeof line))
			_exit(0);
		arg = line;
	}
	if (strcmp(arg, "*") == 0) {
		fp_puts(s, "-ERR cancelled\r\n");
		return;
	}
	n = EVP_DecodeBlock(dec, (const unsigned char *)arg, (int)strlen(arg));
	wl = snprintf(want, sizeof want, "%c%s%c%s", 0, s->c->user, 0, s->c->pass);
	/* EVP_DecodeBlock counts padding as data. */
	if (n >= wl && n - wl <= 2 && memcmp(dec, want, (size_t)wl) == 0)
		fp_login_ok(s);
	else
		fp_login_fail(s);
}

static void fp_listing(struct fp_sess *s, int uidl)
{
	char out[400];
	int i;

	fp_puts(s, "+OK\r\n");
	if (uidl && s->c->uidl_raw) {
		fp_puts(s, s->c->uidl_raw);
	} else if (!uidl && s->c->list_raw) {
		fp_puts(s, s->c->list_raw);
	} else {
		for (i = 0; i < s->nmsgs; i++) {
			if (s->msgs[i].deleted)
				continue;
			if (uidl)
				snprintf(out, sizeof out, "%d %s\r\n", i + 1, s->msgs[i].name);
			else
				snprintf(out, sizeof out, "%d %zu\r\n", i + 1, s->msgs[i].size);
			fp_puts(s, out);
		}
	}
	fp_puts(s, ".\r\n");
}

static void fp_retr(struct fp_sess *s, const char *arg)
{
	struct fp_msg *m = fp_msg(s, arg);
	char out[64];

	if (!m || (s->c->retr_refuse && strcmp(m->name, s->c->retr_refuse) == 0)) {
		fp_puts(s, "-ERR no such message\r\n");
		return;
	}
	snprintf(out, sizeof out, "+OK %zu octets\r\n", m->size);
	fp_puts(s, out);
	fp_puts(s, m->wire);
	fp_puts(s, ".\r\n");
	if (s->c->close_after_retr && ++s->nretr >= s->c->close_after_retr)
		_exit(0);
}

static void fp_quit(struct fp_sess *s)
{
	char path[1000];
	int i;

	if (s->authed && s->c->quit_err) {
		fp_puts(s, "-ERR [SYS/TEMP] could not remove messages\r\n");
		return;
	}
	for (i = 0; s->authed && i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted)
			continue;
		snprintf(path, sizeof path, "%s/box/%s", s->c->dir, s->msgs[i].name);
		unlink(path);
	}
	fp_puts(s, "+OK Logging out.\r\n");
}

/* Commands allowed before login; 1 if handled, -1 to end the session. */
static int fp_auth_cmd(struct fp_sess *s, const char *verb, const char *arg)
{
	if (!strcasecmp(verb, "USER")) {
		snprintf(s->user, sizeof s->user, "%s", arg);
		fp_puts(s, s->c->no_user ? "-ERR USER disabled\r\n" : "+OK\r\n");
	} else if (!strcasecmp(verb, "PASS")) {
		if (!s->c->no_user && !strcmp(s->user, s->c->user) && !strcmp(arg, s->c->pass))
			fp_login_ok(s);
		else
			fp_login_fail(s);
	} else if (!strcasecmp(verb, "APOP")) {
		fp_apop(s, arg);
	} else if (!strcasecmp(verb, "AUTH") && !strncasecmp(arg, "PLAIN", 5)) {
		fp_auth_plain(s, arg[5] == ' ' ? arg + 6 : arg + 5);
	} else if (!strcasecmp(verb, "AUTH") && !strncasecmp(arg, "SCRAM-SHA-256", 13) &&
	           s->c->scram) {
		fp_scram(s, arg[13] == ' ' ? arg + 14 : arg + 13);
	} else if (!strcasecmp(verb, "AUTH") && !strncasecmp(arg, "XOAUTH2 ", 8) &&
	           s->c->xoauth2) {
		fp_xoauth2(s, arg + 8);
	} else if (!strcasecmp(verb, "STLS")) {
		if (s->c->stls == 0) {
			fp_puts(s, "-ERR STLS not available\r\n");
			return 1;
		}
		fp_puts(s, s->c->stls == 2 ? "+OK Begin TLS\r\n+OK injected\r\n"
		                           : "+OK Begin TLS\r\n");
		if (s->c->stls != 3)
			return -1;
		fp_tls_start(s);
	} else {
		return 0;
	}
	return 1;
}

static int fp_trans_cmd(struct fp_sess *s, const char *verb, const char *arg)
{
	if (!strcasecmp(verb, "UIDL") && s->c->no_uidl) {
		fp_puts(s, "-ERR unknown command\r\n");
	} else if (!strcasecmp(verb, "UIDL")) {
		fp_listing(s, 1);
	} else if (!strcasecmp(verb, "LIST")) {
		fp_listing(s, 0);
	} else if (!strcasecmp(verb, "RETR")) {
		fp_retr(s, arg);
	} else if (!strcasecmp(verb, "DELE")) {
		struct fp_msg *m = fp_msg(s, arg);
		if (m)
			m->deleted = 1;
		fp_puts(s, m ? "+OK Marked\r\n" : "-ERR no such message\r\n");
	} else if (!strcasecmp(verb, "RSET")) {
		for (int i = 0; i < s->nmsgs; i++)
			s->msgs[i].deleted = 0;
		fp_puts(s, "+OK\r\n");
	} else if (!strcasecmp(verb, "NOOP")) {
		fp_puts(s, "+OK\r\n");
	} else {
		return 0;
	}
	return 1;
}

static void fp_session(const struct fakepop3_cfg *c, int fd)
{
	struct fp_sess *s = calloc(1, sizeof *s);
	char line[1024], *sp;
	int st;

	s->c = c;
	s->fd = fd;
	if (c->tls_implicit)
		fp_tls_start(s);
	fp_puts(s, c->greeting ? c->greeting : "+OK fake <1896.697170952@fake>");
	fp_puts(s, "\r\n");
	while (fp_getline(s, line, sizeof line)) {
		sp = strchr(line, ' ');
		if (sp)
			*sp++ = '\0';
		else
			sp = line + strlen(line);
		if (!strcasecmp(line, "CAPA")) {
			if (!c->capa) {
				fp_puts(s, "-ERR unknown command\r\n");
				continue;
			}
			fp_puts(s, "+OK\r\n");
			fp_puts(s, s->ssl && c->capa_tls ? c->capa_tls : c->capa);
			fp_puts(s, ".\r\n");
		} else if (!strcasecmp(line, "QUIT")) {
			fp_quit(s);
			break;
		} else if (!s->authed && (st = fp_auth_cmd(s, line, sp)) != 0) {
			if (st < 0)
				break;
		} else if (!(s->authed && fp_trans_cmd(s, line, sp))) {
			fp_puts(s, "-ERR unknown command\r\n");
		}
	}
	for (int i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].wire);
	if (s->ssl) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		SSL_CTX_free(s->ctx);
	}
	free(s);
	close(fd);
}

static int fp_mkbox(const struct fakepop3_cfg *c, struct fakepop3 *f)
{
	char path[700];

	snprintf(f->dir, sizeof f->dir, "%s", c->dir);
	fp_path(path, sizeof path, c->dir, "box");
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int fakepop3_listen(struct fakepop3 *f, const struct fakepop3_cfg *c)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int ls, one = 1;

	if (fp_mkbox(c, f) < 0)
		return -1;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0)
		return -1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 8) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
		close(ls);
		return -1;
	}
	f->port = ntohs(a.sin_port);
	f->pid = fork();
	if (f->pid < 0) {
		close(ls);
		return -1;
	}
	if (f->pid == 0) {
		/* Never outlive a test binary that aborted. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			int fd = accept(ls, NULL, NULL);
			if (fd >= 0)
				fp_session(c, fd);
		}
	}
	close(ls);
	return 0;
}

int fakepop3_pair(struct fakepop3 *f, const struct fakepop3_cfg *c, int *client_fd)
{
	int sv[2];

	if (fp_mkbox(c, f) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	f->port = 0;
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		close(sv[0]);
		signal(SIGPIPE, SIG_IGN);
		fp_session(c, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	*client_fd = sv[0];
	return 0;
}

int fakepop3_stop(struct fakepop3 *f)
{
	int st = 0;

	if (f->pid <= 0)
		return -1;
	if (f->port)
		kill(f->pid, SIGTERM);
	while (waitpid(f->pid, &st, 0) < 0 && errno == EINTR)
		;
	f->pid = 0;
	return st;
}

char *fakepop3_slurp(const char *dir, const char *name, size_t *len)
{
	char path[1200];
	char *buf = malloc(1);
	size_t n = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		char tmp[4096];
		while ((r = read(fd, tmp, sizeof tmp)) > 0) {
			buf = realloc(buf, n + (size_t)r + 1);
			memcpy(buf + n, tmp, (size_t)r);
			n += (size_t)r;
		}
		close(fd);
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int fakepop3_add(const char *dir, const char *uidl, const char *content)
{
	char path[1200];
	size_t n = strlen(content);
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof path, "%s/box", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof path, "%s/box/%s", dir, uidl);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, content, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int fakepop3_count(const char *dir)
{
	char path[700];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/box", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int fakepop3_make_cert(const char *dir)
{
	static const struct {
		int nid;
		const char *v;
	} ext[] = {{NID_basic_constraints, "critical,CA:TRUE"},
	           {NID_subject_key_identifier, "hash"},
	           {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"}};
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *c = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;
	char path[700];
	FILE *fp;
	size_t i;
	int rc = -1;

	if (!k || !c || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		goto out;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 1939);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, k);
	n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
	                           -1, 0);
	X509_set_issuer_name(c, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, c, c, NULL, NULL, 0);
	for (i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, ext[i].nid, ext[i].v);
		if (!e)
			goto out;
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(c, k, EVP_sha256()) <= 0)
		goto out;
	snprintf(path, sizeof path, "%s/cert.pem", dir);
	if (!(fp = fopen(path, "w")))
		goto out;
	PEM_write_X509(fp, c);
	fclose(fp);
	snprintf(path, sizeof path, "%s/key.pem", dir);
	if (!(fp = fopen(path, "w")))
		goto out;
	PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	rc = 0;
out:
	X509_free(c);
	EVP_PKEY_free(k);
	return rc;
}

char *fakepop3_tmpdir(char *buf, size_t n, const char *tag)
{
	const char *base = getenv("TMPDIR");

	/* Paths are built in fixed buffers: keep the base short. */
	if (!base || !*base || strlen(base) > 60)
		base = P_tmpdir;
	snprintf(buf, n, "%s/fct-%s-XXXXXX", base, tag);
	return mkdtemp(buf);
}
