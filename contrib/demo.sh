#!/bin/sh
# facteur demo (what `make demo` runs): start a throwaway Dovecot on free
# loopback ports, fill a user's mailbox with a few hundred generated
# messages in several folders, sync it into ./demo/Mail with facteur, and
# print what arrived locally (counted with Python's mailbox module, not by
# facteur).  The server is stopped and its files removed however this ends.
#
# usage: sh contrib/demo.sh /absolute/path/to/facteur
set -eu

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: sh contrib/demo.sh /absolute/path/to/facteur" >&2
	exit 2
fi
FACTEUR=$1
TOP=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
HARNESS=$TOP/tests/integration
# FACTEUR_DEMO_DIR lets the tests run the demo without touching ./demo.
DEMO=${FACTEUR_DEMO_DIR:-$TOP/demo}

# The server's directory must be traversable by Dovecot's mail user, which
# a home directory often is not: keep it in the temp dir.
SRV=$(mktemp -d -t facteur-demo.XXXXXX)
cleanup() {
	"$PY" "$HARNESS/dovecot.py" stop "$SRV" || true
	rm -rf "$SRV"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

echo "== starting a private Dovecot"
if ! "$PY" "$HARNESS/dovecot.py" start "$SRV" >"$SRV.info"; then
	rm -f "$SRV.info"
	echo "demo: could not start Dovecot (see the log above)" >&2
	exit 1
fi
# key=value lines: host, config, cert, imap, imaps, pop3, pop3s, ...
INFO=$(cat "$SRV.info")
rm -f "$SRV.info"
echo "$INFO" | sed 's/^/   /'

rm -rf "$DEMO"
mkdir -p "$DEMO"

echo "== seeding the mailbox of user 'demo'"
"$PY" - "$HARNESS" "$SRV" "$DEMO" "$INFO" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[1])
import dovecot, util

info = dict(l.split("=", 1) for l in sys.argv[4].splitlines() if "=" in l)
server = dovecot.Dovecot(sys.argv[2])
server.ports = {k: int(info[k]) for k in dovecot.PORT_NAMES}
user = server.add_user("demo", "demo-password")
imap = server.imap(user)
plan = [("INBOX", 120, 1), ("Archive", 150, 2), ("Work", 60, 3),
        ("Work/Projects", 40, 4), ("Lists/facteur", 50, 5)]
# FACTEUR_DEMO_SMALL: a tenth of the mail, for the harness's own tests.
scale = 10 if os.environ.get("FACTEUR_DEMO_SMALL") else 1
for folder, count, seed in plan:
    count //= scale
    flags = lambda i: "S" if i % 3 else ("FS" if i % 10 == 0 else "")
    util.seed(imap, folder, util.gen(seed, count, max_body=200000),
              flags_for=flags)
    print("   %-16s %4d messages" % (folder, count))
imap.logout()
with open(os.path.join(sys.argv[3], "expected"), "w") as f:
    for folder, count, _ in plan:
        f.write("%s\t%d\n" % (folder, count // scale))
cfg = util.make_config(sys.argv[3], user, server.ports, info["cert"],
                       name="demo")
print("   config: %s" % cfg.path)
EOF

echo "== facteur -c $DEMO/facteurrc -a -V"
set +e
(cd "$TOP" && "$FACTEUR" -c "$DEMO/facteurrc" -a -V)
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "demo: facteur exited with status $rc: the sync failed" >&2
	echo "demo: (the server and the seeding above worked; a build without" >&2
	echo "demo:  the sync engine fails here)" >&2
	exit 1
fi

echo "== a second run: nothing left to transfer"
if ! (cd "$TOP" && "$FACTEUR" -c "$DEMO/facteurrc" -a); then
	echo "demo: the second run failed" >&2
	exit 1
fi

echo "== what is in $DEMO/Mail now"
"$PY" - "$HARNESS" "$DEMO/Mail" "$DEMO/expected" <<'EOF'
import collections, sys
sys.path.insert(0, sys.argv[1])
import util

counts = collections.Counter(f for _, _, f, _ in util.maildir_list(sys.argv[2]))
want = dict((l.split("\t")[0], int(l.split("\t")[1]))
            for l in open(sys.argv[3]).read().splitlines())
total, bad = 0, []
for folder in sorted(util.maildir_folders(sys.argv[2])):
    print("   %-16s %4d messages" % (folder, counts[folder]))
    total += counts[folder]
    if counts[folder] != want.get(folder, 0):
        bad.append(folder)
bad += [f for f in want if f not in util.maildir_folders(sys.argv[2])]
print("   %d messages in %d folders" % (total, len(util.maildir_folders(sys.argv[2]))))
if bad:
    print("demo: local mail differs from the server's in: " + ", ".join(sorted(bad)),
          file=sys.stderr)
    sys.exit(1)
print("   every folder matches the server")
EOF
echo "demo: done; the mail is in $DEMO/Mail, the config in $DEMO/facteurrc"
