#include "sync/connect.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

static const char *const tls_names[] = {"1.0", "1.1", "1.2", "1.3"};
#define NTLS 4

static int tls_index(const char *tok)
{
	int i;

	if (strncasecmp(tok, "TLSv", 4) == 0)
		tok += 4;
	else if (strcasecmp(tok, "TLSv1") == 0)
		return 0;
	if (strcmp(tok, "1") == 0)
		return 0;
	for (i = 0; i < NTLS; i++)
		if (strcmp(tok, tls_names[i]) == 0)
			return i;
	return -1;
}

int sync_tls_versions(const char *spec, char *out, size_t outsz, struct fct_err *err)
{
	/* isync 1.5 starts from its defaults (1.2 and 1.3) and applies +/-;
	 * isync 1.4 lists exactly the versions to enable. */
	int on[NTLS] = {0, 0, 1, 1}, listed = 0, i;
	char tok[32];
	const char *p = spec;
	size_t n = 0;

	while (*p) {
		size_t len = strcspn(p, " \t,");

		if (len && len < sizeof tok) {
			int sign = (p[0] == '+' || p[0] == '-') ? p[0] : 0;

			memcpy(tok, p + (sign != 0), len - (sign != 0));
			tok[len - (sign != 0)] = '\0';
			if (strcasecmp(tok, "SSLv3") != 0) {
				i = tls_index(tok);
				if (i < 0)
					return fct_err_set(err, FCT_E_CONFIG, "unknown TLS version '%s'", tok);
				if (!sign && !listed++)
					memset(on, 0, sizeof on);
				on[i] = (sign != '-');
			}
		} else if (len) {
			return fct_err_set(err, FCT_E_CONFIG, "bad TLS version list");
		}
		p += len;
		p += strspn(p, " \t,");
	}
	if (outsz)
		out[0] = '\0';
	for (i = 0; i < NTLS; i++) {
		if (!on[i])
			continue;
		int w = snprintf(out + n, outsz > n ? outsz - n : 0, "%sTLSv%s", n ? " " : "",
		                 tls_names[i]);
		if (w > 0)
			n += (size_t)w;
	}
	if (!n)
		return fct_err_set(err, FCT_E_CONFIG, "TLS version list enables no version");
	return 0;
}

int sync_default_port(const struct cfg_account *a)
{
	if (a->port)
		return a->port;
	if (a->is_pop3)
		return a->tls == CFG_TLS_IMPLICIT ? 995 : 110;
	return a->tls == CFG_TLS_IMPLICIT ? 993 : 143;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static unsigned disabled_caps(const struct cfg_account *a)
{
	unsigned caps = 0;
	char **e;

	for (e = a->disabled_exts; e && *e; e++)
		caps |= imap_cap_from_name(*e);
	return caps;
}

int sync_imap_connect(const struct cfg_account *a, const struct fct_log *log, struct imap **out,
                      struct fct_err *err)
{
	struct imap_opts o;
	char versions[64];
	char *user = NULL, *pass = NULL;
	int rc = -1;

	memset(&o, 0, sizeof o);
	o.net.host = a->host;
	o.net.port = sync_default_port(a);
	o.net.tunnel = a->tunnel;
	o.net.timeout_ms = a->timeout_s * 1000;
	o.net.log = log;
	o.tls = a->tls == CFG_TLS_IMPLICIT ? IMAP_TLS_IMPLICIT
	      : a->tls == CFG_TLS_STARTTLS ? IMAP_TLS_STARTTLS : IMAP_TLS_NONE;
	if (a->tunnel && !a->tls_explicit)
		o.tls = IMAP_TLS_NONE; /* a tunnel is the user's secure channel, as in mbsync */
	o.tlso.system_certs = a->system_certs;
	o.tlso.ca_file = a->cert_file;
	o.tlso.client_cert = a->client_cert;
	o.tlso.client_key = a->client_key;
	o.tlso.ciphers = a->cipher_string;
	o.tlso.verify = 1;
	if (a->tls_versions) {
		if (sync_tls_versions(a->tls_versions, versions, sizeof versions, err) < 0)
			goto out;
		o.tlso.versions = versions;
	}
	o.auth_mechs = (const char *const *)a->auth_mechs;
	o.pipeline_depth = a->pipeline_depth;
	o.disable_caps = disabled_caps(a);
	o.compress = a->compress;
	o.log = log;
	if (cfg_get_user(a, &user, err) < 0 || cfg_get_pass(a, &pass, err) < 0)
		goto out;
	o.user = user;
	o.pass = pass;
	rc = imap_connect(out, &o, err);
out:
	if (rc < 0)
		fct_err_prefix(err, "account %s", a->name);
	wipe_free(user);
	wipe_free(pass);
	return rc;
}

void sync_md_opts(const struct fct_config *cfg, const struct cfg_store *st,
                  struct md_store_opts *o)
{
	memset(o, 0, sizeof *o);
	o->path = st->path;
	o->names.layout = st->subfolders == 1 ? MD_LAYOUT_MAILDIRPP
	                : st->subfolders == 2 ? MD_LAYOUT_LEGACY : MD_LAYOUT_VERBATIM;
	o->names.flatten = st->flatten;
	o->names.inbox_path = st->inbox;
	/* Maildir++ keeps every folder inside INBOX's directory (".Sub"): the
	 * Inbox is the store's root, and mbsync needs no Path for it. */
	if (o->names.layout == MD_LAYOUT_MAILDIRPP && (!o->path || !*o->path))
		o->path = st->inbox;
	o->names.map_inbox = st->map_inbox;
	o->info_delim = st->info_delim ? st->info_delim : cfg->field_delim;
	o->fsync = cfg->fsync;
}
