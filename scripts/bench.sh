#!/usr/bin/env bash
# Every benchmark, one table: work, haetae, peer (or the absolute target where
# there is no peer), ratio, target, pass or miss. Writes the same rows as
# target/bench/summary.json. Each bench prints one `BENCH {json}` line per
# measured row (besides its human output); this script collects them.
#
#   scripts/bench.sh                 every bench: discovery and DNS, HTTP, TLS,
#                                    store, rules, TUI, export
#   BENCH_QUICK=1 scripts/bench.sh   the regression guard (.ci/run): only the
#                                    ratio benches (a peer timed in the same
#                                    run), in a quick mode; exits non-zero when a
#                                    ratio is worse than twice its target
#                                    (`<= 1.0` fails above 2.0, `>= 0.5` below
#                                    0.25). Ratios only, never absolute times.
#
# Environment: BENCH_ONLY ("discovery http tls store rules tui export": which
# benches to run). Quick mode times TLS against sslyze only (installing it from
# PyPI took 37 s here; testssl takes minutes per run); a peer that cannot be
# installed is skipped, not failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
quick=${BENCH_QUICK:-}
out=$CARGO_TARGET_DIR/bench
mkdir -p "$out"
lines=$out/lines.jsonl
: >"$lines"
notes=()
broken=0

if [[ -n "$quick" ]]; then
    default="discovery http tls"
else
    default="discovery http tls store rules tui export"
fi
only=" ${BENCH_ONLY:-$default} "
want() { [[ "$only" == *" $1 "* ]]; }

# Run one bench, show its output as it goes, keep its BENCH lines.
run() { # name command...
    local name=$1 log=$out/$1.log
    shift
    echo "== $name: $* (load: $(uptime | sed 's/.*load average: //'))" >&2
    local started=$SECONDS
    "$@" 2>&1 | tee "$log" >&2
    local rc=${PIPESTATUS[0]}
    local load
    load=$(uptime | sed 's/.*load average: //; s/,.*//')
    grep '^BENCH ' "$log" | sed 's/^BENCH //' |
        jq -c --arg bench "$name" --arg load "$load" '. + {bench: $bench, load: ($load | tonumber)}' >>"$lines"
    if ((rc != 0)); then
        notes+=("$name: exited with status $rc (see $log)")
        broken=1
    elif ! grep -q '^BENCH ' "$log"; then
        notes+=("$name: measured nothing (see $log)")
        # TLS measures nothing when no peer could be installed; that is said, not failed.
        [[ "$name" == tls ]] || broken=1
    fi
    echo "== $name: $((SECONDS - started)) s" >&2
}

if want discovery; then
    # Ports vs nmap and DNS vs dnsperf: about 5 s of measurement, the same in quick mode.
    run discovery scripts/bench-discovery.sh
fi
if want http; then
    if [[ -n "$quick" ]]; then
        BENCH_HTTP_NAMES=${BENCH_HTTP_NAMES:-500} BENCH_HTTP_PATHS=${BENCH_HTTP_PATHS:-30000} \
            BENCH_HTTP_TOOLS=${BENCH_HTTP_TOOLS:-"gobuster ffuf haetae"} BENCH_HTTP_CONCURRENCY=${BENCH_HTTP_CONCURRENCY:-256} \
            run http scripts/bench-http.sh
    else
        run http scripts/bench-http.sh
    fi
fi
if want tls; then
    if [[ -n "$quick" ]]; then
        BENCH_TLS_PEERS=${BENCH_TLS_PEERS:-sslyze} run tls scripts/bench-tls.sh
        [[ "${BENCH_TLS_PEERS:-sslyze}" == *testssl* ]] || notes+=("tls: testssl skipped in quick mode (minutes per run)")
    else
        run tls scripts/bench-tls.sh
    fi
fi
if want store; then run store cargo bench -p haetae-findings --bench store; fi
if want rules; then run rules cargo bench -p haetae-rules --bench rescore; fi
if want tui; then run tui cargo bench -p haetae-tui --bench tui; fi
if want export; then run export cargo bench -p haetae-findings --bench export; fi

# Verdicts: pass when the ratio meets its target; in quick mode the guard fails
# when a ratio row is worse than twice its target.
jq -s --arg quick "$quick" '
    map(. as $r
        | ($r.target | capture("^(?<op>[<>]=) *(?<v>[0-9.]+)$")) as $t
        | ($t.v | tonumber) as $v
        | $r + {
            pass: (if $t.op == "<=" then $r.ratio <= $v else $r.ratio >= $v end),
            guard_fail: ($r.kind == "ratio" and (if $t.op == "<=" then $r.ratio > 2 * $v else $r.ratio < $v / 2 end))
        })' "$lines" >"$out/summary.json"

echo
jq -r '
    def num: if . >= 1000 then (. | round | tostring) elif . >= 10 then ((. * 10 | round) / 10 | tostring) else ((. * 1000 | round) / 1000 | tostring) end;
    (["work", "haetae", "peer", "ratio", "target", "result", "load"] | @tsv),
    (.[] | [
        .work,
        "\(.haetae | num) \(.unit)",
        "\(.peer_name): \(.peer | num) \(.unit)",
        "\(.ratio | num)",
        .target,
        (if .pass then "pass" else "miss" end),
        "\(.load)"
    ] | @tsv)' "$out/summary.json" | column -t -s $'\t'
echo "($(nproc) cores; load = 1-minute load average after the bench; written to $out/summary.json)"
for n in "${notes[@]}"; do echo "note: $n"; done

if [[ -n "$quick" ]]; then
    failed=$(jq -r '.[] | select(.guard_fail) | "\(.work): ratio \(.ratio) is worse than twice its target \(.target)"' "$out/summary.json")
    rows=$(jq 'length' "$out/summary.json")
    if [[ -n "$failed" ]]; then
        echo "regression guard FAILED:" >&2
        echo "$failed" >&2
        exit 1
    fi
    if ((broken)); then
        echo "regression guard FAILED: a bench did not run to the end (notes above)" >&2
        exit 1
    fi
    if ((rows == 0)); then
        echo "regression guard FAILED: no ratio was measured" >&2
        exit 1
    fi
    echo "regression guard: every ratio within twice its target ($rows rows)"
fi
