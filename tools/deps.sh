#!/bin/sh
# Install the Debian packages edgetune needs, only those missing.
#   tools/deps.sh test    build + tests   (package list: tools/deps-test.txt)
#   tools/deps.sh study   corpus + tasks  (package list: tools/deps-study.txt)
# As root it runs apt-get; otherwise it prints the exact command to run.  Idempotent: when
# nothing is missing it only reads dpkg's status (well under a second).
set -eu
here=$(dirname "$0")
list="$here/deps-$1.txt"
[ -f "$list" ] || { echo "deps.sh: no package list $list" >&2; exit 2; }
missing=""
for p in $(grep -v '^#' "$list" | tr -s ' \n' ' '); do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
if [ -z "$missing" ]; then
    echo "deps-$1: all packages present"
    exit 0
fi
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps-$1: missing:$missing"
    echo "run as root:  apt-get update && $cmd"
    exit 1
fi
echo "deps-$1: installing:$missing"
# The package lists may be stale or absent on a fresh machine.
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $cmd
fi
