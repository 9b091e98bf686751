/* probe and setup: capability parsing, the recommendation, generated
 * configuration lines (they must load and keep their values), the provider
 * table, SRV answer parsing, and a scripted server for STARTTLS refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sync/cli.h"
#include "sync/config.h"
#include "sync/dns.h"
#include "sync/probe.h"
#include "sync/setup.h"

static void test_imap_caps(void **state)
{
	(void)state;
	char auth[PROBE_AUTH_MAX] = "";
	const char *g = "* OK [CAPABILITY IMAP4rev1 IDLE uidplus Move AUTH=PLAIN AUTH=xoauth2 "
	                "AUTH=PLAIN COMPRESS=DEFLATE] ready IDLE QRESYNC";
	const char *list = probe_imap_caplist(g);
	assert_non_null(list);
	unsigned caps = probe_imap_caps(list, auth, sizeof auth);
	assert_int_equal(caps, PROBE_CAP_IDLE | PROBE_CAP_UIDPLUS | PROBE_CAP_MOVE | PROBE_CAP_COMPRESS);
	/* Words after ']' are the greeting's text, not capabilities. */
	assert_false(caps & PROBE_CAP_QRESYNC);
	assert_string_equal(auth, "PLAIN XOAUTH2 LOGIN");

	auth[0] = '\0';
	caps = probe_imap_caps(probe_imap_caplist("* CAPABILITY IMAP4rev2 CONDSTORE QRESYNC OBJECTID "
	                                          "LIST-STATUS STARTTLS LOGINDISABLED"),
	                       auth, sizeof auth);
	assert_int_equal(caps, PROBE_CAP_IMAP4REV2 | PROBE_CAP_CONDSTORE | PROBE_CAP_QRESYNC |
	                       PROBE_CAP_OBJECTID | PROBE_CAP_LIST_STATUS | PROBE_CAP_STARTTLS |
	                       PROBE_CAP_LOGINDISABLED);
	assert_string_equal(auth, ""); /* LOGINDISABLED: no LOGIN either */
	/* A near-miss token is not the capability. */
	auth[0] = '\0';
	assert_int_equal(probe_imap_caps("IDLEX COMPRESS=GZIP MOVES", auth, sizeof auth), 0);
}

static void test_imap_caplist(void **state)
{
	(void)state;
	assert_null(probe_imap_caplist("* OK Dovecot ready."));
	assert_null(probe_imap_caplist("a1 OK [CAPABILITY IMAP4rev1] done"));
	assert_null(probe_imap_caplist("* 3 EXISTS"));
	assert_string_equal(probe_imap_caplist("* capability IDLE"), "IDLE");
	assert_string_equal(probe_imap_caplist("* PREAUTH [CAPABILITY MOVE] hi"), "MOVE] hi");
}

static void test_auth_truncation(void **state)
{
	(void)state;
	char auth[16] = "";
	probe_imap_caps("AUTH=PLAIN AUTH=SCRAM-SHA-256 AUTH=X", auth, sizeof auth);
	/* Whole mechanisms only; what does not fit is left out. */
	assert_string_equal(auth, "PLAIN X LOGIN");
	char tiny[1] = "";
	probe_imap_caps("AUTH=PLAIN", tiny, sizeof tiny);
	assert_string_equal(tiny, "");
}

static void test_pop3_capa(void **state)
{
	(void)state;
	char auth[PROBE_AUTH_MAX] = "";
	unsigned caps = 0;
	const char *lines[] = {"UIDL", "TOP", "PIPELINING", "USER", "SASL PLAIN  cram-md5\tXOAUTH2",
	                       "RESP-CODES", "STLS", "IMPLEMENTATION Dovecot"};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		caps |= probe_pop3_capa(lines[i], auth, sizeof auth);
	assert_int_equal(caps, PROBE_CAP_UIDL | PROBE_CAP_TOP | PROBE_CAP_PIPELINING | PROBE_CAP_USER |
	                       PROBE_CAP_SASL | PROBE_CAP_STARTTLS);
	assert_string_equal(auth, "USER PLAIN CRAM-MD5 XOAUTH2");
	assert_string_equal(probe_cap_name(PROBE_POP3, PROBE_CAP_STARTTLS), "STLS");
	assert_string_equal(probe_cap_name(PROBE_IMAP, PROBE_CAP_STARTTLS), "STARTTLS");
	assert_null(probe_cap_name(PROBE_POP3, PROBE_CAP_IDLE));
}

static struct probe_port mkport(enum probe_proto proto, enum probe_sec sec, int port, int tls,
                                const char *error)
{
	struct probe_port p;
	memset(&p, 0, sizeof p);
	p.proto = proto;
	p.sec = sec;
	p.port = port;
	p.reachable = 1;
	p.tls = tls;
	p.tls_info.verified = 1;
	snprintf(p.error, sizeof p.error, "%s", error);
	return p;
}

static void test_recommend(void **state)
{
	(void)state;
	struct probe_report r;
	memset(&r, 0, sizeof r);
	snprintf(r.host, sizeof r.host, "mail.example.org");
	r.nports = 4;
	r.ports[0] = mkport(PROBE_POP3, PROBE_SEC_IMPLICIT, 995, 1, "");
	r.ports[1] = mkport(PROBE_IMAP, PROBE_SEC_STARTTLS, 143, 1, "");
	r.ports[2] = mkport(PROBE_IMAP, PROBE_SEC_IMPLICIT, 993, 1, "");
	r.ports[3] = mkport(PROBE_POP3, PROBE_SEC_STARTTLS, 110, 1, "");
	assert_int_equal(probe_recommend(&r), 2);
	r.ports[2].error[0] = 'x'; /* IMAPS broke half way */
	assert_int_equal(probe_recommend(&r), 1);
	r.ports[1].tls = 0; /* IMAP without STARTTLS: never recommended */
	assert_int_equal(probe_recommend(&r), 0);

	struct fct_buf b;
	fct_buf_init(&b);
	probe_advice(&b, &r, 0);
	assert_non_null(strstr(b.data, "POP3"));
	assert_non_null(strstr(b.data, "no flags"));
	assert_non_null(strstr(b.data, "no folders"));
	assert_non_null(strstr(b.data, "one-way"));
	r.ports[0].tls = 0;
	r.ports[3].tls = 0;
	assert_int_equal(probe_recommend(&r), -1);
	fct_buf_reset(&b);
	probe_advice(&b, &r, -1);
	assert_non_null(strstr(b.data, "No secure way to reach mail.example.org"));
	fct_buf_free(&b);

	assert_int_equal(setup_rank(&r.ports[2]), 99);
	struct probe_port ok = mkport(PROBE_IMAP, PROBE_SEC_IMPLICIT, 993, 1, "");
	assert_int_equal(setup_rank(&ok), 0);
	ok.proto = PROBE_POP3;
	ok.sec = PROBE_SEC_STARTTLS;
	assert_int_equal(setup_rank(&ok), 3);
}

static void test_verdict(void **state)
{
	(void)state;
	char v[160];
	struct probe_port p = mkport(PROBE_IMAP, PROBE_SEC_IMPLICIT, 993, 1, "");
	snprintf(p.tls_info.verdict, sizeof p.tls_info.verdict, "valid");
	p.cafile_trusted = 1;
	probe_verdict(&p, v, sizeof v);
	assert_string_equal(v, "valid (trusted via --cafile)");
	p.cafile_trusted = 0;
	snprintf(p.tls_info.verdict, sizeof p.tls_info.verdict, "self-signed");
	probe_verdict(&p, v, sizeof v);
	assert_string_equal(v, "self-signed");
	p.tls = 0;
	probe_verdict(&p, v, sizeof v);
	assert_string_equal(v, "no TLS");
}

/* The generated lines load, and values with quotes and spaces survive. */
static void test_config_lines_load(void **state)
{
	(void)state;
	struct fct_log quiet = {.level = -1};
	struct fct_err err = {0};
	struct fct_config *cfg = NULL;
	struct fct_buf b;
	const char *cmd = "secret-tool lookup mail \"a b\\c\" # not a comment";
	struct probe_cfg c = {.name = "work", .host = "imap.example.org", .user = "me@example.org",
	                      .passcmd = cmd, .cafile = "/etc/ssl/my ca.pem",
	                      .maildir = "~/Mail/work", .proto = PROBE_IMAP,
	                      .sec = PROBE_SEC_STARTTLS, .port = 143, .oauth2 = 1};

	fct_buf_init(&b);
	probe_config_lines(&b, &c);
	assert_int_equal(cfg_parse_string(&cfg, b.data, "gen", &quiet, &err), 0);
	const struct cfg_channel *ch = cfg_channel(cfg, "work");
	assert_non_null(ch);
	const struct cfg_account *a = ch->far->account;
	assert_string_equal(a->host, "imap.example.org");
	assert_int_equal(a->port, 143);
	assert_int_equal(a->tls, CFG_TLS_STARTTLS);
	assert_string_equal(a->pass_cmd, cmd);
	assert_string_equal(a->cert_file, "/etc/ssl/my ca.pem");
	assert_string_equal(a->auth_mechs[0], "XOAUTH2");
	assert_int_equal(ch->near->kind, CFG_STORE_MAILDIR);
	cfg_free(cfg);

	fct_buf_reset(&b);
	c.proto = PROBE_POP3;
	c.sec = PROBE_SEC_IMPLICIT;
	c.port = 995;
	c.passcmd = NULL;
	c.pass = "p\"w d";
	c.oauth2 = 0;
	c.user = NULL;
	probe_config_lines(&b, &c);
	assert_int_equal(cfg_parse_string(&cfg, b.data, "gen", &quiet, &err), 0);
	ch = cfg_channel(cfg, "work");
	assert_non_null(ch);
	assert_true(ch->far->account->is_pop3);
	assert_int_equal(ch->far->account->tls, CFG_TLS_IMPLICIT);
	assert_string_equal(ch->far->account->pass, "p\"w d");
	assert_null(ch->far->account->user); /* left as a commented placeholder */
	assert_int_equal(ch->far->keep, 1);
	cfg_free(cfg);
	fct_buf_free(&b);
}

static void test_setup_helpers(void **state)
{
	(void)state;
	struct fct_err err = {0};
	char name[64];
	assert_string_equal(setup_domain("me@Example.org", &err), "Example.org");
	assert_string_equal(setup_domain("a@b@c.org", &err), "c.org");
	assert_null(setup_domain("me.example.org", &err));
	assert_int_equal(err.kind, FCT_E_CONFIG);
	assert_null(setup_domain("@example.org", &err));
	assert_null(setup_domain("me@", &err));
	assert_null(setup_domain("me@exa mple.org", &err));
	assert_null(setup_domain("me@example..org", &err));
	assert_null(setup_domain("m e@example.org", &err));
	setup_default_name("Example.org", name, sizeof name);
	assert_string_equal(name, "example");
	setup_default_name("xn--bcher-kva.example", name, sizeof name);
	assert_string_equal(name, "xn--bcher-kva");
}

static void test_providers(void **state)
{
	(void)state;
	size_t n;
	const struct provider *t = provider_table(&n);
	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++) {
		assert_true(t[i].imap_host || t[i].pop3_host);
		assert_true(!t[i].imap_host || (t[i].imap_port > 0 && t[i].imap_port < 65536));
		assert_true(!t[i].pop3_host || (t[i].pop3_port > 0 && t[i].pop3_port < 65536));
		/* Every listed domain finds its own entry. */
		char d[64];
		size_t l = strcspn(t[i].domains, " ");
		snprintf(d, sizeof d, "%.*s", (int)l, t[i].domains);
		assert_ptr_equal(provider_for_domain(d), &t[i]);
	}
	const struct provider *g = provider_for_domain("GMail.com");
	assert_non_null(g);
	assert_string_equal(g->imap_host, "imap.gmail.com");
	assert_true(g->oauth2);
	assert_true(provider_for_domain("hotmail.com")->oauth2);
	assert_non_null(provider_for_domain("laposte.net"));
	assert_null(provider_for_domain("gmail.co"));
	assert_null(provider_for_domain("mail.gmail.com"));
}

/* ---- DNS answers built by hand ---- */

static size_t put_name(unsigned char *p, const char *name)
{
	size_t n = 0;
	while (*name) {
		size_t l = strcspn(name, ".");
		p[n++] = (unsigned char)l;
		memcpy(p + n, name, l);
		n += l;
		name += l;
		name += *name == '.';
	}
	p[n++] = 0;
	return n;
}

static size_t put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return 2;
}

/* Answer with three SRV records: prio 20 "b.example", prio 10 "a.example"
 * (target compressed against the question name), and a "." record. */
static size_t srv_answer(unsigned char *m, unsigned rcode)
{
	size_t n = 0, rdlen_at;
	n += put16(m + n, 0x1234);
	n += put16(m + n, 0x8180 | rcode);
	n += put16(m + n, 1);
	n += put16(m + n, rcode ? 0 : 3);
	n += put16(m + n, 0);
	n += put16(m + n, 0);
	n += put_name(m + n, "_imaps._tcp.example");
	n += put16(m + n, 33);
	n += put16(m + n, 1);
	if (rcode)
		return n;
	const struct { unsigned prio, weight, port; const char *target; } rr[] = {
		{20, 5, 993, "b.example"}, {10, 0, 1993, NULL}, {0, 0, 0, ""},
	};
	for (size_t i = 0; i < 3; i++) {
		n += put16(m + n, 0xc00c); /* owner: the question name */
		n += put16(m + n, 33);
		n += put16(m + n, 1);
		n += put16(m + n, 0);
		n += put16(m + n, 300);
		rdlen_at = n;
		n += 2;
		n += put16(m + n, rr[i].prio);
		n += put16(m + n, rr[i].weight);
		n += put16(m + n, rr[i].port);
		if (rr[i].target) {
			n += put_name(m + n, rr[i].target);
		} else {
			m[n++] = 1;
			m[n++] = 'a';
			n += put16(m + n, 0xc000 | (12 + 12)); /* "example" inside the question */
		}
		put16(m + rdlen_at, (unsigned)(n - rdlen_at - 2));
	}
	return n;
}

static void test_dns_parse(void **state)
{
	(void)state;
	unsigned char m[512];
	struct dns_srv out[4];
	struct fct_err err = {0};
	size_t n = srv_answer(m, 0);

	assert_int_equal(dns_srv_parse(m, n, out, 4, &err), 2);
	assert_string_equal(out[0].target, "a.example");
	assert_int_equal(out[0].port, 1993);
	assert_int_equal(out[0].priority, 10);
	assert_string_equal(out[1].target, "b.example");
	assert_int_equal(out[1].port, 993);
	assert_int_equal(dns_srv_parse(m, n, out, 1, &err), 1);
	/* Cut in the middle of a record: an error, never a crash. */
	assert_int_equal(dns_srv_parse(m, n - 3, out, 4, &err), -1);
	assert_int_equal(err.kind, FCT_E_PROTO);
	n = srv_answer(m, 3); /* NXDOMAIN */
	assert_int_equal(dns_srv_parse(m, n, out, 4, &err), 0);
	n = srv_answer(m, 2); /* SERVFAIL */
	assert_int_equal(dns_srv_parse(m, n, out, 4, &err), -1);
}

/* The test override is checked, and a bad value is a config error. */
static void test_dns_override_spec(void **state)
{
	(void)state;
	struct fct_log quiet = {.level = -1};
	struct dns_srv out[2];
	struct fct_err err = {0};
	const char *bad[] = {"127.0.0.1", "localhost:53", "127.0.0.1:0", "[::1:53", ":53"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("FACTEUR_TEST_DNS", bad[i], 1);
		assert_int_equal(dns_srv_lookup("_imaps._tcp.example.test", out, 2, &quiet, &err), -1);
		assert_int_equal(err.kind, FCT_E_CONFIG);
		assert_non_null(strstr(err.msg, "FACTEUR_TEST_DNS"));
	}
	unsetenv("FACTEUR_TEST_DNS");
}

/* ---- a scripted server ---- */

/* Listens on 127.0.0.1; the child answers with script (one reply per line
 * read, after the greeting) and copies what it received to the pipe. */
static pid_t scripted(int *port, int *rfd, const char *greeting, const char *const *replies)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0), p[2];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		int c = accept(ls, NULL, NULL);
		char buf[1024];
		if (c < 0 || write(c, greeting, strlen(greeting)) < 0)
			_exit(1);
		for (size_t i = 0; replies[i]; i++) {
			ssize_t n = read(c, buf, sizeof buf);
			if (n <= 0)
				break;
			if (write(p[1], buf, (size_t)n) < 0 || write(c, replies[i], strlen(replies[i])) < 0)
				break;
		}
		_exit(0);
	}
	close(ls);
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static char *drain(int fd)
{
	struct fct_buf b;
	char chunk[512];
	ssize_t n;
	fct_buf_init(&b);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		fct_buf_append(&b, chunk, (size_t)n);
	close(fd);
	return fct_buf_steal(&b);
}

/* STARTTLS answered together with injected bytes: the probe stops there. */
static void test_starttls_injection(void **state)
{
	(void)state;
	const char *const replies[] = {"p2 OK go ahead\r\n* injected\r\n", NULL};
	struct fct_log quiet = {.level = -1};
	struct probe_opts o = {.timeout_ms = 3000, .log = &quiet};
	struct probe_port p;
	int port, rfd, status;
	pid_t pid = scripted(&port, &rfd, "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n",
	                     replies);

	memset(&p, 0, sizeof p);
	p.proto = PROBE_IMAP;
	p.sec = PROBE_SEC_STARTTLS;
	p.port = port;
	probe_port(&p, "127.0.0.1", &o);
	char *seen = drain(rfd);
	waitpid(pid, &status, 0);
	assert_true(p.reachable);
	assert_false(p.tls);
	assert_non_null(strstr(p.error, "injection"));
	assert_string_equal(seen, "p2 STARTTLS\r\n");
	assert_true(p.caps_clear & PROBE_CAP_STARTTLS);
	assert_string_equal(p.auth_clear, "PLAIN LOGIN");
	free(seen);
}

/* A POP3 server without STLS: reported, never recommended, nothing else sent. */
static void test_pop3_clear_only(void **state)
{
	(void)state;
	const char *const replies[] = {"+OK\r\nUIDL\r\nUSER\r\n.\r\n", "+OK bye\r\n", NULL};
	struct fct_log quiet = {.level = -1};
	struct probe_opts o = {.timeout_ms = 3000, .log = &quiet};
	struct probe_report r;
	int port, rfd, status;
	pid_t pid = scripted(&port, &rfd, "+OK POP3 ready\r\n", replies);

	memset(&r, 0, sizeof r);
	r.nports = 1;
	r.ports[0].proto = PROBE_UNKNOWN;
	r.ports[0].sec = PROBE_SEC_STARTTLS;
	r.ports[0].port = port;
	probe_port(&r.ports[0], "127.0.0.1", &o);
	char *seen = drain(rfd);
	waitpid(pid, &status, 0);
	assert_int_equal(r.ports[0].proto, PROBE_POP3);
	assert_string_equal(r.ports[0].error, "");
	assert_int_equal(r.ports[0].caps, PROBE_CAP_UIDL | PROBE_CAP_USER);
	assert_string_equal(seen, "CAPA\r\nQUIT\r\n");
	assert_int_equal(probe_recommend(&r), -1);
	free(seen);
}

/* Writable copies of argument lists, as main() gets them. */
struct argv_copy {
	char store[12][32];
	char *argv[13];
	int argc;
};

static char **mkargv(struct argv_copy *a, const char *const *args)
{
	for (a->argc = 0; args[a->argc]; a->argc++) {
		assert_true(a->argc < 12 && strlen(args[a->argc]) < sizeof a->store[0]);
		snprintf(a->store[a->argc], sizeof a->store[0], "%s", args[a->argc]);
		a->argv[a->argc] = a->store[a->argc];
	}
	a->argv[a->argc] = NULL;
	return a->argv;
}

/* The command line leaves everything after 'probe'/'setup' to them. */
static void test_cli_split(void **state)
{
	struct argv_copy ac;
	(void)state;
	struct cli_opts o;
	struct fct_err err = {0};
	static const char *const a1[] = {"facteur", "-V", "-c", "f", "probe", "h", "--port", "5", "--json", NULL};
	char **v_a1 = mkargv(&ac, a1);
	assert_int_equal(cli_parse(&o, ac.argc, v_a1, &err), 0);
	assert_string_equal(o.config_path, "f");
	assert_int_equal(o.log.level, 2);
	assert_false(o.json); /* probe's own --json, not the global one */
	assert_int_equal(o.nargs, 5);
	assert_string_equal(o.args[0], "probe");
	assert_string_equal(o.args[2], "--port");
	assert_string_equal(o.args[4], "--json");
	cli_free(&o);

	static const char *const a2[] = {"facteur", "-Cf", "--config=x", "-qcy", "setup", "-c", "z", "--yes", NULL};
	char **v_a2 = mkargv(&ac, a2);
	assert_int_equal(cli_parse(&o, ac.argc, v_a2, &err), 0);
	assert_string_equal(o.config_path, "y");
	assert_int_equal(o.create, RUN_SIDE_FAR);
	assert_int_equal(o.nargs, 4);
	assert_string_equal(o.args[1], "-c");
	cli_free(&o);

	/* A channel first: options after it stay global, as before. */
	static const char *const a3[] = {"facteur", "mail", "--json", "probe", NULL};
	char **v_a3 = mkargv(&ac, a3);
	assert_int_equal(cli_parse(&o, ac.argc, v_a3, &err), 0);
	assert_true(o.json);
	assert_int_equal(o.nargs, 2);
	cli_free(&o);

	static const char *const a4[] = {"facteur", "probe", "--no-such", NULL};
	char **v_a4 = mkargv(&ac, a4);
	assert_int_equal(cli_parse(&o, ac.argc, v_a4, &err), 0);
	assert_int_equal(o.nargs, 2);
	cli_free(&o);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_caps),
		cmocka_unit_test(test_imap_caplist),
		cmocka_unit_test(test_auth_truncation),
		cmocka_unit_test(test_pop3_capa),
		cmocka_unit_test(test_recommend),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_config_lines_load),
		cmocka_unit_test(test_setup_helpers),
		cmocka_unit_test(test_providers),
		cmocka_unit_test(test_dns_parse),
		cmocka_unit_test(test_dns_override_spec),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_pop3_clear_only),
		cmocka_unit_test(test_cli_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
