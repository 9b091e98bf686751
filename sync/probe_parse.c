/* Pure parts of `probe` (see probe.h): capability parsing, the
 * recommendation, the advice text and the configuration lines.  No I/O. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/probe.h"

static const struct {
	const char *name;
	unsigned bit;
} imap_names[] = {
	{"IDLE", PROBE_CAP_IDLE},         {"CONDSTORE", PROBE_CAP_CONDSTORE},
	{"QRESYNC", PROBE_CAP_QRESYNC},   {"MOVE", PROBE_CAP_MOVE},
	{"UIDPLUS", PROBE_CAP_UIDPLUS},   {"COMPRESS=DEFLATE", PROBE_CAP_COMPRESS},
	{"OBJECTID", PROBE_CAP_OBJECTID}, {"LIST-STATUS", PROBE_CAP_LIST_STATUS},
	{"STARTTLS", PROBE_CAP_STARTTLS}, {"LOGINDISABLED", PROBE_CAP_LOGINDISABLED},
	{"IMAP4REV2", PROBE_CAP_IMAP4REV2},
}, pop3_names[] = {
	{"UIDL", PROBE_CAP_UIDL},         {"TOP", PROBE_CAP_TOP},
	{"PIPELINING", PROBE_CAP_PIPELINING}, {"SASL", PROBE_CAP_SASL},
	{"STLS", PROBE_CAP_STARTTLS},     {"USER", PROBE_CAP_USER},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *probe_cap_name(enum probe_proto proto, unsigned bit)
{
	if (proto == PROBE_POP3) {
		for (size_t i = 0; i < NELEM(pop3_names); i++)
			if (pop3_names[i].bit == bit)
				return pop3_names[i].name;
		return NULL;
	}
	for (size_t i = 0; i < NELEM(imap_names); i++)
		if (imap_names[i].bit == bit)
			return imap_names[i].name;
	return NULL;
}

/* Appends one mechanism (upper-cased) unless present or it does not fit. */
static void add_mech(char *auth, size_t authsz, const char *m, size_t n)
{
	char up[64];
	size_t have = strlen(auth);

	if (!n || n >= sizeof up || !authsz)
		return;
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)m[i]);
	up[n] = '\0';
	for (const char *p = auth; *p;) {
		size_t l = strcspn(p, " ");
		if (l == n && !memcmp(p, up, n))
			return;
		p += l;
		p += *p == ' ';
	}
	if (have + (have ? 1 : 0) + n + 1 > authsz)
		return;
	if (have)
		auth[have++] = ' ';
	memcpy(auth + have, up, n + 1);
}

static int tok_is(const char *t, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp(t, name, n);
}

unsigned probe_imap_caps(const char *list, char *auth, size_t authsz)
{
	unsigned caps = 0;
	const char *p = list;

	while (p && *p && *p != ']') {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ]");
		if (!n)
			break;
		if (n > 5 && !strncasecmp(p, "AUTH=", 5))
			add_mech(auth, authsz, p + 5, n - 5);
		for (size_t i = 0; i < NELEM(imap_names); i++)
			if (tok_is(p, n, imap_names[i].name))
				caps |= imap_names[i].bit;
		/* COMPRESS=DEFLATE is the only compression we speak. */
		p += n;
	}
	if (!(caps & PROBE_CAP_LOGINDISABLED))
		add_mech(auth, authsz, "LOGIN", 5);
	return caps;
}

unsigned probe_pop3_capa(const char *line, char *auth, size_t authsz)
{
	size_t n = strcspn(line, " \t");
	unsigned caps = 0;

	for (size_t i = 0; i < NELEM(pop3_names); i++)
		if (tok_is(line, n, pop3_names[i].name))
			caps |= pop3_names[i].bit;
	if (caps & PROBE_CAP_USER)
		add_mech(auth, authsz, "USER", 4);
	if (caps & PROBE_CAP_SASL) {
		const char *p = line + n;
		for (;;) {
			while (*p == ' ' || *p == '\t')
				p++;
			size_t l = strcspn(p, " \t");
			if (!l)
				break;
			add_mech(auth, authsz, p, l);
			p += l;
		}
	}
	return caps;
}

const char *probe_imap_caplist(const char *line)
{
	const char *p;

	if (strncmp(line, "* ", 2))
		return NULL;
	if (!strncasecmp(line + 2, "CAPABILITY ", 11))
		return line + 13;
	p = strchr(line, '[');
	if (p && !strncasecmp(p + 1, "CAPABILITY ", 11))
		return p + 12;
	return NULL;
}

/* ---- recommendation ---- */

static int usable(const struct probe_port *p, enum probe_proto proto, enum probe_sec sec)
{
	return p->proto == proto && p->sec == sec && p->tls && !p->error[0];
}

int probe_recommend(const struct probe_report *r)
{
	static const struct {
		enum probe_proto proto;
		enum probe_sec sec;
	} order[] = {
		{PROBE_IMAP, PROBE_SEC_IMPLICIT}, {PROBE_IMAP, PROBE_SEC_STARTTLS},
		{PROBE_POP3, PROBE_SEC_IMPLICIT}, {PROBE_POP3, PROBE_SEC_STARTTLS},
	};
	for (size_t k = 0; k < NELEM(order); k++)
		for (size_t i = 0; i < r->nports && i < PROBE_MAX_PORTS; i++)
			if (usable(&r->ports[i], order[k].proto, order[k].sec))
				return (int)i;
	return -1;
}

const char *probe_kind_name(const struct probe_port *p)
{
	int implicit = p->sec == PROBE_SEC_IMPLICIT;
	switch (p->proto) {
	case PROBE_IMAP: return implicit ? "IMAPS" : "IMAP";
	case PROBE_POP3: return implicit ? "POP3S" : "POP3";
	default: return "unknown";
	}
}

void probe_verdict(const struct probe_port *p, char *out, size_t outsz)
{
	if (!p->tls)
		snprintf(out, outsz, "no TLS");
	else if (p->cafile_trusted)
		snprintf(out, outsz, "valid (trusted via --cafile)");
	else
		snprintf(out, outsz, "%s", p->tls_info.verdict);
}

static int has_any_imap(const struct probe_report *r)
{
	for (size_t i = 0; i < r->nports; i++)
		if (r->ports[i].proto == PROBE_IMAP && r->ports[i].reachable && !r->ports[i].error[0])
			return 1;
	return 0;
}

static void advice_caps(struct fct_buf *b, const struct probe_port *p)
{
	struct fct_buf miss;

	if (p->proto == PROBE_POP3) {
		if (!(p->caps & PROBE_CAP_UIDL))
			fct_buf_puts(b, "Warning: no UIDL: messages cannot be told apart between runs, "
			                "so leaving copies on the server (Keep yes) is unreliable.\n");
		return;
	}
	fct_buf_init(&miss);
	if (!(p->caps & PROBE_CAP_UIDPLUS))
		fct_buf_puts(&miss, " UIDPLUS");
	if (!(p->caps & (PROBE_CAP_CONDSTORE | PROBE_CAP_QRESYNC)))
		fct_buf_puts(&miss, " CONDSTORE/QRESYNC");
	if (!(p->caps & PROBE_CAP_MOVE))
		fct_buf_puts(&miss, " MOVE");
	if (!(p->caps & PROBE_CAP_IDLE))
		fct_buf_puts(&miss, " IDLE");
	/* Many servers (Dovecot among them) list their extensions only after
	 * login, which probe never does: these are hints, not verdicts. */
	if (miss.len)
		fct_buf_printf(b, "Not announced before login:%s (servers often add them after "
		               "login; facteur checks again then and works without them, only "
		               "slower).\n", miss.data);
	fct_buf_free(&miss);
}

static void advice_cert(struct fct_buf *b, const struct probe_report *r,
                        const struct probe_port *p)
{
	const char *v = p->tls_info.verdict;

	if (p->tls_info.verified)
		return;
	fct_buf_printf(b, "Warning: the certificate does not verify: %s (SHA-256 %s).  ", v,
	               p->tls_info.fingerprint);
	if (!strcmp(v, "wrong host name"))
		fct_buf_printf(b, "It was made for another name (subject %s): connect to that name "
		               "instead of %s.\n", p->tls_info.subject, r->host);
	else if (!strcmp(v, "expired") || !strcmp(v, "not yet valid"))
		fct_buf_puts(b, "Its administrator must renew it (or this computer's clock is wrong); "
		                "facteur refuses it until then.\n");
	else
		fct_buf_puts(b, "Connect only if you know this fingerprint is the server's; then "
		                "save the certificate and name it with CertificateFile.\n");
}

void probe_advice(struct fct_buf *b, const struct probe_report *r, int pick)
{
	if (pick < 0 || (size_t)pick >= r->nports) {
		fct_buf_printf(b, "No secure way to reach %s was found: no IMAP or POP3 port answered "
		               "with TLS.  facteur never sends a password in clear text unless a "
		               "configuration says \"TLSType None\"; ask the provider for IMAPS "
		               "(port 993).\n", r->host);
		return;
	}
	const struct probe_port *p = &r->ports[pick];
	if (p->proto == PROBE_IMAP && p->sec == PROBE_SEC_IMPLICIT)
		fct_buf_printf(b, "Use IMAP over implicit TLS on port %d (RFC 8314 prefers implicit "
		               "TLS): your mail, folders and flags stay on the server and every device "
		               "sees the same state.\n", p->port);
	else if (p->proto == PROBE_IMAP)
		fct_buf_printf(b, "Use IMAP with STARTTLS on port %d: no IMAPS port answered, and "
		               "STARTTLS is just as safe here because facteur stops if the upgrade "
		               "fails, before any password is sent.\n", p->port);
	else
		fct_buf_printf(b, "Use POP3 on port %d (%s): %s.  What POP3 costs: it only downloads "
		               "(one-way), with no flags (read, answered) and no folders, only the "
		               "inbox; copies are left on the server (Keep yes) unless you change it.\n",
		               p->port, p->sec == PROBE_SEC_IMPLICIT ? "implicit TLS" : "STLS",
		               has_any_imap(r) ? "the IMAP ports offered no TLS"
		                               : "this server offers no IMAP");
	advice_cert(b, r, p);
	advice_caps(b, p);
	if (strstr(p->auth, "XOAUTH2") || strstr(p->auth, "OAUTHBEARER")) {
		const char *a = p->auth;
		int oauth_only = !strstr(a, "PLAIN") && !strstr(a, "LOGIN") && !strstr(a, "USER") &&
		                 !strstr(a, "SCRAM") && !strstr(a, "CRAM");
		if (oauth_only)
			fct_buf_puts(b, "This server wants OAuth2: use \"AuthMechs XOAUTH2\" and a PassCmd "
			                "that prints a fresh access token.\n");
	}
}

/* ---- configuration lines ---- */

/* Key and value, quoted when the value needs it (mbsync quoting rules). */
static void put_kv(struct fct_buf *b, const char *key, const char *val)
{
	int quote = !*val || strpbrk(val, " \t\"\\#") != NULL;

	fct_buf_printf(b, "%s ", key);
	if (!quote) {
		fct_buf_printf(b, "%s\n", val);
		return;
	}
	fct_buf_putc(b, '"');
	for (const char *s = val; *s; s++) {
		if (*s == '"' || *s == '\\')
			fct_buf_putc(b, '\\');
		fct_buf_putc(b, *s);
	}
	fct_buf_puts(b, "\"\n");
}

static void config_account(struct fct_buf *b, const struct probe_cfg *c)
{
	int pop = c->proto == PROBE_POP3;

	fct_buf_puts(b, pop ? "POP3Account " : "IMAPAccount ");
	fct_buf_printf(b, "%s\n", c->name);
	put_kv(b, "Host", c->host);
	fct_buf_printf(b, "Port %d\n", c->port);
	fct_buf_printf(b, "TLSType %s\n", c->sec == PROBE_SEC_IMPLICIT ? (pop ? "POP3S" : "IMAPS")
	                                                                : "STARTTLS");
	if (c->user)
		put_kv(b, "User", c->user);
	else
		fct_buf_puts(b, "# User you@example.org    <- your login name\n");
	if (c->passcmd) {
		put_kv(b, "PassCmd", c->passcmd);
	} else if (c->pass) {
		fct_buf_puts(b, "# The password in clear text: keep this file private (mode 600).\n");
		put_kv(b, "Pass", c->pass);
	} else {
		fct_buf_puts(b, "# PassCmd \"pass show mail/you@example.org\"    <- how to get the "
		                "password\n");
	}
	if (c->oauth2)
		fct_buf_puts(b, "# OAuth2: the PassCmd must print a fresh access token.\nAuthMechs XOAUTH2\n");
	if (c->cafile)
		put_kv(b, "CertificateFile", c->cafile);
	fct_buf_putc(b, '\n');
}

void probe_config_lines(struct fct_buf *b, const struct probe_cfg *c)
{
	int pop = c->proto == PROBE_POP3;
	char *path = fct_xasprintf("%s/", c->maildir);
	char *inbox = fct_xasprintf("%s/INBOX", c->maildir);
	char *far = fct_xasprintf(":%s-remote:", c->name);
	char *near = fct_xasprintf(":%s-local:", c->name);

	config_account(b, c);
	fct_buf_printf(b, "%s %s-remote\nAccount %s\n", pop ? "POP3Store" : "IMAPStore", c->name,
	               c->name);
	if (pop)
		fct_buf_puts(b, "# Keep copies on the server; \"Keep no\" removes them after download.\n"
		                "Keep yes\n");
	fct_buf_printf(b, "\nMaildirStore %s-local\n", c->name);
	put_kv(b, "Path", path);
	put_kv(b, "Inbox", inbox);
	fct_buf_puts(b, "SubFolders Verbatim\n\n");
	fct_buf_printf(b, "# One channel for everything%s.\nChannel %s\n",
	               pop ? " (POP3: the inbox only, downloaded one-way)" : "", c->name);
	put_kv(b, "Far", far);
	put_kv(b, "Near", near);
	fct_buf_printf(b, "Patterns %s\n", pop ? "INBOX" : "*");
	fct_buf_puts(b, "Create Near\nSyncState *\n");
	free(path);
	free(inbox);
	free(far);
	free(near);
}
