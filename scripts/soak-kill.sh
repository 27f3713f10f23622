#!/usr/bin/env bash
# Soak test of crash safety (not part of the normal test run): SIGKILL a scan
# at a random moment, resume it, and check the workspace after every round.
#
#   1. builds the release binary;
#   2. starts the built-in weak lab once, on loopback, for every round
#      (`haetae lab serve --dir DIR`, hidden; it writes scope.toml, haetae.toml,
#      rules.toml and the lab CA into DIR and serves until SIGTERM);
#   3. scans a fresh workspace once without interruption: the reference, and
#      the time a scan takes (the longest kill delay, unless set);
#   4. ROUNDS rounds on one soak workspace: start `haetae scan` (or
#      `haetae scan --resume` when the previous round left a scan unfinished),
#      SIGKILL it after a random 0..max delay, then `haetae scan --resume` to
#      completion; after each round `haetae audit verify`, `haetae store check`
#      (when this build has it: `haetae store check --help` works) and no
#      finding doubled (`haetae findings --state all --json`: ids unique, and
#      (check, host, port, url) unique);
#   5. compares the soak workspace's findings, as (check, host, port), with the
#      reference's: the open ones and, separately, all of them;
#   6. prints a summary table and exits 1 if any check failed.
#
# Everything stays on loopback (the lab listens on 127.77.0.0/20 and 127.99.0.x;
# the scope allows only those). Every command is bounded by SOAK_CMD_TIMEOUT, so
# the script stops by itself.
#
# Environment: ROUNDS (50), SOAK_MAX_KILL_MS (the reference scan's wall time),
# SOAK_SEED (the bash RANDOM seed: the same seed, the same kill delays),
# SOAK_CMD_TIMEOUT (600 seconds per command), SOAK_KEEP (set: keep the work
# directory and print where), SOAK_SKIP_BUILD (set: use target/release/haetae as is).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-50}
cmd_timeout=${SOAK_CMD_TIMEOUT:-600}
seed=${SOAK_SEED:-$$}
RANDOM=$seed

for tool in jq timeout; do
    command -v "$tool" >/dev/null || { echo "soak-kill: needs $tool on PATH" >&2; exit 2; }
done

if [[ -z "${SOAK_SKIP_BUILD:-}" ]]; then
    echo "soak-kill: building the release binary" >&2
    cargo build --release --bin haetae --quiet
fi
bin=$PWD/target/release/haetae
[[ -x "$bin" ]] || { echo "soak-kill: $bin is missing; build it or unset SOAK_SKIP_BUILD" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/haetae-soak.XXXXXX")
lab_pid=""
scan_pid=""
cleanup() {
    if [[ -n "$scan_pid" ]] && kill -0 "$scan_pid" 2>/dev/null; then kill -KILL "$scan_pid" 2>/dev/null || true; fi
    if [[ -n "$lab_pid" ]] && kill -0 "$lab_pid" 2>/dev/null; then
        kill -TERM "$lab_pid" 2>/dev/null || true
        wait "$lab_pid" 2>/dev/null || true
    fi
    if [[ -n "${SOAK_KEEP:-}" ]]; then echo "soak-kill: work directory kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# haetae in workspace $1, bounded; the rest are its arguments.
h() {
    local ws=$1
    shift
    NO_COLOR=1 HAETAE_ACTOR=soak timeout --signal=KILL "$cmd_timeout" "$bin" -C "$ws" "$@"
}

now_ms() { date +%s%3N; }

# --- the lab ---------------------------------------------------------------
"$bin" lab serve --dir "$work/lab" >"$work/lab.out" 2>&1 &
lab_pid=$!
for _ in $(seq 1 300); do
    grep -q '^ready' "$work/lab.out" 2>/dev/null && break
    kill -0 "$lab_pid" 2>/dev/null || { echo "soak-kill: the lab did not start:" >&2; cat "$work/lab.out" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$work/lab.out" || { echo "soak-kill: the lab was not ready within 30 s" >&2; exit 1; }
echo "soak-kill: $(head -1 "$work/lab.out")" >&2

new_workspace() {
    mkdir -p "$1"
    cp "$work/lab/scope.toml" "$work/lab/haetae.toml" "$work/lab/rules.toml" "$work/lab/lab-ca.pem" "$1/"
}

# (check, host, port) of the findings in workspace $1, states $2 (default: open ones).
finding_set() {
    local states=()
    [[ -n "${2:-}" ]] && states=(--state "$2")
    h "$1" findings "${states[@]}" --json | jq -r '.[] | [.check, .host, (.port // "" | tostring)] | @tsv' | sort -u
}

store_check=no
if "$bin" store check --help >/dev/null 2>&1; then store_check=yes; fi
echo "soak-kill: 'haetae store check' $([[ $store_check == yes ]] && echo "is run after every round" || echo "is not in this build: skipped")" >&2

# --- the reference: one uninterrupted scan ---------------------------------
new_workspace "$work/fresh"
t0=$(now_ms)
h "$work/fresh" scan >"$work/fresh.out" 2>&1 || { echo "soak-kill: the reference scan failed:" >&2; tail -20 "$work/fresh.out" >&2; exit 1; }
ref_ms=$(($(now_ms) - t0))
max_kill_ms=${SOAK_MAX_KILL_MS:-$ref_ms}
echo "soak-kill: reference scan took ${ref_ms} ms; kills land 0..${max_kill_ms} ms into a scan (seed $seed)" >&2

# --- the rounds ------------------------------------------------------------
new_workspace "$work/soak"
kills=0 resumes=0 finished_early=0 failures=0 nothing_to_resume=0
unfinished=no
declare -a failed_rounds=()
start_all=$(now_ms)
fail() {
    failures=$((failures + 1))
    failed_rounds+=("round $1: $2")
    echo "  round $1 FAILED: $2" >&2
}
printf '%-6s %-9s %-8s %-10s %-8s %s\n' round kill_ms killed resumed secs result >&2
for round in $(seq 1 "$rounds"); do
    r0=$(now_ms)
    first=(scan)
    [[ $unfinished == yes ]] && first=(scan --resume)
    delay=$(((RANDOM * 32768 + RANDOM) % (max_kill_ms + 1)))
    NO_COLOR=1 HAETAE_ACTOR=soak "$bin" -C "$work/soak" "${first[@]}" >"$work/round.out" 2>&1 &
    scan_pid=$!
    # sleep the delay, but stop early when the scan ends first
    deadline=$(($(now_ms) + delay))
    while kill -0 "$scan_pid" 2>/dev/null && (($(now_ms) < deadline)); do sleep 0.05; done
    killed=no
    if kill -0 "$scan_pid" 2>/dev/null; then
        kill -KILL "$scan_pid" 2>/dev/null && killed=yes
        kills=$((kills + 1))
    else
        finished_early=$((finished_early + 1))
    fi
    wait "$scan_pid" 2>/dev/null || true
    scan_pid=""

    result=ok
    resumed=no
    set +e
    h "$work/soak" scan --resume >"$work/resume.out" 2>&1
    rc=$?
    set -e
    if ((rc == 0)); then
        resumed=yes
        resumes=$((resumes + 1))
        unfinished=no
    elif grep -q 'nothing to resume' "$work/resume.out"; then
        nothing_to_resume=$((nothing_to_resume + 1))
        unfinished=no
    else
        unfinished=yes
        result="resume exit $rc"
        fail "$round" "scan --resume exited $rc: $(tail -1 "$work/resume.out")"
    fi
    if ! h "$work/soak" audit verify >"$work/verify.out" 2>&1; then
        result=audit
        fail "$round" "audit verify: $(tail -1 "$work/verify.out")"
    fi
    if [[ $store_check == yes ]] && ! h "$work/soak" store check >"$work/check.out" 2>&1; then
        result=store
        fail "$round" "store check: $(tail -1 "$work/check.out")"
    fi
    if h "$work/soak" findings --state all --json >"$work/all.json" 2>"$work/all.err"; then
        dup_ids=$(jq -r '.[].id' "$work/all.json" | sort | uniq -d | wc -l)
        dup_keys=$(jq -r '.[] | [.check, .host, (.port // "" | tostring), (.url // "")] | @tsv' "$work/all.json" | sort | uniq -d | wc -l)
        if ((dup_ids + dup_keys > 0)); then
            result=doubled
            fail "$round" "$dup_ids doubled id(s), $dup_keys doubled (check, host, port, url)"
        fi
    else
        result=findings
        fail "$round" "findings --json: $(tail -1 "$work/all.err")"
    fi
    printf '%-6s %-9s %-8s %-10s %-8s %s\n' "$round" "$delay" "$killed" "$resumed" \
        "$(awk "BEGIN{printf \"%.1f\", ($(now_ms) - $r0) / 1000}")" "$result" >&2
done
total_s=$(awk "BEGIN{printf \"%.1f\", ($(now_ms) - $start_all) / 1000}")

# --- the final comparison --------------------------------------------------
compare() {
    local what=$1 states=${2:-}
    finding_set "$work/fresh" "$states" >"$work/ref.tsv"
    finding_set "$work/soak" "$states" >"$work/soak.tsv"
    if ! diff -u "$work/ref.tsv" "$work/soak.tsv" >"$work/diff.txt"; then
        fail final "$what findings differ from an uninterrupted scan's (- reference, + soak):"
        sed -n '3,40p' "$work/diff.txt" >&2
    else
        echo "soak-kill: $what findings equal the uninterrupted scan's ($(wc -l <"$work/ref.tsv") (check, host, port))" >&2
    fi
}
compare open
compare all all

echo
printf '%-8s %-6s %-8s %-16s %-18s %-9s %-9s %s\n' rounds kills resumes "finished-early" "nothing-to-resume" failures "time (s)" "store check"
printf '%-8s %-6s %-8s %-16s %-18s %-9s %-9s %s\n' "$rounds" "$kills" "$resumes" "$finished_early" "$nothing_to_resume" \
    "$failures" "$total_s" "$store_check"
if ((failures > 0)); then
    printf '%s\n' "${failed_rounds[@]}" >&2
    exit 1
fi
