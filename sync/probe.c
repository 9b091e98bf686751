/* `facteur probe`: the network side and the output (see probe.h).  Only
 * greeting, CAPABILITY/CAPA, STARTTLS/STLS and LOGOUT/QUIT are ever sent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/wire.h"
#include "sync/probe.h"

#define PROBE_MAX_LINE 8192
#define PROBE_MAX_LINES 500 /* per command: a server cannot keep us forever */

static void set_error(struct probe_port *p, const struct fct_err *err)
{
	snprintf(p->error, sizeof p->error, "%s", err->msg[0] ? err->msg : "failed");
}

static void copy_printable(char *out, size_t outsz, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < outsz; i++)
		out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[k] = '\0';
}

static int start_tls(struct probe_port *p, struct xport *x, const struct probe_opts *o,
                     struct fct_err *err)
{
	/* verify = 0: the handshake completes whatever the certificate, so the
	 * report can say what is wrong with it.  No credential follows. */
	struct tls_opts t = {.system_certs = 1, .ca_file = o->cafile, .verify = 0};

	if (xport_start_tls(x, &t, err))
		return -1;
	p->tls = 1;
	p->tls_info = *xport_tls_info(x);
	p->cafile_trusted = o->cafile && p->tls_info.verified;
	return 0;
}

/* Sends "TAG CMD", reads until the tagged answer; untagged (and response
 * code) capabilities are added to *caps/auth when caps is not NULL. */
static int imap_cmd(struct wire *w, const char *tag, const char *cmd, unsigned *caps,
                    char *auth, size_t authsz, struct fct_err *err)
{
	size_t tl = strlen(tag);

	if (wire_sendf(w, err, "%s %s\r\n", tag, cmd) || wire_flush(w, err))
		return -1;
	for (int i = 0; i < PROBE_MAX_LINES; i++) {
		const char *line, *cl;
		size_t len;
		if (wire_getline(w, &line, &len, err))
			return -1;
		if (caps && (cl = probe_imap_caplist(line)) != NULL)
			*caps |= probe_imap_caps(cl, auth, authsz);
		if (strncmp(line, tag, tl) || line[tl] != ' ')
			continue;
		if (strncasecmp(line + tl + 1, "OK", 2)) {
			char shown[200];
			copy_printable(shown, sizeof shown, line, len);
			return fct_err_set(err, FCT_E_PROTO, "%s refused: %s", cmd, shown);
		}
		return 0;
	}
	return fct_err_set(err, FCT_E_PROTO, "%s: too many lines in the answer", cmd);
}

static int upgrade(struct probe_port *p, struct wire *w, const struct probe_opts *o,
                   struct fct_err *err)
{
	if (wire_buffered(w))
		return fct_err_set(err, FCT_E_PROTO, "the server sent data before the TLS handshake "
		                   "(possible injection); not continuing");
	return start_tls(p, wire_xport(w), o, err);
}

static int imap_session(struct probe_port *p, struct wire *w, const char *greeting,
                        const struct probe_opts *o, struct fct_err *err)
{
	unsigned caps = 0;
	char auth[PROBE_AUTH_MAX] = "";
	const char *cl = probe_imap_caplist(greeting);

	/* The greeting's list is trusted only before TLS changes the picture. */
	if (cl)
		caps = probe_imap_caps(cl, auth, sizeof auth);
	else if (imap_cmd(w, "p1", "CAPABILITY", &caps, auth, sizeof auth, err))
		return -1;
	if (!p->tls) {
		p->caps_clear = caps;
		snprintf(p->auth_clear, sizeof p->auth_clear, "%s", auth);
	}
	if (!p->tls && (caps & PROBE_CAP_STARTTLS)) {
		if (imap_cmd(w, "p2", "STARTTLS", NULL, NULL, 0, err) || upgrade(p, w, o, err))
			return -1;
		caps = 0;
		auth[0] = '\0';
		if (imap_cmd(w, "p3", "CAPABILITY", &caps, auth, sizeof auth, err))
			return -1;
	}
	p->caps = caps;
	snprintf(p->auth, sizeof p->auth, "%s", auth);
	struct fct_err ignored = {0};
	imap_cmd(w, "p9", "LOGOUT", NULL, NULL, 0, &ignored);
	return 0;
}

/* One POP3 command with a one-line answer; 1 for -ERR, 0 for +OK. */
static int pop3_cmd(struct wire *w, const char *cmd, struct fct_err *err)
{
	const char *line;
	size_t len;

	if (wire_sendf(w, err, "%s\r\n", cmd) || wire_flush(w, err) ||
	    wire_getline(w, &line, &len, err))
		return -1;
	if (!strncmp(line, "+OK", 3))
		return 0;
	if (!strncmp(line, "-ERR", 4))
		return 1;
	char shown[200];
	copy_printable(shown, sizeof shown, line, len);
	return fct_err_set(err, FCT_E_PROTO, "%s: unexpected answer: %s", cmd, shown);
}

static int pop3_capa(struct wire *w, unsigned *caps, char *auth, size_t authsz,
                     struct fct_err *err)
{
	int rc = pop3_cmd(w, "CAPA", err);
	if (rc) /* -ERR: a server without CAPA (RFC 1939 only) */
		return rc < 0 ? -1 : 0;
	for (int i = 0; i < PROBE_MAX_LINES; i++) {
		const char *line;
		size_t len;
		if (wire_getline(w, &line, &len, err))
			return -1;
		if (!strcmp(line, "."))
			return 0;
		*caps |= probe_pop3_capa(line[0] == '.' ? line + 1 : line, auth, authsz);
	}
	return fct_err_set(err, FCT_E_PROTO, "CAPA: too many lines in the answer");
}

static int pop3_session(struct probe_port *p, struct wire *w, const struct probe_opts *o,
                        struct fct_err *err)
{
	unsigned caps = 0;
	char auth[PROBE_AUTH_MAX] = "";

	if (pop3_capa(w, &caps, auth, sizeof auth, err))
		return -1;
	if (!p->tls) {
		p->caps_clear = caps;
		snprintf(p->auth_clear, sizeof p->auth_clear, "%s", auth);
	}
	if (!p->tls && (caps & PROBE_CAP_STARTTLS)) {
		int rc = pop3_cmd(w, "STLS", err);
		if (rc > 0)
			return fct_err_set(err, FCT_E_PROTO, "STLS refused although CAPA offered it");
		if (rc < 0 || upgrade(p, w, o, err))
			return -1;
		caps = 0;
		auth[0] = '\0';
		if (pop3_capa(w, &caps, auth, sizeof auth, err))
			return -1;
	}
	p->caps = caps;
	snprintf(p->auth, sizeof p->auth, "%s", auth);
	struct fct_err ignored = {0};
	pop3_cmd(w, "QUIT", &ignored);
	return 0;
}

/* One connection.  *tls_failed is set when an implicit-TLS handshake failed,
 * so an unknown port can be retried in clear text. */
static int session(struct probe_port *p, const char *host, const struct probe_opts *o,
                   int implicit, int *tls_failed, struct fct_err *err)
{
	struct xport_opts xo = {.host = host, .port = p->port, .timeout_ms = o->timeout_ms,
	                        .log = o->log};
	struct xport *x = NULL;
	struct wire *w = NULL;
	const char *line;
	size_t len;
	int rc = -1;

	if (xport_open(&x, &xo, err))
		return -1;
	p->reachable = 1;
	if (implicit && start_tls(p, x, o, err)) {
		*tls_failed = 1;
		goto out;
	}
	w = wire_new(x, PROBE_MAX_LINE, o->log, "probe");
	if (wire_getline(w, &line, &len, err))
		goto out;
	copy_printable(p->greeting, sizeof p->greeting, line, len);
	if (!strncmp(line, "* OK", 4) || !strncmp(line, "* PREAUTH", 9)) {
		p->proto = PROBE_IMAP;
		rc = imap_session(p, w, line, o, err);
	} else if (!strncmp(line, "+OK", 3)) {
		p->proto = PROBE_POP3;
		rc = pop3_session(p, w, o, err);
	} else {
		fct_err_set(err, FCT_E_PROTO, "not an IMAP or POP3 greeting (or the server refused "
		            "us): %s", p->greeting);
	}
out:
	wire_free(w);
	xport_close(x);
	return rc;
}

static void reset_port(struct probe_port *p)
{
	enum probe_proto proto = p->proto;
	int port = p->port;

	memset(p, 0, sizeof *p);
	p->proto = proto;
	p->port = port;
}

void probe_port(struct probe_port *p, const char *host, const struct probe_opts *o)
{
	struct fct_err err = {0};
	int tls_failed = 0;

	if (p->sec != PROBE_SEC_AUTO) {
		if (session(p, host, o, p->sec == PROBE_SEC_IMPLICIT, &tls_failed, &err))
			set_error(p, &err);
		return;
	}
	p->sec = PROBE_SEC_IMPLICIT;
	if (!session(p, host, o, 1, &tls_failed, &err))
		return;
	if (!tls_failed) {
		set_error(p, &err);
		return;
	}
	fct_log_verbose(o->log, "%s:%d: no TLS at once (%s); trying clear text", host, p->port,
	                err.msg);
	reset_port(p);
	p->sec = PROBE_SEC_STARTTLS;
	fct_err_clear(&err);
	if (session(p, host, o, 0, &tls_failed, &err))
		set_error(p, &err);
}

static const struct {
	enum probe_proto proto;
	enum probe_sec sec;
	int port;
} std_ports[PROBE_MAX_PORTS] = {
	{PROBE_IMAP, PROBE_SEC_IMPLICIT, 993}, {PROBE_IMAP, PROBE_SEC_STARTTLS, 143},
	{PROBE_POP3, PROBE_SEC_IMPLICIT, 995}, {PROBE_POP3, PROBE_SEC_STARTTLS, 110},
};

void probe_run(struct probe_report *r, const struct probe_opts *o)
{
	memset(r, 0, sizeof *r);
	snprintf(r->host, sizeof r->host, "%s", o->host);
	if (o->port > 0) {
		struct probe_port *p = &r->ports[r->nports++];
		p->port = o->port;
		p->proto = PROBE_UNKNOWN;
		p->sec = PROBE_SEC_AUTO;
		for (size_t i = 0; i < PROBE_MAX_PORTS; i++)
			if (std_ports[i].port == o->port) {
				p->proto = std_ports[i].proto;
				p->sec = std_ports[i].sec;
			}
		probe_port(p, o->host, o);
		return;
	}
	for (size_t i = 0; i < PROBE_MAX_PORTS; i++) {
		if (o->ports[i] < 0)
			continue;
		struct probe_port *p = &r->ports[r->nports++];
		p->proto = std_ports[i].proto;
		p->sec = std_ports[i].sec;
		p->port = o->ports[i] ? o->ports[i] : std_ports[i].port;
		probe_port(p, o->host, o);
	}
}

/* ---- output ---- */

static void caps_text(struct fct_buf *b, const struct probe_port *p, unsigned caps, int json)
{
	int first = 1;

	for (unsigned bit = 1; bit <= PROBE_CAP_USER; bit <<= 1) {
		const char *n = probe_cap_name(p->proto, bit);
		if (!n || !(caps & bit))
			continue;
		fct_buf_printf(b, json ? "%s\"%s\"" : "%s%s", first ? "" : json ? ", " : " ", n);
		first = 0;
	}
	if (first && !json)
		fct_buf_puts(b, "(none that matter)");
}

static void print_port(FILE *fp, const struct probe_port *p)
{
	struct fct_buf b;
	char v[160];

	fct_buf_init(&b);
	fprintf(fp, "%s port %d: %s\n", probe_kind_name(p), p->port,
	        p->reachable ? "reachable" : "not reachable");
	if (p->greeting[0])
		fprintf(fp, "  greeting: %s\n", p->greeting);
	if (p->tls) {
		probe_verdict(p, v, sizeof v);
		fprintf(fp, "  TLS: %s%s, %s\n", p->tls_info.version,
		        p->sec == PROBE_SEC_STARTTLS ? " (after STARTTLS)" : "", p->tls_info.cipher);
		fprintf(fp, "  certificate: %s\n    subject %s, expires %s\n    SHA-256 %s\n", v,
		        p->tls_info.subject, p->tls_info.not_after, p->tls_info.fingerprint);
	} else if (p->reachable && !p->error[0]) {
		fprintf(fp, "  TLS: none offered%s\n",
		        p->caps_clear & PROBE_CAP_STARTTLS ? "" : " (no STARTTLS)");
	}
	if (p->greeting[0]) {
		caps_text(&b, p, p->caps, 0);
		fprintf(fp, "  capabilities: %s\n", b.data);
		fprintf(fp, "  authentication%s: %s\n", p->tls ? " after TLS" : " (no TLS!)",
		        p->auth[0] ? p->auth : "(none offered)");
		if (p->tls && p->sec == PROBE_SEC_STARTTLS && p->auth_clear[0])
			fprintf(fp, "  before TLS the server offered: %s\n", p->auth_clear);
	}
	if (p->error[0])
		fprintf(fp, "  error: %s\n", p->error);
	fct_buf_free(&b);
}

static void default_cfg(struct probe_cfg *c, const struct probe_report *r, int pick,
                        const char *cafile)
{
	const struct probe_port *p = &r->ports[pick];

	memset(c, 0, sizeof *c);
	c->name = "mail";
	c->host = r->host;
	c->maildir = "~/Mail/mail";
	c->proto = p->proto;
	c->sec = p->sec;
	c->port = p->port;
	c->cafile = p->cafile_trusted ? cafile : NULL;
	c->oauth2 = strstr(p->auth, "XOAUTH2") && !strstr(p->auth, "PLAIN") &&
	            !strstr(p->auth, "LOGIN");
}

void probe_print(FILE *fp, const struct probe_report *r, const char *cafile)
{
	struct fct_buf b;
	int pick = probe_recommend(r);

	fprintf(fp, "Probing %s (no credentials are sent)\n\n", r->host);
	for (size_t i = 0; i < r->nports; i++) {
		print_port(fp, &r->ports[i]);
		fputc('\n', fp);
	}
	fct_buf_init(&b);
	probe_advice(&b, r, pick);
	fprintf(fp, "Recommendation:\n%s", b.data);
	if (pick >= 0) {
		struct probe_cfg c;
		default_cfg(&c, r, pick, cafile);
		fct_buf_reset(&b);
		probe_config_lines(&b, &c);
		fprintf(fp, "\nConfiguration lines (or run `facteur setup ADDRESS`):\n\n%s", b.data);
	}
	fct_buf_free(&b);
}

static void json_str(struct fct_buf *b, const char *s)
{
	fct_buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fct_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			fct_buf_puts(b, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			fct_buf_printf(b, "\\u%04x", c < 0x20 ? c : 0xfffd);
		else
			fct_buf_putc(b, (char)c);
	}
	fct_buf_putc(b, '"');
}

static void json_words(struct fct_buf *b, const char *s)
{
	fct_buf_putc(b, '[');
	for (int first = 1; *s; first = 0) {
		size_t n = strcspn(s, " ");
		char *w = fct_xstrndup(s, n);
		fct_buf_puts(b, first ? "" : ", ");
		json_str(b, w);
		free(w);
		s += n;
		s += *s == ' ';
	}
	fct_buf_putc(b, ']');
}

static void json_port(struct fct_buf *b, const struct probe_port *p)
{
	static const char *const protos[] = {"imap", "pop3", "unknown"};
	char v[160];

	fct_buf_printf(b, "{\"protocol\": \"%s\", \"kind\": \"%s\", \"port\": %d, \"security\": \"%s\", "
	               "\"reachable\": %s, \"tls\": %s, ", protos[p->proto], probe_kind_name(p),
	               p->port, p->sec == PROBE_SEC_IMPLICIT ? "implicit" : "starttls",
	               p->reachable ? "true" : "false", p->tls ? "true" : "false");
	if (p->tls) {
		probe_verdict(p, v, sizeof v);
		fct_buf_puts(b, "\"tls_version\": ");
		json_str(b, p->tls_info.version);
		fct_buf_puts(b, ", \"certificate\": {\"verdict\": ");
		json_str(b, v);
		fct_buf_printf(b, ", \"verified\": %s, \"fingerprint_sha256\": ",
		               p->tls_info.verified ? "true" : "false");
		json_str(b, p->tls_info.fingerprint);
		fct_buf_puts(b, ", \"subject\": ");
		json_str(b, p->tls_info.subject);
		fct_buf_puts(b, ", \"not_after\": ");
		json_str(b, p->tls_info.not_after);
		fct_buf_puts(b, "}, ");
	} else {
		fct_buf_puts(b, "\"tls_version\": null, \"certificate\": null, ");
	}
	fct_buf_puts(b, "\"greeting\": ");
	json_str(b, p->greeting);
	fct_buf_puts(b, ", \"capabilities\": [");
	caps_text(b, p, p->caps, 1);
	fct_buf_puts(b, "], \"auth\": ");
	json_words(b, p->auth);
	fct_buf_puts(b, ", \"auth_before_tls\": ");
	json_words(b, p->sec == PROBE_SEC_STARTTLS ? p->auth_clear : "");
	fct_buf_puts(b, ", \"error\": ");
	if (p->error[0])
		json_str(b, p->error);
	else
		fct_buf_puts(b, "null");
	fct_buf_putc(b, '}');
}

/* {"host": str, "ports": [port...], "recommendation": null | {"kind",
 *  "protocol", "port", "security", "advice": str, "config": str}}; a port is
 * {"protocol", "kind", "port", "security", "reachable", "tls", "tls_version",
 *  "certificate": null | {"verdict", "verified", "fingerprint_sha256",
 *  "subject", "not_after"}, "greeting", "capabilities": [str], "auth": [str],
 *  "auth_before_tls": [str], "error": null | str}. */
void probe_print_json(FILE *fp, const struct probe_report *r, const char *cafile)
{
	struct fct_buf b, t;
	int pick = probe_recommend(r);

	fct_buf_init(&b);
	fct_buf_init(&t);
	fct_buf_puts(&b, "{\"host\": ");
	json_str(&b, r->host);
	fct_buf_puts(&b, ", \"ports\": [");
	for (size_t i = 0; i < r->nports; i++) {
		fct_buf_puts(&b, i ? ", " : "");
		json_port(&b, &r->ports[i]);
	}
	fct_buf_puts(&b, "], \"recommendation\": ");
	probe_advice(&t, r, pick);
	if (pick < 0) {
		fct_buf_puts(&b, "null, \"advice\": ");
		json_str(&b, t.data);
	} else {
		const struct probe_port *p = &r->ports[pick];
		struct probe_cfg c;
		fct_buf_printf(&b, "{\"kind\": \"%s\", \"protocol\": \"%s\", \"port\": %d, "
		               "\"security\": \"%s\", \"advice\": ", probe_kind_name(p),
		               p->proto == PROBE_IMAP ? "imap" : "pop3", p->port,
		               p->sec == PROBE_SEC_IMPLICIT ? "implicit" : "starttls");
		json_str(&b, t.data);
		fct_buf_reset(&t);
		default_cfg(&c, r, pick, cafile);
		probe_config_lines(&t, &c);
		fct_buf_puts(&b, ", \"config\": ");
		json_str(&b, t.data);
		fct_buf_puts(&b, "}, \"advice\": ");
		fct_buf_reset(&t);
		probe_advice(&t, r, pick);
		json_str(&b, t.data);
	}
	fct_buf_puts(&b, "}\n");
	fputs(b.data, fp);
	fct_buf_free(&b);
	fct_buf_free(&t);
}

/* ---- command line ---- */

enum { P_PORT = 256, P_IMAPS, P_IMAP, P_POP3S, P_POP3, P_CAFILE, P_TIMEOUT, P_JSON, P_HELP };

static const struct option probe_longopts[] = {
	{"port", required_argument, NULL, P_PORT},
	{"imaps-port", required_argument, NULL, P_IMAPS},
	{"imap-port", required_argument, NULL, P_IMAP},
	{"pop3s-port", required_argument, NULL, P_POP3S},
	{"pop3-port", required_argument, NULL, P_POP3},
	{"cafile", required_argument, NULL, P_CAFILE},
	{"timeout", required_argument, NULL, P_TIMEOUT},
	{"json", no_argument, NULL, P_JSON},
	{"help", no_argument, NULL, P_HELP},
	{NULL, 0, NULL, 0},
};

static void probe_usage(FILE *fp)
{
	fputs("usage: facteur probe HOST [--port N] [--json] [--cafile FILE] [--timeout SECONDS]\n"
	      "  Connects to IMAPS 993, IMAP 143, POP3S 995 and POP3 110 (or only port N) and\n"
	      "  reports TLS, certificate, capabilities and login methods; sends no password.\n"
	      "  --imaps-port/--imap-port/--pop3s-port/--pop3-port N  other port numbers\n"
	      "                                                       (0 skips that one)\n", fp);
}

/* Port numbers 1..65535 (also seconds); for the four per-protocol options
 * 0 means skip. */
static int parse_port(const char *s, int allow_zero, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < (allow_zero ? 0 : 1) || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

static int probe_opt(struct probe_opts *po, int c, int *json)
{
	int v;

	switch (c) {
	case P_PORT: return parse_port(optarg, 0, &po->port);
	case P_IMAPS: case P_IMAP: case P_POP3S: case P_POP3:
		if (parse_port(optarg, 1, &v))
			return -1;
		po->ports[c - P_IMAPS] = v ? v : -1;
		return 0;
	case P_CAFILE: po->cafile = optarg; return 0;
	case P_TIMEOUT:
		if (parse_port(optarg, 0, &v) || v > 3600)
			return -1;
		po->timeout_ms = v * 1000;
		return 0;
	case P_JSON: *json = 1; return 0;
	default: return -1;
	}
}

int probe_main(int argc, char **argv, const struct fct_log *log, int json)
{
	struct probe_opts po = {.timeout_ms = 5000, .log = log};
	struct probe_report *r;
	int c;

	opterr = 0;
	optind = 0;
	int li = -1;
	while ((c = getopt_long(argc, argv, "", probe_longopts, &li)) != -1) {
		if (c == P_HELP) {
			probe_usage(stdout);
			return 0;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "facteur probe: unknown option or missing value '%s'\n",
			        argv[optind - 1]);
			probe_usage(stderr);
			return 1;
		}
		if (probe_opt(&po, c, &json)) {
			fprintf(stderr, "facteur probe: bad value '%s' for --%s\n", optarg ? optarg : "",
			        li >= 0 ? probe_longopts[li].name : "?");
			return 1;
		}
		li = -1;
	}
	/* getopt moved the operands after the options. */
	if (optind + 1 == argc)
		po.host = argv[optind];
	if (!po.host || !*po.host) {
		probe_usage(stderr);
		return 1;
	}
	if (po.cafile && access(po.cafile, R_OK)) {
		fprintf(stderr, "facteur probe: --cafile %s: %s\n", po.cafile, strerror(errno));
		return 1;
	}
	r = fct_xmalloc(sizeof *r);
	probe_run(r, &po);
	if (json)
		probe_print_json(stdout, r, po.cafile);
	else
		probe_print(stdout, r, po.cafile);
	int rc = probe_recommend(r) < 0;
	free(r);
	return rc;
}
