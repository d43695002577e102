#!/bin/sh
# Runs every test executable of a build under valgrind memcheck; fails on
# any error or any definite/indirect leak. Forked test children are checked
# too (valgrind follows fork); exec'd peers (socat, ncat) run natively.
# usage: scripts/valgrind.sh BUILD_DIR
set -eu
build=${1:-build}
src=$(cd "$(dirname "$0")/.." && pwd)
export AXT_TIMEOUT_SCALE=10
status=0
summary=""
for t in "$build"/tests/test_* "$build"/tests/*_replay; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    log="$build/valgrind-$name.log"
    args=""
    case "$name" in
    fuzz_*_replay)
        corpus=${name#fuzz_}
        args="$src/tests/fuzz/corpus/${corpus%_replay}"
        ;;
    esac
    if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --show-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$log.%p" \
        "$t" $args >"$log" 2>&1; then
        summary="$summary
ok   $name"
    else
        status=1
        summary="$summary
FAIL $name (see $log*)"
        tail -n 30 "$log"
        for f in "$log".*; do [ -s "$f" ] && { echo "== $f"; head -n 60 "$f"; }; done
    fi
done
echo "$summary"
exit $status
