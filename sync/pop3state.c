/* POP3 state location and takeover (see pop3state.h). */
#include "sync/pop3state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sync/connect.h"

struct pst {
	const struct fct_config *cfg;
	const struct cfg_channel *ch;
	const struct pop3sync_opts *o;
	struct fct_lock **lock;
	struct jrnl **j;
};

static int open_journal(struct pst *ps, const char *dir, const char *owner,
                        struct fct_err *err)
{
	char *lockpath;
	int rc;

	if (fct_mkdir_p(dir, err) < 0)
		return -1;
	lockpath = fct_xasprintf("%s/lock", dir);
	rc = fct_lock_take(ps->lock, lockpath, owner, ps->o->wait_lock, err);
	free(lockpath);
	if (rc == 0)
		rc = jrnl_open(ps->j, dir, err);
	return rc;
}

static int uidl_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct jrnl_uidl *)elem)->uidl);
}

/* Adds the old journal's UIDLs (old[0..no)) to the account's (cur[0..nc),
 * sorted), keeping the earlier first-seen time of a UIDL known to both. */
static int merge_uidls(struct jrnl_txn *t, const struct jrnl_uidl *old, size_t no,
                       const struct jrnl_uidl *cur, size_t nc, struct fct_err *err)
{
	for (size_t i = 0; i < no; i++) {
		const struct jrnl_uidl *c =
			nc ? bsearch(old[i].uidl, cur, nc, sizeof *cur, uidl_key_cmp) : NULL;

		if (c && c->first_seen <= old[i].first_seen)
			continue;
		if (jrnl_uidl_put(t, POP3_JOURNAL_BOX, &old[i], err) < 0)
			return -1;
	}
	return 0;
}

/* Carries the old journal's pending downloads over (the recovery in pop3sync.c settles them
 * against the folder), unless the account already has one for that UIDL:
 * an earlier merge that did not get to empty the old journal. */
static int merge_pending(struct jrnl_txn *t, struct jrnl_msg *old, size_t no,
                         const struct jrnl_msg *cur, size_t nc, struct fct_err *err)
{
	for (size_t i = 0; i < no; i++) {
		size_t k;

		if (old[i].state != JRNL_PENDING_DOWNLOAD || !old[i].aux)
			continue;
		for (k = 0; k < nc; k++)
			if (cur[k].state == JRNL_PENDING_DOWNLOAD && cur[k].aux &&
			    strcmp(cur[k].aux, old[i].aux) == 0)
				break;
		old[i].id = 0;
		if (k == nc && jrnl_msg_put(t, POP3_JOURNAL_BOX, &old[i], err) < 0)
			return -1;
	}
	return 0;
}

static int drop_old_box(struct jrnl *oj, const char *box, struct fct_err *err)
{
	struct jrnl_txn *t;

	if (jrnl_begin(oj, &t, err) < 0)
		return -1;
	if (jrnl_box_del(t, box, err) < 0) {
		jrnl_abort(t);
		return -1;
	}
	return jrnl_commit(t, err);
}

/* Merges what old journal oj knows under the channel's near box into the
 * account's journal, then drops it from oj.  A crash in between merges
 * again: the union is the same. */
static int merge_state(struct pst *ps, struct jrnl *oj, const char *old_dir,
                       struct fct_err *err)
{
	const char *obox = ps->ch->near_box ? ps->ch->near_box : "INBOX";
	struct jrnl_uidl *ou = NULL, *cu = NULL;
	struct jrnl_msg *om = NULL, *cm = NULL;
	size_t nou = 0, ncu = 0, nom = 0, ncm = 0;
	struct jrnl_txn *t = NULL;
	int rc = -1;

	if (jrnl_uidl_load(oj, obox, &ou, &nou, err) < 0 ||
	    jrnl_msgs_load(oj, obox, &om, &nom, err) < 0)
		goto out;
	if (nou == 0 && nom == 0) {
		rc = 0;
		goto out;
	}
	if (jrnl_uidl_load(*ps->j, POP3_JOURNAL_BOX, &cu, &ncu, err) < 0 ||
	    jrnl_msgs_load(*ps->j, POP3_JOURNAL_BOX, &cm, &ncm, err) < 0 ||
	    jrnl_begin(*ps->j, &t, err) < 0)
		goto out;
	if (merge_uidls(t, ou, nou, cu, ncu, err) < 0 || merge_pending(t, om, nom, cm, ncm, err) < 0)
		goto out;
	rc = jrnl_commit(t, err);
	t = NULL;
	if (rc == 0)
		rc = drop_old_box(oj, obox, err);
	if (rc == 0)
		fct_log_info(ps->o->log, "channel %s: %zu known UIDL(s) taken over from %s into the "
		             "POP3 account's state", ps->ch->name, nou, old_dir);
out:
	if (t)
		jrnl_abort(t);
	jrnl_uidls_free(ou, nou);
	jrnl_uidls_free(cu, ncu);
	jrnl_msgs_free(om, nom);
	jrnl_msgs_free(cm, ncm);
	return rc;
}

/* Before the state was the account's, each channel kept its UIDLs in its
 * own journal (cfg_state_dir), so upgrading must not download again what
 * such a journal knows.  Its lock is held meanwhile: an older facteur may
 * be running that channel. */
static int adopt_channel_state(struct pst *ps, struct fct_err *err)
{
	char *old = cfg_state_dir(ps->cfg, ps->ch), *p;
	struct fct_lock *lock = NULL;
	struct jrnl *oj = NULL;
	struct stat st;
	int rc = 0;

	if (!old)
		return 0;
	p = fct_xasprintf("%s/data.mdb", old);
	if (stat(p, &st) == 0) {
		free(p);
		p = fct_xasprintf("%s/lock", old);
		rc = fct_lock_take(&lock, p, ps->ch->name, ps->o->wait_lock, err);
		if (rc == 0 && (jrnl_open(&oj, old, err) < 0 || merge_state(ps, oj, old, err) < 0)) {
			fct_err_prefix(err, "taking over the channel's journal %s", old);
			rc = -1;
		}
	} else if (errno != ENOENT && errno != ENOTDIR) {
		/* Not knowing what it holds could mean downloading it all again. */
		rc = fct_err_sys(err, errno, "cannot read the channel's journal %s", p);
	}
	free(p);
	jrnl_close(oj);
	fct_lock_release(lock);
	free(old);
	return rc;
}

/* The UIDLs are the POP3 account's (user, host, port), as mpop keeps them:
 * renaming a channel, or a second channel on the same account, must not
 * download again what was delivered.  The account's lock serializes every
 * channel on it. */
int pop3_state_open(const struct fct_config *cfg, const struct cfg_channel *ch,
                    const struct pop3sync_opts *o, struct fct_lock **lock, struct jrnl **j,
                    struct fct_err *err)
{
	struct pst ps = {cfg, ch, o, lock, j};
	const struct cfg_account *a = ch->far->account;
	char *user = NULL, *dir, *owner;
	int rc;

	if (o->state_dir)
		return open_journal(&ps, o->state_dir, ch->name, err);
	if (cfg_get_user(a, &user, err) < 0)
		return -1;
	dir = cfg_pop3_state_dir(cfg, ch, user, sync_default_port(a));
	free(user);
	if (!dir)
		return fct_err_set(err, FCT_E_CONFIG, "no state directory");
	owner = fct_xasprintf("for POP3 account %s", a->name);
	rc = open_journal(&ps, dir, owner, err);
	free(owner);
	free(dir);
	if (rc == 0 && !o->dry_run)
		rc = adopt_channel_state(&ps, err);
	return rc;
}
