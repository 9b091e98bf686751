/* `facteur setup ADDRESS`: finds the mail servers of an address (RFC 6186
 * DNS SRV records, then the built-in provider table, then the usual
 * imap./mail./pop. host names), probes them without credentials, asks only
 * what it cannot find, writes a commented configuration (or appends to an
 * existing one without touching a byte of it) and previews the first sync
 * with a dry run.  Owns the candidate list it builds; the provider table
 * (providers.c) is static read-only data. */
#ifndef FACTEUR_SETUP_H
#define FACTEUR_SETUP_H

#include <stddef.h>

#include "sync/probe.h"
#include "sync/util.h"

/* A large provider's settings, for domains without SRV records. */
struct provider {
	const char *name;       /* "Gmail" */
	const char *domains;    /* space-separated, lower case */
	const char *imap_host;  /* NULL: no IMAP */
	int imap_port;          /* implicit TLS unless imap_starttls */
	int imap_starttls;
	const char *pop3_host;  /* NULL: no POP3 */
	int pop3_port;          /* implicit TLS */
	int oauth2;             /* 1: the provider requires OAuth2 (XOAUTH2) */
	const char *note;       /* what the user must do first, or NULL */
};

/* The provider serving domain (case-insensitive exact match), or NULL. */
const struct provider *provider_for_domain(const char *domain);
/* The whole table, for tests: *n receives its length. */
const struct provider *provider_table(size_t *n);

/* Where a candidate server came from, for the report. */
enum setup_source { SETUP_SRC_SRV, SETUP_SRC_TABLE, SETUP_SRC_GUESS, SETUP_SRC_USER };

struct setup_cand {
	char host[256];
	int port;
	enum probe_proto proto;
	enum probe_sec sec;
	enum setup_source source;
	const struct provider *provider; /* SETUP_SRC_TABLE only */
	struct probe_port result;        /* filled by probing */
};

/* Rank of a probed candidate: 0 IMAPS, 1 IMAP+STARTTLS, 2 POP3S, 3 POP3+STLS,
 * 99 unusable (no TLS, or an error).  Lower is better (RFC 8314). */
int setup_rank(const struct probe_port *p);

/* Checks "local@domain" and returns a pointer to the domain inside addr, or
 * NULL (err: FCT_E_CONFIG, saying what is wrong). */
const char *setup_domain(const char *addr, struct fct_err *err);

/* A config-safe default name for the channel: the domain's first label,
 * letters, digits, '-' and '_' only ("example" for "mail.example.org" is
 * not guessed: "example.org" -> "example").  out >= 64 bytes. */
void setup_default_name(const char *domain, char *out, size_t outsz);

/* `facteur setup ADDRESS [--yes] [--user U] [--pass-cmd CMD | --pass P]
 * [--name N] [--maildir DIR] [--host H [--port N]] [--cafile F]
 * [--timeout S] [--no-dry-run]`; args[0] is "setup".  config_path: the
 * global -c, or NULL for the default file.  Returns the exit status. */
int setup_main(int argc, char **argv, const char *config_path, const struct fct_log *log);

#endif
