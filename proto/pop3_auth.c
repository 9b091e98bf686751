/* POP3 login: USER/PASS, APOP (RFC 1939) and AUTH with SASL (RFC 5034),
 * one method chosen from the user's AuthMechs and the server's CAPA. */
#include "proto/pop3_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "proto/sasl.h"

static int login_refused(struct pop3 *p, const struct pop3_opts *o, const char *mech,
                         const char *text, struct fct_err *err)
{
	char what[200];

	snprintf(what, sizeof what, "POP3 login (%s) as %s on %s refused", mech, o->user,
	         p->host);
	return pop3i_resp_error(err, FCT_E_AUTH, what, text);
}

static int auth_user(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err)
{
	const char *text;
	char *cmd;
	int st;

	cmd = fct_xasprintf("USER %s", o->user);
	st = pop3i_send_flush(p, cmd, (size_t)-1, err);
	free(cmd);
	if (st < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return login_refused(p, o, "USER", text, err);
	cmd = fct_xasprintf("PASS %s", o->pass);
	st = pop3i_send_flush(p, cmd, 5, err);
	explicit_bzero(cmd, strlen(cmd));
	free(cmd);
	if (st < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return login_refused(p, o, "USER", text, err);
	return 0;
}

static int auth_apop(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	const char *text;
	char *cmd;
	int ok, st;

	ok = c && EVP_DigestInit_ex(c, EVP_md5(), NULL) &&
	     EVP_DigestUpdate(c, p->apop_ts, strlen(p->apop_ts)) &&
	     EVP_DigestUpdate(c, o->pass, strlen(o->pass)) && EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	if (!ok)
		return fct_err_set(err, FCT_E_AUTH, "APOP: MD5 unavailable in this OpenSSL");
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	cmd = fct_xasprintf("APOP %s %s", o->user, hex);
	st = pop3i_send_flush(p, cmd, strlen(o->user) + 6, err);
	free(cmd);
	if (st < 0 || (st = pop3i_get_status(p, &text, err)) < 0)
		return -1;
	if (st == 0)
		return login_refused(p, o, "APOP", text, err);
	return 0;
}

/* Sends one base64 SASL response line (possibly empty). */
static int sasl_send(struct pop3 *p, const unsigned char *r, size_t rlen, struct fct_err *err)
{
	char *b = fct_b64_encode(r, rlen);
	int st = pop3i_send_flush(p, b, 0, err);

	explicit_bzero(b, strlen(b));
	free(b);
	return st;
}

/* The server asked to stop, or we do: "*" then its -ERR. */
static int sasl_cancel(struct pop3 *p)
{
	struct fct_err e2;
	const char *text;

	if (pop3i_send_flush(p, "*", (size_t)-1, &e2) < 0 || pop3i_get_status(p, &text, &e2) < 0)
		return -1;
	return 0;
}

/* One "+ challenge" line: decode it, step, answer. */
static int sasl_challenge(struct pop3 *p, struct sasl *s, const char *l, struct fct_err *err)
{
	unsigned char *in = NULL, *out = NULL;
	size_t inlen = 0, outlen = 0;
	const char *b = l[1] == ' ' ? l + 2 : l + 1;
	int st;

	if (fct_b64_decode(b, strlen(b), &in, &inlen) < 0) {
		sasl_cancel(p);
		return fct_err_set(err, FCT_E_PROTO, "POP3 AUTH %s: bad base64 from server",
		                   sasl_mech(s));
	}
	st = sasl_step(s, in, inlen, &out, &outlen, err);
	free(in);
	if (st < 0) {
		sasl_cancel(p);
		return -1;
	}
	st = sasl_send(p, out, outlen, err);
	if (out) {
		explicit_bzero(out, outlen);
		free(out);
	}
	return st;
}

/* The AUTH command, with an initial response when the mechanism starts and
 * the command fits RFC 5034's 255 octets. */
static int sasl_start(struct pop3 *p, struct sasl *s, struct fct_err *err)
{
	unsigned char *ir = NULL;
	size_t irlen = 0;
	char *b = NULL, *cmd;
	int st;

	if (sasl_client_first(s)) {
		if (sasl_step(s, NULL, 0, &ir, &irlen, err) < 0)
			return -1;
		b = fct_b64_encode(ir, irlen);
		if (ir) {
			explicit_bzero(ir, irlen);
			free(ir);
		}
	}
	if (b && strlen(sasl_mech(s)) + strlen(b) + 7 <= POP3_AUTH_CMD_MAX) {
		cmd = fct_xasprintf("AUTH %s %s", sasl_mech(s), b[0] ? b : "=");
		st = pop3i_send_flush(p, cmd, strlen(sasl_mech(s)) + 6, err);
		explicit_bzero(cmd, strlen(cmd));
		free(cmd);
		explicit_bzero(b, strlen(b));
		free(b);
		return st;
	}
	cmd = fct_xasprintf("AUTH %s", sasl_mech(s));
	st = pop3i_send_flush(p, cmd, (size_t)-1, err);
	free(cmd);
	if (st == 0 && b) {
		/* The first challenge is empty; the response is what we computed. */
		const char *l;
		st = pop3i_get_line(p, &l, err);
		if (st == 0 && l[0] != '+')
			st = fct_err_set(err, FCT_E_PROTO, "POP3 AUTH %s: no continuation",
			                 sasl_mech(s));
		if (st == 0)
			st = pop3i_send_flush(p, b, 0, err);
	}
	if (b) {
		explicit_bzero(b, strlen(b));
		free(b);
	}
	return st;
}

static int auth_sasl(struct pop3 *p, const struct pop3_opts *o, const char *mech,
                     struct fct_err *err)
{
	struct sasl *s = NULL;
	const char *l;
	int rc = -1;

	if (sasl_new(&s, mech, o->user, o->pass, o->net.host, o->net.port, err) < 0)
		return -1;
	if (sasl_start(p, s, err) < 0)
		goto out;
	for (;;) {
		if (pop3i_get_line(p, &l, err) < 0)
			goto out;
		if (strncmp(l, "+OK", 3) == 0 && (l[3] == '\0' || l[3] == ' ')) {
			rc = sasl_done(s, err);
			goto out;
		}
		if (strncmp(l, "-ERR", 4) == 0 && (l[4] == '\0' || l[4] == ' ')) {
			login_refused(p, o, mech, l[4] ? l + 5 : l + 4, err);
			goto out;
		}
		if (l[0] != '+') {
			p->broken = 1;
			fct_err_set(err, FCT_E_PROTO, "POP3 AUTH %s: unexpected server line", mech);
			goto out;
		}
		if (sasl_challenge(p, s, l, err) < 0)
			goto out;
	}
out:
	sasl_free(s);
	return rc;
}

static int has_word(const char *list, const char *w)
{
	size_t wl = strlen(w);

	while (*list) {
		size_t n;
		list += strspn(list, " ");
		n = strcspn(list, " ");
		if (n == wl && strncasecmp(list, w, n) == 0)
			return 1;
		list += n;
	}
	return 0;
}

/* Whether mech can be tried here; explicit: named by the user. */
static int mech_usable(const struct pop3 *p, const char *mech, int explicit)
{
	if (strcasecmp(mech, "USER") == 0)
		return !(p->caps.bits & POP3_CAP_CAPA) || (p->caps.bits & POP3_CAP_USER);
	if (strcasecmp(mech, "APOP") == 0)
		return (p->caps.bits & POP3_CAP_APOP) != 0;
	if (!sasl_supported(mech))
		return 0;
	if (p->caps.bits & POP3_CAP_SASL)
		return has_word(p->caps.sasl, mech);
	return explicit && !(p->caps.bits & POP3_CAP_CAPA);
}

static int pick_mech(const struct pop3 *p, const char *mechs, char *out, size_t outsz)
{
	static const char *const best[] = {"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "USER",
	                                   "APOP"};
	const char *m = mechs ? mechs : "*";
	size_t i;

	while (*m) {
		size_t n;
		m += strspn(m, " ");
		n = strcspn(m, " ");
		if (n == 1 && *m == '*') {
			for (i = 0; i < sizeof best / sizeof best[0]; i++) {
				if (mech_usable(p, best[i], 0)) {
					snprintf(out, outsz, "%s", best[i]);
					return 0;
				}
			}
		} else if (n > 0 && n < outsz) {
			snprintf(out, outsz, "%.*s", (int)n, m);
			if (mech_usable(p, out, 1))
				return 0;
		}
		m += n;
	}
	return -1;
}

int pop3i_auth(struct pop3 *p, const struct pop3_opts *o, struct fct_err *err)
{
	char mech[64];

	if (!o->user || !o->pass)
		return fct_err_set(err, FCT_E_CONFIG, "POP3 %s: user and password are required",
		                   p->host);
	if (o->tls != POP3_TLS_NONE && o->tls != POP3_TLS_IMPLICIT && !xport_is_tls(p->x))
		return fct_err_set(err, FCT_E_TLS, "POP3 %s: refusing to log in without TLS",
		                   p->host);
	if (pick_mech(p, o->auth_mechs, mech, sizeof mech) < 0)
		return fct_err_set(err, FCT_E_AUTH,
		                   "POP3 %s: no usable login method (server SASL: \"%s\"%s%s; "
		                   "AuthMechs: \"%s\")", p->host, p->caps.sasl,
		                   (p->caps.bits & POP3_CAP_USER) ? ", USER" : "",
		                   (p->caps.bits & POP3_CAP_APOP) ? ", APOP" : "",
		                   o->auth_mechs ? o->auth_mechs : "*");
	if (o->tls == POP3_TLS_NONE)
		fct_log_warn(o->log, "POP3 %s: logging in without TLS: credentials are exposed",
		             p->host);
	snprintf(p->auth_used, sizeof p->auth_used, "%s", mech);
	if (strcasecmp(mech, "USER") == 0)
		return auth_user(p, o, err);
	if (strcasecmp(mech, "APOP") == 0)
		return auth_apop(p, o, err);
	return auth_sasl(p, o, mech, err);
}
