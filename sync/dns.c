/* SRV lookups (see dns.h). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sync/dns.h"

#define DNS_MSG_MAX 4096
#define DNS_TEST_TIMEOUT_MS 3000

static int srv_cmp(const void *a, const void *b)
{
	const struct dns_srv *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority - y->priority;
	return y->weight - x->weight;
}

int dns_srv_parse(const unsigned char *msg, size_t len, struct dns_srv *out, size_t max,
                  struct fct_err *err)
{
	ns_msg m;
	size_t n = 0;

	if (len > DNS_MSG_MAX || ns_initparse(msg, (int)len, &m) < 0)
		return fct_err_set(err, FCT_E_PROTO, "malformed DNS answer");
	int rcode = ns_msg_getflag(m, ns_f_rcode);
	if (rcode == ns_r_nxdomain)
		return 0;
	if (rcode != ns_r_noerror)
		return fct_err_set(err, FCT_E_IO, "DNS server answered with error code %d", rcode);
	for (int i = 0; i < ns_msg_count(m, ns_s_an) && n < max; i++) {
		ns_rr rr;
		if (ns_parserr(&m, ns_s_an, i, &rr) < 0)
			return fct_err_set(err, FCT_E_PROTO, "malformed DNS answer record %d", i);
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
			continue;
		const unsigned char *rd = ns_rr_rdata(rr);
		struct dns_srv *s = &out[n];
		s->priority = ns_get16(rd);
		s->weight = ns_get16(rd + 2);
		s->port = ns_get16(rd + 4);
		if (dn_expand(ns_msg_base(m), ns_msg_end(m), rd + 6, s->target, sizeof s->target) < 0)
			return fct_err_set(err, FCT_E_PROTO, "malformed SRV target in DNS answer");
		size_t tl = strlen(s->target);
		if (tl && s->target[tl - 1] == '.')
			s->target[tl - 1] = '\0';
		if (!s->target[0] || !strcmp(s->target, ".") || s->port <= 0)
			continue; /* "service not available here" */
		n++;
	}
	qsort(out, n, sizeof *out, srv_cmp);
	return (int)n;
}

/* "127.0.0.1:5353" or "[::1]:5353" into a socket address. */
static int test_server(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t hl;

	if (!colon || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	int port = atoi(colon + 1);
	if (port <= 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sl = sizeof *v4;
		return 0;
	}
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
			v6->sin6_family = AF_INET6;
			v6->sin6_port = htons((uint16_t)port);
			*sl = sizeof *v6;
			return 0;
		}
	}
	return -1;
}

/* One UDP exchange with the test server; returns the answer length. */
static int udp_query(const char *spec, const unsigned char *q, int qlen, unsigned char *ans,
                     const char *name, struct fct_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct pollfd pfd;
	ssize_t n;

	if (test_server(spec, &ss, &sl))
		return fct_err_set(err, FCT_E_CONFIG, "FACTEUR_TEST_DNS: expected ADDR:PORT, got '%s'",
		                   spec);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fct_err_sys(err, errno, "DNS query for %s: socket", name);
	if (sendto(fd, q, (size_t)qlen, 0, (struct sockaddr *)&ss, sl) != qlen) {
		fct_err_sys(err, errno, "DNS query for %s: send to %s", name, spec);
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		int r = poll(&pfd, 1, DNS_TEST_TIMEOUT_MS);
		if (r <= 0) {
			close(fd);
			return fct_err_set(err, FCT_E_TIMEOUT, "DNS query for %s: no answer from %s",
			                   name, spec);
		}
		n = recv(fd, ans, DNS_MSG_MAX, 0);
		/* Only the answer to our question id counts. */
		if (n >= 12 && ans[0] == q[0] && ans[1] == q[1])
			break;
	}
	close(fd);
	return (int)n;
}

static int parse_for(const char *name, const unsigned char *ans, int len, struct dns_srv *out,
                     size_t max, struct fct_err *err)
{
	int rc = dns_srv_parse(ans, (size_t)len, out, max, err);
	if (rc < 0)
		fct_err_prefix(err, "DNS lookup of %s", name);
	return rc;
}

int dns_srv_lookup(const char *name, struct dns_srv *out, size_t max, const struct fct_log *log,
                   struct fct_err *err)
{
	struct __res_state st;
	unsigned char q[512];
	unsigned char *ans = fct_xmalloc(DNS_MSG_MAX);
	const char *test = getenv("FACTEUR_TEST_DNS");
	int len, rc = -1;

	memset(&st, 0, sizeof st);
	if (res_ninit(&st) < 0) {
		free(ans);
		return fct_err_set(err, FCT_E_IO, "DNS: cannot initialize the resolver");
	}
	if (test && *test) {
		fct_log_verbose(log, "DNS: asking %s (FACTEUR_TEST_DNS) for %s", test, name);
		int ql = res_nmkquery(&st, ns_o_query, name, ns_c_in, ns_t_srv, NULL, 0, NULL, q,
		                      sizeof q);
		if (ql < 0)
			fct_err_set(err, FCT_E_CONFIG, "DNS: bad name %s", name);
		else if ((len = udp_query(test, q, ql, ans, name, err)) >= 0)
			rc = parse_for(name, ans, len, out, max, err);
	} else {
		len = res_nquery(&st, name, ns_c_in, ns_t_srv, ans, DNS_MSG_MAX);
		if (len >= 0)
			rc = parse_for(name, ans, len, out, max, err);
		else if (st.res_h_errno == HOST_NOT_FOUND || st.res_h_errno == NO_DATA)
			rc = 0;
		else
			fct_err_set(err, FCT_E_IO, "DNS lookup of %s failed: %s", name,
			            hstrerror(st.res_h_errno));
	}
	if (rc < 0)
		err->temporary = 1;
	res_nclose(&st);
	free(ans);
	return rc;
}
