/* Opening sessions from configuration: turns an account's settings into the
 * protocol layer's options (TLS mode and trust, credentials resolved at use
 * time, disabled extensions) and connects.  Keeps config knowledge out of
 * proto/. */
#ifndef FACTEUR_CONNECT_H
#define FACTEUR_CONNECT_H

#include "proto/imap.h"
#include "store/maildir.h"
#include "sync/config.h"

/* The Maildir store options of a MaildirStore (layout, Inbox, delimiters,
 * FSync); strings are borrowed from the config. */
void sync_md_opts(const struct fct_config *cfg, const struct cfg_store *st,
                  struct md_store_opts *o);

/* Connects and authenticates; *out is the caller's (imap_close). */
int sync_imap_connect(const struct cfg_account *a, const struct fct_log *log, struct imap **out,
                      struct fct_err *err);

/* mbsync's TLSVersions ("+1.2 -1.1", isync 1.5) or SSLVersions ("TLSv1.2
 * TLSv1.3", isync 1.4) to the transport's list of enabled versions
 * ("TLSv1.2 TLSv1.3"), written into out.  Returns -1 on an unknown token. */
int sync_tls_versions(const char *spec, char *out, size_t outsz, struct fct_err *err);

/* The port an account talks to: the configured one, else the protocol's
 * default for its TLS mode (993/143 for IMAP, 995/110 for POP3). */
int sync_default_port(const struct cfg_account *a);

#endif
