#!/bin/sh
# Runs every test executable of a build under valgrind memcheck; fails on
# any error or any definite/indirect leak. Forked test children are checked
# too (valgrind follows fork); exec'd peers (socat, ncat) run natively.
#
# Backends: valgrind 3.19 cannot follow io_uring (it holds its big lock
# through a blocking io_uring_enter, so a thread that would wake the loop
# never runs), so the memcheck runs use epoll, and the tests of the loop,
# the network layer, the CLI and the examples run once more on poll.
# io_uring's memory is checked by the ASan+UBSan build instead.
#
# usage: scripts/valgrind.sh BUILD_DIR
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
export AXT_TIMEOUT_SCALE=10
status=0
summary=""

# run BACKEND TEST
run() {
    be=$1 t=$2
    name=$(basename "$t")
    log="$build/valgrind-$name-$be.log"
    args=""
    case "$name" in
    fuzz_*_replay)
        corpus=${name#fuzz_}
        args="$src/tests/fuzz/corpus/${corpus%_replay}"
        ;;
    esac
    if AXON_BACKEND=$be valgrind --quiet --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --error-exitcode=99 --log-file="$log.%p" "$t" $args >"$log" 2>&1; then
        summary="$summary
ok   $name ($be)"
    else
        status=1
        summary="$summary
FAIL $name ($be) (see $log*)"
        tail -n 30 "$log"
        for f in "$log".*; do [ -s "$f" ] && { echo "== $f"; head -n 60 "$f"; }; done
    fi
}

for t in "$build"/tests/test_* "$build"/tests/*_replay; do
    [ -x "$t" ] || continue
    run epoll "$t"
done
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$(basename "$t")" in
    test_loop | test_signal | test_watch | test_net | test_filter | test_conn | test_connect | \
        test_server | test_cli* | test_examples) run poll "$t" ;;
    esac
done
echo "$summary"
exit $status
