#!/usr/bin/env bash
# Each case of the hostile lab (lab/src/hostile/), scanned alone with the
# hardened twins, in a process of its own: wall time (and as a multiple of
# the lab's timeout_ms, 2,000 ms) and peak memory. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p haetae-scanner --example hostile_case
bin=target/release/examples/hostile_case
for case in $("$bin" list); do
    timeout 300 "$bin" "$case" || echo "$case: failed or over 300 s"
done
