/* Client-side SASL mechanisms.  Every step is a pure function of the state
 * and the server's challenge, so the RFC test vectors can be replayed. */
#include "proto/sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

enum mech { M_PLAIN, M_LOGIN, M_CRAM_MD5, M_SCRAM_SHA1, M_SCRAM_SHA256, M_XOAUTH2, M_OAUTHBEARER };

static const struct {
	const char *name;
	enum mech m;
	int client_first;
} mechs[] = {
	{"PLAIN", M_PLAIN, 1},
	{"LOGIN", M_LOGIN, 0},
	{"CRAM-MD5", M_CRAM_MD5, 0},
	{"SCRAM-SHA-1", M_SCRAM_SHA1, 1},
	{"SCRAM-SHA-256", M_SCRAM_SHA256, 1},
	{"XOAUTH2", M_XOAUTH2, 1},
	{"OAUTHBEARER", M_OAUTHBEARER, 1},
};

#define SCRAM_NONCE_MAX 128
#define SCRAM_MAX_ITER 10000000L
#define HASH_MAX 64

struct sasl {
	enum mech m;
	const char *name;
	int client_first;
	char *user, *secret, *host;
	int port;
	int step;
	int verified;                  /* SCRAM: server signature checked */
	char nonce[SCRAM_NONCE_MAX + 1]; /* SCRAM client nonce, "" = random */
	char *client_first_bare;       /* SCRAM: kept for the AuthMessage */
	unsigned char server_sig[HASH_MAX];
	size_t hlen;
};

static int find_mech(const char *mech)
{
	for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
		if (strcasecmp(mech, mechs[i].name) == 0)
			return (int)i;
	return -1;
}

int sasl_supported(const char *mech)
{
	return mech && find_mech(mech) >= 0;
}

int sasl_new(struct sasl **out, const char *mech, const char *user, const char *secret,
             const char *host, int port, struct fct_err *err)
{
	struct sasl *s;
	int i = mech ? find_mech(mech) : -1;

	*out = NULL;
	if (i < 0)
		return fct_err_set(err, FCT_E_CONFIG, "SASL mechanism %s is not supported",
		                   mech ? mech : "(none)");
	s = fct_xcalloc(1, sizeof *s);
	s->m = mechs[i].m;
	s->name = mechs[i].name;
	s->client_first = mechs[i].client_first;
	s->user = fct_xstrdup(user ? user : "");
	s->secret = fct_xstrdup(secret ? secret : "");
	s->host = fct_xstrdup(host ? host : "");
	s->port = port;
	s->hlen = s->m == M_SCRAM_SHA1 ? 20 : 32;
	*out = s;
	return 0;
}

int sasl_client_first(const struct sasl *s)
{
	return s->client_first;
}

const char *sasl_mech(const struct sasl *s)
{
	return s->name;
}

static void wipe_str(char *p)
{
	if (p) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

void sasl_free(struct sasl *s)
{
	if (!s)
		return;
	wipe_str(s->user);
	wipe_str(s->secret);
	wipe_str(s->host);
	wipe_str(s->client_first_bare);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
}

int sasl_scram_set_nonce(struct sasl *s, const char *nonce)
{
	size_t n = strlen(nonce);

	if ((s->m != M_SCRAM_SHA1 && s->m != M_SCRAM_SHA256) || n == 0 || n > SCRAM_NONCE_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (nonce[i] < 0x21 || nonce[i] > 0x7e || nonce[i] == ',')
			return -1;
	memcpy(s->nonce, nonce, n + 1);
	return 0;
}

/* ---- base64 ---- */

char *fct_b64_encode(const unsigned char *p, size_t n)
{
	char *out = fct_xmalloc(4 * ((n + 2) / 3) + 1);

	/* EVP_EncodeBlock takes an int length; feed it in slices. */
	size_t done = 0, o = 0;
	while (done < n) {
		size_t k = n - done > 3 * 65536 ? 3 * 65536 : n - done;
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, p + done, (int)k);
		done += k;
	}
	out[o] = '\0';
	return out;
}

static int b64_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int fct_b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	size_t pad = 0, i;

	*out = NULL;
	*outlen = 0;
	if (n % 4 != 0 || n > (size_t)INT32_MAX)
		return -1;
	if (n && s[n - 1] == '=')
		pad = (n >= 2 && s[n - 2] == '=') ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (!b64_ok((unsigned char)s[i]))
			return -1;
	unsigned char *buf = fct_xmalloc(n / 4 * 3 + 1);
	int r = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
	if (r < 0 || (size_t)r < pad) {
		free(buf);
		return -1;
	}
	*outlen = (size_t)r - pad;
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}

/* ---- simple mechanisms ---- */

static void set_out(struct fct_buf *b, unsigned char **out, size_t *outlen)
{
	*outlen = b->len;
	*out = (unsigned char *)fct_buf_steal(b);
}

/* ',' and '=' escaped as in RFC 5802 (also the gs2 authzid of RFC 7628). */
static void put_saslname(struct fct_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			fct_buf_puts(b, "=2C");
		else if (*s == '=')
			fct_buf_puts(b, "=3D");
		else
			fct_buf_putc(b, *s);
	}
}

static int step_simple(struct sasl *s, const unsigned char *in, size_t inlen, struct fct_buf *b,
                       struct fct_err *err)
{
	switch (s->m) {
	case M_PLAIN:
		if (s->step > 0)
			return fct_err_set(err, FCT_E_AUTH, "PLAIN: unexpected server challenge");
		fct_buf_putc(b, '\0');
		fct_buf_puts(b, s->user);
		fct_buf_putc(b, '\0');
		fct_buf_puts(b, s->secret);
		return 0;
	case M_LOGIN:
		if (s->step > 1)
			return fct_err_set(err, FCT_E_AUTH, "LOGIN: unexpected third server challenge");
		fct_buf_puts(b, s->step == 0 ? s->user : s->secret);
		return 0;
	case M_XOAUTH2:
		/* A second challenge carries the JSON error; the reply is empty. */
		if (s->step == 0)
			fct_buf_printf(b, "user=%s\001auth=Bearer %s\001\001", s->user, s->secret);
		return 0;
	case M_OAUTHBEARER:
		if (s->step == 0) {
			fct_buf_puts(b, "n,a=");
			put_saslname(b, s->user);
			fct_buf_printf(b, ",\001host=%s\001port=%d\001auth=Bearer %s\001\001", s->host,
			               s->port, s->secret);
		} else {
			fct_buf_putc(b, '\001'); /* RFC 7628 3.2.3: acknowledge the error */
		}
		return 0;
	default:
		break;
	}
	(void)in;
	(void)inlen;
	return fct_err_set(err, FCT_E_AUTH, "%s: internal mechanism error", s->name);
}

static int step_cram(struct sasl *s, const unsigned char *in, size_t inlen, struct fct_buf *b,
                     struct fct_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (s->step > 0)
		return fct_err_set(err, FCT_E_AUTH, "CRAM-MD5: unexpected second server challenge");
	if (inlen == 0)
		return fct_err_set(err, FCT_E_AUTH, "CRAM-MD5: server sent an empty challenge");
	if (!HMAC(EVP_md5(), s->secret, (int)strlen(s->secret), in, inlen, md, &mdlen))
		return fct_err_set(err, FCT_E_AUTH, "CRAM-MD5: HMAC-MD5 unavailable");
	fct_buf_puts(b, s->user);
	fct_buf_putc(b, ' ');
	for (unsigned i = 0; i < mdlen; i++)
		fct_buf_printf(b, "%02x", md[i]);
	OPENSSL_cleanse(md, sizeof md);
	return 0;
}

/* ---- SCRAM (RFC 5802, RFC 7677) ---- */

static const EVP_MD *scram_md(const struct sasl *s)
{
	return s->m == M_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static int scram_first(struct sasl *s, struct fct_buf *b, struct fct_err *err)
{
	struct fct_buf bare;

	for (const char *p = s->secret; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fct_err_set(err, FCT_E_AUTH,
			                   "%s: password contains control characters (SASLprep)", s->name);
	if (!s->nonce[0]) {
		unsigned char rnd[18];
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			return fct_err_set(err, FCT_E_AUTH, "%s: no random bytes for the nonce", s->name);
		char *n = fct_b64_encode(rnd, sizeof rnd); /* 24 chars, no ',' */
		memcpy(s->nonce, n, strlen(n) + 1);
		free(n);
	}
	fct_buf_init(&bare);
	fct_buf_puts(&bare, "n=");
	put_saslname(&bare, s->user);
	fct_buf_printf(&bare, ",r=%s", s->nonce);
	fct_buf_puts(b, "n,,");
	fct_buf_append(b, bare.data, bare.len);
	s->client_first_bare = fct_buf_steal(&bare);
	return 0;
}

/* Finds "k=value" among the comma-separated attributes; value not copied. */
static const char *scram_attr(const char *msg, char k, size_t *vlen)
{
	const char *p = msg;

	while (*p) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (p[0] == k && p[1] == '=') {
			*vlen = (size_t)(end - p - 2);
			return p + 2;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static int hmac(const struct sasl *s, const void *key, size_t klen, const void *d, size_t n,
                unsigned char *out)
{
	unsigned int len = 0;

	return HMAC(scram_md(s), key, (int)klen, d, n, out, &len) ? 0 : -1;
}

/* Computes the proof for server-first msg; appends client-final to b. */
static int scram_final(struct sasl *s, const char *msg, struct fct_buf *b, struct fct_err *err)
{
	unsigned char salted[HASH_MAX], ckey[HASH_MAX], skey[HASH_MAX], stored[HASH_MAX];
	unsigned char csig[HASH_MAX], proof[HASH_MAX], *salt = NULL;
	size_t rlen = 0, slen = 0, ilen = 0, saltlen = 0, h = s->hlen;
	const char *r = scram_attr(msg, 'r', &rlen), *sa = scram_attr(msg, 's', &slen);
	const char *it = scram_attr(msg, 'i', &ilen);
	struct fct_buf am;
	int rc = -1;

	if (msg[0] == 'm' && msg[1] == '=')
		return fct_err_set(err, FCT_E_AUTH, "%s: server requires an unsupported extension", s->name);
	if (!r || !sa || !it)
		return fct_err_set(err, FCT_E_AUTH, "%s: malformed server-first message", s->name);
	size_t nl = strlen(s->nonce);
	if (rlen <= nl || memcmp(r, s->nonce, nl) != 0)
		return fct_err_set(err, FCT_E_AUTH, "%s: server nonce does not extend ours", s->name);
	char num[16];
	char *end;
	if (ilen == 0 || ilen >= sizeof num)
		return fct_err_set(err, FCT_E_AUTH, "%s: bad iteration count", s->name);
	memcpy(num, it, ilen);
	num[ilen] = '\0';
	long iter = strtol(num, &end, 10);
	if (*end || iter < 1 || iter > SCRAM_MAX_ITER)
		return fct_err_set(err, FCT_E_AUTH, "%s: bad iteration count %s", s->name, num);
	if (fct_b64_decode(sa, slen, &salt, &saltlen) < 0 || saltlen == 0) {
		free(salt);
		return fct_err_set(err, FCT_E_AUTH, "%s: bad salt in server-first message", s->name);
	}

	fct_buf_init(&am);
	if (PKCS5_PBKDF2_HMAC(s->secret, (int)strlen(s->secret), salt, (int)saltlen, (int)iter,
	                      scram_md(s), (int)h, salted) != 1)
		goto crypto;
	if (hmac(s, salted, h, "Client Key", 10, ckey) < 0 ||
	    hmac(s, salted, h, "Server Key", 10, skey) < 0 ||
	    EVP_Digest(ckey, h, stored, NULL, scram_md(s), NULL) != 1)
		goto crypto;
	/* Channel binding "n,," is "biws" in base64. */
	fct_buf_printf(&am, "%s,%s,c=biws,r=%.*s", s->client_first_bare, msg, (int)rlen, r);
	if (hmac(s, stored, h, am.data, am.len, csig) < 0 ||
	    hmac(s, skey, h, am.data, am.len, s->server_sig) < 0)
		goto crypto;
	for (size_t i = 0; i < h; i++)
		proof[i] = ckey[i] ^ csig[i];
	char *p64 = fct_b64_encode(proof, h);
	fct_buf_printf(b, "c=biws,r=%.*s,p=%s", (int)rlen, r, p64);
	free(p64);
	rc = 0;
	goto out;
crypto:
	fct_err_set(err, FCT_E_AUTH, "%s: key derivation failed", s->name);
out:
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(skey, sizeof skey);
	OPENSSL_cleanse(stored, sizeof stored);
	OPENSSL_cleanse(csig, sizeof csig);
	OPENSSL_cleanse(proof, sizeof proof);
	fct_buf_free(&am);
	free(salt);
	return rc;
}

static int scram_verify(struct sasl *s, const char *msg, struct fct_err *err)
{
	size_t vlen = 0, elen = 0, siglen = 0;
	const char *v = scram_attr(msg, 'v', &vlen), *e = scram_attr(msg, 'e', &elen);
	unsigned char *sig = NULL;
	int ok;

	if (e)
		return fct_err_set(err, FCT_E_AUTH, "%s: server error: %.*s", s->name, (int)elen, e);
	if (!v || fct_b64_decode(v, vlen, &sig, &siglen) < 0)
		return fct_err_set(err, FCT_E_AUTH, "%s: server signature did not verify", s->name);
	ok = siglen == s->hlen && CRYPTO_memcmp(sig, s->server_sig, s->hlen) == 0;
	free(sig);
	if (!ok)
		return fct_err_set(err, FCT_E_AUTH, "%s: server signature did not verify", s->name);
	s->verified = 1;
	return 0;
}

static int step_scram(struct sasl *s, const unsigned char *in, size_t inlen, struct fct_buf *b,
                      struct fct_err *err)
{
	if (s->step == 0)
		return scram_first(s, b, err);
	if (s->step > 2)
		return fct_err_set(err, FCT_E_AUTH, "%s: unexpected server challenge", s->name);
	if (memchr(in, '\0', inlen))
		return fct_err_set(err, FCT_E_AUTH, "%s: NUL in server message", s->name);
	char *msg = fct_xstrndup((const char *)in, inlen);
	int rc = s->step == 1 ? scram_final(s, msg, b, err) : scram_verify(s, msg, err);
	free(msg);
	return rc;
}

int sasl_step(struct sasl *s, const unsigned char *in, size_t inlen, unsigned char **out,
              size_t *outlen, struct fct_err *err)
{
	struct fct_buf b;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (!in)
		inlen = 0;
	fct_buf_init(&b);
	fct_buf_append(&b, "", 0);
	switch (s->m) {
	case M_CRAM_MD5:
		rc = step_cram(s, in, inlen, &b, err);
		break;
	case M_SCRAM_SHA1:
	case M_SCRAM_SHA256:
		rc = step_scram(s, in, inlen, &b, err);
		break;
	default:
		rc = step_simple(s, in, inlen, &b, err);
		break;
	}
	if (rc < 0) {
		OPENSSL_cleanse(b.data, b.cap);
		fct_buf_free(&b);
		return -1;
	}
	s->step++;
	set_out(&b, out, outlen);
	return 0;
}

int sasl_done(struct sasl *s, struct fct_err *err)
{
	if ((s->m == M_SCRAM_SHA1 || s->m == M_SCRAM_SHA256) && !s->verified)
		return fct_err_set(err, FCT_E_AUTH, "%s: server signature did not verify", s->name);
	return 0;
}
