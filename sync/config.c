/* Reading the configuration file: lines, arguments, sections, and the
 * checks that need a whole section or the whole file.  The keywords
 * themselves are in config_kw.c. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sync/config_p.h"

int cfg_perr(struct cfg_parser *p, const char *fmt, ...)
{
	char msg[FCT_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: %s", p->file, p->line, msg);
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

char *cfg_expand_path(struct cfg_parser *p, const char *s)
{
	if (s[0] != '~')
		return fct_xstrdup(s);
	const char *rest = strchr(s, '/');
	const char *dir;
	if (s[1] == '\0' || s[1] == '/') {
		dir = home_dir();
		if (!dir)
			return cfg_perr(p, "cannot expand '~': no home directory"), NULL;
	} else {
		char *user = rest ? fct_xstrndup(s + 1, (size_t)(rest - s - 1)) : fct_xstrdup(s + 1);
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			cfg_perr(p, "cannot expand '~%s': no such user", user);
			free(user);
			return NULL;
		}
		free(user);
		dir = pw->pw_dir;
	}
	return fct_xasprintf("%s%s", dir, rest ? rest : "");
}

void cfg_strv_push(char ***v, const char *s)
{
	size_t n = 0;
	while (*v && (*v)[n])
		n++;
	*v = fct_xrealloc(*v, (n + 2) * sizeof **v);
	(*v)[n] = fct_xstrdup(s);
	(*v)[n + 1] = NULL;
}

void cfg_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- objects ---- */

struct cfg_account *cfg_account_new(const char *name, int is_pop3, const char *file, int line)
{
	struct cfg_account *a = fct_xcalloc(1, sizeof *a);
	a->name = fct_xstrdup(name);
	a->is_pop3 = is_pop3;
	a->timeout_s = 20;
	a->tls = CFG_TLS_STARTTLS;
	a->system_certs = 1;
	a->compress = -1;
	a->file = file;
	a->line = line;
	return a;
}

static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void cfg_account_free(struct cfg_account *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->host);
	wipe_free(a->user);
	free(a->user_cmd);
	wipe_free(a->pass);
	free(a->pass_cmd);
	free(a->tunnel);
	cfg_strv_free(a->auth_mechs);
	free(a->cert_file);
	free(a->client_cert);
	free(a->client_key);
	free(a->tls_versions);
	free(a->cipher_string);
	cfg_strv_free(a->disabled_exts);
	free(a);
}

static void store_free(struct cfg_store *s)
{
	free(s->name);
	free(s->path);
	free(s->inbox);
	free(s->trash);
	free(s->imap_path);
	free(s->map_inbox);
	free(s);
}

static void channel_free(struct cfg_channel *ch)
{
	free(ch->name);
	free(ch->far_box);
	free(ch->near_box);
	cfg_strv_free(ch->patterns);
	free(ch->sync_state);
	free(ch->post_sync_cmd);
	free(ch);
}

void cfg_free(struct fct_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->naccounts; i++)
		cfg_account_free(c->accounts[i]);
	for (size_t i = 0; i < c->nstores; i++)
		store_free(c->stores[i]);
	for (size_t i = 0; i < c->nchannels; i++)
		channel_free(c->channels[i]);
	for (size_t i = 0; i < c->ngroups; i++) {
		free(c->groups[i]->name);
		cfg_strv_free(c->groups[i]->channels);
		free(c->groups[i]);
	}
	free(c->accounts);
	free(c->stores);
	free(c->channels);
	free(c->groups);
	free(c->post_sync_cmd);
	free(c->path);
	free(c);
}

#define APPEND(arr, n, item) do { \
	(arr) = fct_xrealloc((arr), ((n) + 1) * sizeof *(arr)); \
	(arr)[(n)++] = (item); \
} while (0)

struct cfg_account *cfg_find_account(const struct fct_config *c, const char *name)
{
	/* Inline accounts belong to their store and cannot be referred to. */
	for (size_t i = 0; i < c->naccounts; i++)
		if (!c->accounts[i]->inline_decl && !strcmp(c->accounts[i]->name, name))
			return c->accounts[i];
	return NULL;
}

const struct cfg_store *cfg_store(const struct fct_config *c, const char *name)
{
	for (size_t i = 0; i < c->nstores; i++)
		if (!strcmp(c->stores[i]->name, name))
			return c->stores[i];
	return NULL;
}

const struct cfg_channel *cfg_channel(const struct fct_config *c, const char *name)
{
	for (size_t i = 0; i < c->nchannels; i++)
		if (!strcmp(c->channels[i]->name, name))
			return c->channels[i];
	return NULL;
}

const struct cfg_group *cfg_group(const struct fct_config *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i]->name, name))
			return c->groups[i];
	return NULL;
}

/* ---- section ends ---- */

static int finish_account(struct cfg_parser *p, struct cfg_account *a, const char *what)
{
	if (!a->host && !a->tunnel)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: %s '%s' has no Host", a->file,
		                   a->line, what, a->name);
	if (!a->tls_explicit) {
		int implicit_port = a->is_pop3 ? 995 : 993;
		if (a->tunnel)
			a->tls = CFG_TLS_NONE;
		else if (a->port == implicit_port)
			a->tls = CFG_TLS_IMPLICIT;
		else
			a->tls = CFG_TLS_STARTTLS;
	}
	return 0;
}

static int finish_store(struct cfg_parser *p)
{
	struct cfg_store *s = p->store;
	const char *kind = s->kind == CFG_STORE_IMAP ? "IMAPStore" :
	                   s->kind == CFG_STORE_POP3 ? "POP3Store" : "MaildirStore";
	if (s->kind == CFG_STORE_MAILDIR) {
		if (s->subfolders == 1 && s->path)
			return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: MaildirStore '%s': Path cannot "
			                   "be used with SubFolders Maildir++ (set Inbox)", s->file,
			                   s->line, s->name);
		if (s->subfolders != 1 && !s->path)
			return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: MaildirStore '%s' has no Path",
			                   s->file, s->line, s->name);
		if (!s->inbox && !(s->inbox = cfg_expand_path(p, "~/Maildir")))
			return -1;
		if (!s->info_delim)
			s->info_delim = p->c->field_delim;
		return 0;
	}
	if (p->acct_pending && p->store_named_acct)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: %s '%s' has both Account and "
		                   "account options", s->file, s->line, kind, s->name);
	if (p->acct_pending) {
		if (finish_account(p, p->acct, kind))
			return -1;
		APPEND(p->c->accounts, p->c->naccounts, p->acct);
		p->acct_pending = 0;
		s->account = p->acct;
	}
	if (!s->account)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: %s '%s' has no Account%s", s->file,
		                   s->line, kind, s->name,
		                   s->kind == CFG_STORE_IMAP ? " and no Host" : "");
	return 0;
}

int cfg_sync_merge(const struct cfg_sync_spec *o, unsigned *pull, unsigned *push)
{
	*pull = o->pull;
	*push = o->push;
	if (o->pull | o->push) {
		if ((o->pull | o->push) & o->types)
			return -1;
		*pull |= o->types;
		*push |= o->types;
		if (o->dirs & 1) {
			if (*pull)
				return -1;
			*pull = CFG_OP_ALL;
		}
		if (o->dirs & 2) {
			if (*push)
				return -1;
			*push = CFG_OP_ALL;
		}
		return 0;
	}
	if (!o->dirs && !o->types)
		return 0; /* None */
	unsigned types = o->types ? o->types : CFG_OP_ALL;
	unsigned dirs = o->dirs ? o->dirs : 3;
	*pull = (dirs & 1) ? types : 0;
	*push = (dirs & 2) ? types : 0;
	return 0;
}

static int merge_sync(struct cfg_parser *p, const struct cfg_ops *o, unsigned *pull, unsigned *push)
{
	struct cfg_sync_spec spec = {o->dirs, o->types, o->pull, o->push};
	if (cfg_sync_merge(&spec, pull, push))
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: conflicting Sync arguments (a "
		                   "direction/type pair is asserted twice)", p->file, o->sync_line);
	return 0;
}

static void apply_boxops(struct cfg_channel *ch, const struct cfg_ops *own, const struct cfg_ops *glob)
{
	static const unsigned ops[] = {BOX_CREATE, BOX_REMOVE, BOX_EXPUNGE, BOX_SOLO};
	int *far[] = {&ch->create_far, &ch->remove_far, &ch->expunge_far, &ch->expunge_solo_far};
	int *near[] = {&ch->create_near, &ch->remove_near, &ch->expunge_near, &ch->expunge_solo_near};
	for (size_t i = 0; i < 4; i++) {
		const struct cfg_ops *o = (own->box_have & ops[i]) ? own : glob;
		*far[i] = !!((o->box_both | o->box_far) & ops[i]);
		*near[i] = !!((o->box_both | o->box_near) & ops[i]);
	}
}

static int finish_channel(struct cfg_parser *p)
{
	struct cfg_channel *ch = p->chan;
	struct cfg_chanopts *o = &p->cur;
	if (!ch->far || !ch->near)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: Channel '%s' has no %s store",
		                   ch->file, ch->line, ch->name, ch->far ? "Near" : "Far");
	if (ch->near->kind == CFG_STORE_POP3)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: Channel '%s': a POP3 store can only "
		                   "be the Far side", ch->file, ch->line, ch->name);
	const struct cfg_ops *sync = o->ops.have_sync ? &o->ops : &p->glob.ops;
	if (!sync->have_sync) {
		/* Nothing written: all operations, except that POP3 can only be read. */
		ch->pull = CFG_OP_ALL;
		ch->push = ch->far->kind == CFG_STORE_POP3 ? 0 : CFG_OP_ALL;
	} else if (merge_sync(p, sync, &ch->pull, &ch->push)) {
		return -1;
	}
	if (ch->far->kind == CFG_STORE_POP3 && ch->push)
		return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: Channel '%s': the Far store '%s' is "
		                   "POP3, so Sync must be Pull only", ch->file,
		                   o->ops.have_sync ? o->ops.sync_line : ch->line, ch->name,
		                   ch->far->name);
	apply_boxops(ch, &o->ops, &p->glob.ops);
	ch->max_messages = o->max_messages;
	ch->expire_unread = o->expire_unread;
	ch->expire_far = o->expire_far;
	ch->copy_arrival_date = o->copy_arrival_date;
	ch->sync_state = o->sync_state;
	o->sync_state = NULL;
	if (!ch->sync_state && p->glob.sync_state)
		ch->sync_state = fct_xstrdup(p->glob.sync_state);
	return 0;
}

int cfg_end_section(struct cfg_parser *p)
{
	int rc = 0;
	switch (p->sect) {
	case SEC_IMAPACCT: rc = finish_account(p, p->acct, "IMAPAccount"); break;
	case SEC_POP3ACCT: rc = finish_account(p, p->acct, "POP3Account"); break;
	case SEC_IMAPSTORE: case SEC_MDSTORE: case SEC_POP3STORE: rc = finish_store(p); break;
	case SEC_CHANNEL: rc = finish_channel(p); break;
	default: break;
	}
	if (rc)
		return rc;
	p->sect = SEC_GLOBAL;
	p->acct = NULL;
	p->store = NULL;
	p->chan = NULL;
	p->group = NULL;
	return 0;
}

static int check_unique(struct cfg_parser *p, unsigned sect, const char *name)
{
	const struct fct_config *c = p->c;
	const char *what = NULL;
	const char *file = NULL;
	int line = 0;
	if (sect & (SEC_IMAPACCT | SEC_POP3ACCT)) {
		const struct cfg_account *a = cfg_find_account(c, name);
		if (a)
			what = "account", file = a->file, line = a->line;
	} else if (sect & (SEC_IMAPSTORE | SEC_MDSTORE | SEC_POP3STORE)) {
		const struct cfg_store *s = cfg_store(c, name);
		if (s)
			what = "store", file = s->file, line = s->line;
	} else if (sect == SEC_CHANNEL) {
		const struct cfg_channel *ch = cfg_channel(c, name);
		if (ch)
			what = "channel", file = ch->file, line = ch->line;
	} else {
		const struct cfg_group *g = cfg_group(c, name);
		if (g)
			what = "group", file = g->file, line = g->line;
	}
	if (what)
		return cfg_perr(p, "duplicate %s name '%s' (first defined at %s:%d)", what, name,
		                file, line);
	return 0;
}

static void begin_chanopts(struct cfg_parser *p)
{
	memset(&p->cur, 0, sizeof p->cur);
	p->cur.max_messages = p->glob.max_messages;
	p->cur.expire_unread = p->glob.expire_unread;
	p->cur.expire_far = p->glob.expire_far;
	p->cur.copy_arrival_date = p->glob.copy_arrival_date;
}

static void begin_store(struct cfg_parser *p, unsigned sect, const char *name)
{
	struct cfg_store *s = fct_xcalloc(1, sizeof *s);
	s->name = fct_xstrdup(name);
	s->kind = sect == SEC_IMAPSTORE ? CFG_STORE_IMAP :
	          sect == SEC_MDSTORE ? CFG_STORE_MAILDIR : CFG_STORE_POP3;
	s->subfolders = -1;
	s->use_namespace = 1;
	s->keep = 1;
	s->file = p->file;
	s->line = p->line;
	APPEND(p->c->stores, p->c->nstores, s);
	p->store = s;
	p->store_named_acct = 0;
}

int cfg_begin_section(struct cfg_parser *p, unsigned sect, const struct cfg_line *l)
{
	if (p->sect != SEC_GLOBAL && cfg_end_section(p))
		return -1;
	if (l->argc < 2)
		return cfg_perr(p, "%s: missing name", l->argv[0]);
	if (sect != SEC_GROUP && l->argc > 2)
		return cfg_perr(p, "%s: takes one name (quote names containing spaces)", l->argv[0]);
	const char *name = l->argv[1];
	if (check_unique(p, sect, name))
		return -1;
	p->sect = sect;
	p->seen_section = 1;
	if (sect == SEC_IMAPACCT || sect == SEC_POP3ACCT) {
		p->acct = cfg_account_new(name, sect == SEC_POP3ACCT, p->file, p->line);
		APPEND(p->c->accounts, p->c->naccounts, p->acct);
	} else if (sect == SEC_CHANNEL) {
		struct cfg_channel *ch = fct_xcalloc(1, sizeof *ch);
		ch->name = fct_xstrdup(name);
		ch->file = p->file;
		ch->line = p->line;
		APPEND(p->c->channels, p->c->nchannels, ch);
		p->chan = ch;
		begin_chanopts(p);
	} else if (sect == SEC_GROUP) {
		struct cfg_group *g = fct_xcalloc(1, sizeof *g);
		g->name = fct_xstrdup(name);
		g->file = p->file;
		g->line = p->line;
		APPEND(p->c->groups, p->c->ngroups, g);
		p->group = g;
		for (int i = 2; i < l->argc; i++)
			cfg_strv_push(&g->channels, l->argv[i]);
	} else {
		begin_store(p, sect, name);
	}
	return 0;
}

/* ---- lines ---- */

/* Splits a line in place into arguments, as mbsync: whitespace separates,
 * double quotes group, backslash escapes the next character, and '#' at the
 * start of an argument comments out the rest of the line. */
static int tokenize(struct cfg_parser *p, char *s, struct cfg_line *l)
{
	l->argc = 0;
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			return 0;
		if (l->argc == CFG_ARGS_MAX)
			return cfg_perr(p, "too many arguments (at most %d)", CFG_ARGS_MAX);
		char *out = s;
		l->argv[l->argc++] = out;
		int quoted = 0, escaped = 0;
		for (; *s; s++) {
			unsigned char c = (unsigned char)*s;
			if (escaped) {
				if (c < 32)
					return cfg_perr(p, "invalid character after backslash");
				escaped = 0;
				*out++ = (char)c;
			} else if (c == '\\') {
				escaped = 1;
			} else if (c == '"') {
				quoted ^= 1;
			} else if (!quoted && isspace(c)) {
				break;
			} else {
				*out++ = (char)c;
			}
		}
		if (escaped)
			return cfg_perr(p, "unterminated escape sequence");
		if (quoted)
			return cfg_perr(p, "missing closing quote");
		int more = *s != '\0';
		*out = '\0';
		if (more)
			s++;
	}
}

static int parse_stream(struct cfg_parser *p, FILE *fp)
{
	char buf[CFG_LINE_MAX + 2];
	struct cfg_line l;
	while (fgets(buf, sizeof buf, fp)) {
		p->line++;
		size_t n = strlen(buf);
		if (n && buf[n - 1] == '\n')
			buf[--n] = '\0';
		else if (!feof(fp))
			return cfg_perr(p, "line too long (at most %d characters)", CFG_LINE_MAX);
		if (n && buf[n - 1] == '\r')
			buf[--n] = '\0';
		char *s = buf;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#')
			continue; /* comments do not end sections */
		if (!*s) {
			if (p->sect != SEC_GLOBAL && cfg_end_section(p))
				return -1;
			continue;
		}
		if (tokenize(p, s, &l))
			return -1;
		if (l.argc == 0)
			continue;
		if (cfg_kw_apply(p, &l))
			return -1;
	}
	if (ferror(fp)) {
		fct_err_sys(p->err, errno, "%s: cannot read configuration file", p->file);
		p->err->kind = FCT_E_CONFIG;
		return -1;
	}
	return p->sect != SEC_GLOBAL ? cfg_end_section(p) : 0;
}

/* Group members must name channels; checked once everything is read, so a
 * Group may come before its channels. */
static int check_groups(struct cfg_parser *p)
{
	for (size_t i = 0; i < p->c->ngroups; i++) {
		const struct cfg_group *g = p->c->groups[i];
		if (!g->channels)
			return fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: Group '%s' has no channels",
			                   g->file, g->line, g->name);
		for (char **m = g->channels; *m; m++) {
			size_t len = strcspn(*m, ":");
			char *name = fct_xstrndup(*m, len);
			int ok = cfg_channel(p->c, name) != NULL;
			if (!ok)
				fct_err_set(p->err, FCT_E_CONFIG, "%s:%d: Group '%s' refers to unknown "
				            "channel '%s'", g->file, g->line, g->name, name);
			free(name);
			if (!ok)
				return -1;
		}
	}
	return 0;
}

static int parse_file(struct fct_config *c, FILE *fp, const struct fct_log *log,
                      struct fct_err *err)
{
	struct cfg_parser p;
	memset(&p, 0, sizeof p);
	p.c = c;
	p.file = c->path;
	p.log = log;
	p.err = err;
	p.sect = SEC_GLOBAL;
	p.glob.expire_unread = -1;
	fct_buf_init(&p.warn);
	int rc = parse_stream(&p, fp);
	if (!rc)
		rc = check_groups(&p);
	if (p.acct_pending)
		cfg_account_free(p.acct);
	free(p.glob.sync_state);
	free(p.cur.sync_state);
	if (!rc && p.warn.len)
		fct_log_warn(log, "ignoring keywords facteur does not implement: %s", p.warn.data);
	fct_buf_free(&p.warn);
	return rc;
}

static struct fct_config *config_new(const char *path)
{
	struct fct_config *c = fct_xcalloc(1, sizeof *c);
	c->path = fct_xstrdup(path);
	c->fsync = 1;
	c->field_delim = ':';
	c->buffer_limit = 10u << 20;
	c->parallel = 1;
	c->parallel_folders = 4;
	return c;
}

int cfg_parse_string(struct fct_config **out, const char *text, const char *name,
                     const struct fct_log *log, struct fct_err *err)
{
	*out = NULL;
	char *copy = fct_xstrdup(text);
	FILE *fp = fmemopen(copy, strlen(copy), "r");
	if (!fp) {
		free(copy);
		return fct_err_sys(err, errno, "%s: cannot read configuration", name);
	}
	struct fct_config *c = config_new(name);
	int rc = parse_file(c, fp, log, err);
	fclose(fp);
	free(copy);
	if (rc) {
		cfg_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* $XDG_CONFIG_HOME/facteur/config, then ~/.mbsyncrc: the first that exists. */
static char *default_path(struct fct_err *err)
{
	const char *home = home_dir();
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *a = NULL;
	if (xdg && *xdg)
		a = fct_xasprintf("%s/facteur/config", xdg);
	else if (home)
		a = fct_xasprintf("%s/.config/facteur/config", home);
	if (a && access(a, F_OK) == 0)
		return a;
	char *b = home ? fct_xasprintf("%s/.mbsyncrc", home) : NULL;
	if (b && access(b, F_OK) == 0) {
		free(a);
		return b;
	}
	fct_err_set(err, FCT_E_CONFIG, "no configuration file found (tried %s and %s; use -c FILE)",
	            a ? a : "$XDG_CONFIG_HOME/facteur/config", b ? b : "~/.mbsyncrc");
	free(a);
	free(b);
	return NULL;
}

int cfg_load(struct fct_config **out, const char *path, const struct fct_log *log,
             struct fct_err *err)
{
	*out = NULL;
	char *def = NULL;
	if (!path && !(path = def = default_path(err)))
		return -1;
	FILE *fp = fopen(path, "r");
	if (!fp) {
		fct_err_sys(err, errno, "%s: cannot open configuration file", path);
		err->kind = FCT_E_CONFIG;
		free(def);
		return -1;
	}
	fct_log_verbose(log, "reading configuration file %s", path);
	struct fct_config *c = config_new(path);
	free(def);
	int rc = parse_file(c, fp, log, err);
	fclose(fp);
	if (rc) {
		cfg_free(c);
		return -1;
	}
	*out = c;
	return 0;
}
