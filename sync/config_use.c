/* What the rest of the program asks of a loaded configuration at run time:
 * credentials (possibly from a command) and the journal directory. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sync/config.h"

#define CRED_MAX 4096 /* longest accepted credential line */

/* Runs cmd through `sh -c` and returns the first line of its output. */
static int run_cred_cmd(const struct cfg_account *a, const char *kw, const char *cmd,
                        char **out, struct fct_err *err)
{
	if (*cmd == '+')
		cmd++; /* mbsync's "produces TTY output" marker */
	fflush(NULL);
	FILE *fp = popen(cmd, "r");
	if (!fp)
		return fct_err_sys(err, errno, "account '%s': cannot run %s", a->name, kw);
	char buf[CRED_MAX + 2];
	int got = fgets(buf, sizeof buf, fp) != NULL;
	char sink[512];
	while (fread(sink, 1, sizeof sink, fp) > 0)
		; /* let the command finish writing */
	explicit_bzero(sink, sizeof sink);
	int st = pclose(fp);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		explicit_bzero(buf, sizeof buf);
		if (st != -1 && WIFEXITED(st))
			return fct_err_set(err, FCT_E_CONFIG, "account '%s': %s failed (exit status %d)",
			                   a->name, kw, WEXITSTATUS(st));
		return fct_err_set(err, FCT_E_CONFIG, "account '%s': %s failed", a->name, kw);
	}
	size_t n = got ? strcspn(buf, "\r\n") : 0;
	if (n > CRED_MAX) {
		explicit_bzero(buf, sizeof buf);
		return fct_err_set(err, FCT_E_CONFIG, "account '%s': %s output is too long",
		                   a->name, kw);
	}
	if (n == 0)
		return fct_err_set(err, FCT_E_CONFIG, "account '%s': %s printed nothing", a->name, kw);
	*out = fct_xstrndup(buf, n);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

int cfg_get_pass(const struct cfg_account *a, char **out, struct fct_err *err)
{
	*out = NULL;
	if (a->pass) {
		if (!*a->pass)
			return fct_err_set(err, FCT_E_AUTH, "account '%s': empty Pass", a->name);
		*out = fct_xstrdup(a->pass);
		return 0;
	}
	if (a->pass_cmd)
		return run_cred_cmd(a, "PassCmd", a->pass_cmd, out, err);
	return fct_err_set(err, FCT_E_CONFIG, "account '%s' (%s:%d): no Pass or PassCmd", a->name,
	                   a->file, a->line);
}

int cfg_get_user(const struct cfg_account *a, char **out, struct fct_err *err)
{
	*out = NULL;
	if (a->user) {
		*out = fct_xstrdup(a->user);
		return 0;
	}
	if (a->user_cmd)
		return run_cred_cmd(a, "UserCmd", a->user_cmd, out, err);
	return fct_err_set(err, FCT_E_CONFIG, "account '%s' (%s:%d): no User or UserCmd", a->name,
	                   a->file, a->line);
}

static const char *home(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

/* A channel name as one path component. */
static char *component(const char *name)
{
	char *s = fct_xstrdup(name);
	for (char *q = s; *q; q++)
		if (*q == '/')
			*q = '_';
	if (!strcmp(s, ".") || !strcmp(s, "..")) {
		free(s);
		return fct_xasprintf("_%s", name);
	}
	return s;
}

/* The state path rel (one or more components) under ch's SyncState base. */
static char *state_path(const struct cfg_channel *ch, const char *rel)
{
	char *r = NULL;
	const char *ss = ch->sync_state;
	if (ss && !strcmp(ss, "*")) {
		const struct cfg_store *n = ch->near;
		const char *root = n && n->kind == CFG_STORE_MAILDIR ? (n->path ? n->path : n->inbox)
		                                                     : NULL;
		if (root) {
			size_t len = strlen(root);
			while (len > 1 && root[len - 1] == '/')
				len--;
			/* Beside, not inside: the store's own tree holds only mailboxes. */
			r = fct_xasprintf("%.*s.facteur-state/%s", (int)len, root, rel);
		}
	} else if (ss) {
		r = fct_xasprintf("%s%s", ss, rel);
	}
	if (!r) {
		const char *xdg = getenv("XDG_STATE_HOME");
		const char *h = home();
		if (xdg && *xdg)
			r = fct_xasprintf("%s/facteur/%s", xdg, rel);
		else if (h)
			r = fct_xasprintf("%s/.local/state/facteur/%s", h, rel);
	}
	return r;
}

char *cfg_state_dir(const struct fct_config *c, const struct cfg_channel *ch)
{
	(void)c;
	char *comp = component(ch->name);
	char *r = state_path(ch, comp);
	free(comp);
	return r;
}

/* Letters, digits and "._+-" (no leading '.': no "." or ".." component). */
static int plain_byte(unsigned ch, int first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '+' || ch == '-' || (ch == '.' && !first);
}

/* Other bytes become %XX, so distinct identities never share a directory. */
static void put_escaped(struct fct_buf *b, const char *s, int lower)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned ch = lower && *p >= 'A' && *p <= 'Z' ? *p + 32u : *p;

		if (plain_byte(ch, p == (const unsigned char *)s))
			fct_buf_putc(b, (char)ch);
		else
			fct_buf_printf(b, "%%%02X", ch);
	}
}

char *cfg_pop3_state_dir(const struct fct_config *c, const struct cfg_channel *ch,
                         const char *user, int port)
{
	const struct cfg_account *a = ch->far ? ch->far->account : NULL;
	struct fct_buf b;
	char *r;

	(void)c;
	if (!a)
		return NULL;
	fct_buf_init(&b);
	fct_buf_puts(&b, "pop3/");
	put_escaped(&b, user, 0);
	fct_buf_putc(&b, '@');
	if (a->host) {
		put_escaped(&b, a->host, 1); /* host names are case-insensitive */
	} else {
		/* A tunnel has no host: the account stands for the server. */
		fct_buf_puts(&b, "tunnel-");
		put_escaped(&b, a->name, 0);
	}
	fct_buf_printf(&b, ":%d", port);
	r = state_path(ch, b.data);
	fct_buf_free(&b);
	return r;
}
