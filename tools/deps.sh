#!/bin/sh
# Install the Debian packages edgetune needs, only those missing.
#   tools/deps.sh test    build + tests   (package list: tools/deps-test.txt)
#   tools/deps.sh study   corpus + tasks  (package list: tools/deps-study.txt)
# As root it runs apt-get; otherwise it prints the exact command to run.  Idempotent: when
# nothing is missing it only reads dpkg's status (well under a second).
#
# A list's "arm64:" lines name Debian arm64 packages that are unpacked, not installed, into
# a build-local sysroot (ARM_SYSROOT, default build/aarch64-sysroot) for the aarch64 cross
# build: the system's dpkg and architecture list stay untouched.  apt-get reads arm64 package
# lists from the system's own sources into a private state folder ($ARM_SYSROOT.apt, removed
# afterwards), verified with the system's archive keys; apt-get download fetches the .debs
# (checked against those lists) and dpkg-deb -x unpacks them.  A stamp file naming the
# packages makes a second run instant.
set -eu
cd "$(dirname "$0")/.."   # the repository root: ARM_SYSROOT is relative to it
list="tools/deps-$1.txt"
[ -f "$list" ] || { echo "deps.sh: no package list $list" >&2; exit 2; }

# ---- the arm64 sysroot (after the host packages, which bring the cross compiler)
# apt-get with arm64 as the native architecture and no dpkg status, so it resolves arm64
# names only, against the lists in $state; the download sandbox user is the caller, who owns
# the folder.
apt_arm64() {
    apt-get -qq -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
        -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" \
        -o Dir::State::Status=/dev/null -o APT::Sandbox::User="$(id -un)" "$@"
}
arm64_sysroot() {   # packages...
    root=${ARM_SYSROOT:-build/aarch64-sysroot}
    stamp="$root/.packages"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then
        echo "deps-$kind: arm64 sysroot present ($root: $*)"
        return 0
    fi
    echo "deps-$kind: unpacking arm64 packages into $root: $*"
    rm -rf "$root.apt" "$root.tmp"
    mkdir -p "$root.apt" && state=$(cd "$root.apt" && pwd)
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$root.tmp"
    if ! apt_arm64 update >"$state/update.log" 2>&1 ||
       ! ls "$state/lists/"*_binary-arm64_Packages* >/dev/null 2>&1; then
        echo "deps-$kind: apt-get update of the arm64 package lists failed (do the system's apt sources name another architecture only?):"
        tail -5 "$state/update.log"
        return 1
    fi
    if ! (cd "$state/debs" && apt_arm64 download "$@") >"$state/download.log" 2>&1; then
        echo "deps-$kind: apt-get download $* (arm64) failed:"
        tail -5 "$state/download.log"
        return 1
    fi
    for d in "$state/debs"/*.deb; do dpkg-deb -x "$d" "$root.tmp"; done
    rm -rf "$root"
    mv "$root.tmp" "$root"
    rm -rf "$state"
    echo "$*" >"$stamp"
    echo "deps-$kind: arm64 sysroot ready ($root)"
}

kind=$1
arm64=$(sed -n 's/^arm64:[[:space:]]*//p' "$list" | tr -s ' \n' ' ' | sed 's/ *$//')
missing=""
for p in $(grep -v -e '^#' -e '^arm64:' "$list" | tr -s ' \n' ' '); do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
if [ -z "$missing" ]; then
    echo "deps-$kind: all packages present"
else
    cmd="apt-get install -y --no-install-recommends$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps-$kind: missing:$missing"
        echo "run as root:  apt-get update && $cmd"
        exit 1
    fi
    echo "deps-$kind: installing:$missing"
    # The package lists may be stale or absent on a fresh machine.
    if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $cmd
    fi
fi
if [ -n "$arm64" ]; then
    # shellcheck disable=SC2086
    arm64_sysroot $arm64
fi
