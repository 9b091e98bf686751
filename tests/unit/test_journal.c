#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/journal.h"

static char dir[80];

/* A fresh directory under TMPDIR (short ones only: paths are built in
 * fixed buffers). */
static char *make_tmpdir(char *buf, size_t n, const char *tag)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base || strlen(base) > 40)
		base = P_tmpdir;
	snprintf(buf, n, "%s/fct-%s-XXXXXX", base, tag);
	return mkdtemp(buf);
}

static int setup(void **state)
{
	(void)state;
	return make_tmpdir(dir, sizeof dir, "jrnl") ? 0 : -1;
}

static int teardown(void **state)
{
	char p[128];

	(void)state;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static struct jrnl *open_ok(void)
{
	struct jrnl *j = NULL;
	struct fct_err e;

	if (jrnl_open(&j, dir, &e) < 0)
		fail_msg("jrnl_open: %s", e.msg);
	return j;
}

static void put_msg(struct jrnl *j, const char *box, struct jrnl_msg *m)
{
	struct jrnl_txn *t;
	struct fct_err e;

	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_msg_put(t, box, m, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
}

static void box_round_trip(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_txn *t;
	char nearname[] = "Near/Box";
	struct jrnl_box b = { 12345, 77, (uint64_t)1 << 40, -5, 0, nearname }, r;
	struct fct_err e;
	int found = -1;

	(void)state;
	assert_int_equal(jrnl_box_get(j, "INBOX", &r, &found, &e), 0);
	assert_int_equal(found, 0);
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_put(t, "INBOX", &b, &e), 0);
	/* Readers see the last committed state, and do not block. */
	assert_int_equal(jrnl_box_get(j, "INBOX", &r, &found, &e), 0);
	assert_int_equal(found, 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	jrnl_close(j);

	j = open_ok();
	assert_int_equal(jrnl_box_get(j, "INBOX", &r, &found, &e), 0);
	assert_int_equal(found, 1);
	assert_int_equal(r.uidvalidity, 12345);
	assert_int_equal(r.uidnext, 77);
	assert_true(r.highestmodseq == (uint64_t)1 << 40);
	assert_true(r.near_stamp == -5);
	assert_string_equal(r.near_name, "Near/Box");
	jrnl_box_clear(&r);
	/* NULL strings survive as NULL. */
	b.near_name = NULL;
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_put(t, "INBOX", &b, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	assert_int_equal(jrnl_box_get(j, "INBOX", &r, &found, &e), 0);
	assert_null(r.near_name);
	jrnl_close(j);
}

static void msgs_round_trip(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_msg m, *all;
	unsigned char fp[JRNL_FP_LEN];
	struct fct_err e;
	size_t n, i;

	(void)state;
	/* Insert in descending UID order; load sorts by far_uid then id. */
	for (i = 0; i < 50; i++) {
		memset(&m, 0, sizeof m);
		m.far_uid = (uint32_t)(1000 - i);
		m.flags = (unsigned)i & FCT_F_ALL;
		m.state = (uint8_t)(i % 7);
		m.size = i * 1000;
		memset(fp, (int)i, sizeof fp);
		m.fp = i & 1 ? fp : NULL;
		m.near_uniq = i % 3 ? fct_xasprintf("uniq%zu,S=%zu", i, i * 1000) : NULL;
		m.msgid = i % 5 ? fct_xasprintf("<m%zu@x>", i) : NULL;
		m.upload_uidnext = (uint32_t)i;
		m.stamp = (int64_t)i - 10;
		m.aux = i == 7 ? fct_xstrdup("Archive") : NULL;
		put_msg(j, "box", &m);
		assert_true(m.id == i + 1);
		free(m.near_uniq);
		free(m.msgid);
		free(m.aux);
	}
	/* Another box with a name that prefixes this one: kept apart. */
	memset(&m, 0, sizeof m);
	m.far_uid = 1;
	put_msg(j, "bo", &m);
	put_msg(j, "box2", &m);
	jrnl_close(j);

	j = open_ok();
	assert_int_equal(jrnl_msgs_load(j, "box", &all, &n, &e), 0);
	assert_int_equal(n, 50);
	for (i = 0; i < n; i++) {
		size_t k = 49 - i; /* inserted index */
		assert_int_equal(all[i].far_uid, 1000 - k);
		assert_true(all[i].id == k + 1);
		assert_int_equal(all[i].flags, k & FCT_F_ALL);
		assert_int_equal(all[i].state, k % 7);
		assert_true(all[i].size == k * 1000);
		assert_int_equal(all[i].fp != NULL, (int)(k & 1));
		if (all[i].fp)
			assert_int_equal(all[i].fp[31], (unsigned char)k);
		if (k % 3)
			assert_non_null(all[i].near_uniq);
		else
			assert_null(all[i].near_uniq);
		if (k % 5) {
			char want[32];
			snprintf(want, sizeof want, "<m%zu@x>", k);
			assert_string_equal(all[i].msgid, want);
		}
		assert_true(all[i].stamp == (int64_t)k - 10);
		assert_int_equal(all[i].upload_uidnext, k);
		if (k == 7)
			assert_string_equal(all[i].aux, "Archive");
	}
	jrnl_msgs_free(all, n);
	assert_int_equal(jrnl_msgs_load(j, "bo", &all, &n, &e), 0);
	assert_int_equal(n, 1);
	jrnl_msgs_free(all, n);
	assert_int_equal(jrnl_msgs_load(j, "nothing", &all, &n, &e), 0);
	assert_int_equal(n, 0);
	jrnl_close(j);
}

/* Loaded records' strings belong to the array; replacing one, even twice
 * or where there was none, frees what the record owns and nothing else
 * (the sanitizer build checks that), and the new values are stored. */
static void loaded_strings_replaced(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_msg m, *all;
	struct fct_err e;
	size_t n;

	(void)state;
	memset(&m, 0, sizeof m);
	m.far_uid = 5;
	m.near_uniq = fct_xstrdup("u1");
	m.msgid = fct_xstrdup("<a@x>");
	put_msg(j, "box", &m);
	free(m.near_uniq);
	free(m.msgid);
	assert_int_equal(jrnl_msgs_load(j, "box", &all, &n, &e), 0);
	assert_int_equal(n, 1);
	jrnl_msg_set_str(&all[0], &all[0].near_uniq, "u2");
	jrnl_msg_set_str(&all[0], &all[0].near_uniq, "u3");
	jrnl_msg_set_str(&all[0], &all[0].emailid, "E1");
	jrnl_msg_set_str(&all[0], &all[0].msgid, NULL);
	jrnl_msg_set_str(&all[0], &all[0].aux, all[0].aux); /* NULL to itself */
	put_msg(j, "box", &all[0]);
	jrnl_msgs_free(all, n);
	assert_int_equal(jrnl_msgs_load(j, "box", &all, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(all[0].near_uniq, "u3");
	assert_string_equal(all[0].emailid, "E1");
	assert_null(all[0].msgid);
	assert_null(all[0].aux);
	jrnl_msgs_free(all, n);
	jrnl_close(j);
}

/* A lean load leaves a synchronized record's Message-ID and fingerprint
 * in the journal: a put keeps them, unless the record brings its own, and
 * jrnl_msg_complete reads them. */
static void lean_records(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_msg m, *all;
	unsigned char fp[JRNL_FP_LEN];
	struct fct_err e;
	size_t n;

	(void)state;
	memset(fp, 0xab, sizeof fp);
	for (int i = 0; i < 3; i++) {
		memset(&m, 0, sizeof m);
		m.far_uid = (uint32_t)i + 1;
		m.near_uniq = fct_xasprintf("u%d", i);
		m.msgid = fct_xasprintf("<m%d@x>", i);
		m.fp = fp;
		m.state = i == 2 ? JRNL_PENDING_UPLOAD : JRNL_SYNCED;
		put_msg(j, "box", &m);
		free(m.near_uniq);
		free(m.msgid);
	}
	assert_int_equal(jrnl_msgs_load_lean(j, "box", &all, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(all[0].near_uniq, "u0");
	assert_int_equal(all[0].lean, 1);
	assert_null(all[0].msgid);
	assert_null(all[0].fp);
	assert_int_equal(all[2].lean, 0); /* pending: loaded whole */
	assert_string_equal(all[2].msgid, "<m2@x>");
	assert_non_null(all[2].fp);
	all[0].flags = FCT_F_SEEN;
	put_msg(j, "box", &all[0]);
	jrnl_msg_set_str(&all[1], &all[1].msgid, "<new@x>");
	put_msg(j, "box", &all[1]);
	assert_int_equal(jrnl_msg_complete(j, "box", &all[0], &e), 0);
	assert_int_equal(all[0].lean, 0);
	assert_string_equal(all[0].msgid, "<m0@x>");
	assert_non_null(all[0].fp);
	assert_memory_equal(all[0].fp, fp, sizeof fp);
	jrnl_msgs_free(all, n);

	assert_int_equal(jrnl_msgs_load(j, "box", &all, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_int_equal(all[0].flags, FCT_F_SEEN);
	assert_string_equal(all[0].msgid, "<m0@x>");
	assert_non_null(all[0].fp);
	assert_memory_equal(all[0].fp, fp, sizeof fp);
	assert_string_equal(all[1].msgid, "<new@x>");
	assert_non_null(all[1].fp);
	assert_int_equal(all[1].lean, 0);
	jrnl_msgs_free(all, n);
	jrnl_close(j);
}

static void ids_never_reused(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_txn *t;
	struct jrnl_msg m;
	struct jrnl_box b, stale;
	struct fct_err e;
	int found;

	(void)state;
	memset(&m, 0, sizeof m);
	put_msg(j, "b", &m);
	assert_true(m.id == 1);
	assert_int_equal(jrnl_box_get(j, "b", &stale, &found, &e), 0);
	assert_int_equal(found, 1);
	m.id = 0;
	put_msg(j, "b", &m);
	assert_true(m.id == 2);
	/* Writing back a stale box record must not rewind the id counter. */
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_put(t, "b", &stale, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	jrnl_box_clear(&stale);
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_msg_del(t, "b", 2, &e), 0);
	assert_int_equal(jrnl_msg_del(t, "b", 999, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	m.id = 0;
	put_msg(j, "b", &m);
	assert_true(m.id == 3);
	/* An explicit id above the counter moves it forward. */
	m.id = 10;
	put_msg(j, "b", &m);
	m.id = 0;
	put_msg(j, "b", &m);
	assert_true(m.id == 11);
	assert_int_equal(jrnl_box_get(j, "b", &b, &found, &e), 0);
	assert_true(b.next_id == 12);
	jrnl_box_clear(&b);
	jrnl_close(j);
}

static int count_cb(void *ctx, const char *box)
{
	(void)box;
	++*(int *)ctx;
	return 0;
}

static void box_delete_and_abort(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_txn *t;
	struct jrnl_msg m, *all;
	char uid1[] = "UID1", n1[] = "n1";
	struct jrnl_uidl u = { uid1, 100, n1 }, *us;
	struct fct_err e;
	size_t n;
	int boxes = 0;

	(void)state;
	for (int i = 0; i < 300; i++) {
		memset(&m, 0, sizeof m);
		put_msg(j, "gone", &m);
	}
	put_msg(j, "stay", &m);
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_uidl_put(t, "gone", &u, &e), 0);
	assert_int_equal(jrnl_uidl_put(t, "stay", &u, &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	/* Aborted: nothing changes. */
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_del(t, "gone", &e), 0);
	jrnl_abort(t);
	assert_int_equal(jrnl_msgs_load(j, "gone", &all, &n, &e), 0);
	assert_int_equal(n, 300);
	jrnl_msgs_free(all, n);
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_del(t, "gone", &e), 0);
	assert_int_equal(jrnl_box_del(t, "never-there", &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	assert_int_equal(jrnl_msgs_load(j, "gone", &all, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(jrnl_uidl_load(j, "gone", &us, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(jrnl_uidl_load(j, "stay", &us, &n, &e), 0);
	assert_int_equal(n, 1);
	jrnl_uidls_free(us, n);
	assert_int_equal(jrnl_msgs_load(j, "stay", &all, &n, &e), 0);
	assert_int_equal(n, 1);
	jrnl_msgs_free(all, n);
	assert_int_equal(jrnl_box_list(j, count_cb, &boxes, &e), 0);
	assert_int_equal(boxes, 1);
	jrnl_close(j);
}

static void uidls(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_txn *t;
	struct jrnl_uidl u, *all;
	struct fct_err e;
	size_t n;
	char id[16];
	char *dump = NULL;
	size_t dumplen = 0;
	FILE *fp;

	(void)state;
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	for (int i = 9; i >= 0; i--) {
		snprintf(id, sizeof id, "uidl-%d", i);
		u.uidl = id;
		u.first_seen = 1000 + i;
		u.near_uniq = i == 3 ? NULL : id;
		assert_int_equal(jrnl_uidl_put(t, "pop", &u, &e), 0);
	}
	assert_int_equal(jrnl_uidl_del(t, "pop", "uidl-5", &e), 0);
	assert_int_equal(jrnl_uidl_del(t, "pop", "absent", &e), 0);
	id[0] = '\0';
	u.uidl = id;
	assert_int_equal(jrnl_uidl_put(t, "pop", &u, &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	/* A failed put poisons the transaction: nothing is written. */
	assert_int_equal(jrnl_commit(t, &e), -1);
	assert_int_equal(jrnl_uidl_load(j, "pop", &all, &n, &e), 0);
	assert_int_equal(n, 0);

	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "uidl-%d", i);
		u.uidl = id;
		u.first_seen = 1000 + i;
		u.near_uniq = i == 3 ? NULL : id;
		assert_int_equal(jrnl_uidl_put(t, "pop", &u, &e), 0);
	}
	assert_int_equal(jrnl_uidl_del(t, "pop", "uidl-5", &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	assert_int_equal(jrnl_uidl_load(j, "pop", &all, &n, &e), 0);
	assert_int_equal(n, 9);
	assert_string_equal(all[0].uidl, "uidl-0");
	assert_true(all[3].first_seen == 1003);
	assert_null(all[3].near_uniq);
	assert_string_equal(all[5].uidl, "uidl-6");
	assert_string_equal(all[5].near_uniq, "uidl-6");
	jrnl_uidls_free(all, n);

	fp = open_memstream(&dump, &dumplen);
	assert_int_equal(jrnl_dump(j, fp, &e), 0);
	fclose(fp);
	assert_non_null(strstr(dump, "box pop:"));
	assert_non_null(strstr(dump, "uidl uidl-9: first-seen 1009 near uidl-9"));
	free(dump);
	jrnl_close(j);
}

/* Writes a raw record with LMDB directly, bypassing the journal. */
static void raw_put(const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)(uintptr_t)key }, v = { vlen, (void *)(uintptr_t)val };

	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void schema_mismatch(void **state)
{
	struct jrnl *j = open_ok();
	struct fct_err e;
	const unsigned char v2[4] = { 0, 0, 0, 2 };

	(void)state;
	jrnl_close(j);
	raw_put("meta", "schema", 6, v2, 4);
	j = NULL;
	assert_int_equal(jrnl_open(&j, dir, &e), -1);
	assert_null(j);
	assert_int_equal(e.kind, FCT_E_STORE);
	assert_non_null(strstr(e.msg, "data.mdb"));
	assert_non_null(strstr(e.msg, "schema version 2"));
	/* Refused again: nothing was reset. */
	assert_int_equal(jrnl_open(&j, dir, &e), -1);
}

static void corrupt_file(void **state)
{
	struct jrnl *j = NULL;
	struct fct_err e;
	char p[128], junk[16384];
	int fd;

	(void)state;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 7 + 3);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof junk), sizeof junk);
	close(fd);
	assert_int_equal(jrnl_open(&j, dir, &e), -1);
	assert_null(j);
	assert_int_equal(e.kind, FCT_E_STORE);
	assert_non_null(strstr(e.msg, p));
}

static void empty_file_refused(void **state)
{
	struct jrnl *j = NULL;
	struct fct_err e;
	char p[128];
	int fd;

	(void)state;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(jrnl_open(&j, dir, &e), -1);
	assert_int_equal(e.kind, FCT_E_STORE);
	assert_non_null(strstr(e.msg, "empty file"));
}

static void nested_dir_created(void **state)
{
	struct jrnl *j = NULL;
	struct fct_err e;
	char p[128], q[160];

	(void)state;
	snprintf(p, sizeof p, "%s/x/y", dir);
	assert_int_equal(jrnl_open(&j, p, &e), 0);
	jrnl_close(j);
	snprintf(q, sizeof q, "%s/data.mdb", p);
	assert_int_equal(access(q, F_OK), 0);
	unlink(q);
	snprintf(q, sizeof q, "%s/lock.mdb", p);
	unlink(q);
	rmdir(p);
	snprintf(p, sizeof p, "%s/x", dir);
	rmdir(p);
}

static void corrupt_record(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_msg m, *all;
	struct jrnl_box b;
	struct fct_err e;
	size_t n;
	int found;
	const unsigned char key[] = { 'b', 0, 0, 0, 0, 0, 0, 0, 0, 9 };
	const unsigned char truncated[] = { 1, 0, 0, 0 };
	const unsigned char hugestr[] = { 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff };

	(void)state;
	memset(&m, 0, sizeof m);
	put_msg(j, "b", &m);
	jrnl_close(j);
	raw_put("msgs", key, sizeof key, truncated, sizeof truncated);
	raw_put("boxes", "c", 1, hugestr, sizeof hugestr);
	j = open_ok();
	assert_int_equal(jrnl_msgs_load(j, "b", &all, &n, &e), -1);
	assert_int_equal(e.kind, FCT_E_STORE);
	assert_non_null(strstr(e.msg, "corrupt message record for box \"b\""));
	assert_non_null(strstr(e.msg, "data.mdb"));
	assert_int_equal(jrnl_box_get(j, "c", &b, &found, &e), -1);
	assert_non_null(strstr(e.msg, "corrupt box record"));
	jrnl_close(j);
}

/* EMAILID is an optional trailer: records written before it existed load
 * (without one), new ones keep it, and a trailer saying NULL is corrupt. */
static void emailid_trailer(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_msg m, *all;
	struct fct_err e;
	size_t n;
	const unsigned char key7[] = { 'b', 0, 0, 0, 0, 0, 0, 0, 0, 7 };
	const unsigned char key8[] = { 'b', 0, 0, 0, 0, 0, 0, 0, 0, 8 };
	/* version 1, uid 5, flags 0, synced, size 3, no fp, uidnext 0, stamp 0,
	 * near "u", msgid NULL, aux NULL */
	unsigned char old[] = { 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0,
				0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'u', 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff };
	unsigned char nulltrailer[sizeof old + 4];
	char eid[] = "M6d99ac3275bb4e";

	(void)state;
	memset(&m, 0, sizeof m);
	m.far_uid = 9;
	m.emailid = eid;
	put_msg(j, "b", &m);
	jrnl_close(j);
	raw_put("msgs", key7, sizeof key7, old, sizeof old);
	j = open_ok();
	assert_int_equal(jrnl_msgs_load(j, "b", &all, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(all[0].far_uid, 5);
	assert_string_equal(all[0].near_uniq, "u");
	assert_null(all[0].emailid);
	assert_int_equal(all[1].far_uid, 9);
	assert_string_equal(all[1].emailid, "M6d99ac3275bb4e");
	jrnl_msgs_free(all, n);
	jrnl_close(j);
	memcpy(nulltrailer, old, sizeof old);
	memset(nulltrailer + sizeof old, 0xff, 4);
	raw_put("msgs", key8, sizeof key8, nulltrailer, sizeof nulltrailer);
	j = open_ok();
	assert_int_equal(jrnl_msgs_load(j, "b", &all, &n, &e), -1);
	assert_int_equal(e.kind, FCT_E_STORE);
	jrnl_close(j);
}

/* Random record bytes: every load either decodes or reports FCT_E_STORE;
 * never a crash, never garbage accepted silently (run under ASan). */
static void fuzz_records(void **state)
{
	struct jrnl *j;
	struct jrnl_msg m, *all;
	struct jrnl_uidl *us;
	struct fct_err e;
	unsigned char val[96], key[10] = { 'f', 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	unsigned seed = 12345;
	size_t n;
	int bad = 0;

	(void)state;
	j = open_ok();
	memset(&m, 0, sizeof m);
	put_msg(j, "f", &m);
	jrnl_close(j);
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof val);
		for (size_t i = 0; i < len; i++)
			val[i] = (unsigned char)rand_r(&seed);
		if (len && round % 2)
			val[0] = 1; /* a valid version byte gets deeper into the decoder */
		raw_put(round % 3 ? "msgs" : "uidls", key, round % 3 ? sizeof key : 3, val, len);
		j = open_ok();
		if (jrnl_msgs_load(j, "f", &all, &n, &e) == 0)
			jrnl_msgs_free(all, n);
		else {
			assert_int_equal(e.kind, FCT_E_STORE);
			bad++;
		}
		if (jrnl_uidl_load(j, "f", &us, &n, &e) == 0)
			jrnl_uidls_free(us, n);
		else
			assert_int_equal(e.kind, FCT_E_STORE);
		jrnl_close(j);
	}
	assert_true(bad > 0);
}

static void long_box_name(void **state)
{
	struct jrnl *j = open_ok();
	struct jrnl_txn *t;
	struct jrnl_msg m;
	struct fct_err e;
	char name[1200];

	(void)state;
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	memset(&m, 0, sizeof m);
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_msg_put(t, name, &m, &e), -1);
	assert_int_equal(e.kind, FCT_E_FOLDER);
	jrnl_abort(t);
	jrnl_close(j);
}

/* ---- map growth: a journal started with a tiny map must hold any amount */

#define SMALL_MAP ((size_t)64 << 10)

static struct jrnl *open_small(void)
{
	struct jrnl *j = NULL;
	struct fct_err e;

	if (jrnl_open_size(&j, dir, SMALL_MAP, &e) < 0)
		fail_msg("jrnl_open_size: %s", e.msg);
	return j;
}

static off_t data_size(void)
{
	char p[128];
	struct stat st;

	snprintf(p, sizeof p, "%s/data.mdb", dir);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Records first..first+n-1 of box, each in its own identifiable shape. */
static int put_range(struct jrnl_txn *t, const char *box, uint32_t first, uint32_t n, struct fct_err *e)
{
	for (uint32_t u = first; u < first + n; u++) {
		struct jrnl_msg m;
		int rc;

		memset(&m, 0, sizeof m);
		m.far_uid = u;
		m.size = (uint64_t)u * 3;
		m.near_uniq = fct_xasprintf("1700000000.M%uP4242N%u.host.example.org,S=%u", u, u, u * 3);
		m.msgid = fct_xasprintf("<grow.%u@journal.test.example.org>", u);
		rc = jrnl_msg_put(t, box, &m, e);
		free(m.near_uniq);
		free(m.msgid);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void write_range(struct jrnl *j, const char *box, uint32_t first, uint32_t n)
{
	struct jrnl_txn *t;
	struct fct_err e;

	if (jrnl_begin(j, &t, &e) < 0)
		fail_msg("begin: %s", e.msg);
	if (put_range(t, box, first, n, &e) < 0) {
		jrnl_abort(t);
		fail_msg("put: %s", e.msg);
	}
	if (jrnl_commit(t, &e) < 0)
		fail_msg("commit: %s", e.msg);
}

/* box holds exactly the records first..first+n-1, intact. */
static void check_range(struct jrnl *j, const char *box, uint32_t first, uint32_t n)
{
	struct jrnl_msg *all;
	struct fct_err e;
	size_t got;
	char want[96];

	if (jrnl_msgs_load(j, box, &all, &got, &e) < 0)
		fail_msg("load: %s", e.msg);
	assert_int_equal(got, n);
	for (size_t i = 0; i < got; i++) {
		uint32_t u = first + (uint32_t)i;

		assert_int_equal(all[i].far_uid, u);
		assert_true(all[i].size == (uint64_t)u * 3);
		snprintf(want, sizeof want, "1700000000.M%uP4242N%u.host.example.org,S=%u", u, u, u * 3);
		assert_string_equal(all[i].near_uniq, want);
		snprintf(want, sizeof want, "<grow.%u@journal.test.example.org>", u);
		assert_string_equal(all[i].msgid, want);
	}
	jrnl_msgs_free(all, got);
}

/* Resident kB of this process's map of the journal in dir (Linux). */
static long map_rss_kb(void)
{
	char want[128], line[512];
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long lo, hi;
	long kb = 0, v;
	int in = 0;

	if (!f)
		fail_msg("no /proc/self/smaps");
	snprintf(want, sizeof want, "%s/data.mdb", dir);
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
			in = n >= strlen(want) && strcmp(line + n - strlen(want), want) == 0;
		else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
			kb += v;

	}
	fclose(f);
	return kb;
}

/* What one read or update may map on its own, beyond JRNL_RESIDENT_MAX:
 * the root, a branch and a leaf, each with its 64 KB of fault-around. */
#define ONE_OP_KB 192
#define RESIDENT_BOUND_KB (JRNL_RESIDENT_MAX / 1024 + ONE_OP_KB)

/* 60 boxes of 300 records each: a few MB, each box's leaves together.
 * Returns the journal reopened: of its map, only what opening reads. */
static struct jrnl *open_boxes(void)
{
	struct jrnl *j = open_ok();
	char box[16];

	for (int b = 0; b < 60; b++) {
		snprintf(box, sizeof box, "Box%02d", b);
		write_range(j, box, 1, 300);
	}
	jrnl_close(j);
	return open_ok();
}

/* The map's resident share now is within the bound; *max_kb keeps the
 * largest seen. */
static void check_resident(long *max_kb)
{
	long kb = map_rss_kb();

	*max_kb = kb > *max_kb ? kb : *max_kb;
	assert_in_range(kb, 0, RESIDENT_BOUND_KB);
}

/* Single reads (a box's record, one per folder; a lean record's Message-ID,
 * one per move) map journal pages into this process; a run of them never
 * leaves more than JRNL_RESIDENT_MAX of the file counted as its own. */
static void single_reads_keep_few_pages(void **state)
{
	struct jrnl *j = open_boxes();
	struct jrnl_msg *lean[60];
	size_t nlean[60];
	struct fct_err e;
	char box[16];
	long max_kb = 0;

	(void)state;
	for (int b = 0; b < 60; b++) {
		snprintf(box, sizeof box, "Box%02d", b);
		assert_int_equal(jrnl_msgs_load_lean(j, box, &lean[b], &nlean[b], &e), 0);
		assert_int_equal(nlean[b], 300);
	}
	for (int r = 0; r < 60; r++) {
		int b = (r * 7) % 60;
		struct jrnl_msg *m = &lean[b][(r * 13) % 300];
		struct jrnl_box got;
		char want[64];
		int found = 0;

		snprintf(box, sizeof box, "Box%02d", b);
		assert_int_equal(jrnl_box_get(j, box, &got, &found, &e), 0);
		assert_true(found);
		jrnl_box_clear(&got);
		check_resident(&max_kb);
		assert_null(m->msgid);
		assert_int_equal(jrnl_msg_complete(j, box, m, &e), 0);
		snprintf(want, sizeof want, "<grow.%u@journal.test.example.org>", m->far_uid);
		assert_string_equal(m->msgid, want);
		check_resident(&max_kb);
	}
	assert_true(max_kb > 0); /* the measure sees a read's pages at all */
	for (int b = 0; b < 60; b++)
		jrnl_msgs_free(lean[b], nlean[b]);
	jrnl_close(j);
}

/* Updates spread over many boxes (flags changed on the server in every
 * folder) each read a leaf of their own: within one transaction the map
 * still never holds more than JRNL_RESIDENT_MAX, and the commit drops it. */
static void spread_updates_keep_few_pages(void **state)
{
	struct jrnl *j = open_boxes();
	struct jrnl_txn *t;
	struct fct_err e;
	char box[16];
	long max_kb = 0;

	(void)state;
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	for (int r = 0; r < 60; r++) {
		uint32_t u = (uint32_t)(r * 13) % 300 + 1;
		struct jrnl_msg m;

		memset(&m, 0, sizeof m);
		m.id = u; /* write_range's ids follow its UIDs */
		m.far_uid = u;
		m.size = (uint64_t)u * 3;
		m.flags = FCT_F_FLAGGED;
		m.near_uniq = fct_xasprintf("1700000000.M%uP4242N%u.host.example.org,S=%u", u, u, u * 3);
		snprintf(box, sizeof box, "Box%02d", (r * 7) % 60);
		assert_int_equal(jrnl_msg_put(t, box, &m, &e), 0);
		free(m.near_uniq);
		check_resident(&max_kb);
	}
	assert_int_equal(jrnl_commit(t, &e), 0);
	assert_true(max_kb > 0);
	assert_int_equal(map_rss_kb(), 0);
	{ /* the updates replaced records (Box00: UID 1) rather than adding */
		struct jrnl_msg *all;
		size_t n;

		assert_int_equal(jrnl_msgs_load(j, "Box00", &all, &n, &e), 0);
		assert_int_equal(n, 300);
		assert_int_equal(all[0].far_uid, 1);
		assert_int_equal(all[0].flags, FCT_F_FLAGGED);
		assert_int_equal(all[1].flags, 0);
		jrnl_msgs_free(all, n);
	}
	jrnl_close(j);
}

struct walk_seen {
	size_t n;
	long max_kb;
};

static int walk_one(void *ctx, const struct jrnl_msg *m)
{
	struct walk_seen *w = ctx;

	(void)m;
	/* smaps is long under the sanitizers: not at every record. */
	if (w->n++ % 100 == 0) {
		long kb = map_rss_kb();

		if (kb > w->max_kb)
			w->max_kb = kb;
	}
	return 0;
}

/* A walk drops the map's pages every JRNL_WALK_DROP records it reads and
 * once more at its end: nothing of the journal stays counted. */
static void walks_drop_their_pages(void **state)
{
	struct jrnl *j = open_ok();
	struct walk_seen w = {0, 0};
	struct fct_err e;

	(void)state;
	write_range(j, "Big", 1, 3000);
	write_range(j, "Other", 1, 300);
	jrnl_close(j);
	j = open_ok();
	assert_int_equal(jrnl_msgs_each(j, "Big", walk_one, &w, &e), 0);
	assert_int_equal(w.n, 3000);
	assert_true(w.max_kb > 0); /* the measure sees the walk's pages */
	assert_int_equal(map_rss_kb(), 0);
	jrnl_close(j);
}

/* One transaction far bigger than the map: MDB_MAP_FULL in the middle of
 * it, the map grows and the transaction is redone, all of it. */
static void map_grows_within_a_txn(void **state)
{
	struct jrnl *j = open_small();
	struct jrnl_txn *t;
	struct fct_err e;

	(void)state;
	/* Aborting a grown transaction still drops all of it. */
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(put_range(t, "big", 1, 3000, &e), 0);
	jrnl_abort(t);
	check_range(j, "big", 1, 0);
	write_range(j, "big", 1, 3000);
	check_range(j, "big", 1, 3000);
	assert_true(data_size() > (off_t)SMALL_MAP * 4);
	jrnl_close(j);
	/* Reopened with the small map again: LMDB maps at least the data. */
	j = open_small();
	check_range(j, "big", 1, 3000);
	/* Deleting the box (cursor walk plus deletes) in the grown journal. */
	assert_int_equal(jrnl_begin(j, &t, &e), 0);
	assert_int_equal(jrnl_box_del(t, "big", &e), 0);
	assert_int_equal(jrnl_commit(t, &e), 0);
	check_range(j, "big", 1, 0);
	jrnl_close(j);
}

/* Many small transactions, each close to the map's end. */
static void map_grows_across_txns(void **state)
{
	struct jrnl *j = open_small();

	(void)state;
	for (uint32_t i = 0; i < 60; i++)
		write_range(j, "many", 1 + i * 50, 50);
	check_range(j, "many", 1, 3000);
	jrnl_close(j);
	j = open_small();
	check_range(j, "many", 1, 3000);
	write_range(j, "many", 3001, 1000);
	jrnl_close(j);
	j = open_small();
	check_range(j, "many", 1, 4000);
	jrnl_close(j);
}

/* A journal written with the default (large) map opens with a small one
 * and keeps growing from there. */
static void larger_map_opens_small(void **state)
{
	struct jrnl *j = open_ok();

	(void)state;
	write_range(j, "b", 1, 2000);
	jrnl_close(j);
	j = open_small();
	check_range(j, "b", 1, 2000);
	/* More than the data's size again: growth inside the transaction. */
	write_range(j, "b", 2001, 6000);
	jrnl_close(j);
	j = open_ok();
	check_range(j, "b", 1, 8000);
	jrnl_close(j);
}

/* Another process grows the map while this one has the journal open with
 * a smaller one: reads and writes here adopt the new size (LMDB says
 * MDB_MAP_RESIZED at transaction begin). */
static void map_grown_by_another_process(void **state)
{
	struct jrnl *j = open_small();
	int status;
	pid_t pid;

	(void)state;
	write_range(j, "p", 1, 10);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child uses its own environment, never the parent's. */
		struct jrnl *cj = NULL;
		struct jrnl_txn *t;
		struct fct_err e;
		int ok = jrnl_open_size(&cj, dir, SMALL_MAP, &e) == 0 && jrnl_begin(cj, &t, &e) == 0;

		ok = ok && put_range(t, "p", 11, 3000, &e) == 0 && jrnl_commit(t, &e) == 0;
		if (cj)
			jrnl_close(cj);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(data_size() > (off_t)SMALL_MAP * 4);
	check_range(j, "p", 1, 3010);
	write_range(j, "p", 3011, 100);
	check_range(j, "p", 1, 3110);
	jrnl_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(box_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(msgs_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(loaded_strings_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(lean_records, setup, teardown),
		cmocka_unit_test_setup_teardown(ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(box_delete_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(uidls, setup, teardown),
		cmocka_unit_test_setup_teardown(schema_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_file, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_record, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(nested_dir_created, setup, teardown),
		cmocka_unit_test_setup_teardown(long_box_name, setup, teardown),
		cmocka_unit_test_setup_teardown(fuzz_records, setup, teardown),
		cmocka_unit_test_setup_teardown(map_grows_within_a_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(map_grows_across_txns, setup, teardown),
		cmocka_unit_test_setup_teardown(larger_map_opens_small, setup, teardown),
		cmocka_unit_test_setup_teardown(map_grown_by_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(emailid_trailer, setup, teardown),
		cmocka_unit_test_setup_teardown(single_reads_keep_few_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(spread_updates_keep_few_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(walks_drop_their_pages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
