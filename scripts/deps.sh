#!/bin/sh
# Installs, with apt-get, whatever Debian 12 packages a job needs and the
# machine lacks. usage: scripts/deps.sh build|test|fuzz|bench
# (test and bench include build). Runs apt-get only when something is missing.
set -eu
build="cmake ninja-build gcc clang pkg-config make binutils liburing-dev libc-ares-dev"
test="$build socat ncat netcat-openbsd iproute2 kmod valgrind libclang-rt-14-dev curl wrk dnsmasq-base nftables"
bench="$build libuv1-dev libevent-dev wrk valgrind util-linux"
case "${1:-build}" in
build) want=$build ;;
test | fuzz) want=$test ;;
bench) want=$bench ;;
*) echo "deps.sh: unknown job '$1' (build|test|fuzz|bench)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
