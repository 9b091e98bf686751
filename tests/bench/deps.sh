#!/bin/sh
# Installs the peers and the chart tool `make bench` compares facteur with
# (Debian 12: isync 1.4 for mbsync, offlineimap3, mpop, python3-matplotlib),
# plus facteur's own test dependencies through contrib/deps.sh.
# Idempotent: asks dpkg first and runs apt-get only for what is missing.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
sh "$TOP/contrib/deps.sh"

PKGS="isync offlineimap3 mpop python3-matplotlib time"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "bench: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# Other package runs may hold the dpkg lock for a while: wait for it.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
