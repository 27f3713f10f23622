#!/usr/bin/env bash
# The daemon's cost over time (issue 16, item 12), against the built-in lab on
# loopback only:
#   1. idle: `haetae daemon` with a schedule not due, for IDLE_SECS (default
#      600): CPU time used (utime+stime from /proc/PID/stat) and memory
#      (VmRSS, VmHWM from /proc/PID/status) at the start and the end;
#   2. runs: RUNS (default 100) runs of that schedule asked for through the
#      local API (`POST /v1/scans {"schedule": ...}`, the path a due time
#      takes: run_once -> Hub::run_scan), one after the other; VmRSS after
#      the 10th and the last run (growth or not), beside the size of the
#      store on disk then (to tell a leak from a store that grows).
# Usage: cargo build --release && scripts/daemon-soak.sh
#   (BIN=path/to/haetae to measure another build; IDLE_SECS, RUNS to shorten.)
# The third number of item 12, the delay from a change in the lab to its event
# on the stream, needs a lab switched while the daemon runs (Lab::switch,
# Lab::swap_certificate): the tests print it, one `LIFECYCLE` line each:
#   cargo test --test cli lifecycle -- --nocapture
# Prints one `SOAK {json}` line with every number.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/haetae}
IDLE_SECS=${IDLE_SECS:-600}
RUNS=${RUNS:-100}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
BIN=$(realpath "$BIN")
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$BIN" lab serve --dir "$work" >"$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^ready' "$work/lab.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/lab.log" || { echo "the lab did not start" >&2; cat "$work/lab.log" >&2; exit 1; }
# 03:00 in Seoul: not due during the measurement unless run near 18:00 UTC.
printf '\n[[schedule]]\nname = "nightly"\ncron = "0 3 * * *"\n' >>"$work/haetae.toml"
(cd "$work" && exec "$BIN" daemon --log-format json 2>"$work/daemon.log") &
daemon=$!
pids+=($daemon)
sock="$work/.haetae/api.sock"
for _ in $(seq 1 300); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "the daemon's API did not come up" >&2; cat "$work/daemon.log" >&2; exit 1; }
token=$(cat "$work/.haetae/api.token")
api() { curl -sf --max-time 60 --unix-socket "$sock" -H "Authorization: Bearer $token" "$@"; }

ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$daemon/status"; }
hz=$(getconf CLK_TCK)

sleep 2
t0=$(ticks); rss0=$(kib VmRSS)
sleep "$IDLE_SECS"
t1=$(ticks); rss1=$(kib VmRSS); hwm1=$(kib VmHWM)
idle_cpu_pct=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$IDLE_SECS" 'BEGIN {printf "%.4f", (b - a) / hz / s * 100}')
echo "idle ${IDLE_SECS}s: cpu ${idle_cpu_pct}% ($((t1 - t0)) ticks), VmRSS ${rss0} -> ${rss1} KiB, VmHWM ${hwm1} KiB" >&2

runs_done() { api http://localhost/v1/scans | grep -o '"id":' | wc -l; }
rss10=0
start=$(date +%s)
for i in $(seq 1 "$RUNS"); do
    api -X POST -H 'Content-Type: application/json' -d '{"schedule":"nightly"}' http://localhost/v1/scans >/dev/null
    deadline=$(($(date +%s) + 180))
    until [ "$(runs_done)" -ge "$i" ] && [ "$(api http://localhost/v1/health | grep -o '"scan_running":null')" != "" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "run $i did not finish within 180 s" >&2; exit 1; }
        sleep 0.2
    done
    [ "$i" -eq 10 ] && rss10=$(kib VmRSS) && store10=$(du -sk "$work/.haetae" | cut -f1)
done
storeN=$(du -sk "$work/.haetae" | cut -f1)
elapsed=$(($(date +%s) - start))
rssN=$(kib VmRSS); hwmN=$(kib VmHWM)
complete=$(api http://localhost/v1/scans | grep -o '"complete":true' | wc -l)
echo "runs: ${RUNS} in ${elapsed}s (${complete} complete), VmRSS after 10: ${rss10} KiB, after ${RUNS}: ${rssN} KiB, VmHWM ${hwmN} KiB; store on disk ${store10} -> ${storeN} KiB" >&2
printf 'SOAK {"idle_secs":%s,"idle_cpu_pct":%s,"idle_rss_kib":[%s,%s],"idle_hwm_kib":%s,"runs":%s,"runs_complete":%s,"runs_secs":%s,"rss_after_10_kib":%s,"rss_after_all_kib":%s,"hwm_kib":%s,"store_after_10_kib":%s,"store_after_all_kib":%s}\n' \
    "$IDLE_SECS" "$idle_cpu_pct" "$rss0" "$rss1" "$hwm1" "$RUNS" "$complete" "$elapsed" "$rss10" "$rssN" "$hwmN" "$store10" "$storeN"
