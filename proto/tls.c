/* TLS layer over memory BIOs: OpenSSL never touches the descriptor, so wire
 * bytes are counted and every wait is bounded by the transport's timeout.
 *
 * The handshake runs with SSL_VERIFY_NONE and the verification result is
 * judged afterwards: that way `probe` learns version, cipher and certificate
 * even from a server that fails verification, and nothing of ours (no
 * credential) is sent before the verdict. */
#include "proto/xport_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct xport_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	struct tls_info info;
	unsigned char io[XPORT_IOBUF];
};

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

/* Sends whatever TLS produced. */
static int drain(struct xport *x, struct fct_err *err)
{
	struct xport_tls *t = x->tls;

	while (BIO_ctrl_pending(t->wbio) > 0) {
		int n = BIO_read(t->wbio, t->io, sizeof t->io);
		if (n <= 0)
			break;
		if (xport_raw_write(x, t->io, (size_t)n, err) < 0)
			return -1;
	}
	return 0;
}

/* Reads wire bytes into TLS; returns the count, 0 at EOF, -1 on error. */
static ssize_t feed(struct xport *x, struct fct_err *err)
{
	struct xport_tls *t = x->tls;
	ssize_t n = xport_raw_read(x, t->io, sizeof t->io, err);

	if (n > 0 && BIO_write(t->rbio, t->io, (int)n) != (int)n)
		return fct_err_set(err, FCT_E_TLS, "%s: TLS buffer error", x->name);
	return n;
}

/* ---- options ---- */

static const struct {
	const char *name;
	int v;
} versions[] = {
	{"1.0", TLS1_VERSION}, {"1.1", TLS1_1_VERSION}, {"1.2", TLS1_2_VERSION}, {"1.3", TLS1_3_VERSION},
};
#define NVERS 4

/* "TLSv1.2 TLSv1.3", "1.2 1.3", or edits of the default (1.2 and 1.3) such
 * as "+1.1 -1.3"; the result must be one contiguous range. */
static int parse_versions(const char *s, int *min, int *max, struct fct_err *err)
{
	int set[NVERS] = {0, 0, 1, 1}, first = 1, lo = -1, hi = -1;
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, " \t,");
		if (n == 0) {
			p++;
			continue;
		}
		char tok[32];
		snprintf(tok, sizeof tok, "%.*s", (int)n, p);
		p += n;
		char *v = tok, sign = 0;
		if (*v == '+' || *v == '-')
			sign = *v++;
		if (first && !sign)
			memset(set, 0, sizeof set);
		first = 0;
		if (strncmp(v, "TLSv", 4) == 0)
			v += 4;
		int i;
		for (i = 0; i < NVERS && strcmp(v, versions[i].name) != 0; i++)
			;
		if (i == NVERS)
			return fct_err_set(err, FCT_E_CONFIG, "unknown TLS version \"%s\"", tok);
		set[i] = sign != '-';
	}
	for (int i = 0; i < NVERS; i++) {
		if (!set[i])
			continue;
		if (lo < 0)
			lo = i;
		else if (hi != i - 1)
			return fct_err_set(err, FCT_E_CONFIG, "TLS versions \"%s\" are not a contiguous range", s);
		hi = i;
	}
	if (lo < 0)
		return fct_err_set(err, FCT_E_CONFIG, "TLS versions \"%s\" leave no version enabled", s);
	*min = versions[lo].v;
	*max = versions[hi].v;
	return 0;
}

/* 1 if dir holds OpenSSL's hashed certificate links (c_rehash,
 * update-ca-certificates): certificates are then read one at a time when a
 * chain needs them. */
static int hashed_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		found = n == 10 && e->d_name[8] == '.' && e->d_name[9] == '0' &&
		        strspn(e->d_name, "0123456789abcdef") == 8;
	}
	closedir(d);
	return found;
}

/* The system store.  Loading the whole CA bundle file parses every
 * certificate (about 25 ms, per connection); the hashed directory beside
 * it holds the same certificates and is read on demand.  An explicit
 * SSL_CERT_FILE, or a system without the hashed directory, gets OpenSSL's
 * defaults. */
static int system_store(SSL_CTX *ctx)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());

	if (!getenv(X509_get_default_cert_file_env())) {
		if (!dir || !*dir)
			dir = X509_get_default_cert_dir();
		if (!strchr(dir, ':') && hashed_dir(dir))
			return SSL_CTX_load_verify_dir(ctx, dir);
	}
	return SSL_CTX_set_default_verify_paths(ctx);
}

static int setup_ctx(SSL_CTX *ctx, const struct tls_opts *t, struct fct_err *err)
{
	int min, max;

	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (t->system_certs && system_store(ctx) != 1)
		return fct_err_set(err, FCT_E_TLS, "cannot load the system CA certificates: %s",
		                   ssl_reason());
	if (t->ca_file && SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1)
		return fct_err_set(err, FCT_E_CONFIG, "cannot load CA certificates from %s: %s",
		                   t->ca_file, ssl_reason());
	if (t->versions) {
		if (parse_versions(t->versions, &min, &max, err) < 0)
			return -1;
		SSL_CTX_set_min_proto_version(ctx, min);
		SSL_CTX_set_max_proto_version(ctx, max);
	} else {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	}
	/* The cipher string may name TLS 1.2 ciphers or TLS 1.3 suites. */
	if (t->ciphers && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1 &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphers) != 1)
		return fct_err_set(err, FCT_E_CONFIG, "invalid cipher string \"%s\"", t->ciphers);
	if (t->client_cert) {
		const char *key = t->client_key ? t->client_key : t->client_cert;
		if (SSL_CTX_use_certificate_chain_file(ctx, t->client_cert) != 1)
			return fct_err_set(err, FCT_E_CONFIG, "cannot load client certificate %s: %s",
			                   t->client_cert, ssl_reason());
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1)
			return fct_err_set(err, FCT_E_CONFIG, "cannot use client key %s: %s", key,
			                   ssl_reason());
	}
	return 0;
}

static int is_ip_literal(const char *h)
{
	unsigned char a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

/* Host name or IP literal to check; SNI only for names (RFC 6066). */
static int setup_ssl(struct xport *x, struct fct_err *err)
{
	SSL *ssl = x->tls->ssl;
	char host[256];
	size_t hl = strlen(x->host);

	if (hl >= 2 && x->host[0] == '[' && x->host[hl - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)(hl - 2), x->host + 1);
	else
		snprintf(host, sizeof host, "%s", x->host);
	if (!*host) {
		fct_log_warn(x->log, "%s: no host name: the TLS certificate's name is not checked",
		             x->name);
		return 0;
	}
	if (is_ip_literal(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			return fct_err_set(err, FCT_E_TLS, "%s: bad IP address %s", x->name, host);
		return 0;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
		return fct_err_set(err, FCT_E_TLS, "%s: bad TLS host name %s", x->name, host);
	return 0;
}

/* ---- certificate facts ---- */

static void cert_names(X509 *cert, char *out, size_t outsz)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN];
		const char *name = NULL;
		int len = 0;

		if (g->type == GEN_DNS) {
			name = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
			if ((l == 4 && inet_ntop(AF_INET, a, ip, sizeof ip)) ||
			    (l == 16 && inet_ntop(AF_INET6, a, ip, sizeof ip))) {
				name = ip;
				len = (int)strlen(ip);
			}
		}
		if (name && n + 2 < outsz) {
			int w = snprintf(out + n, outsz - n, "%s%.*s", n ? ", " : "", len, name);
			n += w > 0 ? (size_t)w : 0;
			if (n >= outsz)
				n = outsz - 1;
		}
	}
	GENERAL_NAMES_free(gens);
	if (!out[0] && X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out,
	                                         (int)outsz) < 0)
		snprintf(out, outsz, "(no name)");
}

static void fill_cert(struct tls_info *in, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct tm tm;
	BIO *b;

	if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1) {
		size_t n = 0;
		for (unsigned i = 0; i < mdlen && n + 3 < sizeof in->fingerprint; i++)
			n += (size_t)snprintf(in->fingerprint + n, sizeof in->fingerprint - n, "%s%02X",
			                      i ? ":" : "", md[i]);
	}
	b = BIO_new(BIO_s_mem());
	if (b) {
		X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
		int n = BIO_read(b, in->subject, sizeof in->subject - 1);
		in->subject[n > 0 ? n : 0] = '\0';
		BIO_free(b);
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
		strftime(in->not_after, sizeof in->not_after, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static const char *verdict_of(long v)
{
	switch (v) {
	case X509_V_OK: return "valid";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "self-signed";
	case X509_V_ERR_CERT_HAS_EXPIRED: return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID: return "not yet valid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH: return "wrong host name";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: return "untrusted issuer";
	case X509_V_ERR_CERT_REVOKED: return "revoked";
	default: return X509_verify_cert_error_string(v);
	}
}

/* Fills info; returns 0 if verified, else -1 with the failed check in err. */
static int judge(struct xport *x, struct fct_err *err)
{
	struct xport_tls *t = x->tls;
	struct tls_info *in = &t->info;
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	long v = SSL_get_verify_result(t->ssl);

	snprintf(in->version, sizeof in->version, "%s", SSL_get_version(t->ssl));
	snprintf(in->cipher, sizeof in->cipher, "%s", c ? SSL_CIPHER_get_name(c) : "?");
	if (!cert) {
		snprintf(in->verdict, sizeof in->verdict, "no certificate");
		return fct_err_set(err, FCT_E_TLS, "TLS to %s: server sent no certificate", x->name);
	}
	fill_cert(in, cert);
	snprintf(in->verdict, sizeof in->verdict, "%s", verdict_of(v));
	in->verified = v == X509_V_OK;
	if (in->verified)
		return 0;
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		char names[200];
		cert_names(cert, names, sizeof names);
		return fct_err_set(err, FCT_E_TLS, "TLS to %s: host name mismatch: certificate is for %s, not %s",
		                   x->name, names, x->host);
	}
	return fct_err_set(err, FCT_E_TLS, "TLS to %s: certificate verify failed: %s (subject %s)",
	                   x->name, X509_verify_cert_error_string(v), in->subject);
}

static int handshake(struct xport *x, struct fct_err *err)
{
	struct xport_tls *t = x->tls;

	for (;;) {
		ERR_clear_error();
		int r = SSL_do_handshake(t->ssl);
		int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
		/* Send what the handshake produced, alerts included. */
		if (drain(x, err) < 0)
			return -1;
		if (r == 1)
			return 0;
		if (e == SSL_ERROR_WANT_READ) {
			ssize_t n = feed(x, err);
			if (n < 0)
				return -1;
			if (n == 0)
				return fct_err_set(err, FCT_E_TLS, "TLS to %s: connection closed during the handshake",
				                   x->name);
			continue;
		}
		if (e == SSL_ERROR_WANT_WRITE)
			continue;
		return fct_err_set(err, FCT_E_TLS, "TLS handshake with %s failed: %s", x->name,
		                   ssl_reason());
	}
}

int xport_tls_push(struct xport *x, const struct tls_opts *o, struct fct_err *err)
{
	struct xport_tls *t = fct_xcalloc(1, sizeof *t);

	x->tls = t;
	ERR_clear_error();
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		fct_err_set(err, FCT_E_TLS, "cannot create a TLS context: %s", ssl_reason());
		goto fail;
	}
	if (setup_ctx(t->ctx, o, err) < 0)
		goto fail;
	t->ssl = SSL_new(t->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		fct_err_set(err, FCT_E_TLS, "cannot create a TLS session: %s", ssl_reason());
		goto fail;
	}
	BIO_set_mem_eof_return(t->rbio, -1); /* empty means "wait", not EOF */
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);
	if (setup_ssl(x, err) < 0 || handshake(x, err) < 0)
		goto fail;
	if (judge(x, err) < 0 && o->verify)
		goto fail;
	fct_log_verbose(x->log, "%s: %s %s, certificate %s", x->name, t->info.version,
	                t->info.cipher, t->info.verdict);
	return 0;
fail:
	/* A failed push leaves no layer; probe uses verify = 0 to see the facts. */
	xport_tls_free(t);
	x->tls = NULL;
	return -1;
}

ssize_t xport_tls_read(struct xport *x, void *buf, size_t n, struct fct_err *err)
{
	struct xport_tls *t = x->tls;
	int k = n > 1 << 30 ? 1 << 30 : (int)n;

	for (;;) {
		ERR_clear_error();
		int r = SSL_read(t->ssl, buf, k);
		int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
		if (drain(x, err) < 0) /* key updates, alerts */
			return -1;
		if (r > 0)
			return r;
		switch (e) {
		case SSL_ERROR_WANT_READ: {
			ssize_t f = feed(x, err);
			if (f <= 0)
				return f; /* EOF without close_notify is still EOF */
			break;
		}
		case SSL_ERROR_WANT_WRITE:
			break;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			return fct_err_set(err, FCT_E_TLS, "TLS read from %s failed: %s", x->name,
			                   ssl_reason());
		}
	}
}

int xport_tls_write(struct xport *x, const void *p, size_t n, struct fct_err *err)
{
	struct xport_tls *t = x->tls;
	const char *c = p;

	while (n > 0) {
		int k = n > 16384 ? 16384 : (int)n;
		ERR_clear_error();
		int r = SSL_write(t->ssl, c, k);
		int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
		if (drain(x, err) < 0)
			return -1;
		if (r > 0) {
			c += r;
			n -= (size_t)r;
			continue;
		}
		if (e == SSL_ERROR_WANT_READ) {
			ssize_t f = feed(x, err);
			if (f < 0)
				return -1;
			if (f == 0)
				return fct_err_set(err, FCT_E_IO, "connection to %s closed by peer", x->name);
		} else if (e != SSL_ERROR_WANT_WRITE) {
			return fct_err_set(err, FCT_E_TLS, "TLS write to %s failed: %s", x->name,
			                   ssl_reason());
		}
	}
	return 0;
}

int xport_tls_pending(const struct xport *x)
{
	return SSL_has_pending(x->tls->ssl) || BIO_ctrl_pending(x->tls->rbio) > 0;
}

void xport_tls_goodbye(struct xport *x)
{
	struct xport_tls *t = x->tls;

	ERR_clear_error();
	if (SSL_is_init_finished(t->ssl) && SSL_shutdown(t->ssl) >= 0) {
		int n = BIO_read(t->wbio, t->io, sizeof t->io);
		if (n > 0 && x->is_socket && send(x->wfd, t->io, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
			x->nout += (unsigned long long)n;
	}
	ERR_clear_error();
}

const struct tls_info *xport_tls_get_info(const struct xport *x)
{
	return &x->tls->info;
}

void xport_tls_free(struct xport_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees the BIOs */
	SSL_CTX_free(t->ctx);
	OPENSSL_cleanse(t->io, sizeof t->io);
	free(t);
}
