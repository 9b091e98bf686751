/* DNS SRV lookups for `setup` (RFC 6186 service records), through the
 * system resolver (libresolv).  Tests point it at a loopback DNS server with
 * the environment variable FACTEUR_TEST_DNS=ADDR:PORT (IPv4 or [IPv6]);
 * the variable is read only when set and nothing else changes the resolver.
 * Plain data out: the caller owns the array it passes. */
#ifndef FACTEUR_DNS_H
#define FACTEUR_DNS_H

#include <stddef.h>

#include "sync/util.h"

struct dns_srv {
	char target[256]; /* host name without the trailing dot */
	int port;
	int priority;
	int weight;
};

/* Looks up the SRV records of name (e.g. "_imaps._tcp.example.org") and
 * stores up to max of them in out, by priority (lowest first), then weight
 * (highest first).  A lone "." target (RFC 2782: service not offered) is
 * dropped.  Returns the count, 0 when the name has no records or does not
 * exist, -1 on a resolver failure (err says which name and why, FCT_E_IO,
 * temporary). */
int dns_srv_lookup(const char *name, struct dns_srv *out, size_t max, const struct fct_log *log,
                   struct fct_err *err);

/* Parses an answer message (exposed for the unit tests).  Same results. */
int dns_srv_parse(const unsigned char *msg, size_t len, struct dns_srv *out, size_t max,
                  struct fct_err *err);

#endif
