#!/bin/sh
# Provides Cyrus IMAP and Courier IMAP for the interoperability tests without
# disturbing Dovecot.  The server packages conflict with dovecot-imapd (they
# all provide imap-server), so only their dependencies are installed with
# apt-get; the server .debs themselves are downloaded and unpacked into a
# cache directory (default build/interop, override with FACTEUR_INTEROP_DIR),
# from which tests/integration/servers/ runs them.
# Idempotent: quiet and offline when everything is present.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
DEST=${FACTEUR_INTEROP_DIR:-$here/build/interop}

DEPS="cyrus-common cyrus-admin cyrus-clients sasl2-bin courier-base
courier-authdaemon courier-authlib-userdb gamin"
SERVERS="cyrus-imapd cyrus-pop3d courier-imap courier-pop"

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive

missing=""
for p in $DEPS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
todo=""
for p in $SERVERS; do
	[ -f "$DEST/$p.unpacked" ] || todo="$todo $p"
done
[ -z "$missing" ] && [ -z "$todo" ] && exit 0

updated=
update() {
	[ -n "$updated" ] && return 0
	$SUDO apt-get update -qq
	updated=1
}

if [ -n "$missing" ]; then
	echo "facteur interop: installing:$missing" >&2
	update
	# Keep package scripts from starting system services (exim4, Cyrus's
	# and Courier's daemons): the tests start their own private instances.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ -n "$todo" ]; then
	echo "facteur interop: unpacking:$todo into $DEST" >&2
	mkdir -p "$DEST/debs" "$DEST/root"
	for p in $todo; do
		deb=$(ls "$DEST/debs/${p}_"*.deb 2>/dev/null | head -n 1 || true)
		if [ -z "$deb" ]; then
			update
			(cd "$DEST/debs" && apt-get download -qq -o APT::Sandbox::User=root "$p" >/dev/null)
			deb=$(ls "$DEST/debs/${p}_"*.deb | head -n 1)
		fi
		dpkg-deb -x "$deb" "$DEST/root"
		: >"$DEST/$p.unpacked"
	done
	# Only the programs are used.  Drop the packages' init.d, pam.d,
	# tmpfiles.d... directories: the Makefile includes every *.d under
	# build/ as a dependency file.
	find "$DEST/root" -depth -name '*.d' -exec rm -rf {} +
fi
