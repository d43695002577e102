#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - axon against libuv, libevent and a raw-epoll floor.
#
# Runs libuv's three benchmarks (ping-pong, pump, pound) and a
# request/response load (wrk against a minimal keep-alive HTTP responder,
# at 1, 64 and 500 connections) against the implementations below, in
# interleaved rounds (each round visits the implementations in a rotated
# order, so drift in the machine's speed spreads evenly), then measures
# server CPU per request, userland instructions per request (callgrind) and
# memory per idle connection. Prints one markdown table of medians with
# ratios to each implementation's floor and writes it, with the raw
# numbers, to bench/results-latest.md.
#
# Implementations (BUILD_DIR/bench/*_server):
#   floor        raw epoll, the minimal correct server (floor_server)
#   axon         axon on its epoll backend (axon_server, AXON_BACKEND=epoll)
#   uring-floor  raw io_uring: multishot accept, multishot recv on a buffer
#                ring, submitted sends batched once per iteration
#   axon-uring   axon on its io_uring backend (AXON_BACKEND=io_uring): sends
#                written directly first, polling for room for the rest
#   uring-floor-direct  the floor writing directly first and submitting only
#                the rest; axon-uring-submit  axon queueing and submitting
#                every send (AXON_URING_SENDS=submit): not in the default set,
#                they answer "direct or submitted sends?"
#   uv, event    libuv and libevent
# Ratios: axon-uring against uring-floor, everything else against floor.
#
# Environment (defaults in brackets):
#   ROUNDS [5]         interleaved rounds of the timed loads
#   LOAD_SECONDS [2]   length of each loadgen run
#   WRK_SECONDS [3]    length of each wrk run
#   WRK_CONNS ["1 64 500"]  wrk's connection counts
#   IMPLS ["floor axon uring-floor axon-uring uv event"]  (floor must be first)
#   IDLE_CONNS [19000] connections for the memory measurement, opened after
#   WARM_CONNS [500]   warm-up ones (the marginal cost per connection)
#   CG_SMALL [2000] CG_LARGE [20000]  request counts of the two callgrind runs
#   PIN [1]            pin the server to CPU 0 and the client to CPU 1
#   CALLGRIND [1] MEMORY [1]  0 skips that part
#   OUT [bench/results-latest.md]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd)/bench
ROUNDS=${ROUNDS:-5}
LOAD_SECONDS=${LOAD_SECONDS:-2}
WRK_SECONDS=${WRK_SECONDS:-3}
IMPLS=${IMPLS:-"floor axon uring-floor axon-uring uv event"}
WRK_CONNS=${WRK_CONNS:-"1 64 500"}
IDLE_CONNS=${IDLE_CONNS:-19000}
WARM_CONNS=${WARM_CONNS:-500}
CG_SMALL=${CG_SMALL:-2000}
CG_LARGE=${CG_LARGE:-20000}
PIN=${PIN:-1}
CALLGRIND=${CALLGRIND:-1}
MEMORY=${MEMORY:-1}
OUT=${OUT:-$here/results-latest.md}
read -r -a impls <<< "$IMPLS"

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "run.sh: $*" >&2; }

[ "${impls[0]}" = floor ] || die "IMPLS must start with floor (the ratios' base)"

# server_bin IMPL: the program; server_env IMPL: its environment.
server_bin() {
    case $1 in
    axon-uring | axon-uring-submit) echo "$BIN/axon_server" ;;
    uring-floor | uring-floor-direct) echo "$BIN/uring_floor_server" ;;
    *) echo "$BIN/${1}_server" ;;
    esac
}
server_env() {
    case $1 in
    axon) echo AXON_BACKEND=epoll ;;
    axon-uring) echo AXON_BACKEND=io_uring ;;
    axon-uring-submit) echo AXON_BACKEND=io_uring AXON_URING_SENDS=submit ;;
    uring-floor-direct) echo UFLOOR_DIRECT=1 ;;
    *) echo BENCH_IMPL="$1" ;;
    esac
}
# base_of IMPL: the floor its ratios are taken against.
base_of() {
    case $1 in
    axon-uring | axon-uring-submit | uring-floor | uring-floor-direct) echo uring-floor ;;
    *) echo floor ;;
    esac
}
for i in "${impls[@]}"; do
    [ -x "$(server_bin "$i")" ] || die "$(server_bin "$i") is missing (build with -DAXON_BENCH=ON)"
done
[ -x "$BIN/loadgen" ] || die "$BIN/loadgen is missing"
LG=$BIN/loadgen
command -v wrk > /dev/null || die "wrk is not installed (scripts/deps.sh bench)"
if [ "$CALLGRIND" = 1 ]; then
    command -v valgrind > /dev/null || die "valgrind is not installed (scripts/deps.sh bench)"
fi
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"

# Both sides of the idle test hold one fd per connection.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" || true
nofile=$(ulimit -n)
if [ "$MEMORY" = 1 ] && [ "$nofile" != unlimited ] &&
    [ "$nofile" -lt $((IDLE_CONNS + WARM_CONNS + 64)) ]; then
    die "fd limit $nofile is too low for IDLE_CONNS=$IDLE_CONNS + WARM_CONNS=$WARM_CONNS"
fi

# Server on CPU 0, client on CPU 1, when there are two CPUs to pin to.
srv_pin=() cli_pin=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then
    srv_pin=(taskset -c 0)
    cli_pin=(taskset -c 1)
fi

# Other work on the machine shows up as noise (and as slower floors).
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_start%% *}" 'BEGIN {exit !(l > 0.5)}'; then
    log "warning: load average is $load_start; other work on this machine makes the numbers noisy"
fi

TMP=$(mktemp -d /tmp/axon-bench.XXXXXX)
SRV_PID=""
IDLE_PID=""
cleanup() {
    local pid
    for pid in $IDLE_PID $SRV_PID; do
        kill -KILL "$pid" 2> /dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# ----------------------------------------------------------- servers

# start_server IMPL MODE [PREFIX...]: starts it, waits for "ready"; sets
# SRV_PID, SRV_ADDR, SRV_LOG.
start_server() {
    local impl=$1 mode=$2 port i
    shift 2
    port=$("$LG" freeport) || die "loadgen freeport failed"
    SRV_ADDR=127.0.0.1:$port
    # A new name each time: the file of an earlier run of this server still
    # says "ready", and the shell may truncate the new one only after the
    # wait below has looked at it.
    SRV_SEQ=$((${SRV_SEQ:-0} + 1))
    SRV_LOG=$TMP/$impl.$mode.$SRV_SEQ.server
    # shellcheck disable=SC2046
    env $(server_env "$impl") "$@" "$(server_bin "$impl")" "$mode" "$SRV_ADDR" \
        > "$SRV_LOG.out" 2> "$SRV_LOG.err" &
    SRV_PID=$!
    for ((i = 0; i < 1200; i++)); do # 60 s: valgrind is slow to start
        grep -q '^ready$' "$SRV_LOG.out" 2> /dev/null && return 0
        kill -0 "$SRV_PID" 2> /dev/null || break
        sleep 0.05
    done
    cat "$SRV_LOG.err" >&2
    die "${impl}_server $mode $SRV_ADDR did not get ready"
}

# stop_server: SIGTERM, and it must exit 0 within 30 s.
stop_server() {
    local i st=0
    kill -TERM "$SRV_PID" 2> /dev/null || die "server $SRV_PID died during the run: $(cat "$SRV_LOG.err")"
    for ((i = 0; i < 600; i++)); do
        kill -0 "$SRV_PID" 2> /dev/null || break
        sleep 0.05
    done
    if kill -0 "$SRV_PID" 2> /dev/null; then
        kill -KILL "$SRV_PID"
        die "server $SRV_PID did not exit within 30 s of SIGTERM"
    fi
    wait "$SRV_PID" || st=$?
    SRV_PID=""
    [ "$st" -eq 0 ] || die "server exited with status $st: $(cat "$SRV_LOG.err")"
    if [ -s "$SRV_LOG.err" ]; then
        log "warning: the server wrote to stderr:"
        sed 's/^/    /' "$SRV_LOG.err" | head -5 >&2
    fi
}

# server_alive: fails the run when the server died under load.
server_alive() {
    kill -0 "$SRV_PID" 2> /dev/null || die "server died: $(cat "$SRV_LOG.err")"
}

# cpu_ticks PID: utime + stime in clock ticks (fields 14, 15 of stat,
# counted after the ")" that ends the command name).
cpu_ticks() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat")
    awk '{print $12 + $13}' <<< "$rest"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# record METRIC IMPL VALUE
record() { echo "$3" >> "$TMP/r.$1.$2"; }

# load NAME ARGS...: runs loadgen pinned, prints its result (field 2).
load() {
    local out
    out=$("${cli_pin[@]}" "$LG" "$@" 2> "$TMP/loadgen.err") ||
        die "loadgen $* failed: $(cat "$TMP/loadgen.err")"
    server_alive
    awk 'NR == 1 {print $2}' <<< "$out"
}

# ------------------------------------------------------------ timed loads

run_echo_loads() {
    local impl=$1 v
    start_server "$impl" echo "${srv_pin[@]}"
    # (one assignment per line: set -e then stops the run if a load fails)
    v=$(load pingpong "$SRV_ADDR" 1 "$LOAD_SECONDS")
    record pp1 "$impl" "$v"
    v=$(load pingpong "$SRV_ADDR" 100 "$LOAD_SECONDS")
    record pp100 "$impl" "$v"
    v=$(load pump "$SRV_ADDR" 1 "$LOAD_SECONDS")
    record pump1 "$impl" "$v"
    v=$(load pound "$SRV_ADDR" 50 "$LOAD_SECONDS")
    record pound50 "$impl" "$v"
    stop_server
}

run_http_loads() {
    local impl=$1 round=$2 out t0 t1 reqs rps c
    start_server "$impl" http "${srv_pin[@]}"
    if [ "$round" -eq 1 ]; then
        "$LG" pipeline "$SRV_ADDR" > "$TMP/pipeline.out" 2>&1 ||
            die "$impl mis-handles HTTP pipelining: $(cat "$TMP/pipeline.out")"
    fi
    for c in $WRK_CONNS; do
        t0=$(cpu_ticks "$SRV_PID")
        out=$("${cli_pin[@]}" wrk -t1 -c"$c" -d"${WRK_SECONDS}s" "http://$SRV_ADDR/" 2>&1) ||
            die "wrk failed: $out"
        server_alive
        t1=$(cpu_ticks "$SRV_PID")
        if grep -qE 'Socket errors|Non-2xx' <<< "$out"; then
            die "wrk -c$c saw errors against $impl: $out"
        fi
        reqs=$(awk '/requests in/ {print $1}' <<< "$out")
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
        [ -n "$reqs" ] && [ -n "$rps" ] && [ "$reqs" -gt 0 ] || die "cannot parse wrk output: $out"
        record "rps$c" "$impl" "$rps"
        record "cpu$c" "$impl" "$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" \
            'BEGIN {printf "%.4f", d / hz * 1e6 / n}')"
    done
    stop_server
}

n=${#impls[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        impl=${impls[$(((k + r - 1) % n))]}
        log "round $r/$ROUNDS: $impl"
        run_echo_loads "$impl"
        run_http_loads "$impl" "$r"
    done
done

# --------------------------------------------- instructions per request

# callgrind_ir IMPL COUNT: sets CG_IR to the total Ir of the server serving
# COUNT requests (not run in a subshell: the EXIT trap must see SRV_PID).
callgrind_ir() {
    local impl=$1 count=$2 f=$TMP/callgrind.$1.$2 ir
    start_server "$impl" http valgrind --tool=callgrind --callgrind-out-file="$f" \
        --log-file="$TMP/valgrind.$impl.$count.log"
    "$LG" requests "$SRV_ADDR" 10 "$count" > "$TMP/requests.out" 2>&1 ||
        die "loadgen requests against ${impl}_server under callgrind: $(cat "$TMP/requests.out")"
    stop_server
    ir=$(awk '/^summary:/ {print $2; exit}' "$f")
    [ -n "$ir" ] || ir=$(awk '/^totals:/ {print $2; exit}' "$f")
    [ -n "$ir" ] || die "no summary/totals line in $f"
    CG_IR=$ir
}

if [ "$CALLGRIND" = 1 ]; then
    for impl in "${impls[@]}"; do
        log "callgrind: $impl ($CG_SMALL and $CG_LARGE requests)"
        callgrind_ir "$impl" "$CG_SMALL"
        small=$CG_IR
        callgrind_ir "$impl" "$CG_LARGE"
        large=$CG_IR
        record ir "$impl" "$(awk -v a="$small" -v b="$large" -v n=$((CG_LARGE - CG_SMALL)) \
            'BEGIN {printf "%.1f", (b - a) / n}')"
    done
fi

# ------------------------------------------- memory per idle connection

# idle_clients N FD: N idle connections from one loadgen whose stdin is the
# write end opened on FD (closing it ends the client); sets IDLE_PID.
idle_clients() {
    local n=$1 fifo=$TMP/idle.$2.fifo out=$TMP/idle.$2.out i
    rm -f "$fifo"
    mkfifo "$fifo"
    "$LG" idle "$SRV_ADDR" "$n" < "$fifo" > "$out" 2> "$out.err" &
    IDLE_PID="$IDLE_PID $!"
    eval "exec $2> \"\$fifo\""
    for ((i = 0; i < 1200; i++)); do
        grep -q '^idle ' "$out" && return 0
        sleep 0.05
    done
    die "loadgen idle $n failed: $(cat "$out.err")"
}

if [ "$MEMORY" = 1 ]; then
    for impl in "${impls[@]}"; do
        log "memory: $impl with $WARM_CONNS + $IDLE_CONNS idle connections"
        start_server "$impl" echo
        # The marginal cost: RSS grown by IDLE_CONNS more connections after
        # WARM_CONNS, so what a server pays once (read buffers, io_uring's
        # receive-buffer pool, heap set-up) is not counted per connection.
        idle_clients "$WARM_CONNS" 8
        server_alive
        rss1=$(rss_kb "$SRV_PID")
        idle_clients "$IDLE_CONNS" 9
        server_alive
        rss2=$(rss_kb "$SRV_PID")
        exec 8>&- 9>&-
        for pid in $IDLE_PID; do
            st=0
            wait "$pid" || st=$?
            [ "$st" -eq 0 ] || die "loadgen idle exited with $st"
        done
        IDLE_PID=""
        stop_server
        record mem "$impl" "$(((rss2 - rss1) * 1024 / IDLE_CONNS))"
    done
fi

# ----------------------------------------------------------------- table

median() { # FILE: the median of its lines
    sort -g "$1" | awk '{v[NR] = $1} END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

label() {
    case $1 in
    floor) echo "floor (raw epoll)" ;;
    axon) echo "axon $(sed -n 's/^project(axon VERSION \([0-9.]*\).*/\1/p' "$here/../CMakeLists.txt") epoll" ;;
    uring-floor) echo "floor (raw io_uring)" ;;
    uring-floor-direct) echo "io_uring floor, direct sends" ;;
    axon-uring) echo "axon io_uring" ;;
    axon-uring-submit) echo "axon io_uring, submitted sends" ;;
    uv) echo "libuv $(pkg-config --modversion libuv 2> /dev/null)" ;;
    event) echo "libevent $(pkg-config --modversion libevent 2> /dev/null)" ;;
    *) echo "$1" ;;
    esac
}

# metric key | description | unit format | better
metrics="pp1|ping-pong, 1 connection (round trips/s)|%.0f|higher
pp100|ping-pong, 100 connections (round trips/s)|%.0f|higher
pump1|pump, 1 connection (Gbit/s)|%.2f|higher
pound50|pound, concurrency 50 (connections/s)|%.0f|higher
rps1|requests, wrk -t1 -c1 (requests/s)|%.0f|higher
rps64|requests, wrk -t1 -c64 (requests/s)|%.0f|higher
rps500|requests, wrk -t1 -c500 (requests/s)|%.0f|higher
cpu1|server CPU per request, 1 connection (µs)|%.2f|lower
cpu64|server CPU per request, 64 connections (µs)|%.2f|lower
cpu500|server CPU per request, 500 connections (µs)|%.2f|lower
ir|userland instructions per request (callgrind Ir)|%.0f|lower
mem|memory per idle connection (bytes of RSS)|%.0f|lower"

table() {
    local hdr="| metric | better |" sep="|---|---|" impl key desc fmt better f base v cell row
    for impl in "${impls[@]}"; do
        hdr="$hdr $(label "$impl") |"
        sep="$sep---:|"
    done
    echo "$hdr"
    echo "$sep"
    while IFS='|' read -r key desc fmt better; do
        [ -f "$TMP/r.$key.floor" ] || continue
        row="| $desc | $better |"
        for impl in "${impls[@]}"; do
            f=$TMP/r.$key.$impl
            if [ ! -f "$f" ]; then
                row="$row n/a |"
                continue
            fi
            v=$(median "$f")
            base=0
            [ -f "$TMP/r.$key.$(base_of "$impl")" ] && base=$(median "$TMP/r.$key.$(base_of "$impl")")
            cell=$(awk -v v="$v" -v b="$base" -v fmt="$fmt" \
                -v floor="$([ "$impl" = "$(base_of "$impl")" ] && echo 1)" '
                function group(s,   r) { # thousands separators for the integer part
                    while (match(s, /[0-9][0-9][0-9][0-9]([.,]|$)/)) {
                        r = RSTART + 1
                        s = substr(s, 1, r - 1) "," substr(s, r)
                    }
                    return s
                }
                BEGIN {
                    s = group(sprintf(fmt, v))
                    if (!floor) s = s sprintf(b > 0 ? " (%.2f×)" : " (n/a)", v / (b > 0 ? b : 1))
                    print s
                }')
            row="$row $cell |"
        done
        echo "$row"
    done <<< "$metrics"
}

tbl=$(table)
echo "$tbl"
{
    echo "# axon benchmark results"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs" \
        "($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), pinned: ${srv_pin[*]:-no}," \
        "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "Command: \`ROUNDS=$ROUNDS LOAD_SECONDS=$LOAD_SECONDS WRK_SECONDS=$WRK_SECONDS bench/run.sh BUILD_DIR\`."
    echo "Medians of $ROUNDS interleaved rounds; (×) is the ratio to the floor: the raw io_uring"
    echo "floor for axon on io_uring, the raw epoll floor for the others. Instructions per"
    echo "request: (Ir at $CG_LARGE requests − Ir at $CG_SMALL) / $((CG_LARGE - CG_SMALL)), one run each."
    echo "Memory: server RSS growth over $IDLE_CONNS idle connections opened after $WARM_CONNS others"
    echo "(the marginal cost; user space only: kernel socket buffers are not in RSS)."
    echo
    echo "$tbl"
    echo
    echo "## Raw values (one per round)"
    echo
    for f in "$TMP"/r.*; do
        echo "- ${f#"$TMP"/r.}: $(tr '\n' ' ' < "$f")"
    done
} > "$OUT"
log "written to $OUT"
