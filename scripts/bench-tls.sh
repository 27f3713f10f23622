#!/usr/bin/env bash
# TLS benchmark, side by side on 20 loopback endpoints: the lab's 13 (started in
# process by scanner/benches/tls.rs) and 7 nginx servers (OpenSSL) this script
# starts on 127.77.6.1-7 with certificates it makes with `openssl`:
#
#   os-hardened   TLS 1.2-1.3, ECDSA P-256 leaf, AEAD ECDHE suites only   nothing
#   os-expired    leaf valid 400 to 30 days ago                          expired
#   os-selfsigned self-signed leaf                                       untrusted
#   os-wronghost  leaf for 127.77.6.99 only                              mismatch
#   os-weakkey    RSA-1024 leaf                                          weak key
#   os-weaksig    leaf signed with sha1WithRSAEncryption                 weak signature
#   os-legacy     TLS 1.0-1.1 only, 3DES and DHE with a 1024-bit group   legacy protocol, weak cipher, weak DH
#
# haetae (its engine, `--checks 'tls.*'`, rate limits raised) is timed against
# sslyze (certinfo plus every protocol and cipher-suite scan; installed with pip
# into target/bench/sslyze-venv) and `testssl --fast` (Debian package
# testssl.sh, every endpoint in parallel), no rate limit on any side. Target:
# haetae at least 10x faster than the faster peer. Every verdict on which haetae
# and a peer disagree is printed. A peer that cannot be installed is skipped,
# with a line saying so. Everything stays on loopback.
#
# Environment: BENCH_TLS_RUNS (haetae runs, median reported; 3),
# BENCH_TLS_PEERS ("sslyze testssl"), BENCH_TESTSSL_TIMEOUT (300: testssl is
# stopped after this many seconds; its time is then a lower bound and only the
# verdicts it got to are compared).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
out=$CARGO_TARGET_DIR/bench/tls
mkdir -p "$out"
peers=" ${BENCH_TLS_PEERS:-sslyze testssl} "

# Peers: sslyze from PyPI into a venv under target/, testssl from apt.
if [[ "$peers" == *" sslyze "* ]]; then
    venv=$CARGO_TARGET_DIR/bench/sslyze-venv
    if [[ ! -x "$venv/bin/sslyze" ]]; then
        echo "installing sslyze into $venv (pip)" >&2
        { python3 -m venv "$venv" && "$venv/bin/pip" install -q sslyze; } >&2 ||
            echo "sslyze could not be installed (no python3 venv or no PyPI); it is skipped" >&2
    fi
    [[ -x "$venv/bin/sslyze" ]] && export BENCH_SSLYZE=$PWD/$venv/bin/sslyze
fi
if [[ "$peers" == *" testssl "* ]]; then
    if ! command -v testssl >/dev/null && ! command -v testssl.sh >/dev/null; then
        echo "installing testssl.sh (apt-get)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null; } >&2 ||
            echo "testssl.sh could not be installed with apt-get; it is skipped" >&2
    fi
    if command -v testssl >/dev/null; then
        export BENCH_TESTSSL=$(command -v testssl)
    elif command -v testssl.sh >/dev/null; then
        export BENCH_TESTSSL=$(command -v testssl.sh)
    fi
fi
export PATH="$PATH:/usr/sbin:/sbin"
for tool in openssl nginx; do
    command -v $tool >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

# Build first, so that no compile runs next to the measurements.
bench_bin=$(cargo bench -p haetae-scanner --bench tls --no-run 2>&1 | tee /dev/stderr |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n1)
[[ -x "$bench_bin" ]] || { echo "could not find the built bench binary" >&2; exit 1; }

tmp=$(mktemp -d)
cleanup() {
    if [[ -s "$tmp/nginx.pid" ]]; then kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Certificates: a CA, and one leaf per endpoint (IP SANs: the endpoints are
# scanned by address). `openssl ca` sets validity dates in the past.
cd "$tmp"
quiet() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2; exit 1; }; }
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj /CN=haetae-bench-ca \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
mkdir -p newcerts
: >index.txt
echo 1000 >serial
cat >ca.cnf <<'EOF'
[ca]
default_ca = bench
[bench]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
policy = any
default_md = sha256
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
EOF
leaf() { # name san keyspec md startdate enddate
    local name=$1 san=$2 key=$3 md=$4 start=$5 end=$6
    quiet openssl req -new -newkey "$key" -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name"
    printf 'subjectAltName = IP:%s\nbasicConstraints = CA:false\nextendedKeyUsage = serverAuth\n' "$san" >"$name.ext"
    quiet openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$name.csr" -out "$name.pem" \
        -md "$md" -startdate "$start" -enddate "$end" -extfile "$name.ext"
}
day() { date -u -d "$1 days" +%Y%m%d%H%M%SZ; }
leaf hardened 127.77.6.1 ec:<(openssl ecparam -name prime256v1) sha256 "$(day -1)" "$(day 365)"
leaf expired 127.77.6.2 rsa:2048 sha256 "$(day -400)" "$(day -30)"
leaf wronghost 127.77.6.99 rsa:2048 sha256 "$(day -1)" "$(day 365)"
leaf weakkey 127.77.6.5 rsa:1024 sha256 "$(day -1)" "$(day 365)"
leaf weaksig 127.77.6.6 rsa:2048 sha1 "$(day -1)" "$(day 365)"
leaf legacy 127.77.6.7 rsa:2048 sha256 "$(day -1)" "$(day 365)"
quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem -days 365 \
    -subj /CN=127.77.6.3 -addext subjectAltName=IP:127.77.6.3
quiet openssl dhparam -dsaparam -out dh1024.pem 1024
cd - >/dev/null

# One port for all seven addresses, below the ephemeral range and free on each.
port=
while [[ -z "$port" ]]; do
    p=$((20000 + RANDOM % 10000))
    [[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]] && port=$p
done
# nginx (many connections at once, as a real server; openssl s_server answers
# one connection at a time). OpenSSL's security level 0 lets it load the
# RSA-1024 and SHA-1 leaves and speak TLS 1.0.
cat >"$tmp/openssl.cnf" <<'EOF'
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT@SECLEVEL=0
MinProtocol = TLSv1
EOF
modern='ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:@SECLEVEL=0'
extra=()
server() { # label ip cert protocols ciphers [extra directive]
    extra+=("$1=$2:$port")
    cat <<EOF
  server {
    listen $2:$port ssl;
    ssl_certificate $tmp/$3.pem;
    ssl_certificate_key $tmp/$3.key;
    ssl_protocols $4;
    ssl_ciphers '$5';
    ssl_prefer_server_ciphers on;
    ${6:-}
    return 200 "bench\n";
  }
EOF
}
{
    echo "worker_processes 2;"
    echo "pid $tmp/nginx.pid;"
    echo "error_log $tmp/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    echo "  access_log off;"
    for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $tmp/$d;"; done
    server os-hardened 127.77.6.1 hardened "TLSv1.2 TLSv1.3" "$modern"
    server os-expired 127.77.6.2 expired "TLSv1.2 TLSv1.3" "$modern"
    server os-selfsigned 127.77.6.3 selfsigned "TLSv1.2 TLSv1.3" "$modern"
    server os-wronghost 127.77.6.4 wronghost "TLSv1.2 TLSv1.3" "$modern"
    server os-weakkey 127.77.6.5 weakkey "TLSv1.2 TLSv1.3" "$modern"
    server os-weaksig 127.77.6.6 weaksig "TLSv1.2 TLSv1.3" "$modern"
    server os-legacy 127.77.6.7 legacy "TLSv1 TLSv1.1" "DHE-RSA-AES128-SHA:DES-CBC3-SHA:@SECLEVEL=0" \
        "ssl_dhparam $tmp/dh1024.pem;"
    echo "}"
} >"$tmp/nginx.conf"
OPENSSL_CONF=$tmp/openssl.cnf nginx -p "$tmp" -c "$tmp/nginx.conf" ||
    { cat "$tmp/error.log" >&2; exit 1; }
# Ready when each accepts a connection.
for e in "${extra[@]}"; do
    addr=${e#*=}
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then break; fi
        sleep 0.05
    done
done

echo "load before: $(uptime | sed 's/.*load average: //')"
BENCH_TLS_EXTRA=$(IFS=,; echo "${extra[*]}") BENCH_TLS_CA=$tmp/ca.pem BENCH_TLS_OUT=$out "$bench_bin"
echo "load after: $(uptime | sed 's/.*load average: //') ($(nproc) cores; peers' JSON in $out)"
