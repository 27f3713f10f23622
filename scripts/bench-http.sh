#!/usr/bin/env bash
# HTTP benchmark, side by side on one nginx on loopback (answering any Host):
#   wrk -c64            the server's keep-alive ceiling on /
#   gobuster, ffuf      content discovery of a 200k-path wordlist, 64 workers
#   haetae              every built-in template over 2,000 in-scope names that
#                       resolve to the nginx (scanner/benches/http.rs)
# Prints one table: requests (counted by nginx's stub_status; for haetae's
# template phase, by the scanner), wall seconds, requests/s and peak RSS. The
# "whole scan" rows time haetae's engine::run (DNS, port scan, service probes,
# TLS and templates); the "templates" rows its first to last HTTP request. Installs nginx, wrk, gobuster and ffuf with apt-get
# when they are absent. Everything stays on loopback: nginx listens only on
# 127.0.0.1 and the 127.88.x.y addresses the bench names resolve to.
#
# Environment: BENCH_HTTP_NAMES (2000), BENCH_HTTP_PATHS (200000),
# BENCH_HTTP_THREADS (64: wrk connections, gobuster/ffuf workers),
# BENCH_WRK_SECONDS (10), BENCH_HTTP_CONCURRENCY ("256 2048": one haetae run per
# scan concurrency; at 2048 every port's probe is in flight at once),
# BENCH_HTTP_TIMEOUT_MS (1000, the scan's per-operation timeout),
# BENCH_HTTP_TOOLS ("wrk gobuster ffuf haetae": which rows to measure),
# BENCH_HTTP_WRAP (a command put before haetae's, e.g. "perf record -g -o /tmp/perf.data"),
# BENCH_HTTP_TRACE (set: haetae prints its HTTP requests per 100 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

names=${BENCH_HTTP_NAMES:-2000}
paths=${BENCH_HTTP_PATHS:-200000}
threads=${BENCH_HTTP_THREADS:-64}
wrk_seconds=${BENCH_WRK_SECONDS:-10}
tools=" ${BENCH_HTTP_TOOLS:-wrk gobuster ffuf haetae} "
want() { [[ "$tools" == *" $1 "* ]] && command -v "$1" >/dev/null; }

# Install what is missing and available (apt-cache policy shows a candidate).
need=()
for tool in nginx wrk gobuster ffuf; do
    command -v "$tool" >/dev/null || need+=("$tool")
done
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
    apt-get update -qq
    avail=()
    for p in "${need[@]}"; do
        if apt-cache policy "$p" | grep -q 'Candidate: [0-9]'; then avail+=("$p"); fi
    done
    if ((${#avail[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${avail[@]}" >/dev/null
    fi
fi
command -v nginx >/dev/null || { echo "nginx is not installed and apt-get has none" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is not installed" >&2; exit 1; }

# Many sockets at once: raise the open-file limit for this shell and its children.
ulimit -n 65535 2>/dev/null || ulimit -n 16384 2>/dev/null || true

# Build first, so that no compile runs next to the measurements.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
bench_bin=$(cargo bench -p haetae-scanner --bench http --no-run 2>&1 | tee /dev/stderr |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n1)
[[ -x "$bench_bin" ]] || { echo "could not find the built bench binary" >&2; exit 1; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
    if [[ -s "$tmp/nginx.pid" ]]; then kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Two free ports below the ephemeral range: the web port and the status port.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 10000))
        if [[ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" && "$p" != "${1:-}" ]]; then
            echo "$p"
            return
        fi
    done
}
port=$(free_port)
status_port=$(free_port "$port")

# nginx: any Host, one `listen` per bench address (name i -> 127.88.((i-1)/250).((i-1)%250+1),
# as in scanner/benches/http.rs), access_log off.
mkdir -p "$tmp/www"
printf '<!doctype html><html><head><title>bench</title></head><body>bench</body></html>\n' >"$tmp/www/index.html"
{
    echo "worker_processes auto;"
    echo "worker_rlimit_nofile 65535;"
    echo "pid $tmp/nginx.pid;"
    echo "error_log $tmp/error.log warn;"
    echo "events { worker_connections 16384; }"
    echo "http {"
    echo "  access_log off;"
    echo "  default_type text/html;"
    for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $tmp/$d;"; done
    echo "  server {"
    for ((i = 1; i <= names; i++)); do
        echo "    listen 127.88.$(((i - 1) / 250)).$(((i - 1) % 250 + 1)):$port;"
    done
    echo "    server_name _;"
    echo "    root $tmp/www;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$status_port;"
    echo "    location = /status { stub_status; }"
    echo "  }"
    echo "}"
} >"$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf"

# Requests nginx has handled so far (stub_status's third counter; the status
# request itself counts one, subtracted below).
served() {
    local body
    exec 3<>"/dev/tcp/127.0.0.1/$status_port"
    printf 'GET /status HTTP/1.0\r\nHost: status\r\n\r\n' >&3
    body=$(cat <&3)
    exec 3<&-
    awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ *$/ { print $3 }' <<<"$body"
}
for _ in $(seq 50); do served >/dev/null 2>&1 && break; sleep 0.1; done

awk -v n="$paths" 'BEGIN { for (i = 1; i <= n; i++) printf "dir%06d\n", i }' >"$tmp/words.txt"
url="http://127.88.0.1:$port"
rows=()
row() { # tool requests seconds peak_kib
    rows+=("$(awk -v t="$1" -v r="$2" -v s="$3" -v m="$4" \
        'BEGIN { printf "%-26s %10d %8.2f %12.0f %9.1f", t, r, s, (s > 0 ? r / s : 0), m / 1024 }')")
}
# Run a tool under /usr/bin/time; add its row with nginx's count of its requests.
measure() {
    local name=$1
    shift
    local before after
    before=$(served)
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$tmp/out" 2>&1 || {
        echo "$name failed:" >&2
        tail -n 20 "$tmp/out" >&2
        return 0
    }
    after=$(served)
    read -r secs kib <"$tmp/time"
    row "$name" $((after - before - 1)) "$secs" "$kib"
}

if want wrk; then
    measure "wrk -c$threads (/ ceiling)" wrk -t2 -c"$threads" -d"${wrk_seconds}s" "$url/"
fi
if want gobuster; then
    measure "gobuster -t$threads" gobuster dir -q -z --no-error -t "$threads" -u "$url/" -w "$tmp/words.txt"
fi
if want ffuf; then
    measure "ffuf -t$threads" ffuf -s -t "$threads" -u "$url/FUZZ" -w "$tmp/words.txt"
fi

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
if [[ "$tools" == *" haetae "* ]]; then
    for c in ${BENCH_HTTP_CONCURRENCY:-256 2048}; do
        before=$(served)
        BENCH_HTTP_PORT=$port BENCH_HTTP_NAMES=$names BENCH_HTTP_CONCURRENCY=$c \
            /usr/bin/time -f '%e %M' -o "$tmp/time" ${BENCH_HTTP_WRAP:-} "$bench_bin" | tee "$tmp/haetae"
        after=$(served)
        read -r _ kib <"$tmp/time"
        scan=$(grep '^RESULT scan ' "$tmp/haetae")
        phase=$(grep '^RESULT templates ' "$tmp/haetae")
        row "haetae c$c: whole scan" $((after - before - 1)) "$(field seconds "$scan")" "$kib"
        row "haetae c$c: templates" "$(field requests "$phase")" "$(field seconds "$phase")" "$kib"
    done
fi

echo
printf '%-26s %10s %8s %12s %9s\n' tool requests seconds requests/s "peak MiB"
printf '%s\n' "${rows[@]}"
echo "(nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(nproc) cores, $names names, $paths paths; peak RSS from /usr/bin/time)"
# Targets: haetae's rate at least the fastest content-discovery tool's, peak RSS under 150 MiB.
printf '%s\n' "${rows[@]}" | awk -v names="$names" '
    /^(gobuster|ffuf) / { if ($(NF - 1) > best) { best = $(NF - 1); who = $1 } }
    /^haetae/ { h[++n] = $0 }
    END {
        for (i = 1; i <= n; i++) {
            split(h[i], f, "  +")
            k = split(h[i], w, " +")
            printf "%-26s %5.2f x %s, peak %s MiB %s\n", f[1], (best ? w[k - 1] / best : 0), (who ? who : "-"), w[k], (w[k] < 150 ? "(< 150)" : "(OVER 150)")
        }
        # One machine-readable line per templates row, for scripts/bench.sh.
        for (i = 1; i <= n; i++) {
            split(h[i], f, "  +")
            k = split(h[i], w, " +")
            if (f[1] ~ /templates/ && best > 0)
                printf "BENCH {\"work\":\"http %s, %d names (rate)\",\"haetae\":%.1f,\"peer\":%.1f,\"peer_name\":\"%s\",\"unit\":\"req/s\",\"ratio\":%.4f,\"target\":\">= 1.0\",\"kind\":\"ratio\"}\n", f[1], names, w[k - 1], best, who, w[k - 1] / best
        }
    }'

