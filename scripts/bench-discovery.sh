#!/usr/bin/env bash
# Discovery benchmark: haetae vs nmap (ports) and dnsperf (DNS), side by side,
# on loopback only. Installs nmap and dnsperf with apt-get when they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nmap >/dev/null || need+=(nmap)
command -v dnsperf >/dev/null || need+=(dnsperf)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Many sockets at once: raise the open-file limit for this shell.
ulimit -n 65535 2>/dev/null || ulimit -n 8192 2>/dev/null || true
exec cargo bench -p haetae-scanner --bench discovery
