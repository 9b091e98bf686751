/* POP3 ingestion executor.
 *
 * Crash protocol.  A message must reach the Maildir exactly once, whatever
 * moment the process dies at.  Messages go in batches (at most batch_msgs
 * messages or batch_bytes bytes by the server's LIST sizes), each through
 * these steps (the RETR commands form one pipelined stream: a batch is made
 * durable as soon as it is full, the answers that follow wait meanwhile):
 *
 *   1. RETR into tmp/ files of one md_batch (fsynced by md_tmp_done), while
 *      computing each body's SHA-256 and size as written.
 *   2. Intent: one journal transaction records, per message, a pending
 *      record (state JRNL_PENDING_DOWNLOAD, aux = the UIDL, size, SHA-256,
 *      stamp = first-seen time).
 *   3. md_batch_commit: rename into new/, fsync the directory.
 *   4. One journal transaction records each UIDL as delivered (with its
 *      Maildir uniq and first-seen time) and drops the pending records.
 *   5. Only after every batch: DELE what Keep/DeleteAfter allow, then QUIT.
 *
 * A crash before 2 leaves only tmp/ files, invisible to mail readers; the
 * messages are downloaded again.  A crash between 2 and 4 leaves pending
 * records: the next run, before anything else, looks in the folder for an
 * unclaimed message (no journaled UIDL points at it) of the same size and
 * SHA-256 for each pending record; if found, the UIDL is journaled as
 * delivered with that file (step 3 happened), otherwise the record is
 * dropped and the message downloaded again (step 3 did not happen: the file
 * never became visible).  Either way no message is lost or duplicated.  A
 * crash after 4 re-does only the deletions, which are idempotent by UIDL.
 * Nothing is deleted on the server before its UIDL is durably journaled, and
 * the server applies DELE only at QUIT's +OK.
 *
 * We match by content rather than by recording the final file name in the
 * intent because the Maildir layer names files at commit: matching works
 * whatever name it chose, and a byte-identical unclaimed file in the same
 * folder is, for this purpose, the same message.
 *
 * Servers without UIDL (Keep no only; Keep yes is refused): each message is
 * named "sha256:<hex>" after its content once downloaded, and that name goes
 * through the same steps.  A message whose name is already journaled was
 * stored by a run that never got QUIT's +OK: its tmp file is dropped and it
 * is deleted again.  Byte-identical messages are therefore delivered once.
 * After a QUIT that removed every stored message, with no message left
 * unexamined (a refused RETR), the names are dropped: none can be on the
 * server any more. */
#include "sync/pop3sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "proto/pop3.h"
#include "store/journal.h"
#include "store/lock.h"
#include "store/maildir.h"
#include "sync/connect.h"
#include "sync/msgsrc.h"
#include "sync/pop3state.h"

/* Each batch costs a file system flush and two journal commits, and the
 * stream of RETR answers waits for them: larger batches make ingestion
 * faster; a crash re-downloads at most one batch. */
#define BATCH_MSGS_DEFAULT 1000
#define BATCH_BYTES_DEFAULT (64ull << 20)
/* A message's body is written to its file in pieces of at most this. */
#define WBUF_SIZE (128u << 10)
#define POP3_PORT 110
#define POP3S_PORT 995

/* One message as the server lists it, with what we know about it. */
struct srv_msg {
	uint64_t size;
	const char *uidl;              /* into the UIDL listing, or ingest.pseudo */
	const struct jrnl_uidl *known; /* journaled, or NULL */
	unsigned num;
	int stored;                    /* no-UIDL mode: in the Maildir and journaled */
};

/* No-UIDL mode's name for a message: "sha256:<hex>" once read.  Apart
 * from srv_msg, which a mailbox of 10,000 messages would otherwise grow
 * by 800 KB that UIDL mode never uses. */
typedef char pseudo_uidl[72];

/* One downloaded message of the current batch, in Maildir queue order. */
struct dl_item {
	struct srv_msg *m;
	uint64_t size;
	unsigned char fp[32];
	uint64_t jid; /* pending record's id */
};

struct ingest {
	const struct fct_config *cfg;
	const struct cfg_channel *ch;
	const struct cfg_store *pst; /* the POP3 store */
	const struct pop3sync_opts *o;
	const struct fct_log *log;
	struct pop3sync_summary *sum;
	const char *box;
	int64_t now;
	uint64_t max_size;
	struct fct_lock *lock;
	struct jrnl *j;
	struct md_store *ms;
	struct md_folder *mf;
	struct pop3 *p;
	struct jrnl_uidl *known;
	size_t nknown;
	struct pop3_uidl_ent *uidls;
	size_t nuidls;
	struct srv_msg *msgs;
	size_t nmsgs;
	int no_uidl; /* identities are content hashes (Keep no only) */
	pseudo_uidl *pseudo; /* no-UIDL mode: one per msgs[] */
	EVP_MD_CTX *sha;
};

/* Download state seen by the RETR sink: every message asked for, and the
 * batch being filled (made durable and replaced when full). */
struct dl_batch {
	struct ingest *ig;
	struct md_batch *mb;         /* NULL once a batch failed to finish */
	struct md_tmp *cur;
	struct srv_msg *const *want; /* messages asked for, in order */
	size_t nwant, next;
	struct dl_item *items;       /* the current batch's, maxn at most */
	size_t nitems, maxn;
	uint64_t bytes, maxb;        /* the current batch's LIST sizes */
	char *wbuf;                  /* the current message's unwritten bytes */
	size_t wlen;
};

static int64_t ingest_now(const struct pop3sync_opts *o)
{
	const char *env = getenv("FACTEUR_TEST_NOW");
	char *end;
	long long v;

	if (o->now > 0)
		return o->now;
	if (env && *env) {
		errno = 0;
		v = strtoll(env, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0)
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}


/* ---- setup ------------------------------------------------------------ */

static int check_stores(struct ingest *ig, struct fct_err *err)
{
	const struct cfg_channel *ch = ig->ch;

	if (!ch->far || ch->far->kind != CFG_STORE_POP3 || !ch->far->account)
		return fct_err_set(err, FCT_E_CONFIG, "the far store is not a POP3 store");
	if (!ch->near || ch->near->kind != CFG_STORE_MAILDIR)
		return fct_err_set(err, FCT_E_CONFIG,
		                   "POP3 messages can only be delivered to a Maildir store");
	if (ch->patterns && ch->patterns[0] && ch->patterns[1])
		return fct_err_set(err, FCT_E_CONFIG, "a POP3 channel has exactly one folder");
	ig->pst = ch->far;
	ig->box = ch->near_box ? ch->near_box : "INBOX";
	ig->max_size = ch->max_size ? ch->max_size
	                : ch->far->max_size ? ch->far->max_size : ch->near->max_size;
	return 0;
}

static int open_state(struct ingest *ig, struct fct_err *err)
{
	return pop3_state_open(ig->cfg, ig->ch, ig->o, &ig->lock, &ig->j, err);
}

static int open_maildir(struct ingest *ig, struct fct_err *err)
{
	const struct cfg_store *n = ig->ch->near;
	struct md_store_opts mo;

	sync_md_opts(ig->cfg, n, &mo);
	if (md_store_open(&ig->ms, &mo, err) < 0)
		return -1;
	if (ig->o->dry_run && !md_folder_exists(ig->ms, ig->box))
		return 0;
	return md_folder_open(ig->ms, ig->box, !ig->o->dry_run, &ig->mf, err);
}

/* ---- recovery of an interrupted batch ---------------------------------- */

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Marks the folder entries a journaled UIDL already points at. */
static void mark_claimed(const struct ingest *ig, const struct md_entry *e, size_t ne,
                         char *claimed)
{
	const char **names = fct_xcalloc(ig->nknown ? ig->nknown : 1, sizeof *names);
	size_t n = 0, i;

	for (i = 0; i < ig->nknown; i++)
		if (ig->known[i].near_uniq)
			names[n++] = ig->known[i].near_uniq;
	if (n > 0)
		qsort(names, n, sizeof *names, cmp_str_ptr);
	for (i = 0; i < ne; i++)
		claimed[i] = n > 0 && bsearch(&e[i].uniq, names, n, sizeof *names, cmp_str_ptr);
	free(names);
}

/* The unclaimed file in the folder with m's size and SHA-256, or -1. */
static long find_delivered(struct ingest *ig, const struct jrnl_msg *m, struct md_entry *e,
                           size_t ne, char *claimed, struct fct_err *err)
{
	unsigned char fp[32];
	size_t i;

	for (i = 0; i < ne; i++) {
		if (claimed[i] || e[i].size != m->size)
			continue;
		if (msg_file_sha256(ig->mf, e[i].uniq, fp, err) < 0) {
			if (err->kind != FCT_E_MSG)
				return -2;
			fct_err_clear(err); /* removed since the scan: not this one */
			continue;
		}
		if (memcmp(fp, m->fp, sizeof fp) == 0) /* m has one (recover_apply) */
			return (long)i;
	}
	return -1;
}

static int recover_apply(struct ingest *ig, struct jrnl_msg *pm, size_t npm, struct md_entry *e,
                         size_t ne, struct fct_err *err)
{
	char *claimed = fct_xcalloc(ne ? ne : 1, 1);
	struct jrnl_txn *t = NULL;
	struct jrnl_uidl u;
	size_t i;
	long k;
	int rc = -1;

	mark_claimed(ig, e, ne, claimed);
	if (jrnl_begin(ig->j, &t, err) < 0)
		goto out;
	for (i = 0; i < npm; i++) {
		if (pm[i].state != JRNL_PENDING_DOWNLOAD)
			continue;
		k = (pm[i].fp && pm[i].aux) ? find_delivered(ig, &pm[i], e, ne, claimed, err) : -1;
		if (k == -2)
			goto out;
		if (k >= 0) {
			claimed[k] = 1;
			u.uidl = pm[i].aux;
			u.first_seen = pm[i].stamp;
			u.near_uniq = e[k].uniq;
			if (jrnl_uidl_put(t, POP3_JOURNAL_BOX, &u, err) < 0)
				goto out;
			ig->sum->recovered++;
			fct_log_verbose(ig->log, "channel %s: message %s was delivered by an "
			                "interrupted run; journaled now", ig->ch->name, pm[i].aux);
		}
		if (jrnl_msg_del(t, POP3_JOURNAL_BOX, pm[i].id, err) < 0)
			goto out;
	}
	rc = jrnl_commit(t, err);
	t = NULL;
out:
	if (t)
		jrnl_abort(t);
	free(claimed);
	return rc;
}

static int load_known(struct ingest *ig, struct fct_err *err)
{
	jrnl_uidls_free(ig->known, ig->nknown);
	ig->known = NULL;
	ig->nknown = 0;
	return jrnl_uidl_load(ig->j, POP3_JOURNAL_BOX, &ig->known, &ig->nknown, err);
}

static int recover(struct ingest *ig, struct fct_err *err)
{
	struct jrnl_msg *pm = NULL;
	struct md_entry *e = NULL;
	size_t npm = 0, ne = 0, i, pending = 0;
	int rc = -1;

	if (jrnl_msgs_load(ig->j, POP3_JOURNAL_BOX, &pm, &npm, err) < 0)
		return -1;
	for (i = 0; i < npm; i++)
		pending += pm[i].state == JRNL_PENDING_DOWNLOAD;
	if (pending == 0 || ig->o->dry_run || !ig->mf) {
		rc = 0;
		goto out;
	}
	if (md_scan(ig->mf, &e, &ne, err) < 0)
		goto out;
	rc = recover_apply(ig, pm, npm, e, ne, err);
	if (rc == 0)
		rc = load_known(ig, err);
out:
	md_entries_free(e, ne);
	jrnl_msgs_free(pm, npm);
	return rc;
}

/* ---- server ------------------------------------------------------------ */

static char *join_mechs(char **m)
{
	struct fct_buf b;

	if (!m || !m[0])
		return NULL;
	fct_buf_init(&b);
	for (; *m; m++) {
		if (b.len)
			fct_buf_putc(&b, ' ');
		fct_buf_puts(&b, *m);
	}
	return fct_buf_steal(&b);
}

static int connect_server(struct ingest *ig, struct fct_err *err)
{
	const struct cfg_account *a = ig->pst->account;
	struct pop3_opts po;
	char *user = NULL, *pass = NULL, *mechs;
	int rc;

	if (cfg_get_user(a, &user, err) < 0)
		return -1;
	if (cfg_get_pass(a, &pass, err) < 0) {
		free(user);
		return -1;
	}
	memset(&po, 0, sizeof po);
	po.tls = a->tls == CFG_TLS_IMPLICIT ? POP3_TLS_IMPLICIT
	         : a->tls == CFG_TLS_NONE   ? POP3_TLS_NONE
	                                    : POP3_TLS_STLS;
	po.net.host = a->host;
	po.net.port = a->port ? a->port : po.tls == POP3_TLS_IMPLICIT ? POP3S_PORT : POP3_PORT;
	po.net.tunnel = a->tunnel;
	po.net.timeout_ms = a->timeout_s > 0 ? a->timeout_s * 1000 : 0;
	po.net.log = ig->log;
	po.tls_opts.system_certs = a->system_certs;
	po.tls_opts.ca_file = a->cert_file;
	po.tls_opts.client_cert = a->client_cert;
	po.tls_opts.client_key = a->client_key;
	po.tls_opts.versions = a->tls_versions;
	po.tls_opts.ciphers = a->cipher_string;
	po.tls_opts.verify = 1;
	po.user = user;
	po.pass = pass;
	po.auth_mechs = mechs = join_mechs(a->auth_mechs);
	po.pipeline_depth = a->pipeline_depth;
	po.log = ig->log;
	rc = pop3_connect(&ig->p, &po, err);
	free(mechs);
	free(user);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	return rc;
}

static int cmp_known(const void *key, const void *elem)
{
	return strcmp(key, ((const struct jrnl_uidl *)elem)->uidl);
}

static const struct jrnl_uidl *find_known(const struct ingest *ig, const char *uidl)
{
	if (ig->nknown == 0)
		return NULL;
	return bsearch(uidl, ig->known, ig->nknown, sizeof *ig->known, cmp_known);
}

/* UIDL if the server has it: 1 listed, 0 no UIDL (Keep no only). */
static int list_uidl(struct ingest *ig, struct fct_err *err)
{
	const struct pop3_caps *c = pop3_caps(ig->p);
	int has = !(c->bits & POP3_CAP_CAPA) || (c->bits & POP3_CAP_UIDL);

	if (has && pop3_uidl(ig->p, &ig->uidls, &ig->nuidls, err) == 0)
		return 1;
	/* Without CAPA, a -ERR to UIDL is how we learn it is missing. */
	if (has && err->kind != FCT_E_STORE)
		return -1;
	if (ig->pst->keep)
		return fct_err_set(err, FCT_E_CONFIG, "server has no UIDL: Keep yes impossible");
	fct_err_clear(err);
	fct_log_verbose(ig->log, "channel %s: server has no UIDL: messages are identified by "
	                "content", ig->ch->name);
	ig->no_uidl = 1;
	return 0;
}

/* Joins LIST to the UIDL listing (or takes it alone without UIDL). */
static int join_list(struct ingest *ig, const struct pop3_list_ent *l, size_t nl,
                     struct fct_err *err)
{
	size_t n = ig->no_uidl ? nl : ig->nuidls, i, k = 0;

	ig->msgs = fct_xcalloc(n ? n : 1, sizeof *ig->msgs);
	if (ig->no_uidl)
		ig->pseudo = fct_xcalloc(n ? n : 1, sizeof *ig->pseudo);
	for (i = 0; i < n; i++) {
		struct srv_msg *m = &ig->msgs[i];
		m->num = ig->no_uidl ? l[i].num : ig->uidls[i].num;
		if (!ig->no_uidl) {
			m->uidl = ig->uidls[i].uidl;
			m->known = find_known(ig, m->uidl);
		}
		while (k < nl && l[k].num < m->num)
			k++;
		if (k == nl || l[k].num != m->num)
			return fct_err_set(err, FCT_E_PROTO,
			                   "POP3 message %u is in UIDL but not in LIST", m->num);
		m->size = l[k].size;
	}
	ig->nmsgs = n;
	ig->sum->on_server = n;
	return 0;
}

static int list_server(struct ingest *ig, struct fct_err *err)
{
	struct pop3_list_ent *l = NULL;
	size_t nl = 0;
	int rc;

	if (list_uidl(ig, err) < 0 || pop3_list(ig->p, &l, &nl, err) < 0)
		return -1;
	rc = join_list(ig, l, nl, err);
	free(l);
	return rc;
}

/* ---- download ------------------------------------------------------------ */

/* For messages: the UIDL, or what stands for it without UIDL. */
static const char *msg_name(const struct srv_msg *m)
{
	return m->uidl ? m->uidl : "no UIDL";
}

static int sink_begin(void *ctx, unsigned num, struct fct_err *err)
{
	struct dl_batch *b = ctx;

	if (b->next >= b->nwant || b->want[b->next]->num != num)
		return fct_err_set(err, FCT_E_PROTO, "POP3 answer for message %u out of order", num);
	if (md_tmp_open(b->mb, &b->cur, err) < 0)
		return -1;
	b->items[b->nitems].m = b->want[b->next];
	b->items[b->nitems].size = 0;
	b->wlen = 0;
	EVP_DigestInit_ex(b->ig->sha, EVP_sha256(), NULL);
	return 0;
}

/* The decoder hands over a few KB at a time (a TLS record); one write per
 * message instead of one per piece. */
static int sink_write(struct dl_batch *b, struct fct_err *err)
{
	size_t n = b->wlen;

	b->wlen = 0;
	return n ? md_tmp_write(b->cur, b->wbuf, n, err) : 0;
}

static int sink_data(void *ctx, const char *p, size_t n, struct fct_err *err)
{
	struct dl_batch *b = ctx;

	EVP_DigestUpdate(b->ig->sha, p, n);
	b->items[b->nitems].size += n;
	if (b->wlen + n > WBUF_SIZE && sink_write(b, err) < 0)
		return -1;
	if (n >= WBUF_SIZE)
		return md_tmp_write(b->cur, p, n, err);
	memcpy(b->wbuf + b->wlen, p, n);
	b->wlen += n;
	return 0;
}

static int batch_next(struct dl_batch *b, struct fct_err *err);

/* No-UIDL mode: names the message by its content; 1 if that content was
 * already stored (by an earlier run whose QUIT did not happen, or earlier
 * in this run). */
static int pseudo_seen(struct dl_batch *b, struct dl_item *it)
{
	static const char hex[] = "0123456789abcdef";
	struct srv_msg *m = it->m;
	char *pseudo = b->ig->pseudo[m - b->ig->msgs];
	size_t i;

	memcpy(pseudo, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		pseudo[7 + 2 * i] = hex[it->fp[i] >> 4];
		pseudo[8 + 2 * i] = hex[it->fp[i] & 15];
	}
	pseudo[71] = '\0';
	m->uidl = pseudo;
	if (find_known(b->ig, pseudo))
		return 1;
	for (i = 0; i < b->nitems; i++)
		if (strcmp(b->items[i].m->uidl, pseudo) == 0)
			return 1;
	return 0;
}

static int sink_end(void *ctx, unsigned num, struct fct_err *err)
{
	struct dl_batch *b = ctx;
	struct dl_item *it = &b->items[b->nitems];
	struct md_tmp *t = b->cur;

	(void)num;
	if (sink_write(b, err) < 0)
		return -1;
	b->cur = NULL;
	b->next++;
	EVP_DigestFinal_ex(b->ig->sha, it->fp, NULL);
	if (b->ig->no_uidl && pseudo_seen(b, it)) {
		md_tmp_abort(t);
		it->m->stored = 1;
		return 0;
	}
	if (md_tmp_done(t, 0, 0, err) < 0)
		return -1;
	b->nitems++;
	b->bytes += it->m->size;
	if (b->nitems < b->maxn && b->bytes < b->maxb)
		return 0;
	return batch_next(b, err);
}

static int sink_refused(void *ctx, unsigned num, const char *text, struct fct_err *err)
{
	struct dl_batch *b = ctx;

	(void)err;
	fct_log_warn(b->ig->log, "channel %s: server refused message %u (%s): %s; skipped",
	             b->ig->ch->name, num, msg_name(b->want[b->next]), text);
	b->ig->sum->refused++;
	b->next++;
	return 0;
}

static int journal_intent(struct ingest *ig, struct dl_batch *b, struct fct_err *err)
{
	struct jrnl_txn *t;
	struct jrnl_msg m;
	size_t i;

	if (jrnl_begin(ig->j, &t, err) < 0)
		return -1;
	for (i = 0; i < b->nitems; i++) {
		memset(&m, 0, sizeof m);
		m.state = JRNL_PENDING_DOWNLOAD;
		m.size = b->items[i].size;
		m.fp = b->items[i].fp; /* not modified */
		m.aux = (char *)(uintptr_t)b->items[i].m->uidl; /* not modified */
		m.stamp = ig->now;
		if (jrnl_msg_put(t, POP3_JOURNAL_BOX, &m, err) < 0) {
			jrnl_abort(t);
			return -1;
		}
		b->items[i].jid = m.id;
	}
	return jrnl_commit(t, err);
}

/* After commit: the first `done` items are in the folder. */
static int journal_delivered(struct ingest *ig, struct dl_batch *b, size_t done,
                             struct fct_err *err)
{
	struct jrnl_txn *t;
	struct jrnl_uidl u;
	size_t i;

	if (jrnl_begin(ig->j, &t, err) < 0)
		return -1;
	for (i = 0; i < b->nitems; i++) {
		if (i < done) {
			u.uidl = (char *)(uintptr_t)b->items[i].m->uidl; /* not modified */
			u.first_seen = ig->now;
			u.near_uniq = (char *)(uintptr_t)md_batch_uniq(b->mb, i);
			if (jrnl_uidl_put(t, POP3_JOURNAL_BOX, &u, err) < 0)
				goto fail;
		}
		if (jrnl_msg_del(t, POP3_JOURNAL_BOX, b->items[i].jid, err) < 0)
			goto fail;
	}
	return jrnl_commit(t, err);
fail:
	jrnl_abort(t);
	return -1;
}

static int crash_here(struct ingest *ig, int point, struct fct_err *err)
{
	if (ig->o->test_crash != point)
		return 0;
	return fct_err_set(err, FCT_E_CANCEL, "simulated crash at point %d", point);
}

/* Makes the downloaded part of a batch durable: intent, commit, journal. */
static int batch_finish(struct ingest *ig, struct dl_batch *b, struct fct_err *err)
{
	size_t done, i;
	int rc;

	if (b->nitems == 0)
		return 0;
	if (journal_intent(ig, b, err) < 0 || crash_here(ig, POP3SYNC_CRASH_AFTER_INTENT, err))
		return -1;
	rc = md_batch_commit(b->mb, err);
	done = rc == 0 ? b->nitems : md_batch_count(b->mb);
	if (rc == 0 && crash_here(ig, POP3SYNC_CRASH_AFTER_COMMIT, err))
		return -1;
	if (journal_delivered(ig, b, done, err) < 0)
		return -1; /* the pending records let the next run finish the job */
	for (i = 0; i < done; i++) {
		ig->sum->downloaded++;
		ig->sum->bytes += b->items[i].size;
		b->items[i].m->stored = 1;
	}
	/* No-UIDL mode looks new content up in the journal. */
	if (ig->no_uidl && load_known(ig, err) < 0)
		return -1;
	if (rc == 0 && crash_here(ig, POP3SYNC_CRASH_AFTER_JOURNAL, err))
		return -1;
	return rc;
}

/* Makes the full batch durable and starts the next one, while the answers
 * to the RETR commands already sent keep arriving. */
static int batch_next(struct dl_batch *b, struct fct_err *err)
{
	int rc = batch_finish(b->ig, b, err);

	md_batch_free(b->mb);
	b->mb = rc == 0 ? md_batch_new(b->ig->mf) : NULL;
	b->nitems = 0;
	b->bytes = 0;
	return rc;
}

/* One pipelined stream of RETR for every message in want, cut into
 * durable batches as they arrive. */
static int download(struct ingest *ig, struct srv_msg *const *want, size_t n,
                    struct fct_err *err)
{
	struct pop3_sink sink = {sink_begin, sink_data, sink_end, sink_refused, NULL};
	struct dl_batch b;
	unsigned *nums = fct_xcalloc(n, sizeof *nums);
	struct fct_err e2;
	size_t i;
	int rc, rc2 = 0;

	memset(&b, 0, sizeof b);
	b.ig = ig;
	b.mb = md_batch_new(ig->mf);
	b.want = want;
	b.nwant = n;
	b.maxn = ig->o->batch_msgs ? ig->o->batch_msgs : BATCH_MSGS_DEFAULT;
	b.maxb = ig->o->batch_bytes ? ig->o->batch_bytes : BATCH_BYTES_DEFAULT;
	if (b.maxn > n)
		b.maxn = n;
	b.items = fct_xcalloc(b.maxn, sizeof *b.items);
	b.wbuf = fct_xmalloc(WBUF_SIZE);
	sink.ctx = &b;
	for (i = 0; i < n; i++)
		nums[i] = want[i]->num;
	rc = pop3_retr_many(ig->p, nums, n, &sink, err);
	if (b.cur)
		md_tmp_abort(b.cur);
	/* Messages fully received before a failure are still worth keeping. */
	if (b.mb)
		rc2 = batch_finish(ig, &b, rc < 0 ? &e2 : err);
	if (rc == 0)
		rc = rc2;
	else if (rc2 < 0)
		fct_log_error(ig->log, "channel %s: %s", ig->ch->name, e2.msg);
	md_batch_free(b.mb);
	free(b.wbuf);
	free(b.items);
	free(nums);
	return rc;
}

static int over_limit(const struct ingest *ig, const struct srv_msg *m)
{
	return ig->max_size && m->size > ig->max_size;
}

static int download_all(struct ingest *ig, struct fct_err *err)
{
	struct srv_msg **want = fct_xcalloc(ig->nmsgs ? ig->nmsgs : 1, sizeof *want);
	size_t i, n = 0;
	uint64_t bytes = 0;
	int rc = 0;

	for (i = 0; i < ig->nmsgs; i++) {
		struct srv_msg *m = &ig->msgs[i];
		if (m->known)
			continue;
		if (over_limit(ig, m)) {
			fct_log_warn(ig->log, "channel %s: message %u (%s) is %llu bytes, over "
			             "MaxSize: left on the server", ig->ch->name, m->num,
			             msg_name(m), (unsigned long long)m->size);
			ig->sum->too_big++;
			ig->sum->too_big_bytes += m->size;
			continue;
		}
		want[n++] = m;
		bytes += m->size;
	}
	if (n > 0 && ig->o->dry_run) {
		ig->sum->downloaded += n;
		ig->sum->bytes += bytes;
	} else if (n > 0) {
		rc = download(ig, want, n, err);
	}
	free(want);
	return rc;
}

/* ---- forgetting and deleting ------------------------------------------- */

static int cmp_uidl_str(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pop3_uidl_ent *const *)elem)[0]->uidl);
}

static int cmp_uidl_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct pop3_uidl_ent *const *)a)->uidl,
	              (*(const struct pop3_uidl_ent *const *)b)->uidl);
}

/* Journaled UIDLs the server no longer lists are dropped. */
static int forget_gone(struct ingest *ig, struct fct_err *err)
{
	const struct pop3_uidl_ent **idx = fct_xcalloc(ig->nuidls ? ig->nuidls : 1, sizeof *idx);
	struct jrnl_txn *t = NULL;
	size_t i;
	int rc = 0;

	if (ig->no_uidl) {
		free(idx);
		return 0; /* see drop_pseudo() */
	}
	for (i = 0; i < ig->nuidls; i++)
		idx[i] = &ig->uidls[i];
	qsort(idx, ig->nuidls, sizeof *idx, cmp_uidl_ptr);
	for (i = 0; i < ig->nknown && rc == 0; i++) {
		if (ig->nuidls && bsearch(ig->known[i].uidl, idx, ig->nuidls, sizeof *idx,
		                          cmp_uidl_str))
			continue;
		ig->sum->forgotten++;
		if (ig->o->dry_run)
			continue;
		if (!t && jrnl_begin(ig->j, &t, err) < 0)
			rc = -1;
		else
			rc = jrnl_uidl_del(t, POP3_JOURNAL_BOX, ig->known[i].uidl, err);
	}
	if (t && rc == 0)
		rc = jrnl_commit(t, err);
	else if (t)
		jrnl_abort(t);
	free(idx);
	return rc;
}

static int may_delete(const struct ingest *ig, const struct jrnl_uidl *u)
{
	int64_t days = ig->pst->delete_after_days;

	if (!ig->pst->keep)
		return 1;
	return days > 0 && ig->now - u->first_seen >= days * 86400;
}

static int want_delete(const struct ingest *ig, const struct srv_msg *m)
{
	const struct jrnl_uidl *u;

	if (ig->no_uidl)
		return m->stored; /* Keep no */
	u = find_known(ig, m->uidl);
	return u && may_delete(ig, u);
}

/* No-UIDL mode, after a QUIT that removed everything stored: the content
 * names only served to recognise messages a failed QUIT left behind, and
 * none are left now. */
static int drop_pseudo(struct ingest *ig, struct fct_err *err)
{
	struct jrnl_txn *t;
	size_t i;

	if (load_known(ig, err) < 0 || jrnl_begin(ig->j, &t, err) < 0)
		return -1;
	for (i = 0; i < ig->nknown; i++) {
		if (strncmp(ig->known[i].uidl, "sha256:", 7) != 0)
			continue;
		if (jrnl_uidl_del(t, POP3_JOURNAL_BOX, ig->known[i].uidl, err) < 0) {
			jrnl_abort(t);
			return -1;
		}
	}
	return jrnl_commit(t, err);
}

/* DELE what may go; a refusal leaves the session usable and is reported
 * after QUIT (*refused: the first one's message, malloc'd). */
static int mark_deleted(struct ingest *ig, const unsigned *nums, size_t n, size_t *ok,
                        char **refused, struct fct_err *err)
{
	*ok = 0;
	*refused = NULL;
	if (n == 0 || pop3_dele(ig->p, nums, n, ok, err) == 0)
		return 0;
	if (err->kind != FCT_E_MSG) {
		fct_err_prefix(err, "deleting on the POP3 server (nothing was deleted)");
		return -1;
	}
	*refused = fct_xstrdup(err->msg);
	fct_err_clear(err);
	return 0;
}

static int delete_and_quit(struct ingest *ig, struct fct_err *err)
{
	unsigned *nums = fct_xcalloc(ig->nmsgs ? ig->nmsgs : 1, sizeof *nums);
	uint64_t bytes = 0;
	size_t n = 0, i, ok = 0;
	char *refused = NULL;
	int rc = 0;

	if (load_known(ig, err) < 0) {
		free(nums);
		return -1;
	}
	for (i = 0; i < ig->nmsgs; i++) {
		if (want_delete(ig, &ig->msgs[i])) {
			nums[n++] = ig->msgs[i].num;
			bytes += ig->msgs[i].size;
		}
	}
	if (ig->o->dry_run) {
		ig->sum->deleted = n;
		ig->sum->deleted_bytes = bytes;
	} else if (mark_deleted(ig, nums, n, &ok, &refused, err) < 0) {
		free(nums);
		return -1;
	}
	free(nums);
	/* Even after a refusal: QUIT removes the messages the server accepted. */
	if (pop3_quit(ig->p, err) < 0) {
		rc = -1;
	} else if (!ig->o->dry_run) {
		ig->sum->deleted = ok;
		ig->sum->deleted_bytes = ok == n ? bytes : 0;
		/* Only when no stored message can still be on the server.  Messages
		 * over MaxSize were never stored (unless MaxSize shrank between a
		 * failed QUIT and now: accepted, or the names would pile up). */
		if (ig->no_uidl && ok == n && !ig->sum->refused)
			rc = drop_pseudo(ig, err);
		if (rc == 0 && refused)
			rc = fct_err_set(err, FCT_E_STORE, "%zu of %zu messages not deleted on the "
			                 "server (%s); they are stored locally and the next run "
			                 "deletes them again", n - ok, n, refused);
	}
	free(refused);
	return rc;
}

/* ---- the run ------------------------------------------------------------- */

static int ingest_run(struct ingest *ig, struct fct_err *err)
{
	if (check_stores(ig, err) < 0 || open_state(ig, err) < 0 || open_maildir(ig, err) < 0)
		return -1;
	if (load_known(ig, err) < 0 || recover(ig, err) < 0)
		return -1;
	if (connect_server(ig, err) < 0 || list_server(ig, err) < 0)
		return -1;
	if (download_all(ig, err) < 0)
		return -1;
	if (forget_gone(ig, err) < 0)
		return -1;
	return delete_and_quit(ig, err);
}

static void ingest_free(struct ingest *ig)
{
	pop3_close(ig->p);
	free(ig->msgs);
	free(ig->pseudo);
	free(ig->uidls);
	jrnl_uidls_free(ig->known, ig->nknown);
	md_folder_close(ig->mf);
	md_store_free(ig->ms);
	jrnl_close(ig->j);
	fct_lock_release(ig->lock);
	EVP_MD_CTX_free(ig->sha);
}

int pop3_ingest(const struct fct_config *cfg, const struct cfg_channel *ch,
                const struct pop3sync_opts *o, struct pop3sync_summary *sum,
                struct fct_err *err)
{
	struct ingest ig;
	int rc;

	memset(sum, 0, sizeof *sum);
	memset(&ig, 0, sizeof ig);
	sum->dry_run = o->dry_run;
	ig.cfg = cfg;
	ig.ch = ch;
	ig.o = o;
	ig.log = o->log;
	ig.sum = sum;
	ig.now = ingest_now(o);
	ig.sha = EVP_MD_CTX_new();
	if (!ig.sha)
		rc = fct_err_set(err, FCT_E_IO, "cannot allocate a SHA-256 context");
	else
		rc = ingest_run(&ig, err);
	ingest_free(&ig);
	if (rc < 0) {
		char *already = fct_xasprintf("channel %s ", ch->name);
		if (strncmp(err->msg, already, strlen(already)) != 0)
			fct_err_prefix(err, "channel %s", ch->name);
		free(already);
		return -1;
	}
	fct_log_verbose(o->log, "channel %s: %s%zu downloaded (%llu bytes), %zu deleted, "
	             "%zu left on the server over MaxSize", ch->name,
	             o->dry_run ? "dry run: " : "", sum->downloaded,
	             (unsigned long long)sum->bytes, sum->deleted, sum->too_big);
	return 0;
}
