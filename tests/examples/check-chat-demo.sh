#!/bin/sh
# Runs examples/10-chat-demo (the README's `make demo`) and checks the
# transcript: both clients join, hear each other with the sender's address,
# the refused connect is reported, and the loop ends by itself.
set -eu
out=$(timeout 20 "$1" 2>&1) || { echo "$out"; echo "demo exited non-zero"; exit 1; }
echo "$out"
for want in \
    '^axon .* event-loop demo on tcp://127\.0\.0\.1:[1-9][0-9]* (backend ' \
    '^alice: connected from tcp://127\.0\.0\.1:' \
    '^bob hears: tcp://127\.0\.0\.1:[0-9]*: hi bob$' \
    '^alice hears: tcp://127\.0\.0\.1:[0-9]*: hello alice$' \
    '^bob hears: tcp://127\.0\.0\.1:[0-9]*: how is the event loop?$' \
    '^alice hears: tcp://127\.0\.0\.1:[0-9]*: no busy loops here$' \
    '^carol: Connection to tcp://127\.0\.0\.1:1 failed: Connection refused (ECONNREFUSED)$' \
    '^server: a client left, 0 still connected$' \
    '^demo: the loop ran out of work; bye$'; do
    printf '%s\n' "$out" | grep -q -- "$want" || { echo "demo output lacks: $want"; exit 1; }
done
echo "1 passed, 0 failed"
