#!/usr/bin/env bash
# Scale-out on one machine (issue 17, item 7), loopback only:
#   1. the lab scanned by one process (`haetae scan`, PostgreSQL store), then
#      by a daemon and 1, 2 and 3 `haetae worker`s on fresh databases: the
#      run's wall time (the daemon's "scan started" to "scan complete" log
#      lines), units per second, and each process's CPU time (utime+stime
#      from /proc, so whether the run waits on the CPU or on the network);
#      `workers = N`: the N workers share the scope's rate budget;
#   2. the TUI's load of 100k findings through a daemon (the two requests
#      its Source makes: GET /v1/findings?state=all and the suppressed ones),
#      on PostgreSQL and, as the peer in the same run, on sled with the same
#      100k records.
# PostgreSQL runs from a temporary directory (initdb/pg_ctl, durable: fsync
# on), on a free loopback port. Usage:
#   cargo build --release && scripts/workers-bench.sh
# Prints `BENCH {json}` lines (ratio against the peer named in each).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/haetae}
TOTAL=${TOTAL:-100000}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
BIN=$(realpath "$BIN")
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U haetae -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -w -t 60 -l "$work/pg/log" \
    -o "-k $work/pg -c listen_addresses=127.0.0.1 -p $port" start >/dev/null
url() { echo "postgres://haetae@127.0.0.1:$port/$1"; }
sql() { psql "$(url "$1")" -qtAX -c "$2"; }
createdb() { sql postgres "CREATE DATABASE $1"; }

"$BIN" lab serve --dir "$work/lab" >"$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^ready' "$work/lab.log" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/lab.log" || { echo "the lab did not start" >&2; cat "$work/lab.log" >&2; exit 1; }
base_toml=$(grep -v '^store =' "$work/lab/haetae.toml")
# use_db DB [EXTRA] [WORKERS]: haetae.toml on DB, WORKERS sharing the budget.
use_db() { printf 'store = "%s"\nworkers = %s\n%s\n%s' "$(url "$1")" "${3:-1}" "$base_toml" "${2:-}" >"$work/lab/haetae.toml"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# 1. One process.
createdb single
use_db single
t0=$(date +%s.%N)
(cd "$work/lab" && "$BIN" scan >"$work/single.out" 2>&1)
t1=$(date +%s.%N)
single=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
units=$(grep -c . <<<"$(sed -n 's/^seeds = \[\(.*\)\]/\1/p' "$work/lab/scope.toml" | tr ',' '\n')")
echo "one process: $single s for $units target(s) ($(grep -o '[0-9]* new' "$work/single.out" | head -1))"

# Daemon + N workers.
schedule=$'\n[[schedule]]\nname = "lab"\nevery = "6h"\n'
for n in 1 2 3; do
    db="w$n"
    createdb "$db"
    use_db "$db" "$schedule" "$n"
    rm -rf "$work/lab/.haetae"
    wpids=()
    for i in $(seq 1 "$n"); do
        (cd "$work/lab" && exec "$BIN" worker --id "w$i" --log-format json 2>"$work/w$n-$i.log") &
        wpids+=($!)
        pids+=($!)
    done
    (cd "$work/lab" && exec "$BIN" daemon --log-format json 2>"$work/d$n.log") &
    d=$!
    pids+=($d)
    for _ in $(seq 1 1200); do grep -q '"scan 1 \(complete\|incomplete\)' "$work/d$n.log" 2>/dev/null && break; sleep 0.1; done
    grep -q '"scan 1 complete' "$work/d$n.log" || { echo "run with $n worker(s) did not complete" >&2; tail "$work/d$n.log" >&2; exit 1; }
    wcpu=0
    for p in "${wpids[@]}"; do wcpu=$((wcpu + $(cpu "$p"))); done
    dcpu=$(cpu "$d")
    kill -TERM "$d" "${wpids[@]}" 2>/dev/null || true
    wait "$d" "${wpids[@]}" 2>/dev/null || true
    wall=$(python3 - "$work/d$n.log" <<'EOF'
import json, sys, datetime
t = {}
for line in open(sys.argv[1]):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    m = v.get("fields", {}).get("message", "")
    if m.startswith("scan 1 started"): t["s"] = v["timestamp"]
    if m.startswith("scan 1 complete"): t["e"] = v["timestamp"]
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(f'{(p(t["e"]) - p(t["s"])).total_seconds():.3f}')
EOF
)
    found=$(sql "$db" "SELECT count(*) FROM findings")
    rate=$(python3 -c "print(f'{$units / $wall:.3f}')")
    echo "$n worker(s): $wall s, $rate units/s, $found findings; CPU: workers $(python3 -c "print(f'{$wcpu / $hz:.2f}')") s, daemon $(python3 -c "print(f'{$dcpu / $hz:.2f}')") s"
    echo "BENCH {\"work\":\"lab run, daemon + $n worker(s) vs one process (time)\",\"haetae\":$wall,\"peer\":$single,\"peer_name\":\"one process\",\"unit\":\"s\",\"ratio\":$(python3 -c "print(f'{$wall / $single:.4f}')"),\"target\":\"none\",\"kind\":\"peer\"}"
done

# 2. The TUI's load of $TOTAL findings through a daemon: PostgreSQL, then sled.
createdb big
use_db big "$schedule"
rm -rf "$work/lab/.haetae"
(cd "$work/lab" && "$BIN" store check >/dev/null) # creates the tables
# $TOTAL findings made from the lab's own (the single run's), ids and hosts renumbered.
pg_dump -h 127.0.0.1 -p "$port" -U haetae --data-only -t findings single | psql "$(url big)" -qX >/dev/null
sql big "INSERT INTO findings (id, state, priority, host, record)
  SELECT md5(i::text), f.state, f.priority, 'h' || i || '.bench.agency.test',
         '\\x01'::bytea || convert_to(jsonb_set(jsonb_set(convert_from(substring(f.record from 2), 'UTF8')::jsonb,
           '{id}', to_jsonb(md5(i::text))), '{host}', to_jsonb('h' || i || '.bench.agency.test'))::text, 'UTF8')
  FROM generate_series(1, $TOTAL) AS i
  JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS n, * FROM findings) f
    ON f.n = i % (SELECT count(*) FROM findings)"
sql big "DELETE FROM findings WHERE length(id) <> 32"
echo "PostgreSQL store: $(sql big "SELECT count(*) FROM findings") findings"

tui_load() { # $1: the workspace; prints seconds for the TUI's two requests
    local sock="$1/.haetae/api.sock"
    for _ in $(seq 1 600); do [ -S "$sock" ] && break; sleep 0.1; done
    local token
    token=$(cat "$1/.haetae/api.token")
    local t0 t1
    t0=$(date +%s.%N)
    curl -sf --unix-socket "$sock" -H "Authorization: Bearer $token" "http://haetae/v1/findings?state=all" -o "$work/all.json"
    curl -sf --unix-socket "$sock" -H "Authorization: Bearer $token" "http://haetae/v1/findings?state=all&suppressed=true" -o /dev/null
    t1=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t0:.3f}')"
}
# Not due while measured: the schedule runs at 03:00 Seoul time.
nightly=$'\n[[schedule]]\nname = "nightly"\ncron = "0 3 * * *"\n'
use_db big "$nightly"
rm -rf "$work/lab/.haetae"
(cd "$work/lab" && exec "$BIN" daemon --log-format json 2>"$work/big.log") &
d=$!
pids+=($d)
tui_load "$work/lab" >/dev/null # warm
pg_load=$(tui_load "$work/lab")
pg_n=$(python3 -c "import json; print(len(json.load(open('$work/all.json'))))")
kill -TERM "$d"; wait "$d" 2>/dev/null || true

# The peer: the same records in a sled store (written as a backup file, restored).
sled_dir="$work/sled"
mkdir -p "$sled_dir/ws"
psql "$(url big)" -qtAX -c "SELECT id, state, priority, host, encode(record, 'hex') FROM findings ORDER BY id" >"$work/rows.txt"
python3 - "$work/rows.txt" "$sled_dir/backup.jsonl" <<'EOF'
import hashlib, json, sys
rows, out = sys.argv[1], sys.argv[2]
h = hashlib.sha256()
lines = []
def emit(obj):
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    h.update(line.encode())
    lines.append(line)
emit({"format": "haetae-store-backup", "version": 1, "schema_version": 1, "created": "2026-12-04T00:00:00Z"})
records = 0
def rec(tree, key, value):
    global records
    emit({"record": {"tree": tree, "key": key.hex(), "value": value.hex()}})
    records += 1
rec("meta", b"schema_version", (1).to_bytes(4, "big"))
entries = []
for row in open(rows):
    fid, state, prio, host, record = row.rstrip("\n").split("|")
    entries.append((fid, int(state), int(prio), host, bytes.fromhex(record)))
for fid, _, _, _, record in entries:
    rec("findings", fid.encode(), record)
for fid, state, prio, _, _ in sorted(entries, key=lambda e: (e[1], e[2], e[0])):
    rec("by_status", bytes([state, prio]) + fid.encode(), b"")
for fid, _, _, host, _ in sorted(entries, key=lambda e: (e[3], e[0])):
    rec("by_host", host.encode() + b"\0" + fid.encode(), b"")
end = json.dumps({"end": {"records": records, "chunks": 0, "sha256": h.hexdigest()}}, separators=(",", ":")) + "\n"
open(out, "w").write("".join(lines) + end)
EOF
printf '%s\n%s' "$base_toml" "$nightly" | sed "s#^scope = .*#scope = \"$work/lab/scope.toml\"#" >"$sled_dir/ws/haetae.toml"
cp "$work/lab/scope.toml" "$work/lab/"*.pem "$sled_dir/ws/" 2>/dev/null || true
(cd "$sled_dir/ws" && "$BIN" store restore "$sled_dir/backup.jsonl" >/dev/null)
(cd "$sled_dir/ws" && exec "$BIN" daemon --log-format json 2>"$work/sled.log") &
d=$!
pids+=($d)
tui_load "$sled_dir/ws" >/dev/null
sled_load=$(tui_load "$sled_dir/ws")
sled_n=$(python3 -c "import json; print(len(json.load(open('$work/all.json'))))")
kill -TERM "$d"; wait "$d" 2>/dev/null || true
echo "TUI load through the daemon: PostgreSQL $pg_load s ($pg_n findings), sled $sled_load s ($sled_n findings)"
echo "BENCH {\"work\":\"TUI load of $TOTAL findings through the daemon, PostgreSQL vs sled (time)\",\"haetae\":$pg_load,\"peer\":$sled_load,\"peer_name\":\"sled\",\"unit\":\"s\",\"ratio\":$(python3 -c "print(f'{$pg_load / $sled_load:.4f}')"),\"target\":\"none\",\"kind\":\"peer\"}"
