/* `facteur setup` (see setup.h): discovery, probing, the questions, the
 * configuration file and the dry run. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync/config.h"
#include "sync/dns.h"
#include "sync/run.h"
#include "sync/setup.h"

#define SETUP_MAX_CANDS 16
#define SETUP_MAX_SRV 4
#define SETUP_MAX_CONFIG (1 << 20) /* an existing config larger than this is refused */
#define SETUP_ANSWER_MAX 1024

struct setup_opts {
	const char *addr, *domain, *user, *passcmd, *pass, *name, *maildir, *host, *cafile;
	const char *config_path;
	int port, yes, no_dry_run, timeout_ms;
	const struct fct_log *log;
};

struct setup_cands {
	struct setup_cand c[SETUP_MAX_CANDS];
	size_t n;
};

static const char *const source_names[] = {"DNS SRV", "built-in table", "usual name",
                                           "command line"};

/* ---- pure helpers ---- */

int setup_rank(const struct probe_port *p)
{
	if (!p->tls || p->error[0] || p->proto == PROBE_UNKNOWN)
		return 99;
	return (p->proto == PROBE_POP3 ? 2 : 0) + (p->sec == PROBE_SEC_IMPLICIT ? 0 : 1);
}

const char *setup_domain(const char *addr, struct fct_err *err)
{
	const char *at = strrchr(addr, '@');

	if (!at || at == addr || !at[1])
		return fct_err_set(err, FCT_E_CONFIG, "'%s' is not an e-mail address (expected "
		                   "name@domain)", addr), NULL;
	for (const char *p = at + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return fct_err_set(err, FCT_E_CONFIG, "'%s': the domain may contain only letters, "
			                   "digits, '.' and '-'", addr), NULL;
	if (at[1] == '.' || at[1] == '-' || strstr(at, ".."))
		return fct_err_set(err, FCT_E_CONFIG, "'%s': malformed domain", addr), NULL;
	for (const char *p = addr; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\')
			return fct_err_set(err, FCT_E_CONFIG, "'%s': unusual characters before '@' (give "
			                   "the login with --user)", addr), NULL;
	return at + 1;
}

void setup_default_name(const char *domain, char *out, size_t outsz)
{
	size_t k = 0;

	for (const char *p = domain; *p && *p != '.' && k + 1 < outsz; p++)
		if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
			out[k++] = (char)tolower((unsigned char)*p);
	if (!k && outsz > 4)
		k = (size_t)snprintf(out, outsz, "mail");
	out[k < outsz ? k : outsz - 1] = '\0';
}

/* ---- discovery ---- */

static void add_cand(struct setup_cands *cs, const char *host, int port, enum probe_proto proto,
                     enum probe_sec sec, enum setup_source src, const struct provider *prov)
{
	if (cs->n >= SETUP_MAX_CANDS)
		return;
	for (size_t i = 0; i < cs->n; i++)
		if (!strcasecmp(cs->c[i].host, host) && cs->c[i].port == port)
			return;
	struct setup_cand *c = &cs->c[cs->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->host, sizeof c->host, "%s", host);
	c->port = port;
	c->proto = proto;
	c->sec = sec;
	c->source = src;
	c->provider = prov;
}

static void discover_srv(struct setup_cands *cs, const struct setup_opts *o)
{
	static const struct {
		const char *svc;
		enum probe_proto proto;
		enum probe_sec sec;
	} svcs[] = {
		{"_imaps._tcp", PROBE_IMAP, PROBE_SEC_IMPLICIT}, {"_imap._tcp", PROBE_IMAP, PROBE_SEC_STARTTLS},
		{"_pop3s._tcp", PROBE_POP3, PROBE_SEC_IMPLICIT}, {"_pop3._tcp", PROBE_POP3, PROBE_SEC_STARTTLS},
	};
	for (size_t i = 0; i < sizeof svcs / sizeof svcs[0]; i++) {
		struct dns_srv recs[SETUP_MAX_SRV];
		struct fct_err err = {0};
		char *name = fct_xasprintf("%s.%s", svcs[i].svc, o->domain);
		int n = dns_srv_lookup(name, recs, SETUP_MAX_SRV, o->log, &err);
		if (n < 0)
			fct_log_warn(o->log, "%s", err.msg);
		for (int k = 0; k < n; k++) {
			fct_log_info(o->log, "DNS: %s -> %s port %d", name, recs[k].target, recs[k].port);
			add_cand(cs, recs[k].target, recs[k].port, svcs[i].proto, svcs[i].sec,
			         SETUP_SRC_SRV, NULL);
		}
		free(name);
	}
}

static void discover_rest(struct setup_cands *cs, const struct setup_opts *o)
{
	const struct provider *p = provider_for_domain(o->domain);

	if (p) {
		fct_log_info(o->log, "%s is served by %s (built-in table)", o->domain, p->name);
		if (p->imap_host)
			add_cand(cs, p->imap_host, p->imap_port, PROBE_IMAP,
			         p->imap_starttls ? PROBE_SEC_STARTTLS : PROBE_SEC_IMPLICIT,
			         SETUP_SRC_TABLE, p);
		if (p->pop3_host)
			add_cand(cs, p->pop3_host, p->pop3_port, PROBE_POP3, PROBE_SEC_IMPLICIT,
			         SETUP_SRC_TABLE, p);
		return;
	}
	static const struct {
		const char *prefix;
		int port;
		enum probe_proto proto;
		enum probe_sec sec;
	} guesses[] = {
		{"imap", 993, PROBE_IMAP, PROBE_SEC_IMPLICIT}, {"mail", 993, PROBE_IMAP, PROBE_SEC_IMPLICIT},
		{"imap", 143, PROBE_IMAP, PROBE_SEC_STARTTLS}, {"mail", 143, PROBE_IMAP, PROBE_SEC_STARTTLS},
		{"pop", 995, PROBE_POP3, PROBE_SEC_IMPLICIT}, {"pop3", 995, PROBE_POP3, PROBE_SEC_IMPLICIT},
		{"mail", 995, PROBE_POP3, PROBE_SEC_IMPLICIT}, {"pop", 110, PROBE_POP3, PROBE_SEC_STARTTLS},
	};
	for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
		char *h = fct_xasprintf("%s.%s", guesses[i].prefix, o->domain);
		add_cand(cs, h, guesses[i].port, guesses[i].proto, guesses[i].sec, SETUP_SRC_GUESS, NULL);
		free(h);
	}
}

static void discover(struct setup_cands *cs, const struct setup_opts *o)
{
	static const struct {
		int port;
		enum probe_proto proto;
		enum probe_sec sec;
	} std[] = {
		{993, PROBE_IMAP, PROBE_SEC_IMPLICIT}, {143, PROBE_IMAP, PROBE_SEC_STARTTLS},
		{995, PROBE_POP3, PROBE_SEC_IMPLICIT}, {110, PROBE_POP3, PROBE_SEC_STARTTLS},
	};
	cs->n = 0;
	if (o->host && o->port) {
		add_cand(cs, o->host, o->port, PROBE_UNKNOWN, PROBE_SEC_AUTO, SETUP_SRC_USER, NULL);
		for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
			if (std[i].port == o->port) {
				cs->c[0].proto = std[i].proto;
				cs->c[0].sec = std[i].sec;
			}
		return;
	}
	if (o->host) {
		for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
			add_cand(cs, o->host, std[i].port, std[i].proto, std[i].sec, SETUP_SRC_USER, NULL);
		return;
	}
	discover_srv(cs, o);
	if (!cs->n)
		discover_rest(cs, o);
}

/* Probes candidates in order until one is as good as can be; returns the
 * best one, or NULL. */
static struct setup_cand *probe_cands(struct setup_cands *cs, const struct setup_opts *o)
{
	struct probe_opts po = {.host = NULL, .cafile = o->cafile, .timeout_ms = o->timeout_ms,
	                        .log = o->log};
	struct setup_cand *best = NULL;

	for (size_t i = 0; i < cs->n; i++) {
		struct setup_cand *c = &cs->c[i];
		struct probe_port *p = &c->result;
		memset(p, 0, sizeof *p);
		p->proto = c->proto;
		p->sec = c->sec;
		p->port = c->port;
		probe_port(p, c->host, &po);
		int rank = setup_rank(p);
		fprintf(stderr, "  %s port %d (%s, from the %s): %s\n", c->host, c->port,
		        probe_kind_name(p), source_names[c->source],
		        rank < 99 ? "usable" : p->error[0] ? p->error : "no TLS");
		if (rank < 99 && (!best || rank < setup_rank(&best->result)))
			best = c;
		if (best && setup_rank(&best->result) == 0)
			break;
	}
	return best;
}

/* ---- questions ---- */

/* Asks on the terminal (or stdin/stderr without one); malloc'd answer
 * without its newline, def when empty, NULL at end of input. */
static char *ask(const char *question, const char *def)
{
	FILE *tty = fopen("/dev/tty", "r+");
	FILE *in = tty ? tty : stdin, *out = tty ? tty : stderr;
	char line[SETUP_ANSWER_MAX];
	char *ans = NULL;

	fprintf(out, "%s%s%s%s: ", question, def ? " [" : "", def ? def : "", def ? "]" : "");
	fflush(out);
	if (fgets(line, sizeof line, in)) {
		line[strcspn(line, "\r\n")] = '\0';
		ans = fct_xstrdup(line[0] ? line : def ? def : "");
	}
	if (tty)
		fclose(tty);
	return ans;
}

static int in_path(const char *prog)
{
	const char *path = getenv("PATH");

	for (const char *p = path ? path : ""; *p;) {
		size_t l = strcspn(p, ":");
		char *f = fct_xasprintf("%.*s/%s", (int)l, p, prog);
		int ok = access(f, X_OK) == 0;
		free(f);
		if (ok)
			return 1;
		p += l;
		p += *p == ':';
	}
	return 0;
}

struct answers {
	char *user, *passcmd, *pass, *name;
};

static void answers_free(struct answers *a)
{
	if (a->pass)
		memset(a->pass, 0, strlen(a->pass));
	free(a->user);
	free(a->passcmd);
	free(a->pass);
	free(a->name);
}

/* OAuth2 providers take a token, never the account password: only a
 * command that prints a fresh one makes sense. */
static int ask_token_cmd(struct answers *a, const struct setup_opts *o)
{
	char *def = fct_xasprintf("oama access %s", o->addr);

	fprintf(stderr, "This provider signs in with OAuth2: facteur needs a command that prints "
	        "a fresh access token (oama, mutt_oauth2.py, ...).\n");
	a->passcmd = ask("Token command", def);
	free(def);
	return a->passcmd ? 0 : -1;
}

static int ask_password(struct answers *a, const struct setup_opts *o, int oauth2)
{
	if (oauth2)
		return ask_token_cmd(a, o);
	char *def = in_path("pass") ? fct_xasprintf("pass show mail/%s", o->addr)
	                            : fct_xasprintf("secret-tool lookup mail %s", o->addr);
	char *how = ask("How should facteur get the password?\n"
	                "  1) run a command that prints it (pass, secret-tool, ...)\n"
	                "  2) write it into the configuration file, in clear text\n"
	                "  3) later: leave a commented line to fill in\nChoice", "1");
	int rc = 0;

	if (!how) {
		rc = -1;
	} else if (!strcmp(how, "1")) {
		a->passcmd = ask("Command", def);
		rc = a->passcmd ? 0 : -1;
	} else if (!strcmp(how, "2")) {
		char *p = getpass("Password (not echoed): ");
		a->pass = p && *p ? fct_xstrdup(p) : NULL;
		if (p)
			memset(p, 0, strlen(p));
	}
	free(how);
	free(def);
	return rc;
}

static int gather(struct answers *a, const struct setup_opts *o, const char *def_name,
                  int oauth2)
{
	memset(a, 0, sizeof *a);
	a->passcmd = o->passcmd ? fct_xstrdup(o->passcmd) : NULL;
	a->pass = o->pass ? fct_xstrdup(o->pass) : NULL;
	a->name = fct_xstrdup(o->name ? o->name : def_name);
	if (o->yes) {
		a->user = fct_xstrdup(o->user ? o->user : o->addr);
		return 0;
	}
	a->user = o->user ? fct_xstrdup(o->user) : ask("Login name", o->addr);
	if (!a->user)
		return -1;
	if (!a->passcmd && !a->pass && ask_password(a, o, oauth2))
		return -1;
	return 0;
}

/* ---- the configuration file ---- */

/* The file setup writes to without -c: the one facteur would read, or a new
 * $XDG_CONFIG_HOME/facteur/config. */
static char *default_config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *x = NULL;

	if (xdg && *xdg)
		x = fct_xasprintf("%s/facteur/config", xdg);
	else if (home && *home)
		x = fct_xasprintf("%s/.config/facteur/config", home);
	if (x && access(x, F_OK) == 0)
		return x;
	if (home && *home) {
		char *m = fct_xasprintf("%s/.mbsyncrc", home);
		if (access(m, F_OK) == 0) {
			free(x);
			return m;
		}
		free(m);
	}
	return x;
}

/* Reads an existing file into b; *exists 0 when there is none. */
static int read_existing(const char *path, struct fct_buf *b, int *exists, struct fct_err *err)
{
	char chunk[4096];
	FILE *fp = fopen(path, "rb");
	size_t n;

	*exists = 0;
	if (!fp)
		return errno == ENOENT ? 0 : fct_err_sys(err, errno, "cannot read %s", path);
	*exists = 1;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
		if (b->len + n > SETUP_MAX_CONFIG) {
			fclose(fp);
			return fct_err_set(err, FCT_E_CONFIG, "%s is larger than %d bytes; not touching it",
			                   path, SETUP_MAX_CONFIG);
		}
		fct_buf_append(b, chunk, n);
	}
	int bad = ferror(fp);
	fclose(fp);
	if (bad)
		return fct_err_set(err, FCT_E_IO, "cannot read %s", path);
	if (memchr(b->data, '\0', b->len))
		return fct_err_set(err, FCT_E_CONFIG, "%s contains NUL bytes; not touching it", path);
	return 0;
}

static int name_taken(const struct fct_config *c, const char *name)
{
	char *remote = fct_xasprintf("%s-remote", name), *local = fct_xasprintf("%s-local", name);
	int taken = cfg_channel(c, name) || cfg_group(c, name) || cfg_store(c, remote) ||
	            cfg_store(c, local);

	for (size_t i = 0; i < c->naccounts && !taken; i++)
		taken = !strcmp(c->accounts[i]->name, name);
	free(remote);
	free(local);
	return taken;
}

/* mkdir -p for the directory that will hold path. */
static int make_parent(const char *path, struct fct_err *err)
{
	char *d = fct_xstrdup(path), *slash = strrchr(d, '/');
	int rc = 0;

	if (slash && slash != d) {
		*slash = '\0';
		rc = fct_mkdir_p(d, err);
	}
	free(d);
	return rc;
}

static char *expand_home(const char *p)
{
	const char *home = getenv("HOME");

	if (p[0] == '~' && (p[1] == '/' || !p[1]) && home)
		return fct_xasprintf("%s%s", home, p + 1);
	return fct_xstrdup(p);
}

static void describe(struct fct_buf *b, const struct setup_cand *c, const struct setup_opts *o)
{
	const struct probe_port *p = &c->result;
	char v[160], date[32];
	time_t now = time(NULL);
	struct tm tm;

	strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&now, &tm));
	probe_verdict(p, v, sizeof v);
	fct_buf_printf(b, "# ---- Added by `facteur setup` for %s on %s ----\n", o->addr, date);
	fct_buf_printf(b, "# Server found through the %s: %s port %d, %s", source_names[c->source],
	               c->host, c->port, probe_kind_name(p));
	fct_buf_printf(b, " (%s), certificate %s.\n", p->tls_info.version, v);
	fct_buf_printf(b, "# Certificate SHA-256: %s\n", p->tls_info.fingerprint);
	if (p->auth[0])
		fct_buf_printf(b, "# Login methods offered: %s\n", p->auth);
	if (c->provider && c->provider->note)
		fct_buf_printf(b, "# %s: %s.\n", c->provider->name, c->provider->note);
	if (p->proto == PROBE_POP3)
		fct_buf_puts(b, "# POP3 only downloads: no flags, no folders, nothing goes back to "
		                "the server.\n");
}

static int oauth2_needed(const struct setup_cand *c)
{
	const char *a = c->result.auth;

	if (c->provider)
		return c->provider->oauth2;
	return strstr(a, "XOAUTH2") && !strstr(a, "PLAIN") && !strstr(a, "LOGIN") &&
	       !strstr(a, "USER");
}

/* "~/Mail/NAME" or --maildir, without trailing slashes (malloc'd). */
static char *maildir_of(const struct setup_opts *o, const char *name)
{
	char *m = o->maildir ? fct_xstrdup(o->maildir) : fct_xasprintf("~/Mail/%s", name);
	size_t ml = strlen(m);

	while (ml > 1 && m[ml - 1] == '/')
		m[--ml] = '\0';
	return m;
}

static void build_text(struct fct_buf *b, const struct fct_buf *old, const struct setup_cand *c,
                       const struct answers *a, const char *maildir, const struct setup_opts *o)
{
	struct probe_cfg pc = {
		.name = a->name, .host = c->host, .user = a->user, .passcmd = a->passcmd,
		.pass = a->pass, .cafile = c->result.cafile_trusted ? o->cafile : NULL,
		.maildir = maildir, .proto = c->result.proto, .sec = c->result.sec,
		.port = c->port, .oauth2 = oauth2_needed(c),
	};

	/* An empty line ends the previous section (mbsync's rule). */
	if (old->len && old->data[old->len - 1] != '\n')
		fct_buf_puts(b, "\n\n");
	else if (old->len && (old->len < 2 || old->data[old->len - 2] != '\n'))
		fct_buf_putc(b, '\n');
	describe(b, c, o);
	probe_config_lines(b, &pc);
}

static int write_all(const char *path, const char *text, size_t len, int append,
                     struct fct_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_CREAT | O_EXCL), 0600);

	if (fd < 0)
		return fct_err_sys(err, errno, "cannot %s %s", append ? "append to" : "create", path);
	while (len) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fct_err_sys(err, errno, "cannot write %s", path);
			close(fd);
			return -1;
		}
		text += n;
		len -= (size_t)n;
	}
	if (fsync(fd) || close(fd))
		return fct_err_sys(err, errno, "cannot write %s", path);
	return 0;
}

/* Checks the existing file and the new text together, then writes. */
static int save(const char *path, const struct fct_buf *old, int exists, const char *text,
                const struct fct_log *log, struct fct_err *err)
{
	struct fct_log quiet = *log;
	struct fct_config *cfg = NULL;
	struct fct_buf all;

	quiet.level = -1;
	fct_buf_init(&all);
	fct_buf_append(&all, old->data, old->len);
	fct_buf_puts(&all, text);
	int rc = cfg_parse_string(&cfg, all.data, path, &quiet, err);
	fct_buf_free(&all);
	if (rc) {
		fct_err_prefix(err, "the configuration written would not load (nothing written)");
		return -1;
	}
	cfg_free(cfg);
	if (!exists && make_parent(path, err))
		return -1;
	return write_all(path, text, strlen(text), exists, err);
}

static int dry_run(const char *path, const char *channel, const struct fct_log *log)
{
	struct fct_config *cfg = NULL;
	struct fct_err err = {0};
	struct run_target t = {.channel = channel, .boxes = NULL};
	struct run_opts r;

	if (cfg_load(&cfg, path, log, &err)) {
		fct_log_error(log, "%s", err.msg);
		return 1;
	}
	memset(&r, 0, sizeof r);
	r.targets = &t;
	r.ntargets = 1;
	r.dry_run = 1;
	r.create_override = r.remove_override = r.expunge_override = -1;
	r.log = *log;
	int rc = sync_run(cfg, &r);
	cfg_free(cfg);
	return rc ? 1 : 0;
}

/* RFC 6186 section 6: a server outside the address's domain, named only by
 * (unsigned) DNS, is shown to the user, who confirms it unless --yes. */
static int srv_target_ok(const struct setup_cand *c, const struct setup_opts *o)
{
	size_t hl = strlen(c->host), dl = strlen(o->domain);

	if ((hl == dl || (hl > dl && c->host[hl - dl - 1] == '.')) &&
	    !strcasecmp(c->host + hl - dl, o->domain))
		return 1;
	fprintf(stderr, "Note: the DNS of %s names a server outside it: %s.\n", o->domain, c->host);
	if (o->yes)
		return 1;
	char *a = ask("Use this server? (y/n)", "y");
	int ok = a && (a[0] == 'y' || a[0] == 'Y');
	if (a && !ok)
		fct_log_error(o->log, "setup: %s not accepted; nothing written", c->host);
	else if (!a)
		fct_log_error(o->log, "setup: no answer (end of input); nothing written");
	free(a);
	return ok;
}

/* Picks the server: discovery, probing and the certificate check. */
static int choose(struct setup_cands *cs, struct setup_cand **out, const struct setup_opts *o)
{
	struct setup_cand *best;

	discover(cs, o);
	if (!cs->n) {
		fct_log_error(o->log, "no server candidates for %s", o->domain);
		return 1;
	}
	fprintf(stderr, "Probing %zu candidate%s for %s (no password is sent):\n", cs->n,
	        cs->n > 1 ? "s" : "", o->domain);
	best = probe_cands(cs, o);
	if (!best) {
		fct_log_error(o->log, "no IMAP or POP3 server with TLS was found for %s; if you know "
		              "the server, try `facteur probe HOST` or `facteur setup --host HOST %s`",
		              o->domain, o->addr);
		return 1;
	}
	const struct probe_port *p = &best->result;
	if (!p->tls_info.verified) {
		char v[160];
		probe_verdict(p, v, sizeof v);
		fct_log_error(o->log, "the certificate of %s port %d is %s (SHA-256 %s): if this "
		              "fingerprint is really the server's, save its certificate and run setup "
		              "again with --cafile FILE", best->host, best->port, v,
		              p->tls_info.fingerprint);
		return 1;
	}
	if (best->source == SETUP_SRC_SRV && !srv_target_ok(best, o))
		return 1;
	*out = best;
	return 0;
}

static void explain(const struct setup_cand *c)
{
	struct probe_report *r = fct_xcalloc(1, sizeof *r);
	struct fct_buf b;

	snprintf(r->host, sizeof r->host, "%s", c->host);
	r->nports = 1;
	r->ports[0] = c->result;
	fct_buf_init(&b);
	probe_advice(&b, r, 0);
	fprintf(stderr, "\n%s", b.data);
	if (c->provider && c->provider->note)
		fprintf(stderr, "%s: %s.\n", c->provider->name, c->provider->note);
	fct_buf_free(&b);
	free(r);
}

/* The existing file must load, and the new names must be free in it. */
static int check_names(const char *path, const struct fct_buf *old, struct answers *a,
                       const struct setup_opts *o, struct fct_err *err)
{
	struct fct_log quiet = *o->log;
	struct fct_config *cfg = NULL;

	quiet.level = -1;
	if (cfg_parse_string(&cfg, old->data, path, &quiet, err)) {
		fct_err_prefix(err, "not appending to a configuration that does not load");
		return -1;
	}
	for (int tries = 0; name_taken(cfg, a->name); tries++) {
		char *n = NULL;
		if (o->yes || tries >= 5 ||
		    !(n = ask("That name is taken in the configuration; another name", NULL))) {
			fct_err_set(err, FCT_E_CONFIG, "%s already uses the name '%s' (choose another "
			            "with --name)", path, a->name);
			cfg_free(cfg);
			return -1;
		}
		free(a->name);
		a->name = n;
	}
	cfg_free(cfg);
	return 0;
}

/* After the file is written: the Maildir root, what to do next, the dry run. */
static int finish(const struct setup_cand *c, const struct setup_opts *o, const char *path,
                  const struct answers *a, const char *maildir, int appended)
{
	struct fct_err err = {0};
	char *md = expand_home(maildir);
	int rc = 0;

	if (fct_mkdir_p(md, &err))
		fct_log_warn(o->log, "%s", err.msg);
	free(md);
	printf("%s %s: channel '%s' for %s (%s on %s port %d).\n", appended ? "Appended to" : "Wrote",
	       path, a->name, o->addr, probe_kind_name(&c->result), c->host, c->port);
	if (!a->passcmd && !a->pass)
		printf("Fill in the PassCmd line in %s before the first sync.\n", path);
	struct stat st;
	if (a->pass && appended && !stat(path, &st) && (st.st_mode & 077))
		printf("Warning: %s now holds a password and others can read it: chmod 600 %s\n",
		       path, path);
	if (c->result.proto == PROBE_POP3 && strstr(path, ".mbsyncrc"))
		printf("Note: mbsync does not know POP3 sections; only facteur can read %s now.\n",
		       path);
	if (!o->no_dry_run && (a->passcmd || a->pass)) {
		printf("First sync preview (facteur -c %s --dry-run %s):\n", path, a->name);
		fflush(stdout);
		rc = dry_run(path, a->name, o->log);
		if (rc)
			fct_log_error(o->log, "the dry run failed: the configuration is saved in %s; "
			              "fix what the message above says and try `facteur -c %s --dry-run %s`",
			              path, path, a->name);
	}
	if (!rc)
		printf("To synchronize: facteur -c %s %s\n", path, a->name);
	return rc;
}

/* Everything after the server is chosen: questions, file, dry run. */
static int configure(const struct setup_cand *c, const struct setup_opts *o, const char *path)
{
	struct fct_buf old, text;
	struct fct_err err = {0};
	struct answers a;
	char def_name[64], *maildir = NULL;
	int exists = 0, rc = 1;

	fct_buf_init(&old);
	fct_buf_init(&text);
	setup_default_name(o->domain, def_name, sizeof def_name);
	if (gather(&a, o, def_name, oauth2_needed(c))) {
		fct_log_error(o->log, "setup: no answer (end of input); nothing written");
		goto out;
	}
	if (read_existing(path, &old, &exists, &err) ||
	    (exists && check_names(path, &old, &a, o, &err))) {
		fct_log_error(o->log, "%s", err.msg);
		goto out;
	}
	maildir = maildir_of(o, a.name);
	build_text(&text, &old, c, &a, maildir, o);
	if (save(path, &old, exists, text.data, o->log, &err))
		fct_log_error(o->log, "%s", err.msg);
	else
		rc = finish(c, o, path, &a, maildir, exists);
out:
	free(maildir);
	answers_free(&a);
	fct_buf_free(&old);
	fct_buf_free(&text);
	return rc;
}

/* ---- command line ---- */

enum { S_USER = 256, S_PASSCMD, S_PASS, S_NAME, S_MAILDIR, S_HOST, S_PORT, S_CAFILE, S_TIMEOUT,
       S_NODRY, S_HELP };

static const struct option setup_longopts[] = {
	{"yes", no_argument, NULL, 'y'},
	{"config", required_argument, NULL, 'c'},
	{"user", required_argument, NULL, S_USER},
	{"pass-cmd", required_argument, NULL, S_PASSCMD},
	{"pass", required_argument, NULL, S_PASS},
	{"name", required_argument, NULL, S_NAME},
	{"maildir", required_argument, NULL, S_MAILDIR},
	{"host", required_argument, NULL, S_HOST},
	{"port", required_argument, NULL, S_PORT},
	{"cafile", required_argument, NULL, S_CAFILE},
	{"timeout", required_argument, NULL, S_TIMEOUT},
	{"no-dry-run", no_argument, NULL, S_NODRY},
	{"help", no_argument, NULL, S_HELP},
	{NULL, 0, NULL, 0},
};

static void setup_usage(FILE *fp)
{
	fputs("usage: facteur setup ADDRESS [OPTIONS]\n"
	      "  Finds the servers for ADDRESS (DNS SRV records, a table of large providers, the\n"
	      "  usual host names), probes them, asks what it cannot find and writes a channel.\n"
	      "  -y, --yes          ask nothing (for scripts); the options below answer instead\n"
	      "  -c, --config FILE  write or append to FILE (default: the file facteur reads)\n"
	      "  --user NAME        login name (default: ADDRESS)\n"
	      "  --pass-cmd CMD     command printing the password (e.g. \"pass show mail\")\n"
	      "  --pass PASSWORD    password in clear text in the file (prefer --pass-cmd)\n"
	      "  --name NAME        channel and account name (default: from the domain)\n"
	      "  --maildir DIR      local Maildir (default: ~/Mail/NAME)\n"
	      "  --host HOST [--port N]  skip discovery: use this server\n"
	      "  --cafile FILE      trust this certificate (PEM)\n"
	      "  --timeout SECONDS  per probe (default 5)\n"
	      "  --no-dry-run       do not preview the first sync\n", fp);
}

static int setup_opt(struct setup_opts *so, int c)
{
	long v;
	char *end;

	switch (c) {
	case 'y': so->yes = 1; return 0;
	case 'c': so->config_path = optarg; return 0;
	case S_USER: so->user = optarg; return 0;
	case S_PASSCMD: so->passcmd = optarg; return 0;
	case S_PASS: so->pass = optarg; return 0;
	case S_NAME: so->name = optarg; return 0;
	case S_MAILDIR: so->maildir = optarg; return 0;
	case S_HOST: so->host = optarg; return 0;
	case S_CAFILE: so->cafile = optarg; return 0;
	case S_NODRY: so->no_dry_run = 1; return 0;
	case S_PORT: case S_TIMEOUT:
		v = strtol(optarg, &end, 10);
		if (*end || v < 1 || v > (c == S_PORT ? 65535 : 3600))
			return -1;
		if (c == S_PORT)
			so->port = (int)v;
		else
			so->timeout_ms = (int)v * 1000;
		return 0;
	default: return -1;
	}
}

static int valid_name(const char *n)
{
	if (!*n || strlen(n) > 60)
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '-' && *n != '_' && *n != '.')
			return 0;
	return 1;
}

int setup_main(int argc, char **argv, const char *config_path, const struct fct_log *log)
{
	struct setup_opts so = {.config_path = config_path, .timeout_ms = 5000, .log = log};
	struct fct_err err = {0};
	int c;

	opterr = 0;
	optind = 0;
	int li = -1;
	while ((c = getopt_long(argc, argv, "yc:", setup_longopts, &li)) != -1) {
		if (c == S_HELP) {
			setup_usage(stdout);
			return 0;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "facteur setup: unknown option or missing value '%s'\n",
			        argv[optind - 1]);
			setup_usage(stderr);
			return 1;
		}
		if (setup_opt(&so, c)) {
			fprintf(stderr, "facteur setup: bad value '%s' for --%s\n", optarg ? optarg : "",
			        li >= 0 ? setup_longopts[li].name : "?");
			return 1;
		}
		li = -1;
	}
	if (optind + 1 != argc) {
		setup_usage(stderr);
		return 1;
	}
	so.addr = argv[optind];
	if (!(so.domain = setup_domain(so.addr, &err)) || (so.name && !valid_name(so.name))) {
		fct_log_error(log, "%s", so.domain ? "--name: letters, digits, '-', '_' and '.' only"
		                                   : err.msg);
		return 1;
	}
	if (so.pass && so.passcmd) {
		fct_log_error(log, "setup: give --pass-cmd or --pass, not both");
		return 1;
	}
	char *cafile = so.cafile ? realpath(so.cafile, NULL) : NULL;
	if (so.cafile && !cafile) {
		fct_log_error(log, "--cafile %s: %s", so.cafile, strerror(errno));
		return 1;
	}
	so.cafile = cafile;
	char *path = so.config_path ? fct_xstrdup(so.config_path) : default_config_path();
	struct setup_cands *cs = fct_xcalloc(1, sizeof *cs);
	struct setup_cand *best = NULL;
	int rc = 1;
	if (!path)
		fct_log_error(log, "setup: no home directory; give the file with -c");
	else if (!choose(cs, &best, &so)) {
		explain(best);
		rc = configure(best, &so, path);
	}
	free(cs);
	free(path);
	free(cafile);
	return rc;
}
