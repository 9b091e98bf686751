#!/bin/sh
# PostSyncCommand for notmuch users: index new mail, but only when the sync
# changed something in the Maildir.  In the configuration:
#   PostSyncCommand "/path/to/notmuch-post-sync.sh"
# facteur sets FACTEUR_CHANNEL and the counts (see facteur(1), ENVIRONMENT).
set -eu

if [ "${FACTEUR_CHANGED_NEAR:-1}" = 0 ]; then
	exit 0
fi
# Several channels may finish at once (watch mode): let one notmuch run at a
# time; notmuch itself refuses concurrent writers.
lock="${XDG_RUNTIME_DIR:-/tmp}/facteur-notmuch.lock"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
notmuch new --quiet
# Example of tagging by channel: mail pulled for "work" gets +work.
# notmuch tag +"$FACTEUR_CHANNEL" -- tag:new
