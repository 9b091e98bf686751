#!/bin/sh
# Installs what facteur needs to build, test and run its demo on Debian 12.
# Idempotent: does nothing (and needs no network) when everything is present.
set -eu

PKGS="build-essential pkg-config libssl-dev liblmdb-dev zlib1g-dev libcmocka-dev
python3 python3-pytest dovecot-imapd dovecot-pop3d openssl man-db groff-base"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# The interoperability servers (Cyrus, Courier) come last, either way.
[ -z "$missing" ] && exec sh "$(dirname "$0")/interop-deps.sh"

echo "facteur: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Keep package scripts from starting system services (Dovecot) on the box:
# the tests start their own private instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
sh "$(dirname "$0")/interop-deps.sh"
