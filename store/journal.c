/* The LMDB journal; see journal.h for the layout and the guarantees. */
#include "store/journal.h"
#include "sync/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_INITIAL ((size_t)1 << 30) /* sparse: costs nothing until used */
#define GROW_TRIES 24 /* doublings per retry: from 64 KiB past 1 TiB */
#define REC_VERSION 1
#define STR_NULL 0xffffffffu

struct jrnl {
	MDB_env *env;
	MDB_dbi meta, boxes, msgs, uidls;
	char *file; /* dir/data.mdb, for messages */
	/* Where the map lies (see drop_resident), found once after every
	 * remap; map_known is cleared by set_mapsize, the one way to remap. */
	int map_known;
	/* /proc/self/statm, to tell how much of the map is resident (see
	 * keep_resident_low); -1 without /proc, where find_map cannot find the
	 * map either, so there is nothing to drop. */
	int statm;
	long file_pages; /* this process's resident file pages after a drop */
	size_t nmap;
	struct { void *lo; size_t len; } map[4];
};

struct jrnl_txn {
	struct jrnl *j;
	MDB_txn *txn;
	int failed;
	/* Every put and delete done so far, to redo them in a fresh
	 * transaction after growing a full map (LMDB cannot resize under an
	 * open transaction). */
	struct fct_buf log;
};

static int lmdb_fail(struct fct_err *err, const struct jrnl *j, int rc, const char *what)
{
	if (rc == MDB_MAP_FULL) {
		MDB_envinfo info;

		mdb_env_info(j->env, &info);
		return fct_err_set(err, FCT_E_STORE, "journal %s: %s: journal full (map size %zu MiB)", j->file, what,
				   info.me_mapsize >> 20);
	}
	return fct_err_set(err, FCT_E_STORE, "journal %s: %s: %s", j->file, what, mdb_strerror(rc));
}

static int corrupt(struct fct_err *err, const struct jrnl *j, const char *what, const char *box)
{
	return fct_err_set(err, FCT_E_STORE, "journal %s: corrupt %s record for box \"%.200s\"", j->file, what, box);
}

/* ---- value encoding: big-endian integers, strings as u32 length + bytes
 * (0xffffffff for NULL), first byte the record version. */

static void put_u32(struct fct_buf *b, uint32_t v)
{
	unsigned char c[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };

	fct_buf_append(b, c, 4);
}

static void put_u64(struct fct_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

static void put_str(struct fct_buf *b, const char *s)
{
	if (!s) {
		put_u32(b, STR_NULL);
		return;
	}
	put_u32(b, (uint32_t)strlen(s));
	fct_buf_puts(b, s);
}

struct dec {
	const unsigned char *p;
	size_t n, off;
	int bad;
	struct pool *pool; /* strings go here when set, else malloc'd */
};

static int need(struct dec *d, size_t k)
{
	if (d->bad || d->n - d->off < k) {
		d->bad = 1;
		return 0;
	}
	return 1;
}

static uint8_t get_u8(struct dec *d)
{
	return need(d, 1) ? d->p[d->off++] : 0;
}

static uint32_t get_u32(struct dec *d)
{
	uint32_t v;

	if (!need(d, 4))
		return 0;
	v = (uint32_t)d->p[d->off] << 24 | (uint32_t)d->p[d->off + 1] << 16 | (uint32_t)d->p[d->off + 2] << 8 |
	    d->p[d->off + 3];
	d->off += 4;
	return v;
}

static uint64_t get_u64(struct dec *d)
{
	uint64_t hi = get_u32(d);

	return hi << 32 | get_u32(d);
}

static char *get_str(struct dec *d)
{
	uint32_t len = get_u32(d);
	char *s;

	if (d->bad || len == STR_NULL)
		return NULL;
	if (!need(d, len) || memchr(d->p + d->off, '\0', len)) {
		d->bad = 1;
		return NULL;
	}
	if (d->pool)
		s = pool_dupn(d->pool, (const char *)d->p + d->off, len);
	else
		s = fct_xstrndup((const char *)d->p + d->off, len);
	d->off += len;
	return s;
}

static void dec_init(struct dec *d, const MDB_val *v)
{
	d->p = v->mv_data;
	d->n = v->mv_size;
	d->off = 0;
	d->bad = 0;
	d->pool = NULL;
	if (get_u8(d) != REC_VERSION)
		d->bad = 1;
}

/* A record must be consumed exactly. */
static int dec_ok(const struct dec *d)
{
	return !d->bad && d->off == d->n;
}

static void enc_box(struct fct_buf *b, const struct jrnl_box *x)
{
	fct_buf_putc(b, REC_VERSION);
	put_u32(b, x->uidvalidity);
	put_u32(b, x->uidnext);
	put_u64(b, x->highestmodseq);
	put_u64(b, (uint64_t)x->near_stamp);
	put_u64(b, x->next_id);
	put_str(b, x->near_name);
}

static int dec_box(const MDB_val *v, struct jrnl_box *x)
{
	struct dec d;

	dec_init(&d, v);
	x->uidvalidity = get_u32(&d);
	x->uidnext = get_u32(&d);
	x->highestmodseq = get_u64(&d);
	x->near_stamp = (int64_t)get_u64(&d);
	x->next_id = get_u64(&d);
	x->near_name = get_str(&d);
	if (!dec_ok(&d)) {
		jrnl_box_clear(x);
		return -1;
	}
	return 0;
}

static void enc_msg(struct fct_buf *b, const struct jrnl_msg *m)
{
	fct_buf_putc(b, REC_VERSION);
	put_u32(b, m->far_uid);
	put_u32(b, m->flags);
	fct_buf_putc(b, (char)m->state);
	put_u64(b, m->size);
	fct_buf_putc(b, m->fp ? 1 : 0);
	if (m->fp)
		fct_buf_append(b, m->fp, JRNL_FP_LEN);
	put_u32(b, m->upload_uidnext);
	put_u64(b, (uint64_t)m->stamp);
	put_str(b, m->near_uniq);
	put_str(b, m->msgid);
	put_str(b, m->aux);
	/* Optional trailer, absent when NULL: records without it are the
	 * same bytes older versions wrote and read. */
	if (m->emailid)
		put_str(b, m->emailid);
}

void jrnl_msg_clear(struct jrnl_msg *m)
{
	if (!(m->shared & JRNL_SHARED_NEAR_UNIQ))
		free(m->near_uniq);
	if (!(m->shared & JRNL_SHARED_MSGID))
		free(m->msgid);
	if (!(m->shared & JRNL_SHARED_AUX))
		free(m->aux);
	if (!(m->shared & JRNL_SHARED_EMAILID))
		free(m->emailid);
	if (!(m->shared & JRNL_SHARED_FP))
		free(m->fp);
	memset(m, 0, sizeof *m);
}

static unsigned shared_bit(const struct jrnl_msg *m, char *const *field)
{
	if (field == &m->near_uniq)
		return JRNL_SHARED_NEAR_UNIQ;
	if (field == &m->msgid)
		return JRNL_SHARED_MSGID;
	if (field == &m->aux)
		return JRNL_SHARED_AUX;
	return JRNL_SHARED_EMAILID;
}

void jrnl_msg_set_str(struct jrnl_msg *m, char **field, const char *src)
{
	unsigned bit = shared_bit(m, field);

	if (*field == src)
		return;
	if (!(m->shared & bit))
		free(*field);
	*field = src ? fct_xstrdup(src) : NULL;
	m->shared &= (uint8_t)~bit;
}

void jrnl_msg_set_fp(struct jrnl_msg *m, const unsigned char *fp)
{
	if (m->fp == fp)
		return;
	if (!(m->shared & JRNL_SHARED_FP))
		free(m->fp);
	m->fp = NULL;
	m->shared &= (uint8_t)~JRNL_SHARED_FP;
	if (fp)
		m->fp = memcpy(fct_xmalloc(JRNL_FP_LEN), fp, JRNL_FP_LEN);
}

/* Skips a string, for a lean load; 1 if it is not NULL. */
static int skip_str(struct dec *d)
{
	uint32_t len = get_u32(d);

	if (d->bad || len == STR_NULL)
		return 0;
	if (!need(d, len) || memchr(d->p + d->off, '\0', len)) {
		d->bad = 1;
		return 0;
	}
	d->off += len;
	return 1;
}

static unsigned char *get_fp(struct dec *d)
{
	unsigned char *fp;

	if (!need(d, JRNL_FP_LEN))
		return NULL;
	fp = d->pool ? (unsigned char *)pool_alloc(d->pool, JRNL_FP_LEN) : fct_xmalloc(JRNL_FP_LEN);
	memcpy(fp, d->p + d->off, JRNL_FP_LEN);
	d->off += JRNL_FP_LEN;
	return fp;
}

/* pool: where the strings go (loading a box), or NULL to malloc each.
 * lean: a synchronized record's Message-ID and fingerprint are skipped. */
static int dec_msg(const MDB_val *v, struct jrnl_msg *m, struct pool *pool, int lean)
{
	struct dec d;
	uint8_t has_fp;

	memset(m, 0, sizeof *m);
	dec_init(&d, v);
	d.pool = pool;
	m->far_uid = get_u32(&d);
	m->flags = get_u32(&d);
	m->state = get_u8(&d);
	m->size = get_u64(&d);
	has_fp = get_u8(&d);
	if (has_fp > 1 || m->state > JRNL_SKIPPED || (m->flags & ~FCT_F_ALL))
		d.bad = 1;
	lean = lean && m->state == JRNL_SYNCED;
	if (has_fp && lean && need(&d, JRNL_FP_LEN))
		d.off += JRNL_FP_LEN;
	else if (has_fp)
		m->fp = get_fp(&d);
	m->upload_uidnext = get_u32(&d);
	m->stamp = (int64_t)get_u64(&d);
	m->near_uniq = get_str(&d);
	if (lean)
		m->lean = (uint8_t)(skip_str(&d) | has_fp);
	else
		m->msgid = get_str(&d);
	m->aux = get_str(&d);
	if (!d.bad && d.off < d.n) {
		m->emailid = get_str(&d);
		if (!m->emailid)
			d.bad = 1; /* the trailer is never written as NULL */
	}
	if (pool) /* the strings are the pool's; a NULL one is nobody's */
		m->shared = (uint8_t)((m->near_uniq ? JRNL_SHARED_NEAR_UNIQ : 0) |
		                      (m->msgid ? JRNL_SHARED_MSGID : 0) |
		                      (m->aux ? JRNL_SHARED_AUX : 0) |
		                      (m->emailid ? JRNL_SHARED_EMAILID : 0) |
		                      (m->fp ? JRNL_SHARED_FP : 0));
	if (!dec_ok(&d)) {
		jrnl_msg_clear(m);
		return -1;
	}
	return 0;
}

/* ---- keys: box NUL suffix */

static int make_key(struct fct_buf *k, const struct jrnl *j, const char *box, const void *suf, size_t n,
		    struct fct_err *err)
{
	fct_buf_reset(k);
	fct_buf_puts(k, box);
	fct_buf_putc(k, '\0');
	fct_buf_append(k, suf, n);
	if (k->len > (size_t)mdb_env_get_maxkeysize(j->env))
		return fct_err_set(err, FCT_E_FOLDER, "journal %s: box \"%.200s\": name too long for the journal",
				   j->file, box);
	return 0;
}

static void be64(unsigned char out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (unsigned char)v;
}

static uint64_t from_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- environment */

/* Resident file-backed pages of this process (statm's third field), or -1
 * when /proc cannot tell. */
static long file_pages(const struct jrnl *j)
{
	char buf[128];
	unsigned long shared;
	ssize_t n;

	if (j->statm < 0 || (n = pread(j->statm, buf, sizeof buf - 1, 0)) <= 0)
		return -1;
	buf[n] = '\0';
	return sscanf(buf, "%*u %*u %lu", &shared) == 1 && shared <= LONG_MAX ? (long)shared : -1;
}

/* Every mdb_env_set_mapsize goes through here: it may move the map. */
static int set_mapsize(struct jrnl *j, size_t size)
{
	j->map_known = 0;
	return mdb_env_set_mapsize(j->env, size);
}

/* mdb_txn_begin, adopting the map size another process grew the map to. */
static int txn_begin(struct jrnl *j, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(j->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && (rc = set_mapsize(j, 0)) == 0)
		rc = mdb_txn_begin(j->env, NULL, flags, txn);
	return rc;
}

static int check_schema(struct jrnl *j, MDB_txn *txn, struct fct_err *err)
{
	MDB_val k = { 6, (void *)(uintptr_t) "schema" }, v;
	unsigned char ver[4] = { 0, 0, 0, JRNL_SCHEMA };
	int rc = mdb_get(txn, j->meta, &k, &v);

	if (rc == 0) {
		const unsigned char *p = v.mv_data;
		uint32_t have;

		if (v.mv_size != 4)
			return fct_err_set(err, FCT_E_STORE, "journal %s: corrupt schema record", j->file);
		have = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		if (have != JRNL_SCHEMA)
			return fct_err_set(err, FCT_E_STORE,
					   "journal %s: schema version %u, this facteur knows only version %d", j->file,
					   have, JRNL_SCHEMA);
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return lmdb_fail(err, j, rc, "reading the schema version");
	/* No version: only a brand-new journal may be stamped, never a damaged one. */
	MDB_stat st;
	MDB_dbi dbis[] = { j->boxes, j->msgs, j->uidls };
	for (size_t i = 0; i < 3; i++) {
		if ((rc = mdb_stat(txn, dbis[i], &st)) != 0)
			return lmdb_fail(err, j, rc, "stat");
		if (st.ms_entries)
			return fct_err_set(err, FCT_E_STORE, "journal %s: schema version missing", j->file);
	}
	v.mv_size = 4;
	v.mv_data = ver;
	if ((rc = mdb_put(txn, j->meta, &k, &v, 0)) != 0)
		return lmdb_fail(err, j, rc, "writing the schema version");
	return 0;
}

static int open_dbis(struct jrnl *j, struct fct_err *err)
{
	static const char *const names[] = { "meta", "boxes", "msgs", "uidls" };
	MDB_dbi *dbis[] = { &j->meta, &j->boxes, &j->msgs, &j->uidls };
	MDB_txn *txn;
	int rc;

	if ((rc = txn_begin(j, 0, &txn)) != 0)
		return lmdb_fail(err, j, rc, "open");
	for (size_t i = 0; i < 4; i++) {
		if ((rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i])) != 0) {
			mdb_txn_abort(txn);
			return lmdb_fail(err, j, rc, names[i]);
		}
	}
	if (check_schema(j, txn, err) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return lmdb_fail(err, j, rc, "open");
	return 0;
}

static int mkdir_p(const char *dir, struct fct_err *err)
{
	char *p = fct_xstrdup(dir);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = fct_err_sys(err, errno, "journal %s: mkdir %s", dir, p);
		*s = c;
		if (rc < 0 || c == '\0')
			break;
	}
	free(p);
	return rc;
}

int jrnl_open(struct jrnl **out, const char *dir, struct fct_err *err)
{
	return jrnl_open_size(out, dir, 0, err);
}

int jrnl_open_size(struct jrnl **out, const char *dir, size_t map_size, struct fct_err *err)
{
	struct jrnl *j;
	struct stat st;
	int rc, dead;

	*out = NULL;
	if (mkdir_p(dir, err) < 0)
		return -1;
	j = fct_xcalloc(1, sizeof *j);
	j->statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	j->file = fct_xasprintf("%s/data.mdb", dir);
	/* LMDB would silently start afresh on an empty file: a reset, refused. */
	if (stat(j->file, &st) == 0 && st.st_size == 0) {
		fct_err_set(err, FCT_E_STORE, "journal %s: empty file (truncated?); remove it to start over", j->file);
		goto fail;
	}
	if ((rc = mdb_env_create(&j->env)) != 0) {
		lmdb_fail(err, j, rc, "create");
		j->env = NULL;
		goto fail;
	}
	mdb_env_set_maxdbs(j->env, 8);
	/* A smaller map than the data is raised to the data's size by LMDB. */
	set_mapsize(j, map_size ? map_size : MAP_INITIAL);
	/* NOTLS: read transactions are not tied to the thread, so a getter can
	 * run while this process holds the write transaction. */
	if ((rc = mdb_env_open(j->env, dir, MDB_NOTLS, 0600)) != 0) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED)
			fct_err_set(err, FCT_E_STORE, "journal %s: not a valid journal file (%s)", j->file,
				    mdb_strerror(rc));
		else
			lmdb_fail(err, j, rc, "open");
		goto fail;
	}
	/* Free reader slots left by crashed processes. */
	mdb_reader_check(j->env, &dead);
	if (open_dbis(j, err) < 0)
		goto fail;
	j->file_pages = file_pages(j);
	*out = j;
	return 0;
fail:
	if (j->env)
		mdb_env_close(j->env);
	if (j->statm >= 0)
		close(j->statm);
	free(j->file);
	free(j);
	return -1;
}

void jrnl_close(struct jrnl *j)
{
	if (!j)
		return;
	mdb_env_close(j->env);
	if (j->statm >= 0)
		close(j->statm);
	free(j->file);
	free(j);
}

/* Doubles the map when it is three quarters used, so a put never meets
 * MDB_MAP_FULL in practice.  Only legal with no transaction open here. */
static int maybe_grow(struct jrnl *j, struct fct_err *err)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if (mdb_env_info(j->env, &info) != 0 || mdb_env_stat(j->env, &st) != 0)
		return 0;
	if ((info.me_last_pgno + 1) * (size_t)st.ms_psize < info.me_mapsize / 4 * 3)
		return 0;
	/* Not fatal: with room left the run goes on, and a put that really
	 * meets MDB_MAP_FULL says so clearly. */
	(void)err;
	rc = set_mapsize(j, info.me_mapsize * 2);
	(void)rc;
	return 0;
}

int jrnl_begin(struct jrnl *j, struct jrnl_txn **out, struct fct_err *err)
{
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if (maybe_grow(j, err) < 0)
		return -1;
	if ((rc = txn_begin(j, 0, &txn)) != 0)
		return lmdb_fail(err, j, rc, "begin");
	*out = fct_xcalloc(1, sizeof **out);
	(*out)->j = j;
	(*out)->txn = txn;
	fct_buf_init(&(*out)->log);
	return 0;
}

enum { OP_PUT = 'p', OP_DEL = 'd' };

static void log_val(struct fct_buf *b, const MDB_val *v)
{
	size_t n = v->mv_size;

	fct_buf_append(b, &n, sizeof n);
	fct_buf_append(b, v->mv_data, n);
}

static MDB_val read_val(const char **p)
{
	MDB_val v;

	memcpy(&v.mv_size, *p, sizeof v.mv_size);
	v.mv_data = (void *)(uintptr_t)(*p + sizeof v.mv_size);
	*p += sizeof v.mv_size + v.mv_size;
	return v;
}

static int apply(MDB_txn *txn, char op, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	return op == OP_PUT ? mdb_put(txn, dbi, k, v, 0) : mdb_del(txn, dbi, k, NULL);
}

/* Redoes the logged changes in a new transaction, doubling the map until
 * they fit.  The base state is what the lost transaction started from: the
 * run lock makes this process the only writer. */
static int grow_replay(struct jrnl_txn *t)
{
	int rc = MDB_MAP_FULL;

	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
	for (int i = 0; i < GROW_TRIES && rc == MDB_MAP_FULL; i++) {
		MDB_envinfo info;
		const char *p = t->log.data, *end = p + t->log.len;

		mdb_env_info(t->j->env, &info);
		if (info.me_mapsize > SIZE_MAX / 2)
			break;
		if ((rc = set_mapsize(t->j, info.me_mapsize * 2)) != 0 ||
		    (rc = txn_begin(t->j, 0, &t->txn)) != 0)
			return rc;
		while (rc == 0 && p < end) {
			char op = *p++;
			MDB_dbi dbi;
			MDB_val k, v = { 0, NULL };

			memcpy(&dbi, p, sizeof dbi);
			p += sizeof dbi;
			k = read_val(&p);
			if (op == OP_PUT)
				v = read_val(&p);
			rc = apply(t->txn, op, dbi, &k, &v);
		}
		if (rc != 0) {
			mdb_txn_abort(t->txn);
			t->txn = NULL;
		}
	}
	return rc;
}

/* Finds the map in /proc/self/maps by the data file's device and inode:
 * LMDB does not tell where its map is (mdb_env_info reports only a fixed
 * address).  Only shared read-only mappings count (no MDB_WRITEMAP). */
static void find_map(struct jrnl *j)
{
	struct stat st;
	mdb_filehandle_t fd;
	FILE *f;
	char line[512];

	j->map_known = 1;
	j->nmap = 0;
	if (mdb_env_get_fd(j->env, &fd) != 0 || fstat(fd, &st) < 0 ||
	    !(f = fopen("/proc/self/maps", "re")))
		return;
	while (fgets(line, sizeof line, f) && j->nmap < sizeof j->map / sizeof j->map[0]) {
		unsigned long lo, hi, off, ino;
		unsigned maj, min;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &min,
		           &ino) != 7)
			continue;
		if (ino == (unsigned long)st.st_ino && makedev(maj, min) == st.st_dev &&
		    !strcmp(perms, "r--s")) {
			j->map[j->nmap].lo = (void *)lo;
			j->map[j->nmap].len = hi - lo;
			j->nmap++;
		}
	}
	fclose(f);
}

/* Records walked between two looks at the resident set (a look is one
 * read of statm, a drop one page-table walk of the map's resident part). */
#define JRNL_WALK_LOOK 64

/* Drops the map's pages from this process's resident set; they stay in
 * the page cache and fault back in on the next read.  Without it a long run
 * ends with every journal page it read or wrote counted as its own (4 MB
 * for 20,000 messages).  Nothing can be lost: the mapping is read-only and
 * shared.  The address is looked up again after any remap. */
static void drop_resident(struct jrnl *j)
{
	if (!j->map_known)
		find_map(j);
	for (size_t i = 0; i < j->nmap; i++)
		(void)madvise(j->map[i].lo, j->map[i].len, MADV_DONTNEED);
}

static void drop_and_note(struct jrnl *j)
{
	drop_resident(j);
	j->file_pages = file_pages(j);
}

/* Every page LMDB reads maps its neighbours too (the kernel's fault-around:
 * 64 KB, or a large folio of the page cache), and a box's leaves lie
 * scattered over the file, so a few reads or updates soon have megabytes of
 * it counted as this process's own.  Dropping at a fixed rate either lets
 * that happen or pays for drops that free nothing (a pull appends to the
 * same leaves); this drops once the process's file pages have grown by
 * JRNL_RESIDENT_MAX since the last drop.  Library pages count in that too,
 * which only makes a drop come early. */
static void keep_resident_low(struct jrnl *j)
{
	long now = file_pages(j), page = sysconf(_SC_PAGESIZE);

	if (now < 0 || page <= 0)
		return;
	if (j->file_pages < 0 || now < j->file_pages)
		j->file_pages = now; /* the kernel reclaimed some: count from here */
	else if ((now - j->file_pages) * page >= JRNL_RESIDENT_MAX)
		drop_and_note(j);
}

/* mdb_put (v) or mdb_del (v NULL) inside t, growing a full map. */
static int txn_op(struct jrnl_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	char op = v ? OP_PUT : OP_DEL;
	int rc;

	if (!t->txn) /* lost by a growth that failed; t->failed is set */
		return MDB_BAD_TXN;
	rc = apply(t->txn, op, dbi, k, v);
	keep_resident_low(t->j);

	if (rc != 0 && rc != MDB_MAP_FULL)
		return rc;
	fct_buf_putc(&t->log, op);
	fct_buf_append(&t->log, &dbi, sizeof dbi);
	log_val(&t->log, k);
	if (v)
		log_val(&t->log, v);
	return rc == MDB_MAP_FULL ? grow_replay(t) : 0;
}

int jrnl_commit(struct jrnl_txn *t, struct fct_err *err)
{
	struct jrnl *j = t->j;
	int rc;

	if (t->failed) {
		jrnl_abort(t);
		return fct_err_set(err, FCT_E_STORE, "journal %s: commit after a failed update; changes dropped",
				   j->file);
	}
	rc = t->txn ? mdb_txn_commit(t->txn) : MDB_BAD_TXN;
	/* Commit frees the transaction even when it fails. */
	for (int i = 0; i < 4 && rc == MDB_MAP_FULL; i++) {
		t->txn = NULL;
		if ((rc = grow_replay(t)) == 0)
			rc = mdb_txn_commit(t->txn);
	}
	fct_buf_free(&t->log);
	free(t);
	if (rc != 0)
		return lmdb_fail(err, j, rc, "commit");
	drop_and_note(j);
	return 0;
}

void jrnl_abort(struct jrnl_txn *t)
{
	if (!t)
		return;
	if (t->txn)
		mdb_txn_abort(t->txn);
	fct_buf_free(&t->log);
	free(t);
}

static int txn_fail(struct jrnl_txn *t, struct fct_err *err, int rc, const char *what)
{
	t->failed = 1;
	return lmdb_fail(err, t->j, rc, what);
}

static int rd_begin(struct jrnl *j, MDB_txn **txn, struct fct_err *err)
{
	int rc = txn_begin(j, MDB_RDONLY, txn);

	return rc ? lmdb_fail(err, j, rc, "read") : 0;
}

/* Ends a read transaction.  Single reads (a box's record, a message's)
 * come in runs, one per folder or per move, each mapping a leaf and its
 * neighbours. */
static void rd_end(struct jrnl *j, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	keep_resident_low(j);
}

/* ---- boxes */

static int box_read(struct jrnl *j, MDB_txn *txn, const char *box, struct jrnl_box *out, int *found,
		    struct fct_err *err)
{
	MDB_val k = { strlen(box), (void *)(uintptr_t)box }, v;
	int rc;

	memset(out, 0, sizeof *out);
	*found = 0;
	if (!txn)
		return lmdb_fail(err, j, MDB_BAD_TXN, box);
	if (k.mv_size == 0 || k.mv_size > (size_t)mdb_env_get_maxkeysize(j->env))
		return fct_err_set(err, FCT_E_FOLDER, "journal %s: box \"%.200s\": bad name for the journal",
				   j->file, box);
	rc = mdb_get(txn, j->boxes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return lmdb_fail(err, j, rc, box);
	if (dec_box(&v, out) < 0)
		return corrupt(err, j, "box", box);
	*found = 1;
	return 0;
}

int jrnl_box_get(struct jrnl *j, const char *box, struct jrnl_box *out, int *found, struct fct_err *err)
{
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof *out);
	*found = 0;
	if (rd_begin(j, &txn, err) < 0)
		return -1;
	rc = box_read(j, txn, box, out, found, err);
	rd_end(j, txn);
	return rc;
}

void jrnl_box_clear(struct jrnl_box *b)
{
	free(b->near_name);
	memset(b, 0, sizeof *b);
}

static int box_write(struct jrnl_txn *t, const char *box, const struct jrnl_box *b, struct fct_err *err)
{
	MDB_val k = { strlen(box), (void *)(uintptr_t)box }, v;
	struct fct_buf enc;
	int rc;

	fct_buf_init(&enc);
	enc_box(&enc, b);
	v.mv_size = enc.len;
	v.mv_data = enc.data;
	rc = txn_op(t, t->j->boxes, &k, &v);
	fct_buf_free(&enc);
	return rc ? txn_fail(t, err, rc, box) : 0;
}

int jrnl_box_put(struct jrnl_txn *t, const char *box, const struct jrnl_box *b, struct fct_err *err)
{
	struct jrnl_box old, nb = *b;
	int found;

	if (box_read(t->j, t->txn, box, &old, &found, err) < 0) {
		t->failed = 1;
		return -1;
	}
	if (found && old.next_id > nb.next_id)
		nb.next_id = old.next_id;
	jrnl_box_clear(&old);
	return box_write(t, box, &nb, err);
}

/* Deletes every key of dbi starting with box NUL. */
static int del_prefix(struct jrnl_txn *t, MDB_dbi dbi, const char *box, struct fct_err *err)
{
	struct fct_buf pre, key;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	fct_buf_init(&pre);
	fct_buf_init(&key);
	if (make_key(&pre, t->j, box, NULL, 0, err) < 0) {
		fct_buf_free(&pre);
		t->failed = 1;
		return -1;
	}
	/* A fresh cursor per key: a delete that grows the map replaces the
	 * transaction the cursor belongs to. */
	do {
		if (!t->txn || (rc = mdb_cursor_open(t->txn, dbi, &c)) != 0) {
			rc = t->txn ? rc : MDB_BAD_TXN;
			break;
		}
		k.mv_size = pre.len;
		k.mv_data = pre.data;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && (k.mv_size < pre.len || memcmp(k.mv_data, pre.data, pre.len) != 0))
			rc = MDB_NOTFOUND;
		if (rc == 0) {
			fct_buf_reset(&key);
			fct_buf_append(&key, k.mv_data, k.mv_size);
		}
		mdb_cursor_close(c);
		k.mv_size = key.len;
		k.mv_data = key.data;
	} while (rc == 0 && (rc = txn_op(t, dbi, &k, NULL)) == 0);
	fct_buf_free(&pre);
	fct_buf_free(&key);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return txn_fail(t, err, rc, box);
	return 0;
}

int jrnl_box_del(struct jrnl_txn *t, const char *box, struct fct_err *err)
{
	MDB_val k = { strlen(box), (void *)(uintptr_t)box };
	int rc;

	if (del_prefix(t, t->j->msgs, box, err) < 0 || del_prefix(t, t->j->uidls, box, err) < 0)
		return -1;
	rc = txn_op(t, t->j->boxes, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return txn_fail(t, err, rc, box);
	return 0;
}

int jrnl_box_list(struct jrnl *j, int (*cb)(void *ctx, const char *box), void *ctx, struct fct_err *err)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (rd_begin(j, &txn, err) < 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, j->boxes, &c)) != 0) {
		rd_end(j, txn);
		return lmdb_fail(err, j, rc, "list");
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char *name;

		if (memchr(k.mv_data, '\0', k.mv_size)) {
			ret = fct_err_set(err, FCT_E_STORE, "journal %s: corrupt box key", j->file);
			break;
		}
		name = fct_xstrndup(k.mv_data, k.mv_size);
		ret = cb(ctx, name);
		free(name);
		if (ret)
			break;
	}
	if (!ret && rc != MDB_NOTFOUND)
		ret = lmdb_fail(err, j, rc, "list");
	mdb_cursor_close(c);
	rd_end(j, txn);
	return ret;
}

/* ---- messages */

static int msg_cmp(const void *a, const void *b)
{
	const struct jrnl_msg *x = a, *y = b;

	if (x->far_uid != y->far_uid)
		return x->far_uid < y->far_uid ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Calls each(ctx, key suffix, value) for every key box NUL ... of dbi. */
static int scan_prefix(struct jrnl *j, MDB_dbi dbi, const char *box,
		       int (*each)(void *ctx, const MDB_val *suf, const MDB_val *v), void *ctx, struct fct_err *err)
{
	struct fct_buf pre;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;
	size_t seen = 0;

	fct_buf_init(&pre);
	if (make_key(&pre, j, box, NULL, 0, err) < 0 || rd_begin(j, &txn, err) < 0) {
		fct_buf_free(&pre);
		return -1;
	}
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		rd_end(j, txn);
		fct_buf_free(&pre);
		return lmdb_fail(err, j, rc, box);
	}
	k.mv_size = pre.len;
	k.mv_data = pre.data;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val suf;

		if (k.mv_size < pre.len || memcmp(k.mv_data, pre.data, pre.len) != 0)
			break;
		suf.mv_size = k.mv_size - pre.len;
		suf.mv_data = (char *)k.mv_data + pre.len;
		if ((ret = each(ctx, &suf, &v)) != 0)
			break;
		if (++seen % JRNL_WALK_LOOK == 0)
			keep_resident_low(j); /* a walk of a large box touches every page */
	}
	if (!ret && rc != 0 && rc != MDB_NOTFOUND)
		ret = lmdb_fail(err, j, rc, box);
	else if (ret)
		ret = -1;
	mdb_cursor_close(c);
	rd_end(j, txn);
	fct_buf_free(&pre);
	if (seen >= JRNL_WALK_LOOK)
		drop_and_note(j);
	return ret;
}

/* A loaded array is preceded by this header, which owns the records'
 * strings (the union keeps the records aligned). */
union msgs_hdr {
	struct pool pool;
	struct jrnl_msg align;
};

struct msgs_acc {
	union msgs_hdr *h; /* records follow it */
	size_t n, cap;
	int lean;
};

static struct jrnl_msg *acc_msgs(const struct msgs_acc *a)
{
	return (struct jrnl_msg *)(a->h + 1);
}

static int msgs_each(void *ctx, const MDB_val *suf, const MDB_val *v)
{
	struct msgs_acc *a = ctx;
	struct jrnl_msg m;

	if (suf->mv_size != 8 || dec_msg(v, &m, &a->h->pool, a->lean) < 0)
		return 1;
	m.id = from_be64(suf->mv_data);
	if (a->n == a->cap) {
		a->cap = a->cap * 2;
		a->h = fct_xrealloc(a->h, sizeof *a->h + a->cap * sizeof m);
	}
	acc_msgs(a)[a->n++] = m;
	return 0;
}

struct each_ctx {
	int (*each)(void *ctx, const struct jrnl_msg *m);
	void *ctx;
	int ret;
};

static int each_one(void *ctx, const MDB_val *suf, const MDB_val *v)
{
	struct each_ctx *e = ctx;
	struct jrnl_msg m;

	if (suf->mv_size != 8 || dec_msg(v, &m, NULL, 0) < 0)
		return 1;
	m.id = from_be64(suf->mv_data);
	e->ret = e->each(e->ctx, &m);
	jrnl_msg_clear(&m);
	return e->ret ? 1 : 0;
}

int jrnl_msgs_each(struct jrnl *j, const char *box, int (*each)(void *ctx, const struct jrnl_msg *m),
                   void *ctx, struct fct_err *err)
{
	struct each_ctx e = { each, ctx, 0 };
	struct fct_err e2;

	fct_err_clear(&e2);
	if (scan_prefix(j, j->msgs, box, each_one, &e, &e2) < 0) {
		if (e.ret)
			return e.ret;
		if (e2.kind == FCT_E_NONE)
			return corrupt(err, j, "message", box);
		*err = e2;
		return -1;
	}
	return 0;
}

static int msgs_load(struct jrnl *j, const char *box, int lean, struct jrnl_msg **out, size_t *n,
                     struct fct_err *err)
{
	struct msgs_acc a = { NULL, 0, 64, lean };
	struct fct_err e2;

	*out = NULL;
	*n = 0;
	fct_err_clear(&e2);
	a.h = fct_xmalloc(sizeof *a.h + a.cap * sizeof **out);
	a.h->pool.head = NULL;
	if (scan_prefix(j, j->msgs, box, msgs_each, &a, &e2) < 0) {
		jrnl_msgs_free(acc_msgs(&a), a.n);
		if (e2.kind == FCT_E_NONE)
			return corrupt(err, j, "message", box);
		*err = e2;
		return -1;
	}
	if (!a.n) {
		jrnl_msgs_free(acc_msgs(&a), 0);
		return 0;
	}
	qsort(acc_msgs(&a), a.n, sizeof **out, msg_cmp);
	*out = acc_msgs(&a);
	*n = a.n;
	return 0;
}

int jrnl_msgs_load(struct jrnl *j, const char *box, struct jrnl_msg **out, size_t *n, struct fct_err *err)
{
	return msgs_load(j, box, 0, out, n, err);
}

int jrnl_msgs_load_lean(struct jrnl *j, const char *box, struct jrnl_msg **out, size_t *n,
                        struct fct_err *err)
{
	return msgs_load(j, box, 1, out, n, err);
}

void jrnl_msgs_free(struct jrnl_msg *m, size_t n)
{
	union msgs_hdr *h;

	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		jrnl_msg_clear(&m[i]);
	h = (union msgs_hdr *)(void *)m - 1;
	pool_free(&h->pool);
	free(h);
}

/* The stored record under key k (*found 0 if none). */
static int stored_msg(struct jrnl *j, MDB_txn *txn, MDB_val *k, const char *box, struct jrnl_msg *m,
                      int *found, struct fct_err *err)
{
	MDB_val v;
	int rc;

	*found = 0;
	if (!txn)
		return lmdb_fail(err, j, MDB_BAD_TXN, box);
	rc = mdb_get(txn, j->msgs, k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return lmdb_fail(err, j, rc, box);
	if (dec_msg(&v, m, NULL, 0) < 0)
		return corrupt(err, j, "message", box);
	*found = 1;
	return 0;
}

/* Gives lean m, under key k, the stored Message-ID and fingerprint it
 * lacks; m owns them from then on. */
static int fill_lean(struct jrnl *j, MDB_txn *txn, MDB_val *k, const char *box, struct jrnl_msg *m,
                     struct fct_err *err)
{
	struct jrnl_msg old;
	int found = 0;

	if (stored_msg(j, txn, k, box, &old, &found, err) < 0)
		return -1;
	if (found && !m->msgid) {
		m->msgid = old.msgid;
		old.msgid = NULL;
	}
	if (found && !m->fp) {
		m->fp = old.fp;
		old.fp = NULL;
	}
	if (found)
		jrnl_msg_clear(&old);
	m->lean = 0;
	return 0;
}

int jrnl_msg_complete(struct jrnl *j, const char *box, struct jrnl_msg *m, struct fct_err *err)
{
	struct fct_buf key;
	unsigned char idb[8];
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if (!m->lean)
		return 0;
	fct_buf_init(&key);
	be64(idb, m->id);
	if (make_key(&key, j, box, idb, 8, err) < 0 || rd_begin(j, &txn, err) < 0) {
		fct_buf_free(&key);
		return -1;
	}
	k.mv_size = key.len;
	k.mv_data = key.data;
	rc = fill_lean(j, txn, &k, box, m, err);
	rd_end(j, txn);
	fct_buf_free(&key);
	return rc;
}

int jrnl_msg_put(struct jrnl_txn *t, const char *box, struct jrnl_msg *m, struct fct_err *err)
{
	struct jrnl_box b;
	struct fct_buf key, enc;
	unsigned char idb[8];
	MDB_val k, v;
	int found, rc;

	if (box_read(t->j, t->txn, box, &b, &found, err) < 0) {
		t->failed = 1;
		return -1;
	}
	if (b.next_id == 0)
		b.next_id = 1;
	if (m->id == 0)
		m->id = b.next_id;
	if (m->id >= b.next_id) {
		b.next_id = m->id + 1;
		rc = box_write(t, box, &b, err);
		if (rc < 0) {
			jrnl_box_clear(&b);
			return -1;
		}
	}
	jrnl_box_clear(&b);
	fct_buf_init(&key);
	fct_buf_init(&enc);
	be64(idb, m->id);
	if (make_key(&key, t->j, box, idb, 8, err) < 0) {
		rc = -1;
		t->failed = 1;
		goto out;
	}
	k.mv_size = key.len;
	k.mv_data = key.data;
	/* A lean record left its Message-ID and fingerprint in the journal. */
	if (m->lean && fill_lean(t->j, t->txn, &k, box, m, err) < 0) {
		rc = -1;
		t->failed = 1;
		goto out;
	}
	enc_msg(&enc, m);
	v.mv_size = enc.len;
	v.mv_data = enc.data;
	rc = txn_op(t, t->j->msgs, &k, &v);
	if (rc)
		rc = txn_fail(t, err, rc, box);
out:
	fct_buf_free(&key);
	fct_buf_free(&enc);
	return rc;
}

int jrnl_msg_del(struct jrnl_txn *t, const char *box, uint64_t id, struct fct_err *err)
{
	struct fct_buf key;
	unsigned char idb[8];
	MDB_val k;
	int rc;

	fct_buf_init(&key);
	be64(idb, id);
	if (make_key(&key, t->j, box, idb, 8, err) < 0) {
		fct_buf_free(&key);
		t->failed = 1;
		return -1;
	}
	k.mv_size = key.len;
	k.mv_data = key.data;
	rc = txn_op(t, t->j->msgs, &k, NULL);
	fct_buf_free(&key);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return txn_fail(t, err, rc, box);
	return 0;
}

/* ---- POP3 UIDLs */

struct uidl_acc {
	struct jrnl_uidl *u;
	size_t n, cap;
};

static int uidls_each(void *ctx, const MDB_val *suf, const MDB_val *v)
{
	struct uidl_acc *a = ctx;
	struct jrnl_uidl u;
	struct dec d;

	if (suf->mv_size == 0 || memchr(suf->mv_data, '\0', suf->mv_size))
		return 1;
	dec_init(&d, v);
	u.first_seen = (int64_t)get_u64(&d);
	u.near_uniq = get_str(&d);
	if (!dec_ok(&d)) {
		free(u.near_uniq);
		return 1;
	}
	u.uidl = fct_xstrndup(suf->mv_data, suf->mv_size);
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->u = fct_xrealloc(a->u, a->cap * sizeof *a->u);
	}
	a->u[a->n++] = u;
	return 0;
}

int jrnl_uidl_load(struct jrnl *j, const char *box, struct jrnl_uidl **out, size_t *n, struct fct_err *err)
{
	struct uidl_acc a = { NULL, 0, 0 };
	struct fct_err e2;

	*out = NULL;
	*n = 0;
	fct_err_clear(&e2);
	if (scan_prefix(j, j->uidls, box, uidls_each, &a, &e2) < 0) {
		jrnl_uidls_free(a.u, a.n);
		if (e2.kind == FCT_E_NONE)
			return corrupt(err, j, "UIDL", box);
		*err = e2;
		return -1;
	}
	*out = a.u;
	*n = a.n;
	return 0;
}

void jrnl_uidls_free(struct jrnl_uidl *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(u[i].uidl);
		free(u[i].near_uniq);
	}
	free(u);
}

static int uidl_key(struct jrnl_txn *t, struct fct_buf *key, const char *box, const char *uidl, struct fct_err *err)
{
	if (!*uidl) {
		t->failed = 1;
		return fct_err_set(err, FCT_E_MSG, "journal %s: box \"%.200s\": empty UIDL", t->j->file, box);
	}
	if (make_key(key, t->j, box, uidl, strlen(uidl), err) < 0) {
		t->failed = 1;
		err->kind = FCT_E_MSG;
		return -1;
	}
	return 0;
}

/* Creates an empty box record if box has none, so jrnl_box_list sees it. */
static int ensure_box(struct jrnl_txn *t, const char *box, struct fct_err *err)
{
	struct jrnl_box b;
	int found;

	if (box_read(t->j, t->txn, box, &b, &found, err) < 0) {
		t->failed = 1;
		return -1;
	}
	jrnl_box_clear(&b);
	return found ? 0 : box_write(t, box, &b, err);
}

int jrnl_uidl_put(struct jrnl_txn *t, const char *box, const struct jrnl_uidl *u, struct fct_err *err)
{
	struct fct_buf key, enc;
	MDB_val k, v;
	int rc = -1;

	if (ensure_box(t, box, err) < 0)
		return -1;
	fct_buf_init(&key);
	fct_buf_init(&enc);
	if (uidl_key(t, &key, box, u->uidl, err) == 0) {
		fct_buf_putc(&enc, REC_VERSION);
		put_u64(&enc, (uint64_t)u->first_seen);
		put_str(&enc, u->near_uniq);
		k.mv_size = key.len;
		k.mv_data = key.data;
		v.mv_size = enc.len;
		v.mv_data = enc.data;
		rc = txn_op(t, t->j->uidls, &k, &v);
		if (rc)
			rc = txn_fail(t, err, rc, box);
	}
	fct_buf_free(&key);
	fct_buf_free(&enc);
	return rc;
}

int jrnl_uidl_del(struct jrnl_txn *t, const char *box, const char *uidl, struct fct_err *err)
{
	struct fct_buf key;
	MDB_val k;
	int rc = -1;

	fct_buf_init(&key);
	if (uidl_key(t, &key, box, uidl, err) == 0) {
		k.mv_size = key.len;
		k.mv_data = key.data;
		rc = txn_op(t, t->j->uidls, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		else if (rc)
			rc = txn_fail(t, err, rc, box);
	}
	fct_buf_free(&key);
	return rc;
}

/* ---- dump */

static const char *state_name(uint8_t s)
{
	static const char *const names[] = { "synced",   "pending-download", "pending-upload", "pending-move",
					     "far-only", "near-only",        "skipped" };

	return s <= JRNL_SKIPPED ? names[s] : "?";
}

struct dump_ctx {
	struct jrnl *j;
	FILE *fp;
	struct fct_err *err;
};

static int dump_box(void *ctx, const char *box)
{
	struct dump_ctx *d = ctx;
	struct jrnl_box b;
	struct jrnl_msg *m;
	struct jrnl_uidl *u;
	size_t n, i;
	int found;

	if (jrnl_box_get(d->j, box, &b, &found, d->err) < 0)
		return -1;
	fprintf(d->fp, "box %s: uidvalidity %u uidnext %u highestmodseq %llu near %s stamp %lld next-id %llu\n",
		box, b.uidvalidity, b.uidnext, (unsigned long long)b.highestmodseq,
		b.near_name ? b.near_name : "-", (long long)b.near_stamp, (unsigned long long)b.next_id);
	jrnl_box_clear(&b);
	if (jrnl_msgs_load(d->j, box, &m, &n, d->err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char fl[7], fp[JRNL_FP_LEN * 2 + 9] = "";

		fct_flags_to_letters(m[i].flags, fl);
		if (m[i].fp) {
			memcpy(fp, " sha256 ", 8);
			for (size_t k = 0; k < JRNL_FP_LEN; k++)
				snprintf(fp + 8 + 2 * k, 3, "%02x", m[i].fp[k]);
		}
		fprintf(d->fp, "  msg %llu: uid %u near %s flags %s %s size %llu%s%s%s%s%s%s%s\n",
			(unsigned long long)m[i].id, m[i].far_uid, m[i].near_uniq ? m[i].near_uniq : "-",
			fl[0] ? fl : "-", state_name(m[i].state), (unsigned long long)m[i].size,
			m[i].msgid ? " msgid " : "", m[i].msgid ? m[i].msgid : "", m[i].aux ? " aux " : "",
			m[i].aux ? m[i].aux : "", m[i].emailid ? " emailid " : "",
			m[i].emailid ? m[i].emailid : "", fp);
	}
	jrnl_msgs_free(m, n);
	if (jrnl_uidl_load(d->j, box, &u, &n, d->err) < 0)
		return -1;
	for (i = 0; i < n; i++)
		fprintf(d->fp, "  uidl %s: first-seen %lld near %s\n", u[i].uidl, (long long)u[i].first_seen,
			u[i].near_uniq ? u[i].near_uniq : "-");
	jrnl_uidls_free(u, n);
	return 0;
}

int jrnl_dump(struct jrnl *j, FILE *fp, struct fct_err *err)
{
	struct dump_ctx d = { j, fp, err };

	fprintf(fp, "journal %s (schema %d)\n", j->file, JRNL_SCHEMA);
	return jrnl_box_list(j, dump_box, &d, err) ? -1 : 0;
}
