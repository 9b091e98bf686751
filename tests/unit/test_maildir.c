#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir.h"

static char root[80];

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

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
	return make_tmpdir(root, sizeof root, "md") ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct md_store *store_with(enum md_layout l, char flatten, char delim, int sync)
{
	struct md_store_opts o;
	struct md_store *s = NULL;
	struct fct_err e;

	memset(&o, 0, sizeof o);
	o.path = root;
	o.names.layout = l;
	o.names.flatten = flatten;
	o.info_delim = delim;
	o.fsync = sync;
	if (md_store_open(&s, &o, &e) < 0)
		fail_msg("md_store_open: %s", e.msg);
	return s;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Does root/sub/name (root/name when sub is empty) exist? */
static int file_exists(const char *sub, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof p, "%s/%s%s%s", root, sub, *sub ? "/" : "", name);
	return stat(p, &st) == 0;
}

/* ---- names */

static void parse_names(void **state)
{
	static const struct {
		const char *name;
		char delim;
		size_t uniq_len;
		unsigned flags;
		int has_size;
		uint64_t size;
	} t[] = {
		{ "123.M1P2.host", ':', 13, 0, 0, 0 },
		{ "123.M1P2.host:2,", ':', 13, 0, 0, 0 },
		{ "123.M1P2.host:2,SRF", ':', 13, FCT_F_SEEN | FCT_F_ANSWERED | FCT_F_FLAGGED, 0, 0 },
		{ "123.M1P2.host:2,FRS", ':', 13, FCT_F_SEEN | FCT_F_ANSWERED | FCT_F_FLAGGED, 0, 0 },
		{ "123.host,S=4567:2,Tab", ':', 15, FCT_F_DELETED, 1, 4567 },
		{ "123.host,S=4567,W=4600:2,D", ':', 22, FCT_F_DRAFT, 1, 4567 },
		{ "123.host,S=12x:2,S", ':', 14, FCT_F_SEEN, 0, 0 },
		{ "123.host,S=:2,S", ':', 11, FCT_F_SEEN, 0, 0 },
		{ "123.host;2,PS", ';', 8, FCT_F_FORWARDED | FCT_F_SEEN, 0, 0 },
		{ "123.host:2,S", ';', 12, 0, 0, 0 },
		{ "a!b!2,S", '!', 3, FCT_F_SEEN, 0, 0 },
		{ "odd!name", '!', 8, 0, 0, 0 },
		{ "x:1,experimental", ':', 1, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t ul;
		unsigned fl;
		uint64_t sz;
		int has;

		md_parse_name(t[i].name, t[i].delim, &ul, &fl, &sz, &has);
		if (ul != t[i].uniq_len || fl != t[i].flags || has != t[i].has_size || sz != t[i].size)
			fail_msg("%s: uniq %zu flags %u size %d/%llu", t[i].name, ul, fl, has, (unsigned long long)sz);
	}
}

/* ---- delivery and scan */

static char *deliver(struct md_folder *f, const char *text, unsigned flags, int64_t mtime)
{
	struct md_batch *b = md_batch_new(f);
	struct md_tmp *t;
	struct fct_err e;
	char *uniq;

	assert_int_equal(md_tmp_open(b, &t, &e), 0);
	/* Stream in two pieces. */
	assert_int_equal(md_tmp_write(t, text, strlen(text) / 2, &e), 0);
	assert_int_equal(md_tmp_write(t, text + strlen(text) / 2, strlen(text) - strlen(text) / 2, &e), 0);
	assert_int_equal(md_tmp_done(t, flags, mtime, &e), 0);
	assert_int_equal(md_batch_commit(b, &e), 0);
	assert_int_equal(md_batch_count(b), 1);
	uniq = fct_xstrdup(md_batch_uniq(b, 0));
	md_batch_free(b);
	return uniq;
}

static char *read_msg(struct md_folder *f, const char *uniq)
{
	struct fct_err e;
	uint64_t size;
	char *buf;
	int fd;

	if (md_open_msg(f, uniq, &fd, &size, &e) < 0)
		fail_msg("open %s: %s", uniq, e.msg);
	buf = fct_xcalloc(1, (size_t)size + 1);
	assert_int_equal(read(fd, buf, (size_t)size), (ssize_t)size);
	close(fd);
	return buf;
}

static void deliver_and_scan(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 1);
	struct md_folder *f;
	struct md_entry *ent;
	struct fct_err e;
	struct stat st;
	size_t n;
	char *u1, *u2, *u3, *txt, path[512];

	(void)state;
	assert_int_equal(md_folder_open(s, "Work/Projects", 0, &f, &e), -1);
	assert_int_equal(e.kind, FCT_E_FOLDER);
	assert_int_equal(md_folder_open(s, "Work/Projects", 1, &f, &e), 0);
	assert_true(md_folder_exists(s, "Work/Projects"));
	assert_false(md_folder_exists(s, "Work"));
	u1 = deliver(f, "Subject: one\r\n\r\nbody one\r\n", 0, 0);
	u2 = deliver(f, "Subject: two\r\n\r\nbody two is longer\r\n", FCT_F_SEEN | FCT_F_FLAGGED, 1000000000);
	u3 = deliver(f, "", FCT_F_DRAFT, 0);
	assert_non_null(strstr(u1, ",S=26"));
	assert_non_null(strstr(u3, ",S=0"));
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(ent[i - 1].uniq, ent[i].uniq) < 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ent[i].uniq, u1)) {
			assert_int_equal(ent[i].flags, 0);
			assert_int_equal(strncmp(ent[i].file, "new/", 4), 0);
			assert_true(ent[i].size == 26);
		} else if (!strcmp(ent[i].uniq, u2)) {
			assert_int_equal(ent[i].flags, FCT_F_SEEN | FCT_F_FLAGGED);
			assert_int_equal(strncmp(ent[i].file, "cur/", 4), 0);
			assert_non_null(strstr(ent[i].file, ":2,FS"));
			snprintf(path, sizeof path, "%s/Work/Projects/%s", root, ent[i].file);
			assert_int_equal(stat(path, &st), 0);
			assert_true(st.st_mtime == 1000000000);
		} else {
			assert_string_equal(ent[i].uniq, u3);
			assert_non_null(strstr(ent[i].file, ":2,D"));
		}
	}
	md_entries_free(ent, n);
	txt = read_msg(f, u2);
	assert_string_equal(txt, "Subject: two\r\n\r\nbody two is longer\r\n");
	free(txt);
	/* Nothing left in tmp/. */
	snprintf(path, sizeof path, "%s/Work/Projects/tmp", root);
	DIR *d = opendir(path);
	struct dirent *de;
	int left = 0;
	while ((de = readdir(d)))
		left += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(left, 0);
	free(u1);
	free(u2);
	free(u3);
	md_folder_close(f);
	md_store_free(s);
}

/* What a run delivers after its scan is not in the folder's lookup cache
 * (store/md_deliver.c): it is still found, by scanning again. */
static void delivered_after_scan_is_found(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 1);
	struct md_folder *f;
	struct md_entry *ent;
	struct fct_err e;
	size_t n;
	char *old, *late, *txt;

	(void)state;
	assert_int_equal(md_folder_open(s, "INBOX", 1, &f, &e), 0);
	old = deliver(f, "Subject: old\r\n\r\nold\r\n", 0, 0);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	md_entries_free(ent, n);
	late = deliver(f, "Subject: late\r\n\r\nlate\r\n", 0, 0);
	assert_int_equal(md_set_flags(f, late, FCT_F_SEEN, &e), 0);
	assert_int_equal(md_set_flags(f, old, FCT_F_FLAGGED, &e), 0);
	txt = read_msg(f, late);
	assert_string_equal(txt, "Subject: late\r\n\r\nlate\r\n");
	free(txt);
	assert_int_equal(md_set_flags(f, "no-such-message", FCT_F_SEEN, &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ent[i].flags, !strcmp(ent[i].uniq, late) ? FCT_F_SEEN : FCT_F_FLAGGED);
	md_entries_free(ent, n);
	free(old);
	free(late);
	md_folder_close(f);
	md_store_free(s);
}

static void deliver_with_delimiter(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, ';', 0);
	struct md_folder *f;
	struct md_entry *ent;
	struct fct_err e;
	size_t n;
	char *u;

	(void)state;
	assert_int_equal(md_folder_open(s, "semi", 1, &f, &e), 0);
	u = deliver(f, "Subject: d\n\n", FCT_F_ANSWERED | FCT_F_SEEN, 0);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ent[0].uniq, u);
	assert_int_equal(ent[0].flags, FCT_F_ANSWERED | FCT_F_SEEN);
	assert_null(strchr(ent[0].file, ':'));
	assert_non_null(strstr(ent[0].file, ";2,RS"));
	md_entries_free(ent, n);
	free(u);
	md_folder_close(f);
	md_store_free(s);
}

static void batch_abort_and_free(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_MAILDIRPP, 0, 0, 0);
	struct md_folder *f;
	struct md_batch *b;
	struct md_tmp *t[4];
	struct md_entry *ent;
	struct fct_err e;
	size_t n;

	(void)state;
	assert_int_equal(md_folder_open(s, "INBOX", 1, &f, &e), 0);
	b = md_batch_new(f);
	for (int i = 0; i < 4; i++) {
		char text[32];
		snprintf(text, sizeof text, "msg %d\n", i);
		assert_int_equal(md_tmp_open(b, &t[i], &e), 0);
		assert_int_equal(md_tmp_write(t[i], text, strlen(text), &e), 0);
	}
	assert_int_equal(md_tmp_done(t[0], 0, 0, &e), 0);
	md_tmp_abort(t[1]);
	assert_int_equal(md_tmp_done(t[2], FCT_F_SEEN, 0, &e), 0);
	/* t[3] never finished: not delivered, unlinked by md_batch_free. */
	char *next0 = fct_xstrdup(md_tmp_next_uniq(t[0]));
	assert_non_null(strstr(next0, ",S=6"));
	assert_null(md_tmp_next_uniq(t[1]));
	assert_null(md_tmp_next_uniq(t[3]));
	assert_int_equal(md_batch_commit(b, &e), 0);
	/* The name announced before commit is the one delivered. */
	assert_string_equal(next0, md_tmp_uniq(t[0]));
	free(next0);
	assert_int_equal(md_batch_count(b), 2);
	assert_non_null(strstr(md_batch_file(b, 0), "new/"));
	assert_non_null(strstr(md_batch_file(b, 1), "cur/"));
	assert_int_equal(md_tmp_write(t[0], "x", 1, &e), -1);
	assert_string_equal(md_tmp_uniq(t[0]), md_batch_uniq(b, 0));
	assert_string_equal(md_tmp_file(t[2]), md_batch_file(b, 1));
	assert_null(md_tmp_uniq(t[1]));
	assert_null(md_tmp_uniq(t[3]));
	md_batch_free(b);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 2);
	md_entries_free(ent, n);
	char p[256];
	snprintf(p, sizeof p, "%s/tmp", root);
	DIR *d = opendir(p);
	struct dirent *de;
	int left = 0;
	while ((de = readdir(d)))
		left += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(left, 0);
	md_folder_close(f);
	md_store_free(s);
}

/* ---- flags, remove, move */

/* The name cache keeps each uniq as a prefix of its file name: uniqs that
 * are prefixes of one another must still find their own file, removed
 * entries must stay removed, and a forgotten cache is rebuilt. */
static void cache_prefix_names(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, ':', 1);
	struct md_folder *f;
	struct md_entry *ent;
	struct fct_err e;
	size_t n;
	char p[512];

	(void)state;
	assert_int_equal(md_folder_open(s, "box", 1, &f, &e), 0);
	snprintf(p, sizeof p, "%s/box/cur/m1:2,S", root);
	write_file(p, "Subject: a\n\nx\n");
	snprintf(p, sizeof p, "%s/box/cur/m10:2,", root);
	write_file(p, "Subject: b\n\nx\n");
	snprintf(p, sizeof p, "%s/box/new/m1x", root);
	write_file(p, "Subject: c\n\nx\n");
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ent[0].uniq, "m1");
	assert_string_equal(ent[0].file, "cur/m1:2,S");
	assert_string_equal(ent[2].uniq, "m1x");
	assert_string_equal(ent[2].file, "new/m1x");
	md_entries_free(ent, n);
	assert_int_equal(md_set_flags(f, "m10", FCT_F_FLAGGED, &e), 0);
	assert_true(file_exists("box/cur", "m10:2,F"));
	assert_true(file_exists("box/cur", "m1:2,S"));
	assert_int_equal(md_set_flags(f, "m1x", FCT_F_SEEN, &e), 0);
	assert_true(file_exists("box/cur", "m1x:2,S"));
	assert_int_equal(md_remove(f, "m1", &e), 0);
	assert_false(file_exists("box/cur", "m1:2,S"));
	assert_int_equal(md_set_flags(f, "m1", FCT_F_SEEN, &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	assert_int_equal(md_set_flags(f, "m10", 0, &e), 0);
	assert_true(file_exists("box/cur", "m10:2,"));
	md_folder_forget(f);
	assert_int_equal(md_set_flags(f, "m1x", FCT_F_SEEN | FCT_F_FLAGGED, &e), 0);
	assert_true(file_exists("box/cur", "m1x:2,FS"));
	md_folder_close(f);
	md_store_free(s);
}

/* md_scan_names leaves the uniq names inside the file names, in the
 * order md_scan gives by uniq, prefixes included. */
static void scan_names_order(void **state)
{
	static const char *const files[] = { "new/m1x", "cur/m10:2,", "cur/m1.a:2,", "cur/m1:2,S" };
	static const char *const uniqs[] = { "m1", "m1.a", "m10", "m1x" };
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, ':', 1);
	struct md_folder *f;
	struct md_entry *ent, *named;
	struct fct_err e;
	size_t n, nn, i;
	char p[512];

	(void)state;
	assert_int_equal(md_folder_open(s, "box", 1, &f, &e), 0);
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/box/%s", root, files[i]);
		write_file(p, "Subject: a\n\nx\n");
	}
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(md_scan_names(f, &named, &nn, &e), 0);
	assert_int_equal(n, 4);
	assert_int_equal(nn, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(ent[i].uniq, uniqs[i]);
		assert_null(named[i].uniq);
		assert_int_equal(named[i].ulen, strlen(uniqs[i]));
		assert_memory_equal(named[i].file + MD_SUB_LEN, uniqs[i], named[i].ulen);
	}
	md_entries_free(ent, n);
	md_entries_free(named, nn);
	md_folder_close(f);
	md_store_free(s);
}

static void flags_keep_unknown(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, '!', 1);
	struct md_folder *f, *g;
	struct md_entry *ent;
	struct fct_err e;
	size_t n;
	char p[512];

	(void)state;
	assert_int_equal(md_folder_open(s, "box", 1, &f, &e), 0);
	assert_int_equal(md_folder_open(s, "other", 1, &g, &e), 0);
	snprintf(p, sizeof p, "%s/box/cur/k1!2,aSc", root);
	write_file(p, "Subject: k\n\nx\n");
	snprintf(p, sizeof p, "%s/box/new/n1", root);
	write_file(p, "Subject: n\n\ny\n");
	assert_int_equal(md_set_flags(f, "k1", FCT_F_FLAGGED | FCT_F_ANSWERED, &e), 0);
	assert_true(file_exists("box/cur", "k1!2,FRac"));
	assert_int_equal(md_set_flags(f, "k1", 0, &e), 0);
	assert_true(file_exists("box/cur", "k1!2,ac"));
	/* new/ -> cur/ even without flags. */
	assert_int_equal(md_set_flags(f, "n1", 0, &e), 0);
	assert_true(file_exists("box/cur", "n1!2,"));
	assert_int_equal(md_set_flags(f, "missing", FCT_F_SEEN, &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	assert_non_null(strstr(e.msg, "box"));
	/* Another client renamed the file behind our back: found by rescan. */
	snprintf(p, sizeof p, "%s/box/cur/n1!2,", root);
	char q[512];
	snprintf(q, sizeof q, "%s/box/cur/n1!2,T", root);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(md_set_flags(f, "n1", FCT_F_SEEN, &e), 0);
	assert_true(file_exists("box/cur", "n1!2,S"));
	assert_int_equal(md_folder_sync(f, &e), 0);
	/* Move keeps the name. */
	assert_int_equal(md_move(f, "n1", g, &e), 0);
	assert_true(file_exists("other/cur", "n1!2,S"));
	assert_int_equal(md_set_flags(g, "n1", FCT_F_SEEN | FCT_F_DRAFT, &e), 0);
	assert_true(file_exists("other/cur", "n1!2,DS"));
	assert_int_equal(md_move(f, "n1", g, &e), -1);
	assert_int_equal(md_remove(f, "k1", &e), 0);
	assert_int_equal(md_remove(f, "k1", &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	assert_int_equal(n, 0);
	md_entries_free(ent, n);
	assert_int_equal(md_scan(g, &ent, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ent[0].uniq, "n1");
	assert_int_equal(ent[0].flags, FCT_F_SEEN | FCT_F_DRAFT);
	assert_true(ent[0].size == 14); /* by stat: no ,S= in the name */
	assert_true(ent[0].mtime > 0);
	md_entries_free(ent, n);
	md_folder_close(f);
	md_folder_close(g);
	md_store_free(s);
}

/* ---- Message-ID */

static void msgid_headers(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* NULL: none */
	} t[] = {
		{ "Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody", "<a@b>" },
		{ "Subject: x\nmessage-id:<lower@case>\n\n", "<lower@case>" },
		{ "Message-Id:\r\n  <folded@next.line>\r\nX: y\r\n\r\n", "<folded@next.line>" },
		{ "Message-ID: <x@y> (comment)\n\n", "<x@y>" },
		{ "Message-ID : <space@before.colon>\n\n", "<space@before.colon>" },
		{ "Message-ID: bare@token\n\n", "bare@token" },
		{ "Message-ID:   \n\n", NULL },
		{ "Message-ID: two words\n\n", NULL },
		{ "Message-ID: <unterminated\n\n", NULL },
		{ "Subject: no id\n\nMessage-ID: <in@body>\n", NULL },
		{ "Message-IDs: <not@it>\n\n", NULL },
		{ "X-Message-ID: <not@it>\nMessage-ID: <first@one>\nMessage-ID: <second@one>\n\n", "<first@one>" },
		{ "", NULL },
		{ "Message-ID: <no@newline>", "<no@newline>" },
	};
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	struct md_folder *f;
	struct fct_err e;

	(void)state;
	assert_int_equal(md_folder_open(s, "ids", 1, &f, &e), 0);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *u = deliver(f, t[i].text, 0, 0), *id = (char *)1;

		assert_int_equal(md_msgid(f, u, &id, &e), 0);
		if (t[i].want == NULL && id != NULL)
			fail_msg("case %zu: got %s, want none", i, id);
		if (t[i].want)
			assert_string_equal(id, t[i].want);
		free(id);
		free(u);
	}
	md_folder_close(f);
	md_store_free(s);
}

static void msgid_long_header(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	struct md_folder *f;
	struct md_batch *b;
	struct md_tmp *t;
	struct fct_err e;
	char line[100], *id;
	const char *u;

	(void)state;
	assert_int_equal(md_folder_open(s, "big", 1, &f, &e), 0);
	b = md_batch_new(f);
	assert_int_equal(md_tmp_open(b, &t, &e), 0);
	/* 400 KiB of header: only MD_HEADER_MAX is read, the id after it is not seen. */
	memset(line, 'x', sizeof line);
	memcpy(line, "X-Pad: ", 7);
	line[98] = '\r';
	line[99] = '\n';
	for (int i = 0; i < 4096; i++)
		assert_int_equal(md_tmp_write(t, line, sizeof line, &e), 0);
	const char *tail = "Message-ID: <late@x>\r\n\r\n";
	assert_int_equal(md_tmp_write(t, tail, strlen(tail), &e), 0);
	assert_int_equal(md_tmp_done(t, 0, 0, &e), 0);
	assert_int_equal(md_batch_commit(b, &e), 0);
	u = md_batch_uniq(b, 0);
	assert_int_equal(md_msgid(f, u, &id, &e), 0);
	assert_null(id);
	assert_int_equal(md_msgid(f, "nope", &id, &e), -1);
	assert_int_equal(e.kind, FCT_E_MSG);
	md_batch_free(b);
	md_folder_close(f);
	md_store_free(s);
}

/* ---- folders and layouts */

struct names_acc {
	char buf[1024];
};

static int collect(void *ctx, const char *name)
{
	struct names_acc *a = ctx;
	size_t l = strlen(a->buf);

	snprintf(a->buf + l, sizeof a->buf - l, "%s|", name);
	return 0;
}

static void list_layouts(void **state)
{
	static const struct {
		enum md_layout l;
		char flatten;
		const char *dir_of_ab; /* where "a/b" lands */
	} t[] = {
		{ MD_LAYOUT_VERBATIM, 0, "a/b" },
		{ MD_LAYOUT_MAILDIRPP, 0, ".a.b" },
		{ MD_LAYOUT_LEGACY, 0, "a/.b" },
		{ MD_LAYOUT_VERBATIM, '.', "a.b" },
	};
	const char *names[] = { "INBOX", "a", "a/b", "a/b/c", "x.y", ".dot" };

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct md_store *s = store_with(t[i].l, t[i].flatten, 0, 0);
		struct md_folder *f;
		struct names_acc a;
		struct fct_err e;
		char p[256];

		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
			assert_int_equal(md_folder_open(s, names[k], 1, &f, &e), 0);
			md_folder_close(f);
		}
		snprintf(p, sizeof p, "%s/%s/cur", root, t[i].dir_of_ab);
		struct stat st;
		if (stat(p, &st) != 0)
			fail_msg("layout %zu: %s missing", i, p);
		/* A stray directory that is no folder of ours is ignored. */
		snprintf(p, sizeof p, "%s/stray%%zz", root);
		mkdir(p, 0700);
		snprintf(p, sizeof p, "%s/stray%%zz/cur", root);
		mkdir(p, 0700);
		snprintf(p, sizeof p, "%s/stray%%zz/new", root);
		mkdir(p, 0700);
		memset(&a, 0, sizeof a);
		assert_int_equal(md_list(s, collect, &a, &e), 0);
		/* Sorted walk; order depends on the layout, so compare as sets. */
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
			char want[64];
			snprintf(want, sizeof want, "|%s|", names[k]);
			char have[1100];
			snprintf(have, sizeof have, "|%s", a.buf);
			if (!strstr(have, want))
				fail_msg("layout %zu: %s not listed in %s", i, names[k], a.buf);
		}
		assert_null(strstr(a.buf, "stray"));
		md_store_free(s);
		teardown(NULL);
		assert_int_equal(mkdir(root, 0700), 0);
	}
}

static void list_with_inbox_path(void **state)
{
	struct md_store_opts o;
	struct md_store *s;
	struct md_folder *f;
	struct names_acc a;
	struct fct_err e;
	char inbox[128];

	(void)state;
	snprintf(inbox, sizeof inbox, "%s/inbox-elsewhere/", root);
	memset(&o, 0, sizeof o);
	o.path = root;
	o.names.layout = MD_LAYOUT_LEGACY;
	o.names.inbox_path = inbox;
	assert_int_equal(md_store_open(&s, &o, &e), 0);
	assert_int_equal(md_folder_open(s, "INBOX", 1, &f, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_open(s, "INBOX/sub", 1, &f, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_open(s, "top", 1, &f, &e), 0);
	md_folder_close(f);
	assert_true(file_exists("inbox-elsewhere/.sub", "cur"));
	memset(&a, 0, sizeof a);
	assert_int_equal(md_list(s, collect, &a, &e), 0);
	/* Each exactly once: the Inbox directory is not also listed from the root. */
	assert_string_equal(a.buf, "INBOX|INBOX/sub|top|");
	md_store_free(s);
}

static void tmp_tidied(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	struct md_folder *f;
	struct fct_err e;
	char p[256];

	(void)state;
	/* A folder made by another program without tmp/ gets one. */
	snprintf(p, sizeof p, "%s/bare", root);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/bare/cur", root);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/bare/new", root);
	mkdir(p, 0700);
	assert_int_equal(md_folder_open(s, "bare", 0, &f, &e), 0);
	assert_true(file_exists("bare", "tmp"));
	md_folder_close(f);
	/* A fresh tmp file (maybe another program's delivery) is left alone,
	 * even with an old mtime. */
	snprintf(p, sizeof p, "%s/bare/tmp/inflight", root);
	write_file(p, "x");
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(md_folder_open(s, "bare", 0, &f, &e), 0);
	assert_true(file_exists("bare/tmp", "inflight"));
	char *u = deliver(f, "Subject: t\n\n", 0, 0);
	free(u);
	md_folder_close(f);
	md_store_free(s);
}

static void hostile_folders(void **state)
{
	const char *bad[] = { "..", "../x", "a/../../b", "", "/abs", "a//b", "a/./b" };
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	struct md_folder *f;
	struct fct_err e;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(md_folder_open(s, bad[i], 1, &f, &e), -1);
		assert_int_equal(e.kind, FCT_E_FOLDER);
		assert_false(md_folder_exists(s, bad[i]));
	}
	/* Control characters are escaped, not refused; nothing leaves the root. */
	assert_int_equal(md_folder_open(s, "evil\n/..x", 1, &f, &e), 0);
	assert_true(file_exists("", "evil%0A/%2E.x/cur"));
	md_folder_close(f);
	md_store_free(s);
}

static void delete_and_rename(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_MAILDIRPP, 0, 0, 1);
	struct md_folder *f;
	struct fct_err e;
	char *u;

	(void)state;
	assert_int_equal(md_folder_open(s, "a", 1, &f, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_open(s, "a/b", 1, &f, &e), 0);
	u = deliver(f, "Subject: keep\n\n", 0, 0);
	md_folder_close(f);
	assert_int_equal(md_folder_delete(s, "a/b", &e), -1);
	assert_int_equal(e.kind, FCT_E_FOLDER);
	assert_non_null(strstr(e.msg, "not empty"));
	assert_int_equal(md_folder_delete(s, "INBOX", &e), -1);
	assert_int_equal(md_folder_rename(s, "a", "z", &e), 0);
	assert_false(md_folder_exists(s, "a"));
	assert_false(md_folder_exists(s, "a/b"));
	assert_true(md_folder_exists(s, "z"));
	assert_true(md_folder_exists(s, "z/b"));
	assert_int_equal(md_folder_open(s, "z/b", 0, &f, &e), 0);
	char *txt = read_msg(f, u);
	assert_string_equal(txt, "Subject: keep\n\n");
	free(txt);
	assert_int_equal(md_remove(f, u, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_rename(s, "z", "z/b", &e), -1);
	assert_int_equal(md_folder_rename(s, "nothere", "q", &e), -1);
	assert_int_equal(md_folder_delete(s, "z/b", &e), 0);
	assert_false(md_folder_exists(s, "z/b"));
	assert_false(file_exists("", ".z.b"));
	assert_true(md_folder_exists(s, "z"));
	free(u);
	md_store_free(s);

	/* Verbatim: children travel with the directory. */
	s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 1);
	assert_int_equal(md_folder_open(s, "p/q", 1, &f, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_open(s, "p", 1, &f, &e), 0);
	md_folder_close(f);
	assert_int_equal(md_folder_rename(s, "p", "r/s", &e), 0);
	assert_true(md_folder_exists(s, "r/s/q"));
	assert_int_equal(md_folder_delete(s, "r/s", &e), 0);
	assert_false(md_folder_exists(s, "r/s"));
	assert_true(md_folder_exists(s, "r/s/q"));
	md_store_free(s);
}

/* ---- crash safety: a child is killed at a chosen delivery step */

#define CRASH_MSGS 5
#define CRASH_SIZE 20000

struct kill_at {
	const char *where;
	int nth; /* kill at the nth call of where */
	int seen;
};

static void kill_hook(void *ctx, const char *where)
{
	struct kill_at *k = ctx;

	if (strcmp(where, k->where) == 0 && ++k->seen == k->nth)
		kill(getpid(), SIGKILL);
}

static void msg_text(char *buf, int i)
{
	/* Every byte of message i says i: a partial or mixed file shows. */
	memset(buf, 'a' + i, CRASH_SIZE);
	memcpy(buf, "Subject: m\n\n", 12);
}

/* In the child: delivers CRASH_MSGS messages in one batch; mid_write kills
 * halfway through writing the third message. */
static void crash_child(const char *where, int nth, int mid_write)
{
	struct kill_at k = { where, nth, 0 };
	struct md_store_opts o;
	struct md_store *s;
	struct md_folder *f;
	struct md_batch *b;
	struct md_tmp *t;
	struct fct_err e;
	static char buf[CRASH_SIZE];

	memset(&o, 0, sizeof o);
	o.path = root;
	o.fsync = 1;
	o.fault = kill_hook;
	o.fault_ctx = &k;
	if (md_store_open(&s, &o, &e) < 0 || md_folder_open(s, "crash", 1, &f, &e) < 0)
		_exit(2);
	b = md_batch_new(f);
	for (int i = 0; i < CRASH_MSGS; i++) {
		msg_text(buf, i);
		if (md_tmp_open(b, &t, &e) < 0 || md_tmp_write(t, buf, CRASH_SIZE / 2, &e) < 0)
			_exit(3);
		if (mid_write && i == 2)
			kill(getpid(), SIGKILL);
		if (md_tmp_write(t, buf + CRASH_SIZE / 2, CRASH_SIZE - CRASH_SIZE / 2, &e) < 0 ||
		    md_tmp_done(t, i & 1 ? FCT_F_SEEN : 0, 0, &e) < 0)
			_exit(4);
	}
	md_batch_commit(b, &e);
	_exit(0);
}

/* Runs a crash scenario; returns how many complete messages are visible. */
static size_t crash_run(const char *where, int nth, int mid_write)
{
	struct md_store *s;
	struct md_folder *f;
	struct md_entry *ent;
	struct fct_err e;
	size_t n;
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		crash_child(where, nth, mid_write);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	assert_int_equal(md_folder_open(s, "crash", 0, &f, &e), 0);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	for (size_t i = 0; i < n; i++) {
		char *txt = read_msg(f, ent[i].uniq);
		char want[CRASH_SIZE + 1];
		int which = txt[CRASH_SIZE - 1] - 'a';

		/* Complete, and exactly one message's bytes. */
		assert_true(ent[i].size == CRASH_SIZE);
		assert_true(which >= 0 && which < CRASH_MSGS);
		msg_text(want, which);
		want[CRASH_SIZE] = '\0';
		assert_string_equal(txt, want);
		free(txt);
	}
	md_entries_free(ent, n);
	md_folder_close(f);
	md_store_free(s);
	teardown(NULL);
	assert_int_equal(mkdir(root, 0700), 0);
	return n;
}

static void crash_safety(void **state)
{
	(void)state;
	/* Killed while writing: nothing visible. */
	assert_int_equal(crash_run("none", 0, 1), 0);
	/* Killed between md_tmp_done and md_batch_commit: nothing visible. */
	assert_int_equal(crash_run("tmp-done", CRASH_MSGS, 0), 0);
	/* Killed between renames, before the directory fsync: the renamed ones,
	 * complete; the rest only in tmp/. */
	assert_int_equal(crash_run("renamed", 2, 0), 2);
	assert_int_equal(crash_run("renamed", CRASH_MSGS, 0), CRASH_MSGS);
	/* Killed after the directory fsync: all of them. */
	assert_int_equal(crash_run("synced", 1, 0), CRASH_MSGS);
}

/* ---- scan speed sanity (reported, not asserted) */

static void scan_many(void **state)
{
	struct md_store *s = store_with(MD_LAYOUT_VERBATIM, 0, 0, 0);
	struct md_folder *f;
	struct md_batch *b;
	struct md_tmp *t;
	struct md_entry *ent;
	struct fct_err e;
	struct timespec t0, t1;
	size_t n;
	uint64_t total = 0;
	const size_t count = 10000;

	(void)state;
	assert_int_equal(md_folder_open(s, "many", 1, &f, &e), 0);
	b = md_batch_new(f);
	for (size_t i = 0; i < count; i++) {
		char text[64];
		int len = snprintf(text, sizeof text, "Subject: %zu\n\n%zu\n", i, i);
		assert_int_equal(md_tmp_open(b, &t, &e), 0);
		assert_int_equal(md_tmp_write(t, text, (size_t)len, &e), 0);
		assert_int_equal(md_tmp_done(t, i % 3 ? FCT_F_SEEN : 0, 0, &e), 0);
		total += (uint64_t)len;
	}
	assert_int_equal(md_batch_commit(b, &e), 0);
	assert_int_equal(md_batch_count(b), count);
	md_batch_free(b);
	md_folder_close(f);
	assert_int_equal(md_folder_open(s, "many", 0, &f, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(md_scan(f, &ent, &n, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(n, count);
	for (size_t i = 0; i < n; i++) {
		assert_true(ent[i].mtime == 0); /* size came from the name: no stat */
		total -= ent[i].size;
	}
	assert_true(total == 0);
	print_message("scan of %zu messages: %.1f ms\n", n,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	/* Lookups after the scan use the cache. */
	assert_int_equal(md_set_flags(f, ent[n / 2].uniq, FCT_F_FLAGGED, &e), 0);
	md_entries_free(ent, n);
	md_folder_close(f);
	md_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_names),
		cmocka_unit_test_setup_teardown(deliver_and_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(delivered_after_scan_is_found, setup, teardown),
		cmocka_unit_test_setup_teardown(deliver_with_delimiter, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_abort_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_names_order, setup, teardown),
		cmocka_unit_test_setup_teardown(cache_prefix_names, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_keep_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(msgid_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(msgid_long_header, setup, teardown),
		cmocka_unit_test_setup_teardown(list_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(list_with_inbox_path, setup, teardown),
		cmocka_unit_test_setup_teardown(tmp_tidied, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_and_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_safety, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
