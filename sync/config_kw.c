/* The keyword table of the configuration language and the parsers of each
 * keyword's value.  Which section a keyword may appear in is data here, so
 * the "wrong section" check is the same for every keyword. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/config_p.h"

enum kw_id {
	K_HOST, K_PORT, K_TIMEOUT, K_USER, K_USERCMD, K_PASS, K_PASSCMD,
	K_USEKEYCHAIN, K_TUNNEL, K_AUTHMECHS, K_TLSTYPE, K_TLSVERSIONS,
	K_SYSCERTS, K_CERTFILE, K_CLIENTCERT, K_CLIENTKEY, K_CIPHERS,
	K_PIPELINE, K_DISABLEEXT, K_COMPRESS,
	K_ACCOUNT, K_USENAMESPACE, K_PATHDELIM, K_SUBSCRIBED, K_TRASH,
	K_TRASHNEWONLY, K_TRASHREMOTENEW, K_MAXSIZE, K_MAPINBOX, K_FLATTEN,
	K_PATH, K_INBOX, K_SUBFOLDERS, K_ALTMAP, K_INFODELIM, K_KEEP,
	K_DELETEAFTER,
	K_FAR, K_NEAR, K_PATTERNS, K_MAXMESSAGES, K_EXPIREUNREAD, K_SYNC,
	K_CREATE, K_REMOVE, K_EXPUNGE, K_EXPUNGESOLO, K_COPYARRIVAL, K_EXPIRESIDE,
	K_SYNCSTATE, K_POSTSYNC, K_WATCH,
	K_MEMBERS,
	K_FSYNC, K_FIELDDELIM, K_BUFFERLIMIT, K_PARALLEL, K_PARALLELFOLDERS,
};

#define ACC_BOTH (SEC_IMAPACCT | SEC_POP3ACCT | SEC_IMAPSTORE)
#define ACC_IMAP (SEC_IMAPACCT | SEC_IMAPSTORE)
#define ST_MAIL (SEC_IMAPSTORE | SEC_MDSTORE)
#define CH_GLOB (SEC_CHANNEL | SEC_GLOBAL)

struct kw {
	const char *name;
	int id;
	unsigned sects;
	int multi;   /* takes several arguments */
	int unimpl;  /* accepted but not implemented: warn */
};

static const struct kw kws[] = {
	{"Host", K_HOST, ACC_BOTH, 0, 0},
	{"Port", K_PORT, ACC_BOTH, 0, 0},
	{"Timeout", K_TIMEOUT, ACC_BOTH, 0, 0},
	{"User", K_USER, ACC_BOTH, 0, 0},
	{"UserCmd", K_USERCMD, ACC_BOTH, 0, 0},
	{"Pass", K_PASS, ACC_BOTH, 0, 0},
	{"PassCmd", K_PASSCMD, ACC_BOTH, 0, 0},
	{"UseKeychain", K_USEKEYCHAIN, ACC_IMAP, 0, 1},
	{"Tunnel", K_TUNNEL, ACC_BOTH, 0, 0},
	{"AuthMechs", K_AUTHMECHS, ACC_BOTH, 1, 0},
	{"AuthMech", K_AUTHMECHS, ACC_BOTH, 1, 0},
	{"SSLType", K_TLSTYPE, ACC_BOTH, 0, 0},
	{"TLSType", K_TLSTYPE, ACC_BOTH, 0, 0},
	{"SSLVersions", K_TLSVERSIONS, ACC_BOTH, 1, 0},
	{"TLSVersions", K_TLSVERSIONS, ACC_BOTH, 1, 0},
	{"SystemCertificates", K_SYSCERTS, ACC_BOTH, 0, 0},
	{"CertificateFile", K_CERTFILE, ACC_BOTH, 0, 0},
	{"ClientCertificate", K_CLIENTCERT, ACC_BOTH, 0, 0},
	{"ClientKey", K_CLIENTKEY, ACC_BOTH, 0, 0},
	{"CipherString", K_CIPHERS, ACC_BOTH, 0, 0},
	{"PipelineDepth", K_PIPELINE, ACC_BOTH, 0, 0},
	{"DisableExtension", K_DISABLEEXT, ACC_IMAP, 1, 0},
	{"Compress", K_COMPRESS, ACC_IMAP, 0, 0},
	{"DisableExtensions", K_DISABLEEXT, ACC_IMAP, 1, 0},
	{"Account", K_ACCOUNT, SEC_IMAPSTORE | SEC_POP3STORE, 0, 0},
	{"UseNamespace", K_USENAMESPACE, SEC_IMAPSTORE, 0, 0},
	{"PathDelimiter", K_PATHDELIM, SEC_IMAPSTORE, 0, 0},
	{"SubscribedOnly", K_SUBSCRIBED, SEC_IMAPSTORE, 0, 0},
	{"Trash", K_TRASH, ST_MAIL, 0, 0},
	{"TrashNewOnly", K_TRASHNEWONLY, ST_MAIL, 0, 0},
	{"TrashRemoteNew", K_TRASHREMOTENEW, ST_MAIL, 0, 0},
	{"MaxSize", K_MAXSIZE, ST_MAIL | SEC_POP3STORE | SEC_CHANNEL, 0, 0},
	{"MapInbox", K_MAPINBOX, ST_MAIL, 0, 0},
	{"Flatten", K_FLATTEN, ST_MAIL, 0, 0},
	{"Path", K_PATH, ST_MAIL, 0, 0},
	{"Inbox", K_INBOX, SEC_MDSTORE, 0, 0},
	{"SubFolders", K_SUBFOLDERS, SEC_MDSTORE, 0, 0},
	{"AltMap", K_ALTMAP, SEC_MDSTORE, 0, 1},
	{"InfoDelimiter", K_INFODELIM, SEC_MDSTORE, 0, 0},
	{"Keep", K_KEEP, SEC_POP3STORE, 0, 0},
	{"DeleteAfter", K_DELETEAFTER, SEC_POP3STORE, 0, 0},
	{"Far", K_FAR, SEC_CHANNEL, 0, 0},
	{"Master", K_FAR, SEC_CHANNEL, 0, 0},
	{"Near", K_NEAR, SEC_CHANNEL, 0, 0},
	{"Slave", K_NEAR, SEC_CHANNEL, 0, 0},
	{"Pattern", K_PATTERNS, SEC_CHANNEL, 1, 0},
	{"Patterns", K_PATTERNS, SEC_CHANNEL, 1, 0},
	{"MaxMessages", K_MAXMESSAGES, CH_GLOB, 0, 0},
	{"ExpireUnread", K_EXPIREUNREAD, CH_GLOB, 0, 0},
	{"ExpireSide", K_EXPIRESIDE, CH_GLOB, 0, 1},
	{"Sync", K_SYNC, CH_GLOB, 1, 0},
	{"Create", K_CREATE, CH_GLOB, 1, 0},
	{"Remove", K_REMOVE, CH_GLOB, 1, 0},
	{"Expunge", K_EXPUNGE, CH_GLOB, 1, 0},
	{"ExpungeSolo", K_EXPUNGESOLO, CH_GLOB, 1, 1},
	{"CopyArrivalDate", K_COPYARRIVAL, CH_GLOB, 0, 0},
	{"SyncState", K_SYNCSTATE, CH_GLOB, 0, 0},
	{"PostSyncCommand", K_POSTSYNC, CH_GLOB, 0, 0},
	{"Watch", K_WATCH, SEC_CHANNEL, 0, 0},
	{"Channel", K_MEMBERS, SEC_GROUP, 1, 0},
	{"Channels", K_MEMBERS, SEC_GROUP, 1, 0},
	{"FSync", K_FSYNC, SEC_GLOBAL, 0, 0},
	{"FieldDelimiter", K_FIELDDELIM, SEC_GLOBAL, 0, 0},
	{"BufferLimit", K_BUFFERLIMIT, SEC_GLOBAL, 0, 0},
	{"Parallel", K_PARALLEL, SEC_GLOBAL, 0, 0},
	{"ParallelFolders", K_PARALLELFOLDERS, SEC_GLOBAL, 0, 0},
};

static const struct {
	const char *name;
	unsigned sect;
} sections[] = {
	{"IMAPAccount", SEC_IMAPACCT}, {"IMAPStore", SEC_IMAPSTORE},
	{"MaildirStore", SEC_MDSTORE}, {"POP3Account", SEC_POP3ACCT},
	{"POP3Store", SEC_POP3STORE}, {"Channel", SEC_CHANNEL},
	{"Group", SEC_GROUP},
};

static const char *sect_name(unsigned sect)
{
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (sections[i].sect == sect)
			return sections[i].name;
	return "global";
}

/* ---- value parsers ---- */

static int parse_bool(struct cfg_parser *p, const char *kw, const char *v, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return *out = 1, 0;
		if (!strcasecmp(v, no[i]))
			return *out = 0, 0;
	}
	return cfg_perr(p, "%s: invalid boolean '%s' (use yes or no)", kw, v);
}

static int parse_uint(struct cfg_parser *p, const char *kw, const char *v,
                      unsigned long max, unsigned long *out)
{
	char *end;
	if (!isdigit((unsigned char)v[0]))
		return cfg_perr(p, "%s: invalid number '%s'", kw, v);
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*end || errno == ERANGE || n > max)
		return cfg_perr(p, "%s: invalid number '%s' (0 to %lu)", kw, v, max);
	*out = n;
	return 0;
}

/* SIZE[k|m|g][b], as mbsync (plus g). */
static int parse_size(struct cfg_parser *p, const char *kw, const char *v, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)v[0]))
		return cfg_perr(p, "%s: invalid size '%s'", kw, v);
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || errno == ERANGE || n > (UINT64_MAX >> shift))
		return cfg_perr(p, "%s: invalid size '%s' (e.g. 200k, 10m)", kw, v);
	*out = (uint64_t)n << shift;
	return 0;
}

static int parse_char(struct cfg_parser *p, const char *kw, const char *v, char *out)
{
	if (strlen(v) != 1)
		return cfg_perr(p, "%s: expected exactly one character, got '%s'", kw, v);
	*out = v[0];
	return 0;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = fct_xstrdup(v);
}

static int set_path(struct cfg_parser *p, char **field, const char *v)
{
	char *e = cfg_expand_path(p, v);
	if (!e)
		return -1;
	free(*field);
	*field = e;
	return 0;
}

/* ---- accounts ---- */

static int kw_tlstype(struct cfg_parser *p, struct cfg_account *a, const char *v)
{
	if (!strcasecmp(v, "None"))
		a->tls = CFG_TLS_NONE;
	else if (!strcasecmp(v, "STARTTLS"))
		a->tls = CFG_TLS_STARTTLS;
	else if (!strcasecmp(v, "IMAPS") || !strcasecmp(v, "POP3S") ||
	         !strcasecmp(v, "Implicit"))
		a->tls = CFG_TLS_IMPLICIT;
	else
		return cfg_perr(p, "TLSType: invalid value '%s' (None, STARTTLS or %s)", v,
		                a->is_pop3 ? "POP3S" : "IMAPS");
	a->tls_explicit = 1;
	return 0;
}

static int kw_host(struct cfg_parser *p, struct cfg_account *a, const char *v)
{
	const char *imp = a->is_pop3 ? "pop3s:" : "imaps:";
	const char *plain = a->is_pop3 ? "pop3:" : "imap:";
	if (!strncasecmp(v, imp, strlen(imp))) {
		v += strlen(imp);
		a->tls = CFG_TLS_IMPLICIT;
		a->tls_explicit = 1;
	} else if (!strncasecmp(v, plain, strlen(plain))) {
		v += strlen(plain);
	}
	if (!*v)
		return cfg_perr(p, "Host: empty host name");
	set_str(&a->host, v);
	return 0;
}

static void push_upper_list(char ***v, const struct cfg_line *l)
{
	for (int i = 1; i < l->argc; i++) {
		for (char *s = l->argv[i]; *s; s++)
			*s = (char)toupper((unsigned char)*s);
		cfg_strv_push(v, l->argv[i]);
	}
}

static int kw_tlsversions(struct cfg_parser *p, struct cfg_account *a, const struct cfg_line *l)
{
	struct fct_buf b;
	fct_buf_init(&b);
	for (int i = 1; i < l->argc; i++) {
		const char *s = l->argv[i];
		const char *bare = (*s == '+' || *s == '-') ? s + 1 : s;
		if (!strncasecmp(bare, "TLSv", 4))
			bare += 4;
		/* mbsync 1.4 "TLSv1.2 SSLv3" and 1.5 "+1.3 -1.1" forms. */
		if (strcasecmp(s, "SSLv3") && strcmp(bare, "1") && strcmp(bare, "1.0") &&
		    strcmp(bare, "1.1") && strcmp(bare, "1.2") && strcmp(bare, "1.3")) {
			fct_buf_free(&b);
			return cfg_perr(p, "%s: unknown TLS version '%s'", l->argv[0], s);
		}
		if (b.len)
			fct_buf_putc(&b, ' ');
		fct_buf_puts(&b, s);
	}
	free(a->tls_versions);
	a->tls_versions = fct_buf_steal(&b);
	return 0;
}

static int kw_account_num(struct cfg_parser *p, struct cfg_account *a, int id, const char *kw,
                          const char *v)
{
	unsigned long n;
	switch (id) {
	case K_PORT:
		if (parse_uint(p, kw, v, 65535, &n))
			return -1;
		if (n == 0)
			return cfg_perr(p, "Port: invalid port '0'");
		a->port = (int)n;
		return 0;
	case K_TIMEOUT:
		if (parse_uint(p, kw, v, 86400, &n))
			return -1;
		a->timeout_s = (int)n;
		return 0;
	case K_PIPELINE:
		if (parse_uint(p, kw, v, 100000, &n))
			return -1;
		if (n == 0)
			return cfg_perr(p, "PipelineDepth: must be at least 1");
		a->pipeline_depth = (int)n;
		return 0;
	default:
		return parse_bool(p, kw, v, &a->system_certs);
	}
}

static int kw_account(struct cfg_parser *p, int id, const struct cfg_line *l)
{
	struct cfg_account *a = p->acct;
	const char *v = l->argv[1];
	switch (id) {
	case K_HOST: return kw_host(p, a, v);
	case K_PORT: case K_TIMEOUT: case K_PIPELINE: case K_SYSCERTS:
		return kw_account_num(p, a, id, l->argv[0], v);
	case K_USER: set_str(&a->user, v); return 0;
	case K_USERCMD: set_str(&a->user_cmd, v); return 0;
	case K_PASS:
		if (a->pass)
			explicit_bzero(a->pass, strlen(a->pass));
		set_str(&a->pass, v);
		return 0;
	case K_PASSCMD: set_str(&a->pass_cmd, v); return 0;
	case K_USEKEYCHAIN: { int b; return parse_bool(p, l->argv[0], v, &b); }
	case K_TUNNEL: set_str(&a->tunnel, v); return 0;
	case K_AUTHMECHS: push_upper_list(&a->auth_mechs, l); return 0;
	case K_TLSTYPE: return kw_tlstype(p, a, v);
	case K_TLSVERSIONS: return kw_tlsversions(p, a, l);
	case K_CERTFILE: return set_path(p, &a->cert_file, v);
	case K_CLIENTCERT: return set_path(p, &a->client_cert, v);
	case K_CLIENTKEY: return set_path(p, &a->client_key, v);
	case K_CIPHERS: set_str(&a->cipher_string, v); return 0;
	case K_COMPRESS:
		if (!strcasecmp(v, "auto")) {
			a->compress = -1;
			return 0;
		}
		return parse_bool(p, l->argv[0], v, &a->compress);
	case K_DISABLEEXT:
		push_upper_list(&a->disabled_exts, l);
		for (char **e = a->disabled_exts; *e; e++)
			if (!strcmp(*e, "COMPRESS") || !strcmp(*e, "COMPRESS=DEFLATE"))
				a->compress = 0;
		return 0;
	default:
		return cfg_perr(p, "internal: unhandled account keyword '%s'", l->argv[0]);
	}
}

/* ---- stores ---- */

static int kw_subfolders(struct cfg_parser *p, struct cfg_store *s, const char *v)
{
	if (!strcasecmp(v, "Verbatim"))
		s->subfolders = 0;
	else if (!strcasecmp(v, "Maildir++"))
		s->subfolders = 1;
	else if (!strcasecmp(v, "Legacy"))
		s->subfolders = 2;
	else
		return cfg_perr(p, "SubFolders: invalid value '%s' (Verbatim, Maildir++ or Legacy)", v);
	return 0;
}

static int kw_store_account(struct cfg_parser *p, struct cfg_store *s, const char *v)
{
	struct cfg_account *a = cfg_find_account(p->c, v);
	int want_pop3 = s->kind == CFG_STORE_POP3;
	if (!a)
		return cfg_perr(p, "Account: unknown account '%s' (accounts must be defined before "
		                   "the stores using them)", v);
	if (a->is_pop3 != want_pop3)
		return cfg_perr(p, "Account: '%s' is %s account, not %s one", v,
		                a->is_pop3 ? "a POP3" : "an IMAP", want_pop3 ? "a POP3" : "an IMAP");
	s->account = a;
	p->store_named_acct = 1;
	return 0;
}

static int kw_store(struct cfg_parser *p, int id, const struct cfg_line *l)
{
	struct cfg_store *s = p->store;
	const char *kw = l->argv[0], *v = l->argv[1];
	unsigned long n;
	switch (id) {
	case K_ACCOUNT: return kw_store_account(p, s, v);
	case K_USENAMESPACE: return parse_bool(p, kw, v, &s->use_namespace);
	case K_PATHDELIM: return parse_char(p, kw, v, &s->path_delim);
	case K_SUBSCRIBED: return parse_bool(p, kw, v, &s->subscribed_only);
	case K_TRASH: set_str(&s->trash, v); return 0;
	case K_TRASHNEWONLY: return parse_bool(p, kw, v, &s->trash_new_only);
	case K_TRASHREMOTENEW: return parse_bool(p, kw, v, &s->trash_remote_new);
	case K_MAXSIZE: return parse_size(p, kw, v, &s->max_size);
	case K_MAPINBOX: set_str(&s->map_inbox, v); return 0;
	case K_FLATTEN: return parse_char(p, kw, v, &s->flatten);
	case K_PATH:
		if (s->kind == CFG_STORE_IMAP) {
			set_str(&s->imap_path, v);
			return 0;
		}
		return set_path(p, &s->path, v);
	case K_INBOX: return set_path(p, &s->inbox, v);
	case K_SUBFOLDERS: return kw_subfolders(p, s, v);
	case K_ALTMAP: { int b; return parse_bool(p, kw, v, &b); }
	case K_INFODELIM: return parse_char(p, kw, v, &s->info_delim);
	case K_KEEP: return parse_bool(p, kw, v, &s->keep);
	case K_DELETEAFTER:
		if (parse_uint(p, kw, v, 100000, &n))
			return -1;
		s->delete_after_days = (int)n;
		return 0;
	default:
		return cfg_perr(p, "internal: unhandled store keyword '%s'", kw);
	}
}

/* ---- channels (and their global defaults) ---- */

static int kw_sync(struct cfg_parser *p, struct cfg_ops *o, const struct cfg_line *l)
{
	static const struct { const char *name; unsigned op; } types[] = {
		{"New", CFG_OP_NEW}, {"Old", CFG_OP_NEW}, {"ReNew", CFG_OP_RENEW},
		{"Upgrade", CFG_OP_RENEW}, {"Delete", CFG_OP_DELETE}, {"Gone", CFG_OP_DELETE},
		{"Flags", CFG_OP_FLAGS},
	};
	for (int i = 1; i < l->argc; i++) {
		const char *a = l->argv[i];
		unsigned *dir = NULL;
		if (!strcasecmp(a, "Pull")) { o->dirs |= 1; continue; }
		if (!strcasecmp(a, "Push")) { o->dirs |= 2; continue; }
		if (!strcasecmp(a, "All") || !strcasecmp(a, "Full")) { o->dirs |= 3; continue; }
		if (!strcasecmp(a, "None") || !strcasecmp(a, "Noop"))
			continue;
		const char *t = a;
		if (!strncasecmp(a, "Pull", 4))
			dir = &o->pull, t = a + 4;
		else if (!strncasecmp(a, "Push", 4))
			dir = &o->push, t = a + 4;
		size_t k;
		for (k = 0; k < sizeof types / sizeof types[0]; k++)
			if (!strcasecmp(t, types[k].name))
				break;
		if (k == sizeof types / sizeof types[0])
			return cfg_perr(p, "Sync: invalid argument '%s'", a);
		*(dir ? dir : &o->types) |= types[k].op;
	}
	o->have_sync = 1;
	o->sync_line = p->line;
	return 0;
}

static int kw_boxop(struct cfg_parser *p, struct cfg_ops *o, unsigned op, const struct cfg_line *l)
{
	for (int i = 1; i < l->argc; i++) {
		const char *a = l->argv[i];
		if (!strcasecmp(a, "Both"))
			o->box_both |= op;
		else if (!strcasecmp(a, "Far") || !strcasecmp(a, "Master"))
			o->box_far |= op;
		else if (!strcasecmp(a, "Near") || !strcasecmp(a, "Slave"))
			o->box_near |= op;
		else if (strcasecmp(a, "None"))
			return cfg_perr(p, "%s: invalid argument '%s' (None, Far, Near or Both)",
			                l->argv[0], a);
	}
	o->box_have |= op;
	return 0;
}

/* ":store:box" */
static int kw_side(struct cfg_parser *p, int far, const char *v)
{
	struct cfg_channel *ch = p->chan;
	const char *colon;
	if (v[0] != ':' || !(colon = strchr(v + 1, ':')))
		return cfg_perr(p, "%s: malformed mailbox spec '%s' (expected :store:[box])",
		                far ? "Far" : "Near", v);
	char *name = fct_xstrndup(v + 1, (size_t)(colon - v - 1));
	const struct cfg_store *s = cfg_store(p->c, name);
	if (!s) {
		cfg_perr(p, "%s: unknown store '%s' (stores must be defined before the channels "
		            "using them)", far ? "Far" : "Near", name);
		free(name);
		return -1;
	}
	free(name);
	char **box = far ? &ch->far_box : &ch->near_box;
	free(*box);
	*box = colon[1] ? fct_xstrdup(colon + 1) : NULL;
	if (far)
		ch->far = s;
	else
		ch->near = s;
	return 0;
}

static int kw_chanopt(struct cfg_parser *p, struct cfg_chanopts *o, int id, const struct cfg_line *l)
{
	const char *kw = l->argv[0], *v = l->argv[1];
	unsigned long n;
	switch (id) {
	case K_MAXMESSAGES:
		if (parse_uint(p, kw, v, UINT32_MAX, &n))
			return -1;
		o->max_messages = (uint32_t)n;
		return 0;
	case K_EXPIREUNREAD: return parse_bool(p, kw, v, &o->expire_unread);
	case K_EXPIRESIDE:
		if (!strcasecmp(v, "Far"))
			o->expire_far = 1;
		else if (!strcasecmp(v, "Near"))
			o->expire_far = 0;
		else
			return cfg_perr(p, "ExpireSide: invalid value '%s' (Far or Near)", v);
		return 0;
	case K_SYNC: return kw_sync(p, &o->ops, l);
	case K_CREATE: return kw_boxop(p, &o->ops, BOX_CREATE, l);
	case K_REMOVE: return kw_boxop(p, &o->ops, BOX_REMOVE, l);
	case K_EXPUNGE: return kw_boxop(p, &o->ops, BOX_EXPUNGE, l);
	case K_EXPUNGESOLO: return kw_boxop(p, &o->ops, BOX_SOLO, l);
	case K_COPYARRIVAL: return parse_bool(p, kw, v, &o->copy_arrival_date);
	case K_SYNCSTATE:
		if (!strcmp(v, "*")) {
			set_str(&o->sync_state, v);
			return 0;
		}
		return set_path(p, &o->sync_state, v);
	default:
		return cfg_perr(p, "internal: unhandled channel keyword '%s'", kw);
	}
}

static int kw_channel(struct cfg_parser *p, int id, const struct cfg_line *l)
{
	struct cfg_channel *ch = p->chan;
	const char *v = l->argv[1];
	switch (id) {
	case K_FAR: return kw_side(p, 1, v);
	case K_NEAR: return kw_side(p, 0, v);
	case K_PATTERNS:
		for (int i = 1; i < l->argc; i++)
			cfg_strv_push(&ch->patterns, l->argv[i]);
		return 0;
	case K_MAXSIZE: return parse_size(p, l->argv[0], v, &ch->max_size);
	case K_POSTSYNC: set_str(&ch->post_sync_cmd, v); return 0;
	case K_WATCH: return parse_bool(p, l->argv[0], v, &ch->watch);
	default: return kw_chanopt(p, &p->cur, id, l);
	}
}

static int kw_global(struct cfg_parser *p, int id, const struct cfg_line *l)
{
	struct fct_config *c = p->c;
	const char *kw = l->argv[0], *v = l->argv[1];
	unsigned long n;
	switch (id) {
	case K_FSYNC: return parse_bool(p, kw, v, &c->fsync);
	case K_FIELDDELIM:
		if (parse_char(p, kw, v, &c->field_delim))
			return -1;
		if (!ispunct((unsigned char)c->field_delim))
			return cfg_perr(p, "FieldDelimiter: must be a punctuation character");
		return 0;
	case K_BUFFERLIMIT:
		if (parse_size(p, kw, v, &c->buffer_limit))
			return -1;
		if (!c->buffer_limit)
			return cfg_perr(p, "BufferLimit: cannot be zero");
		return 0;
	case K_PARALLEL:
		if (parse_uint(p, kw, v, 64, &n))
			return -1;
		if (n == 0)
			return cfg_perr(p, "Parallel: must be at least 1");
		c->parallel = (int)n;
		return 0;
	case K_PARALLELFOLDERS:
		if (parse_uint(p, kw, v, CFG_MAX_PARALLEL_FOLDERS, &n))
			return -1;
		if (n == 0)
			return cfg_perr(p, "ParallelFolders: must be at least 1");
		c->parallel_folders = (int)n;
		return 0;
	case K_POSTSYNC: set_str(&c->post_sync_cmd, v); return 0;
	default: return kw_chanopt(p, &p->glob, id, l);
	}
}

/* ---- dispatch ---- */

static const struct kw *kw_find(const char *name)
{
	for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
		if (!strcasecmp(kws[i].name, name))
			return &kws[i];
	return NULL;
}

static unsigned section_start(const struct cfg_parser *p, const char *name)
{
	/* Inside a Group, "Channel" adds members rather than opening a section. */
	if (p->sect == SEC_GROUP && !strcasecmp(name, "Channel"))
		return 0;
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (!strcasecmp(sections[i].name, name))
			return sections[i].sect;
	return 0;
}

static int kw_misplaced(struct cfg_parser *p, const struct kw *k)
{
	if (p->sect != SEC_GLOBAL)
		return cfg_perr(p, "keyword '%s' is not allowed in a %s section", k->name,
		                sect_name(p->sect));
	if (k->sects & SEC_GLOBAL)
		return cfg_perr(p, "global option '%s' must come before the first section", k->name);
	return cfg_perr(p, "keyword '%s' outside of any section (an empty line ends a section)",
	                k->name);
}

static void note_unimplemented(struct cfg_parser *p, const struct kw *k)
{
	if (p->warn.len)
		fct_buf_puts(&p->warn, ", ");
	fct_buf_printf(&p->warn, "%s (%s:%d)", k->name, p->file, p->line);
}

int cfg_kw_apply(struct cfg_parser *p, const struct cfg_line *l)
{
	unsigned sect = section_start(p, l->argv[0]);
	if (sect)
		return cfg_begin_section(p, sect, l);
	const struct kw *k = kw_find(l->argv[0]);
	if (!k)
		return cfg_perr(p, "unknown keyword '%s'", l->argv[0]);
	if (!(k->sects & p->sect) || (p->sect == SEC_GLOBAL && p->seen_section))
		return kw_misplaced(p, k);
	if (l->argc < 2)
		return cfg_perr(p, "%s: missing value", k->name);
	if (l->argc > 2 && !k->multi)
		return cfg_perr(p, "%s: takes one value, got %d (quote values containing spaces)",
		                k->name, l->argc - 1);
	if (k->unimpl)
		note_unimplemented(p, k);
	switch (p->sect) {
	case SEC_GLOBAL: return kw_global(p, k->id, l);
	case SEC_IMAPACCT: case SEC_POP3ACCT: return kw_account(p, k->id, l);
	case SEC_CHANNEL: return kw_channel(p, k->id, l);
	case SEC_GROUP:
		for (int i = 1; i < l->argc; i++)
			cfg_strv_push(&p->group->channels, l->argv[i]);
		return 0;
	default: break;
	}
	/* Stores; account keywords in an IMAPStore declare its account inline. */
	if (k->sects & (SEC_IMAPACCT | SEC_POP3ACCT)) {
		if (!p->acct) {
			p->acct = cfg_account_new(p->store->name, 0, p->file, p->store->line);
			p->acct->inline_decl = 1;
			p->acct_pending = 1;
		}
		return kw_account(p, k->id, l);
	}
	return kw_store(p, k->id, l);
}
