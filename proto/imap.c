/* IMAP session core: reading responses through the parser, tags and
 * completions, capabilities, connection setup (TLS, STARTTLS, COMPRESS,
 * ENABLE) and authentication.  Mailbox and message commands are in
 * imap_cmd.c. */
#include "proto/imap_int.h"
#include "proto/redact.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/mutf7.h"

static const struct {
	const char *name;
	unsigned bit;
} cap_names[] = {
	{"CONDSTORE", IMAP_CAP_CONDSTORE},
	{"QRESYNC", IMAP_CAP_QRESYNC},
	{"MOVE", IMAP_CAP_MOVE},
	{"UIDPLUS", IMAP_CAP_UIDPLUS},
	{"LITERAL+", IMAP_CAP_LITERALPLUS},
	{"LITERAL-", IMAP_CAP_LITERALMINUS},
	{"COMPRESS=DEFLATE", IMAP_CAP_COMPRESS},
	{"COMPRESS", IMAP_CAP_COMPRESS},
	{"LIST-STATUS", IMAP_CAP_LIST_STATUS},
	{"ESEARCH", IMAP_CAP_ESEARCH},
	{"IDLE", IMAP_CAP_IDLE},
	{"OBJECTID", IMAP_CAP_OBJECTID},
	{"SPECIAL-USE", IMAP_CAP_SPECIAL_USE},
	{"NAMESPACE", IMAP_CAP_NAMESPACE},
	{"ENABLE", IMAP_CAP_ENABLE},
	{"UTF8=ACCEPT", IMAP_CAP_UTF8},
	{"UTF8=ONLY", IMAP_CAP_UTF8},
	{"UTF8", IMAP_CAP_UTF8},
	{"SASL-IR", IMAP_CAP_SASL_IR},
	{"ID", IMAP_CAP_ID},
	{"IMAP4REV2", IMAP_CAP_IMAP4REV2},
	{"LIST-EXTENDED", IMAP_CAP_LIST_EXTENDED},
	{"STARTTLS", IMAP_CAP_STARTTLS},
	{"LOGINDISABLED", IMAP_CAP_LOGINDISABLED},
};

static unsigned cap_bit(const char *name, size_t n)
{
	size_t k;

	for (k = 0; k < sizeof cap_names / sizeof cap_names[0]; k++)
		if (strlen(cap_names[k].name) == n && strncasecmp(cap_names[k].name, name, n) == 0)
			return cap_names[k].bit;
	return 0;
}

unsigned imap_cap_from_name(const char *name)
{
	return name ? cap_bit(name, strlen(name)) : 0;
}

unsigned imap_caps(const struct imap *im)
{
	unsigned c = im->caps & ~(unsigned)(IMAP_CAP_QRESYNC | IMAP_CAP_UTF8);

	return c | (im->enabled & (IMAP_CAP_QRESYNC | IMAP_CAP_UTF8));
}

void imap_counters(const struct imap *im, unsigned long long *in, unsigned long long *out)
{
	xport_counters(im->x, in, out);
}

const char *imap_namespace(struct imap *im)
{
	return im->ns ? im->ns : "";
}

/* ---- errors and state ---- */

int imap_fail(struct imap *im, struct fct_err *err)
{
	if (!im->dead) {
		im->dead = 1;
		im->dead_err = *err;
	}
	return -1;
}

int imap_check(struct imap *im, struct fct_err *err)
{
	if (!im->dead)
		return 0;
	if (err != &im->dead_err)
		*err = im->dead_err;
	return -1;
}

void imap_cb_fail(struct imap *im, const struct fct_err *err)
{
	if (!im->cb_failed) {
		im->cb_failed = 1;
		im->cb_err = *err;
	}
}

int imap_cmd_end(struct imap *im, int rc, struct fct_err *err)
{
	int failed = im->cb_failed;

	im->on_untagged = NULL;
	im->hctx = NULL;
	im->lit_begin = NULL;
	im->lit_data = NULL;
	im->cb_failed = 0;
	if (failed && !im->dead) {
		*err = im->cb_err;
		return -1;
	}
	return rc;
}

void imap_done_init(struct imap_done *d)
{
	memset(d, 0, sizeof *d);
	fct_buf_init(&d->arg);
}

void imap_done_free(struct imap_done *d)
{
	fct_buf_free(&d->arg);
}

int imap_done_err(const struct imap_done *d, enum fct_err_kind kind, const char *what,
                  struct fct_err *err)
{
	return fct_err_set(err, kind, "%s: server said: %s %s%s%s%s", what,
	                   d->st == IMAP_ST_NO ? "NO" : d->st == IMAP_ST_BAD ? "BAD" : "BYE",
	                   d->code[0] ? "[" : "", d->code, d->code[0] ? "] " : "", d->text);
}

/* ---- sending ---- */

int imap_send(struct imap *im, const char *s, size_t n, int secret, struct fct_err *err)
{
	if (imap_check(im, err) < 0)
		return -1;
	if (wire_send(im->w, s, n, secret, err) < 0)
		return imap_fail(im, err);
	return 0;
}

int imap_flush(struct imap *im, struct fct_err *err)
{
	if (imap_check(im, err) < 0)
		return -1;
	if (wire_flush(im->w, err) < 0)
		return imap_fail(im, err);
	return 0;
}

unsigned imap_cmd(struct imap *im, const char *body, int secret, struct fct_err *err)
{
	struct fct_buf b;
	int r;

	if (imap_check(im, err) < 0)
		return 0;
	fct_buf_init(&b);
	fct_buf_printf(&b, "A%u %s\r\n", im->tagno + 1, body);
	r = imap_send(im, b.data, b.len, secret, err);
	if (secret)
		memset(b.data, 0, b.len);
	fct_buf_free(&b);
	if (r < 0)
		return 0;
	im->inflight++;
	return ++im->tagno;
}

unsigned imap_cmdf(struct imap *im, struct fct_err *err, const char *fmt, ...)
{
	struct fct_buf b;
	va_list ap;
	unsigned tag;

	fct_buf_init(&b);
	va_start(ap, fmt);
	fct_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	tag = imap_cmd(im, b.data, 0, err);
	fct_buf_free(&b);
	return tag;
}

int imap_put_quoted(struct fct_buf *b, const char *s, int allow8)
{
	fct_buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !allow8))
			return -1;
		if (c == '"' || c == '\\')
			fct_buf_putc(b, '\\');
		fct_buf_putc(b, (char)c);
	}
	fct_buf_putc(b, '"');
	return 0;
}

char *imap_quote_mailbox(struct imap *im, const char *utf8, struct fct_err *err)
{
	struct fct_buf enc, q;
	int utf8_ok = (im->enabled & IMAP_CAP_UTF8) != 0;
	const char *name = utf8;

	fct_buf_init(&enc);
	fct_buf_init(&q);
	for (const char *c = utf8; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			goto bad;
	if (!utf8_ok) {
		if (utf8_to_mutf7(utf8, strlen(utf8), &enc) < 0)
			goto bad;
		name = enc.data ? enc.data : "";
	}
	if (strcasecmp(name, "INBOX") == 0)
		name = "INBOX";
	if (imap_put_quoted(&q, name, utf8_ok) < 0)
		goto bad;
	fct_buf_free(&enc);
	return fct_buf_steal(&q);
bad:
	fct_buf_free(&enc);
	fct_buf_free(&q);
	{
		char safe[200];
		imap_sanitize(utf8, strlen(utf8), safe, sizeof safe);
		fct_err_set(err, FCT_E_FOLDER, "mailbox name \"%s\" cannot be sent to the server", safe);
	}
	return NULL;
}

int imap_decode_mailbox(struct imap *im, const char *s, size_t n, struct fct_buf *out)
{
	fct_buf_reset(out);
	if (im->enabled & IMAP_CAP_UTF8) {
		fct_buf_append(out, s, n);
		return 0;
	}
	return mutf7_to_utf8(s, n, out);
}

/* ---- receiving ---- */

static int feed_literal(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct imap *im = ctx;
	size_t used;
	int r = imap_parse_feed(im->p, p, n, &used, err);

	if (r < 0)
		return -1;
	if (r == 1 || used != n)
		return fct_err_set(err, FCT_E_PROTO, "IMAP parser stopped inside a literal");
	return 0;
}

static int hook_begin(void *ctx, const struct imap_resp *r, uint64_t size, struct fct_err *err)
{
	struct imap *im = ctx;

	return im->lit_begin ? im->lit_begin(im, r, size, err) : 0;
}

static int hook_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct imap *im = ctx;

	return im->lit_data ? im->lit_data(im, p, n, err) : 0;
}

static int read_resp(struct imap *im, const struct imap_resp **out, struct fct_err *err)
{
	for (;;) {
		uint64_t left = imap_parse_literal_left(im->p);
		const char *line;
		size_t len, used;
		int r;

		if (left) {
			if (wire_read_n(im->w, left, feed_literal, im, err) < 0)
				return -1;
			continue;
		}
		if (wire_getline(im->w, &line, &len, err) < 0) {
			if (im->bye[0])
				fct_err_set(err, FCT_E_IO, "IMAP server closed the connection: %s", im->bye);
			return -1;
		}
		if (imap_parse_feed(im->p, line, len, &used, err) < 0)
			return -1;
		r = imap_parse_feed(im->p, "\n", 1, &used, err);
		if (r < 0)
			return -1;
		if (r == 1) {
			*out = imap_parse_resp(im->p);
			return 0;
		}
	}
}

static void caps_clear(struct imap *im)
{
	im->caps = 0;
	im->rev1 = 0;
	fct_buf_reset(&im->auth);
	fct_buf_putc(&im->auth, ' ');
	im->caps_gen++;
}

static void cap_add(struct imap *im, const char *s, size_t n)
{
	if (n > 5 && strncasecmp(s, "AUTH=", 5) == 0) {
		size_t i;
		for (i = 5; i < n; i++)
			fct_buf_putc(&im->auth, (char)toupper((unsigned char)s[i]));
		fct_buf_putc(&im->auth, ' ');
		return;
	}
	if (n == 9 && strncasecmp(s, "IMAP4REV1", 9) == 0)
		im->rev1 = 1;
	im->caps |= cap_bit(s, n) & ~im->disable;
}

/* What RFC 9051 made part of IMAP4rev2 and facteur uses: a server that
 * speaks only that version need not list them (clients are to require no
 * capability name but IMAP4rev2). */
#define REV2_BUILTIN                                                                           \
	(IMAP_CAP_UIDPLUS | IMAP_CAP_MOVE | IMAP_CAP_ESEARCH | IMAP_CAP_LIST_EXTENDED |            \
	 IMAP_CAP_LIST_STATUS | IMAP_CAP_NAMESPACE | IMAP_CAP_ENABLE | IMAP_CAP_IDLE |             \
	 IMAP_CAP_SASL_IR | IMAP_CAP_LITERALMINUS)

/* An IMAP4rev2-only server: its built-in extensions are there, and its
 * mailbox names are UTF-8 without any ENABLE (modified UTF-7 is rev1's).
 * A server offering both versions stays in rev1 mode: facteur does not
 * ENABLE IMAP4rev2, and such servers list their extensions for rev1. */
static void rev2_only(struct imap *im)
{
	if (!(im->caps & IMAP_CAP_IMAP4REV2) || im->rev1)
		return;
	im->caps |= REV2_BUILTIN & ~im->disable;
	im->enabled |= IMAP_CAP_UTF8;
}

static void caps_from_text(struct imap *im, const char *s)
{
	caps_clear(im);
	while (*s) {
		size_t n = strcspn(s, " ");
		if (n)
			cap_add(im, s, n);
		s += n;
		while (*s == ' ')
			s++;
	}
}

int imap_has_auth(const struct imap *im, const char *mech)
{
	char want[64];

	if (strlen(mech) + 3 > sizeof want)
		return 0;
	snprintf(want, sizeof want, " %s ", mech);
	return im->auth.data && strcasestr(im->auth.data, want) != NULL;
}

/* What every command needs to know from untagged responses. */
/* A server that changes the selected mailbox's UIDVALIDITY mid-session
 * voids every UID the session holds: nothing more may be done with them. */
static void uidvalidity_watch(struct imap *im, const struct imap_resp *r)
{
	unsigned long v;
	char *end;

	if (!im->sel_uidvalidity || r->kind != IMAP_RESP_UNTAGGED || !r->code ||
	    strcmp(r->code, "UIDVALIDITY") != 0 || !r->code_arg)
		return;
	v = strtoul(r->code_arg, &end, 10);
	if (end != r->code_arg && v != im->sel_uidvalidity && !im->dead) {
		im->dead = 1;
		fct_err_set(&im->dead_err, FCT_E_FOLDER,
		            "IMAP server %s changed UIDVALIDITY of the selected folder "
		            "(%u to %lu) during the session; the next run will recover",
		            im->host, im->sel_uidvalidity, v);
	}
}

static void generic(struct imap *im, const struct imap_resp *r)
{
	size_t i;

	uidvalidity_watch(im, r);
	if (r->code && strcmp(r->code, "ALERT") == 0)
		fct_log_warn(im->log, "IMAP server %s says: %s", im->host, r->text);
	if (r->code && strcmp(r->code, "CAPABILITY") == 0)
		caps_from_text(im, r->code_arg);
	if (r->status == IMAP_ST_BYE)
		snprintf(im->bye, sizeof im->bye, "%s", r->text);
	if (r->kind == IMAP_RESP_UNTAGGED && (r->status == IMAP_ST_NO || r->status == IMAP_ST_BAD))
		fct_log_verbose(im->log, "IMAP server %s warns: %s", im->host, r->raw);
	if (!r->name)
		return;
	if (strcmp(r->name, "CAPABILITY") == 0) {
		caps_clear(im);
		for (i = 0; i < r->ntok; i = r->tok[i].next)
			if (r->tok[i].type == IMAP_TOK_ATOM)
				cap_add(im, r->tok[i].s, r->tok[i].len);
	} else if (strcmp(r->name, "ENABLED") == 0) {
		for (i = 0; i < r->ntok; i = r->tok[i].next)
			if (r->tok[i].type == IMAP_TOK_ATOM)
				im->enabled |= cap_bit(r->tok[i].s, r->tok[i].len) &
				               (IMAP_CAP_QRESYNC | IMAP_CAP_UTF8 | IMAP_CAP_CONDSTORE);
	} else if (strcmp(r->name, "EXISTS") == 0) {
		im->exists = r->num;
		im->changed = 1;
	} else if (strcmp(r->name, "EXPUNGE") == 0 || strcmp(r->name, "VANISHED") == 0 ||
	           strcmp(r->name, "FETCH") == 0) {
		if (strcmp(r->name, "EXPUNGE") == 0 && im->exists > 0)
			im->exists--;
		im->changed = 1;
	}
}

static int parse_tag(const char *tag, unsigned *out)
{
	unsigned long v;
	char *end;

	if (tag[0] != 'A' || tag[1] < '1' || tag[1] > '9')
		return -1;
	v = strtoul(tag + 1, &end, 10);
	if (*end || v > 0xffffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int imap_next(struct imap *im, struct imap_done *d, int want_cont, struct fct_err *err)
{
	const struct imap_resp *r;

	if (imap_check(im, err) < 0)
		return -1;
	if (imap_flush(im, err) < 0)
		return -1;
	for (;;) {
		if (read_resp(im, &r, err) < 0)
			return imap_fail(im, err);
		if (r->kind == IMAP_RESP_CONT) {
			if (!want_cont) {
				fct_err_set(err, FCT_E_PROTO, "IMAP server sent an unexpected continuation: %s",
				            r->raw);
				return imap_fail(im, err);
			}
			fct_buf_reset(&im->cont);
			fct_buf_puts(&im->cont, r->text);
			return 1;
		}
		generic(im, r);
		if (r->kind == IMAP_RESP_UNTAGGED) {
			if (im->on_untagged && im->on_untagged(im, r, err) < 0)
				return imap_fail(im, err);
			continue;
		}
		if (parse_tag(r->tag, &d->tag) < 0 || d->tag > im->tagno || im->inflight == 0) {
			fct_err_set(err, FCT_E_PROTO, "IMAP server answered a command never sent: %s",
			            r->raw);
			return imap_fail(im, err);
		}
		im->inflight--;
		d->st = r->status;
		snprintf(d->code, sizeof d->code, "%s", r->code ? r->code : "");
		fct_buf_reset(&d->arg);
		fct_buf_puts(&d->arg, r->code_arg ? r->code_arg : "");
		imap_sanitize(r->text, strlen(r->text), d->text, sizeof d->text);
		return 0;
	}
}

int imap_wait_all(struct imap *im, enum fct_err_kind kind, const char *what,
                  struct fct_err *err)
{
	struct imap_done d;
	int rc = 0;

	imap_done_init(&d);
	while (im->inflight > 0) {
		if (imap_next(im, &d, 0, err) < 0) {
			rc = -1;
			break;
		}
		if (d.st != IMAP_ST_OK && rc == 0)
			rc = imap_done_err(&d, kind, what, err);
	}
	imap_done_free(&d);
	return rc;
}

int imap_simple(struct imap *im, enum fct_err_kind kind, const char *what, struct fct_err *err,
                const char *fmt, ...)
{
	struct fct_buf b;
	va_list ap;
	unsigned tag;

	fct_buf_init(&b);
	va_start(ap, fmt);
	fct_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	tag = imap_cmd(im, b.data, 0, err);
	fct_buf_free(&b);
	if (!tag)
		return -1;
	return imap_wait_all(im, kind, what, err);
}

/* ---- connection setup ---- */

/* Runs CAPABILITY unless a list arrived since `gen`. */
static int need_caps(struct imap *im, unsigned gen, struct fct_err *err)
{
	if (im->caps_gen != gen)
		return 0;
	if (imap_simple(im, FCT_E_STORE, "CAPABILITY", err, "CAPABILITY") < 0)
		return -1;
	if (im->caps_gen == gen) {
		fct_err_set(err, FCT_E_PROTO, "IMAP server %s sent no capabilities", im->host);
		return imap_fail(im, err);
	}
	return 0;
}

/* Bytes already buffered when a layer (TLS, DEFLATE) is about to start
 * were sent before the server could have seen our switch: an attacker's. */
static int no_injection(struct imap *im, const char *what, enum fct_err_kind kind,
                        struct fct_err *err)
{
	if (wire_buffered(im->w) == 0 && imap_parse_between(im->p))
		return 0;
	fct_err_set(err, kind, "IMAP server %s sent data after accepting %s (possible injection)",
	            im->host, what);
	return imap_fail(im, err);
}

static int greeting(struct imap *im, int *preauth, struct fct_err *err)
{
	const struct imap_resp *r;

	if (read_resp(im, &r, err) < 0)
		return imap_fail(im, err);
	generic(im, r);
	if (r->kind != IMAP_RESP_UNTAGGED ||
	    (r->status != IMAP_ST_OK && r->status != IMAP_ST_PREAUTH && r->status != IMAP_ST_BYE)) {
		fct_err_set(err, FCT_E_PROTO, "IMAP server %s sent a bad greeting: %s", im->host, r->raw);
		return imap_fail(im, err);
	}
	if (r->status == IMAP_ST_BYE) {
		fct_err_set(err, FCT_E_STORE, "IMAP server %s refused the connection: %s", im->host,
		            r->text);
		err->temporary = 1; /* typically "too many connections" or maintenance */
		return imap_fail(im, err);
	}
	*preauth = r->status == IMAP_ST_PREAUTH;
	return 0;
}

static int starttls(struct imap *im, const struct imap_opts *o, unsigned gen, struct fct_err *err)
{
	struct imap_done d;
	int rc;

	if (need_caps(im, gen, err) < 0)
		return -1;
	if (!(im->caps & IMAP_CAP_STARTTLS)) {
		fct_err_set(err, FCT_E_TLS, "IMAP server %s does not offer STARTTLS", im->host);
		return imap_fail(im, err);
	}
	if (!imap_cmd(im, "STARTTLS", 0, err))
		return -1;
	imap_done_init(&d);
	rc = imap_next(im, &d, 0, err);
	if (rc == 0 && d.st != IMAP_ST_OK) {
		fct_err_set(err, FCT_E_TLS, "IMAP server %s refused STARTTLS: %s", im->host, d.text);
		rc = imap_fail(im, err);
	}
	imap_done_free(&d);
	if (rc < 0 || no_injection(im, "STARTTLS", FCT_E_TLS, err) < 0)
		return -1;
	if (xport_start_tls(im->x, &o->tlso, err) < 0)
		return imap_fail(im, err);
	/* Capabilities seen before TLS may have been forged. */
	caps_clear(im);
	return 0;
}

static int start_compress(struct imap *im, struct fct_err *err)
{
	if (imap_simple(im, FCT_E_STORE, "COMPRESS DEFLATE", err, "COMPRESS DEFLATE") < 0)
		return -1;
	if (no_injection(im, "COMPRESS", FCT_E_PROTO, err) < 0)
		return -1;
	if (xport_start_deflate(im->x, err) < 0)
		return imap_fail(im, err);
	return 0;
}

static int want_compress(const struct imap *im, const struct imap_opts *o)
{
	if (!(im->caps & IMAP_CAP_COMPRESS) || o->compress == 0)
		return 0;
	return o->compress > 0 || !xport_peer_is_loopback(im->x);
}

static int ns_untagged(struct imap *im, const struct imap_resp *r, struct fct_err *err)
{
	const struct imap_tok *t = r->tok;

	(void)err;
	if (!r->name || strcmp(r->name, "NAMESPACE") != 0 || r->ntok < 3)
		return 0;
	/* (("prefix" "delim") ...) NIL NIL: the first personal namespace. */
	if (t[0].type == IMAP_TOK_LIST && t[0].next > 2 && t[1].type == IMAP_TOK_LIST &&
	    t[1].next > 2 && imap_tok_is_str(&t[2])) {
		struct fct_buf b;
		fct_buf_init(&b);
		if (imap_decode_mailbox(im, t[2].s, t[2].len, &b) == 0) {
			free(im->ns);
			im->ns = fct_buf_steal(&b);
		}
		fct_buf_free(&b);
	}
	return 0;
}

/* ENABLE, ID and NAMESPACE in one round trip: none depends on another's
 * answer (ENABLED comes back before NAMESPACE, so names already decode as
 * UTF-8 when it was enabled).  A refused ID is harmless (RFC 2971: it only
 * tells the server's logs who we are). */
static int post_login(struct imap *im, struct fct_err *err)
{
	unsigned want = im->caps & (IMAP_CAP_QRESYNC | IMAP_CAP_UTF8);
	unsigned t_en = 0, t_id = 0;
	struct imap_done d;
	int rc = 0;

	im->on_untagged = ns_untagged;
	if ((im->caps & IMAP_CAP_ENABLE) && want &&
	    !(t_en = imap_cmdf(im, err, "ENABLE%s%s", (want & IMAP_CAP_QRESYNC) ? " QRESYNC" : "",
	                       (want & IMAP_CAP_UTF8) ? " UTF8=ACCEPT" : "")))
		return imap_cmd_end(im, -1, err);
	if ((im->caps & IMAP_CAP_ID) &&
	    !(t_id = imap_cmdf(im, err, "ID (\"name\" \"facteur\" \"version\" \"%s\")",
	                       IMAP_CLIENT_VERSION)))
		return imap_cmd_end(im, -1, err);
	if ((im->caps & IMAP_CAP_NAMESPACE) && !imap_cmdf(im, err, "NAMESPACE"))
		return imap_cmd_end(im, -1, err);
	imap_done_init(&d);
	while (im->inflight > 0) {
		if (imap_next(im, &d, 0, err) < 0) {
			rc = -1;
			break;
		}
		if (d.st == IMAP_ST_OK)
			continue;
		if (d.tag == t_id)
			fct_log_verbose(im->log, "IMAP: ID: server said: %s", d.text);
		else if (rc == 0)
			rc = imap_done_err(&d, FCT_E_STORE, d.tag == t_en ? "ENABLE" : "NAMESPACE", err);
	}
	imap_done_free(&d);
	return imap_cmd_end(im, rc, err);
}

static int setup(struct imap *im, const struct imap_opts *o, struct fct_err *err)
{
	int preauth = 0;
	unsigned gen;

	if (o->tls == IMAP_TLS_IMPLICIT && xport_start_tls(im->x, &o->tlso, err) < 0)
		return imap_fail(im, err);
	gen = im->caps_gen;
	if (greeting(im, &preauth, err) < 0)
		return -1;
	if (o->tls == IMAP_TLS_STARTTLS) {
		if (preauth) {
			fct_err_set(err, FCT_E_TLS,
			            "IMAP server %s sent PREAUTH: cannot start TLS (refusing to go on)",
			            im->host);
			return imap_fail(im, err);
		}
		if (starttls(im, o, gen, err) < 0)
			return -1;
		gen = im->caps_gen; /* only lists read from now on count */
	}
	if (need_caps(im, gen, err) < 0)
		return -1;
	if (!preauth) {
		gen = im->caps_gen;
		if (imap_authenticate(im, o, err) < 0)
			return -1;
		/* Servers may announce more after login; re-read unless sent along. */
		if (need_caps(im, gen, err) < 0)
			return -1;
	}
	rev2_only(im);
	if (want_compress(im, o) && start_compress(im, err) < 0)
		return -1;
	if (post_login(im, err) < 0)
		return -1;
	return 0;
}

int imap_connect(struct imap **out, const struct imap_opts *o, struct fct_err *err)
{
	struct xport *x;

	*out = NULL;
	if (xport_open(&x, &o->net, err) < 0)
		return -1;
	return imap_connect_xport(out, x, o, err);
}

int imap_connect_xport(struct imap **out, struct xport *x, const struct imap_opts *o,
                       struct fct_err *err)
{
	struct imap *im;
	struct imap_parse_hooks h;

	*out = NULL;
	im = fct_xcalloc(1, sizeof *im);
	im->log = o->log;
	im->x = x;
	im->host = fct_xstrdup(o->net.host ? o->net.host : (o->net.tunnel ? "(tunnel)" : "?"));
	im->port = o->net.port;
	im->depth = o->pipeline_depth > 0 ? o->pipeline_depth : 32;
	im->disable = o->disable_caps;
	/* QRESYNC is built on CONDSTORE (RFC 7162): without one, no other. */
	if (im->disable & IMAP_CAP_CONDSTORE)
		im->disable |= IMAP_CAP_QRESYNC;
	/* LIST-STATUS is a LIST-EXTENDED return option (RFC 5819). */
	if (im->disable & IMAP_CAP_LIST_EXTENDED)
		im->disable |= IMAP_CAP_LIST_STATUS;
	fct_buf_init(&im->auth);
	fct_buf_init(&im->cont);
	im->w = wire_new(x, IMAP_MAX_LINE, o->log, "imap");
	if (o->pass)
		redact_add(wire_redactor(im->w), o->pass, strlen(o->pass));
	im->p = imap_parser_new(NULL);
	h.lit_begin = hook_begin;
	h.lit_data = hook_data;
	h.ctx = im;
	imap_parser_set_hooks(im->p, &h);
	caps_clear(im);
	if (setup(im, o, err) < 0) {
		im->dead = 1; /* no LOGOUT on a half-set-up session */
		imap_close(im);
		return -1;
	}
	*out = im;
	return 0;
}

void imap_close(struct imap *im)
{
	struct fct_err err;

	if (!im)
		return;
	if (!im->dead && imap_cmd(im, "LOGOUT", 0, &err)) {
		struct imap_done d;
		imap_done_init(&d);
		while (im->inflight > 0 && imap_next(im, &d, 0, &err) == 0)
			;
		imap_done_free(&d);
	}
	wire_free(im->w);
	xport_close(im->x);
	imap_parser_free(im->p);
	fct_buf_free(&im->auth);
	fct_buf_free(&im->cont);
	free(im->ns);
	free(im->host);
	free(im);
}

/* ---- IDLE ---- */

/* Waits until the server has something, wake_fd is readable or the
 * deadline passes.  Returns 1 server data, 2 woken, 0 timeout, -1. */
static int idle_wait(struct imap *im, int wake_fd, int64_t deadline, struct fct_err *err)
{
	struct pollfd pf[2];
	int64_t left;
	int r;

	if (wire_buffered(im->w) || xport_pending(im->x))
		return 1;
	left = deadline - fct_now_ms();
	if (left <= 0)
		return 0;
	pf[0].fd = xport_fd(im->x);
	pf[0].events = POLLIN;
	pf[1].fd = wake_fd;
	pf[1].events = POLLIN;
	pf[0].revents = pf[1].revents = 0;
	r = poll(pf, wake_fd >= 0 ? 2 : 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
	if (r < 0)
		return errno == EINTR ? 0 : fct_err_sys(err, errno, "poll");
	if (wake_fd >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
		return 2;
	return r > 0 ? 1 : 0;
}

int imap_idle(struct imap *im, int timeout_ms, int wake_fd, int *changed, struct fct_err *err)
{
	struct imap_done d;
	int64_t deadline = fct_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int r, rc = -1;

	*changed = 0;
	if (imap_check(im, err) < 0)
		return -1;
	if (!(im->caps & IMAP_CAP_IDLE))
		return fct_err_set(err, FCT_E_STORE, "IMAP server %s does not support IDLE", im->host);
	im->changed = 0;
	if (!imap_cmd(im, "IDLE", 0, err))
		return -1;
	imap_done_init(&d);
	r = imap_next(im, &d, 1, err);
	if (r == 0) {
		imap_done_err(&d, FCT_E_STORE, "IDLE", err);
		goto out;
	}
	while (r == 1 && !im->changed) {
		const struct imap_resp *resp;
		int w = idle_wait(im, wake_fd, deadline, err);
		if (w <= 0 || w == 2) {
			if (w < 0)
				goto out;
			break;
		}
		if (read_resp(im, &resp, err) < 0) {
			imap_fail(im, err);
			goto out;
		}
		generic(im, resp);
		if (resp->kind != IMAP_RESP_UNTAGGED) {
			fct_err_set(err, FCT_E_PROTO, "IMAP server ended IDLE unexpectedly: %s", resp->raw);
			imap_fail(im, err);
			goto out;
		}
	}
	if (imap_send(im, "DONE\r\n", 6, 0, err) < 0 || imap_next(im, &d, 0, err) < 0)
		goto out;
	if (d.st != IMAP_ST_OK) {
		imap_done_err(&d, FCT_E_STORE, "IDLE", err);
		goto out;
	}
	*changed = im->changed;
	rc = 0;
out:
	imap_done_free(&d);
	return rc;
}
