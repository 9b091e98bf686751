"""Maildir compatibility: Python's mailbox.Maildir reads what facteur's store
layer writes, and the store layer reads what Python writes.

A tiny C helper linked with the freshly built library does the C side, so
this checks the on-disk format, not facteur's command line."""
import mailbox
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HELPER_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/maildir.h"

static int fail(const struct fct_err *e) { fprintf(stderr, "%s\n", e->msg); return 1; }

int main(int argc, char **argv)
{
	struct md_store_opts o;
	struct md_store *s;
	struct md_folder *f;
	struct fct_err e;

	if (argc < 4)
		return 2;
	memset(&o, 0, sizeof o);
	o.path = argv[2];
	o.fsync = 1;
	if (md_store_open(&s, &o, &e) < 0 || md_folder_open(s, argv[3], 1, &f, &e) < 0)
		return fail(&e);
	if (!strcmp(argv[1], "deliver")) {
		struct md_batch *b = md_batch_new(f);
		for (int i = 4; i < argc; i++) {
			struct md_tmp *t;
			const char *bar = strchr(argv[i], '|');
			if (!bar)
				return 2;
			if (md_tmp_open(b, &t, &e) < 0 || md_tmp_write(t, bar + 1, strlen(bar + 1), &e) < 0 ||
			    md_tmp_done(t, fct_flags_from_letters(argv[i], (size_t)(bar - argv[i])), 0, &e) < 0)
				return fail(&e);
		}
		if (md_batch_commit(b, &e) < 0)
			return fail(&e);
		for (size_t i = 0; i < md_batch_count(b); i++)
			printf("%s\n", md_batch_uniq(b, i));
		md_batch_free(b);
	} else if (!strcmp(argv[1], "scan")) {
		struct md_entry *ent;
		size_t n;
		if (md_scan(f, &ent, &n, &e) < 0)
			return fail(&e);
		for (size_t i = 0; i < n; i++) {
			char l[7];
			fct_flags_to_letters(ent[i].flags, l);
			printf("%s\t%s\t%llu\t%s\n", ent[i].uniq, l, (unsigned long long)ent[i].size, ent[i].file);
		}
		md_entries_free(ent, n);
	} else if (!strcmp(argv[1], "flags")) {
		if (argc != 6 || md_set_flags(f, argv[4], fct_flags_from_letters(argv[5], strlen(argv[5])), &e) < 0)
			return fail(&e);
	}
	md_folder_close(f);
	md_store_free(s);
	return 0;
}
'''


@pytest.fixture(scope="module")
def helper(tmp_path_factory):
    lib = os.path.join(REPO, "build", "libfacteur.a")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not os.path.exists(lib) or not cc:
        pytest.skip("needs build/libfacteur.a and a C compiler")
    d = tmp_path_factory.mktemp("helper")
    src = d / "md_helper.c"
    src.write_text(HELPER_C)
    exe = d / "md_helper"
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-I", REPO, "-o", str(exe), str(src), lib,
                    "-llmdb", "-lssl", "-lcrypto", "-lz"], check=True)
    return str(exe)


def run(helper, *args):
    out = subprocess.run([helper, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_python_reads_our_delivery(helper, tmp_path):
    bodies = {"": "Subject: plain\n\nfirst\n", "S": "Subject: seen\n\nsecond\n", "FRS": "Subject: many\n\nthird\n"}
    uniqs = run(helper, "deliver", str(tmp_path), "box", *[f"{k}|{v}" for k, v in bodies.items()])
    assert len(uniqs) == 3
    md = mailbox.Maildir(str(tmp_path / "box"), factory=None, create=False)
    got = {}
    for key, msg in md.items():
        got[msg.get_flags()] = (msg.get_subdir(), msg.as_bytes().decode())
    assert set(got) == set(bodies)
    for flags, body in bodies.items():
        subdir, text = got[flags]
        assert subdir == ("cur" if flags else "new")
        assert text == body
    # Python's keys are our uniq (the name up to the info part).
    assert sorted(md.keys()) == sorted(uniqs)


def test_we_read_python_delivery(helper, tmp_path):
    md = mailbox.Maildir(str(tmp_path / "py"), factory=None, create=True)
    keys = {}
    for flags, body in (("", "Subject: a\n\nA\n"), ("DS", "Subject: b\n\nBB\n"), ("T", "Subject: c\n\nCCC\n")):
        m = mailbox.MaildirMessage(body)
        if flags:
            m.set_subdir("cur")
            m.set_flags(flags)
        keys[md.add(m)] = (flags, len(body))
    md.close()
    rows = [line.split("\t") for line in run(helper, "scan", str(tmp_path), "py")]
    assert {r[0]: (r[1], int(r[2])) for r in rows} == keys
    # A flag change we make is seen by Python, unknown letters included.
    key = next(k for k, v in keys.items() if v[0] == "T")
    path = tmp_path / "py" / "cur"
    old = next(p for p in path.iterdir() if p.name.startswith(key))
    old.rename(path / (key + ":2,Tx"))
    run(helper, "flags", str(tmp_path), "py", key, "FS")
    md = mailbox.Maildir(str(tmp_path / "py"), factory=None, create=False)
    assert md.get_message(key).get_flags() == "FSx"
