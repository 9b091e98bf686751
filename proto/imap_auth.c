/* IMAP authentication: the LOGIN command or AUTHENTICATE with a SASL
 * mechanism (SASL-IR when offered), chosen from the caller's preference list
 * intersected with what the server offers and what sasl.c implements.
 * Credentials are wiped from our buffers once sent. */
#include "proto/imap_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/sasl.h"

/* The LOGIN command in pieces: a synchronizing literal ends a piece, as
 * the server must answer "+" before the literal's bytes (which start the
 * next piece) may follow.  At most two literals, so three pieces. */
struct login_segs {
	struct fct_buf seg[3];
	int n;
};

/* Appends s as an astring: quoted when it can be, else a literal. */
static void put_astring(struct login_segs *ls, const char *s, int nonsync)
{
	struct fct_buf *b = &ls->seg[ls->n];
	size_t mark = b->len;

	if (imap_put_quoted(b, s, 0) == 0)
		return;
	b->len = mark;
	b->data[mark] = '\0';
	fct_buf_printf(b, "{%zu%s}", strlen(s), nonsync ? "+" : "");
	if (nonsync) {
		fct_buf_puts(b, "\r\n");
		fct_buf_puts(b, s);
		return;
	}
	/* The literal's bytes start the next segment. */
	b = &ls->seg[++ls->n];
	fct_buf_puts(b, s);
}

static int auth_login(struct imap *im, const struct imap_opts *o, struct fct_err *err)
{
	struct login_segs ls;
	struct imap_done d;
	int nonsync = (im->caps & IMAP_CAP_LITERALPLUS) ||
	              ((im->caps & IMAP_CAP_LITERALMINUS) && strlen(o->pass) <= 4096 &&
	               strlen(o->user) <= 4096);
	int i, r = 1, rc = -1;

	memset(&ls, 0, sizeof ls);
	for (i = 0; i < 3; i++)
		fct_buf_init(&ls.seg[i]);
	fct_buf_puts(&ls.seg[0], "LOGIN ");
	put_astring(&ls, o->user, nonsync);
	fct_buf_putc(&ls.seg[ls.n], ' ');
	put_astring(&ls, o->pass, nonsync);
	imap_done_init(&d);
	if (!imap_cmd(im, ls.seg[0].data, 1, err))
		goto out;
	for (i = 1; i <= ls.n; i++) {
		/* A tagged answer instead of "+" means the server refused early. */
		if ((r = imap_next(im, &d, 1, err)) != 1)
			break;
		if (imap_send(im, ls.seg[i].data, ls.seg[i].len, 1, err) < 0 ||
		    imap_send(im, "\r\n", 2, 0, err) < 0)
			goto out;
	}
	if (r == 0 || (r == 1 && imap_next(im, &d, 0, err) == 0)) {
		if (d.st == IMAP_ST_OK)
			rc = 0;
		else
			fct_err_set(err, FCT_E_AUTH, "login refused by server: %s", d.text);
	}
out:
	imap_done_free(&d);
	for (i = 0; i < 3; i++) {
		if (ls.seg[i].data)
			memset(ls.seg[i].data, 0, ls.seg[i].len);
		fct_buf_free(&ls.seg[i]);
	}
	return rc;
}

/* Sends one base64 SASL response line (masked under -D). */
static int sasl_send(struct imap *im, const unsigned char *p, size_t n, struct fct_err *err)
{
	char *b64 = fct_b64_encode(p, n);
	int r;

	r = imap_send(im, b64, strlen(b64), 1, err);
	memset(b64, 0, strlen(b64));
	free(b64);
	return r < 0 ? -1 : imap_send(im, "\r\n", 2, 0, err);
}

/* Answers one continuation; on failure cancels the exchange with "*". */
static int sasl_challenge(struct imap *im, struct sasl *s, struct fct_err *err)
{
	unsigned char *in = NULL, *out = NULL;
	size_t inlen = 0, outlen = 0;
	int r;

	if (fct_b64_decode(im->cont.data, im->cont.len, &in, &inlen) < 0) {
		fct_err_set(err, FCT_E_PROTO, "IMAP server %s sent a bad AUTHENTICATE challenge",
		            im->host);
		r = -1;
	} else {
		r = sasl_step(s, in, inlen, &out, &outlen, err);
	}
	free(in);
	if (r < 0) {
		struct fct_err ign;
		imap_send(im, "*\r\n", 3, 0, &ign);
		return -1;
	}
	r = sasl_send(im, out, outlen, err);
	if (out) {
		memset(out, 0, outlen);
		free(out);
	}
	return r;
}

static int auth_sasl(struct imap *im, const struct imap_opts *o, const char *mech,
                     struct fct_err *err)
{
	struct sasl *s;
	struct imap_done d;
	struct fct_err serr;
	unsigned char *ir = NULL;
	size_t irlen = 0;
	int rc = -1, r, failed = 0;
	struct fct_buf b;

	if (sasl_new(&s, mech, o->user, o->pass, o->net.host, o->net.port, err) < 0)
		return -1;
	if (o->scram_nonce && strncasecmp(mech, "SCRAM-", 6) == 0 &&
	    sasl_scram_set_nonce(s, o->scram_nonce) < 0) {
		sasl_free(s);
		return fct_err_set(err, FCT_E_CONFIG, "unusable SCRAM test nonce");
	}
	fct_buf_init(&b);
	fct_buf_printf(&b, "AUTHENTICATE %s", sasl_mech(s));
	if ((im->caps & IMAP_CAP_SASL_IR) && sasl_client_first(s)) {
		char *b64;
		if (sasl_step(s, (const unsigned char *)"", 0, &ir, &irlen, err) < 0)
			goto out;
		b64 = fct_b64_encode(ir, irlen);
		fct_buf_printf(&b, " %s", irlen ? b64 : "=");
		memset(b64, 0, strlen(b64));
		free(b64);
	}
	if (!imap_cmd(im, b.data, 1, err))
		goto out;
	imap_done_init(&d);
	fct_err_clear(&serr);
	while ((r = imap_next(im, &d, 1, err)) == 1) {
		/* After a failed step the server still owes us its tagged answer. */
		if (!failed && sasl_challenge(im, s, &serr) < 0)
			failed = 1;
		else if (failed && imap_send(im, "*\r\n", 3, 0, err) < 0)
			break;
	}
	if (r == 0) {
		if (failed)
			*err = serr;
		else if (d.st != IMAP_ST_OK)
			fct_err_set(err, FCT_E_AUTH, "login refused by server: %s", d.text);
		else
			rc = sasl_done(s, err);
	}
	imap_done_free(&d);
out:
	if (ir) {
		memset(ir, 0, irlen);
		free(ir);
	}
	memset(b.data, 0, b.len);
	fct_buf_free(&b);
	sasl_free(s);
	return rc;
}

static const char *const default_mechs[] = {"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN",
                                            "LOGIN", NULL};

/* The first mechanism of the preference list that both sides support;
 * *cmd_login set for the LOGIN command.  NULL if none. */
static const char *pick_mech(struct imap *im, const char *const *mechs, int *cmd_login)
{
	size_t i;

	for (i = 0; mechs[i]; i++) {
		const char *m = mechs[i];
		if (strcmp(m, "*") == 0) {
			m = pick_mech(im, default_mechs, cmd_login);
			if (m)
				return m;
			continue;
		}
		if (strcasecmp(m, "LOGIN") == 0 && !(im->caps & IMAP_CAP_LOGINDISABLED)) {
			*cmd_login = 1;
			return m;
		}
		if (imap_has_auth(im, m) && sasl_supported(m)) {
			*cmd_login = 0;
			return m;
		}
	}
	return NULL;
}

int imap_authenticate(struct imap *im, const struct imap_opts *o, struct fct_err *err)
{
	const char *const *mechs = o->auth_mechs && o->auth_mechs[0] ? o->auth_mechs : default_mechs;
	const char *m;
	int cmd_login = 0;

	if (!o->user || !o->pass)
		return fct_err_set(err, FCT_E_CONFIG, "no user name or password for IMAP server %s",
		                   im->host);
	if (o->tls != IMAP_TLS_NONE && !xport_is_tls(im->x))
		return fct_err_set(err, FCT_E_TLS, "refusing to send credentials to %s without TLS",
		                   im->host);
	m = pick_mech(im, mechs, &cmd_login);
	if (!m)
		return fct_err_set(err, FCT_E_AUTH,
		                   "no usable authentication mechanism for %s (server offers:%s%s)",
		                   im->host, im->auth.data ? im->auth.data : " ",
		                   (im->caps & IMAP_CAP_LOGINDISABLED) ? "LOGINDISABLED" : "LOGIN");
	if (o->tls == IMAP_TLS_NONE && !xport_is_tls(im->x) && !o->net.tunnel)
		fct_log_warn(im->log, "sending credentials to %s without TLS", im->host);
	fct_log_verbose(im->log, "IMAP: authenticating to %s with %s", im->host, m);
	return cmd_login ? auth_login(im, o, err) : auth_sasl(im, o, m, err);
}
