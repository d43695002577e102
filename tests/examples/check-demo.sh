#!/bin/sh
# Runs examples/00-direct-demo and checks each part of its output.
set -eu
out=$("$1" 2>&1) || { echo "$out"; echo "demo exited non-zero"; exit 1; }
echo "$out"
for want in \
    '^\[1\] listening on tcp://127\.0\.0\.1:[1-9]' \
    '^\[1\] server got "hello from the client" from 127\.0\.0\.1:' \
    '^\[1\] client got: "you said 21 bytes"' \
    '^\[2\] child: got fd [0-9]* from pid [0-9]*, uid' \
    '^\[2\] parent read from the pipe: written by pid [0-9]* through passed fd' \
    'EINVAL: Invalid URI "tcp://\[::1" given' \
    'EINVAL: Invalid URI "tcp://h:65536" given' \
    'gopher' \
    'ECONNREFUSED: Connection to tcp://127\.0\.0\.1:[0-9]* failed: Connection refused (ECONNREFUSED)' \
    'ELINETOOLONG: read line from fd [0-9]*: more than 8 bytes'; do
    printf '%s\n' "$out" | grep -q -- "$want" || { echo "demo output lacks: $want"; exit 1; }
done
echo "1 passed, 0 failed"
