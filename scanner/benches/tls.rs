//! TLS benchmark, run by `scripts/bench-tls.sh` (which starts the `openssl
//! s_server` endpoints and installs the peers): 20 TLS endpoints on loopback,
//! the lab's 13 plus the script's, scanned by haetae's engine with only the
//! `tls.*` checks selected, then by sslyze (certinfo plus every protocol and
//! cipher-suite scan) and `testssl.sh --fast` on the same endpoints. No rate
//! limit on any side. Prints the wall times, the ratio against each peer (target:
//! haetae at least 10x faster than the faster peer) and every disagreement
//! between haetae's verdicts and each peer's, per endpoint.
//!
//! Environment (set by the script): `BENCH_TLS_EXTRA` (`label=ip:port,...`, the
//! script's endpoints), `BENCH_TLS_CA` (their CA, PEM), `BENCH_TLS_OUT` (a
//! directory for the peers' JSON), `BENCH_SSLYZE`, `BENCH_TESTSSL` (the peers'
//! executables; a peer without one is skipped), `BENCH_TLS_RUNS` (haetae runs,
//! the median is reported; 3).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::audit::AuditLog;
use haetae_findings::{CheckId, Timestamp};
use haetae_lab::Lab;
use haetae_scanner::engine::{self, CheckSelection, Profile, ScanEvent, ScanRequest};
use haetae_scanner::guard::{GuardConfig, ScopeGuard};
use haetae_scanner::scope::Scope;
use haetae_scanner::tls::handshake::TlsOptions;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The verdicts compared, in table order.
const VERDICTS: [&str; 8] =
    ["expired", "untrusted", "mismatch", "weak-key", "weak-signature", "legacy-protocol", "weak-cipher", "weak-dh"];

/// One endpoint: the name a client connects to (a DNS name, or the address
/// itself for the script's endpoints) and where it listens.
#[derive(Clone)]
struct Endpoint {
    label: String,
    name: String,
    addr: SocketAddr,
}

type Verdicts = BTreeMap<String, BTreeSet<&'static str>>;

fn verdict_of_check(id: &str) -> Option<&'static str> {
    Some(match id {
        "tls.cert-expired" => "expired",
        "tls.cert-untrusted" => "untrusted",
        "tls.cert-hostname-mismatch" => "mismatch",
        "tls.weak-key" => "weak-key",
        "tls.weak-signature" => "weak-signature",
        "tls.legacy-protocol" => "legacy-protocol",
        "tls.weak-cipher" => "weak-cipher",
        "tls.weak-dh" => "weak-dh",
        _ => return None,
    })
}

fn bench_line(work: &str, haetae: f64, peer: f64, peer_name: &str, ratio: f64, target: &str) {
    println!(
        "BENCH {{\"work\":\"{work}\",\"haetae\":{haetae:.4},\"peer\":{peer:.4},\"peer_name\":\"{peer_name}\",\"unit\":\"s\",\"ratio\":{ratio:.4},\"target\":\"{target}\",\"kind\":\"ratio\"}}"
    );
}

fn extra_endpoints() -> Vec<Endpoint> {
    let text = std::env::var("BENCH_TLS_EXTRA").unwrap_or_default();
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (label, addr) = item.split_once('=').expect("BENCH_TLS_EXTRA items are label=ip:port");
            let addr: SocketAddr = addr.parse().expect("BENCH_TLS_EXTRA address");
            Endpoint { label: label.to_owned(), name: addr.ip().to_string(), addr }
        })
        .collect()
}

/// One whole haetae scan of every endpoint, only the `tls.*` checks.
async fn haetae(lab: &Lab, endpoints: &[Endpoint], ca: &Path, dir: &Path) -> (Duration, Verdicts) {
    let mut scope = Scope::parse(Path::new("bench-scope.toml"), &lab.scope_toml()).expect("bench scope");
    let mut ports: Vec<u16> = endpoints.iter().map(|e| e.addr.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    scope.ports = ports;
    scope.limits.max_rps = 100_000;
    scope.limits.per_host_rps = 100_000;
    scope.limits.concurrency = 1_000;
    scope.limits.timeout = Duration::from_millis(2_000);
    let audit = Arc::new(AuditLog::open(&dir.join("audit.jsonl")).expect("audit log"));
    let guard = Arc::new(
        ScopeGuard::new(GuardConfig {
            scope: Arc::new(scope),
            nameservers: vec![lab.dns_addr()],
            audit,
            clock: Arc::new(Timestamp::now),
        })
        .expect("guard"),
    );
    let known: Vec<&str> = CheckId::BUILTIN.iter().map(|c| c.as_str()).collect();
    let checks = CheckSelection::new(&["tls.*".to_owned()], &[], &known).expect("tls.* selects checks");
    let req = ScanRequest {
        targets: endpoints.iter().map(|e| e.name.clone()).collect(),
        profile: Profile::Standard,
        tls: TlsOptions::new(&[ca.to_path_buf()], 30).expect("CA bundle"),
        checks,
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let t = Instant::now();
    let run = tokio::spawn(engine::run(guard, req, tx, CancellationToken::new()));
    let mut found = Verdicts::new();
    while let Some(ev) = rx.recv().await {
        if let ScanEvent::Found(o) = ev
            && let Some(v) = verdict_of_check(o.check.as_str())
        {
            found.entry(o.asset.host.trim_end_matches('.').to_ascii_lowercase()).or_default().insert(v);
        }
    }
    let outcome = run.await.expect("engine");
    let took = t.elapsed();
    assert!(outcome.complete, "the haetae scan ran to the end");
    // Keyed by label, as the peers' are.
    let by_label = endpoints.iter().map(|e| (e.label.clone(), found.remove(&e.name).unwrap_or_default())).collect();
    (took, by_label)
}

/// sslyze: `name:port{ip}` per endpoint, one run for all of them.
fn sslyze(bin: &str, endpoints: &[Endpoint], ca: &Path, out: &Path) -> Option<(Duration, Verdicts)> {
    let json = out.join("sslyze.json");
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::new(bin);
    cmd.args(["--certinfo", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--quiet"])
        .arg(format!("--certinfo_ca_file={}", ca.display()))
        .arg(format!("--json_out={}", json.display()));
    for e in endpoints {
        if e.name == e.addr.ip().to_string() {
            cmd.arg(e.addr.to_string());
        } else {
            cmd.arg(format!("{}:{}{{{}}}", e.name, e.addr.port(), e.addr.ip()));
        }
    }
    let t = Instant::now();
    let o = cmd.output().ok()?;
    let took = t.elapsed();
    let parsed = std::fs::read_to_string(&json)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&quote_big_numbers(&t)).map_err(|e| e.to_string()));
    let Ok(v) = parsed else {
        println!(
            "tls    sslyze: no JSON output ({}; status {}):\n{}",
            parsed.err().unwrap_or_default(),
            o.status,
            String::from_utf8_lossy(&o.stderr).lines().take(20).collect::<Vec<_>>().join("\n")
        );
        return None;
    };
    let mut verdicts = Verdicts::new();
    for r in v["server_scan_results"].as_array().into_iter().flatten() {
        let loc = &r["server_location"];
        let port = loc["port"].as_u64().unwrap_or(0);
        let ip = loc["ip_address"].as_str().unwrap_or("");
        let Some(e) = endpoints.iter().find(|e| e.addr.ip().to_string() == ip && u64::from(e.addr.port()) == port)
        else {
            continue;
        };
        if r["connectivity_status"].as_str() != Some("COMPLETED") {
            let why = r["connectivity_error_trace"].as_str().unwrap_or("").trim().lines().last().unwrap_or("");
            println!("tls    sslyze: could not scan {}: {why}", e.label);
            continue;
        }
        let set = verdicts.entry(e.label.clone()).or_default();
        let res = &r["scan_result"];
        let deployments = &res["certificate_info"]["result"]["certificate_deployments"];
        if let Some(d) = deployments.as_array().and_then(|a| a.first()) {
            if d["leaf_certificate_subject_matches_hostname"] == Value::Bool(false) {
                set.insert("mismatch");
            }
            // Path validation against the supplied CA file (the bundle). sslyze
            // folds expiry, the name and forbidden signature algorithms into
            // it; those are their own verdicts here, the rest is "untrusted".
            let custom = d["path_validation_results"].as_array().into_iter().flatten().find(|p| {
                p["trust_store"]["name"].as_str().is_some_and(|n| n.contains("Supplied") || n.contains("Custom"))
            });
            let ok = custom.is_some_and(|p| p["was_validation_successful"] == Value::Bool(true));
            let error = custom.and_then(|p| p["validation_error"].as_str()).unwrap_or("");
            let verdict = if ok {
                None
            } else if error.contains("not valid at validation time") {
                Some("expired")
            } else if error.contains("no matching subjectAltName") {
                Some("mismatch")
            } else if error.contains("Forbidden signature algorithm") {
                Some("weak-signature")
            } else {
                println!("tls    sslyze: {} untrusted: {}", e.label, error.chars().take(110).collect::<String>());
                Some("untrusted")
            };
            set.extend(verdict);
            if let Some(leaf) = d["received_certificate_chain"].as_array().and_then(|a| a.first()) {
                let after = leaf["not_valid_after"].as_str().or(leaf["not_valid_after_utc"].as_str()).unwrap_or("");
                if expired_iso(after) {
                    set.insert("expired");
                }
                let alg = leaf["public_key"]["algorithm"].as_str().unwrap_or("");
                let bits = leaf["public_key"]["key_size"].as_u64().unwrap_or(0);
                if (alg.contains("RSA") || alg.contains("DSA") && !alg.contains("EC")) && bits < 2048
                    || alg.contains("EllipticCurve") && bits < 256
                {
                    set.insert("weak-key");
                }
                let hash = leaf["signature_hash_algorithm"]["name"].as_str().unwrap_or("");
                if hash.eq_ignore_ascii_case("sha1") || hash.eq_ignore_ascii_case("md5") {
                    set.insert("weak-signature");
                }
            }
        }
        for (scan, legacy) in [
            ("ssl_2_0_cipher_suites", true),
            ("ssl_3_0_cipher_suites", true),
            ("tls_1_0_cipher_suites", true),
            ("tls_1_1_cipher_suites", true),
            ("tls_1_2_cipher_suites", false),
            ("tls_1_3_cipher_suites", false),
        ] {
            let accepted = res[scan]["result"]["accepted_cipher_suites"].as_array().cloned().unwrap_or_default();
            if legacy && !accepted.is_empty() {
                set.insert("legacy-protocol");
            }
            for s in &accepted {
                if weak_suite(s["cipher_suite"]["name"].as_str().unwrap_or("")) {
                    set.insert("weak-cipher");
                }
                let key = &s["ephemeral_key"];
                let kind = key["type_name"].as_str().or(key["type"].as_str()).unwrap_or("");
                if kind.contains("DH") && !kind.contains("ECDH") && key["size"].as_u64().is_some_and(|b| b < 2048) {
                    set.insert("weak-dh");
                }
            }
        }
    }
    Some((took, verdicts))
}

/// sslyze writes DH primes and serial numbers as JSON integers of hundreds of
/// digits, which serde_json refuses: quote every integer longer than 18 digits
/// that stands outside a string.
fn quote_big_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                end = j + 1;
                chars.next();
            }
            let digits = &text[i..end];
            if digits.len() > 18 && !out.ends_with('.') && !out.ends_with('e') && !out.ends_with('E') {
                let minus = out.ends_with('-');
                if minus {
                    out.pop();
                }
                out.push('"');
                if minus {
                    out.push('-');
                }
                out.push_str(digits);
                out.push('"');
            } else {
                out.push_str(digits);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Weak the way sslyze's and testssl's users read it: no forward secrecy is not
/// enough; RC4, DES and 3DES, NULL, export and anonymous suites are.
fn weak_suite(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["RC4", "DES", "NULL", "EXPORT", "ANON", "_MD5"].iter().any(|w| n.contains(w))
}

/// Whether an ISO 8601 date (`2026-01-02T03:04:05`) is before now.
fn expired_iso(s: &str) -> bool {
    let d: Vec<i64> =
        s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect();
    let [y, mo, da, h, mi, se, ..] = d[..] else { return false };
    let days = days_from_civil(y, mo, da);
    let unix = days * 86_400 + h * 3_600 + mi * 60 + se;
    unix < Timestamp::now().unix()
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// testssl.sh --fast, every endpoint at once (`--parallel` mass testing).
fn testssl(bin: &str, endpoints: &[Endpoint], ca: &Path, out: &Path) -> Option<(Duration, Verdicts, Verdicts)> {
    let json = out.join("testssl.json");
    let _ = std::fs::remove_file(&json);
    let list = out.join("testssl-targets.txt");
    let lines: String =
        endpoints.iter().map(|e| format!("--ip={} {}:{}\n", e.addr.ip(), e.name, e.addr.port())).collect();
    std::fs::write(&list, lines).expect("testssl target list");
    let limit = std::env::var("BENCH_TESTSSL_TIMEOUT").unwrap_or_else(|_| "300".into());
    let t = Instant::now();
    let o = Command::new("timeout")
        .arg(&limit)
        .arg(bin)
        .args(["--fast", "--parallel", "--warnings", "batch", "--nodns", "min", "--quiet", "--color", "0"])
        .arg("--add-ca")
        .arg(ca)
        .arg("--jsonfile")
        .arg(&json)
        .arg("--file")
        .arg(&list)
        .output()
        .ok()?;
    let took = t.elapsed();
    if o.status.code() == Some(124) {
        println!(
            "tls    testssl: still running after {limit} s (BENCH_TESTSSL_TIMEOUT); stopped, its partial verdicts follow"
        );
    }
    let parsed = std::fs::read_to_string(&json)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()));
    let Ok(v) = parsed else {
        println!(
            "tls    testssl: no JSON output ({}; status {}):\n{}",
            parsed.err().unwrap_or_default(),
            o.status,
            String::from_utf8_lossy(&o.stdout).lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
        return None;
    };
    let mut verdicts = Verdicts::new();
    let mut tested = Verdicts::new();
    for item in v.as_array().into_iter().flatten() {
        let ip = item["ip"].as_str().unwrap_or("");
        let ip = ip.rsplit('/').next().unwrap_or(ip);
        let port: u16 = item["port"].as_str().and_then(|p| p.parse().ok()).unwrap_or(0);
        let Some(e) = endpoints.iter().find(|e| e.addr.ip().to_string() == ip && e.addr.port() == port) else {
            continue;
        };
        let id = item["id"].as_str().unwrap_or("");
        // testssl numbers certificates of multi-cert servers: cert_keySize <cert#1>.
        let id = id.split_whitespace().next().unwrap_or(id);
        // Which verdicts this entry decides: a run stopped early decides only some.
        let decides: &[&'static str] = match id {
            "cert_expirationStatus" => &["expired"],
            "cert_chain_of_trust" => &["untrusted"],
            "cert_trust" => &["mismatch"],
            "cert_keySize" => &["weak-key"],
            "cert_signatureAlgorithm" => &["weak-signature"],
            "TLS1" | "TLS1_1" => &["legacy-protocol"],
            "cipherlist_3DES_IDEA" | "cipherlist_LOW" => &["weak-cipher"],
            "LOGJAM" | "DH_groups" | "FS_DH" => &["weak-dh"],
            _ => &[],
        };
        tested.entry(e.label.clone()).or_default().extend(decides.iter().copied());
        let set = verdicts.entry(e.label.clone()).or_default();
        let finding = item["finding"].as_str().unwrap_or("").to_ascii_lowercase();
        let severity = item["severity"].as_str().unwrap_or("");
        let bad = matches!(severity, "LOW" | "MEDIUM" | "HIGH" | "CRITICAL");
        match id {
            "cert_expirationStatus" if finding.contains("expired") => {
                set.insert("expired");
            }
            // "failed (expired)": expiry is its own verdict.
            "cert_chain_of_trust" if finding.contains("expired") => {
                set.insert("expired");
            }
            "cert_chain_of_trust" if bad || finding.contains("failed") => {
                set.insert("untrusted");
            }
            "cert_trust" if finding.contains("does not match") || finding.contains("mismatch") => {
                set.insert("mismatch");
            }
            "cert_keySize" if bad => {
                set.insert("weak-key");
            }
            "cert_signatureAlgorithm" if bad => {
                set.insert("weak-signature");
            }
            "SSLv2" | "SSLv3" | "TLS1" | "TLS1_1" if finding.starts_with("offered") => {
                set.insert("legacy-protocol");
            }
            "cipherlist_NULL"
            | "cipherlist_aNULL"
            | "cipherlist_EXPORT"
            | "cipherlist_LOW"
            | "cipherlist_3DES_IDEA"
                if bad && !finding.starts_with("not offered") =>
            {
                set.insert("weak-cipher");
            }
            "LOGJAM" | "LOGJAM-common_primes" if bad && finding.contains("vulnerable") => {
                set.insert("weak-dh");
            }
            "DH_groups" | "FS_DH" | "DH_group_offered" if bad => {
                set.insert("weak-dh");
            }
            _ => {}
        }
    }
    Some((took, verdicts, tested))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn show(set: &BTreeSet<&'static str>) -> String {
    if set.is_empty() { "-".into() } else { set.iter().copied().collect::<Vec<_>>().join(",") }
}

/// Print every endpoint where `peer` and haetae disagree, verdict by verdict.
/// `tested`: the verdicts the peer got to per endpoint (all when `None`); the
/// others are listed as not reached, not as disagreements.
fn diff(peer: &str, ours: &Verdicts, theirs: &Verdicts, tested: Option<&Verdicts>, endpoints: &[Endpoint]) -> usize {
    let empty = BTreeSet::new();
    let mut n = 0;
    for e in endpoints {
        let a = ours.get(&e.label).unwrap_or(&empty);
        let Some(b) = theirs.get(&e.label) else {
            println!("tls    {peer}: no result for {} ({})", e.label, e.addr);
            n += 1;
            continue;
        };
        let reached = |v: &str| tested.is_none_or(|t| t.get(&e.label).is_some_and(|s| s.contains(v)));
        let missed: Vec<&str> = VERDICTS.iter().copied().filter(|v| !reached(v)).collect();
        if !missed.is_empty() {
            println!("tls    {peer}: did not reach {} on {}", missed.join(","), e.label);
        }
        for v in VERDICTS.iter().copied().filter(|v| reached(v)) {
            match (a.contains(v), b.contains(v)) {
                (true, false) => println!("tls    disagree {peer:<8} {:<26} {v}: haetae yes, {peer} no", e.label),
                (false, true) => println!("tls    disagree {peer:<8} {:<26} {v}: haetae no, {peer} yes", e.label),
                _ => continue,
            }
            n += 1;
        }
    }
    n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = PathBuf::from(std::env::var("BENCH_TLS_OUT").unwrap_or_else(|_| "target/bench/tls".into()));
    std::fs::create_dir_all(&out).expect("output directory");
    let lab = Lab::start().await.expect("lab");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut endpoints: Vec<Endpoint> = lab
        .tls_endpoints()
        .into_iter()
        .map(|(name, addr)| Endpoint { label: name.to_owned(), name: name.to_owned(), addr })
        .collect();
    endpoints.extend(extra_endpoints());
    // One CA bundle for every side: the lab's CA and the script's.
    let ca = out.join("ca.pem");
    let mut pem = lab.ca_pem();
    if let Ok(path) = std::env::var("BENCH_TLS_CA") {
        pem.push('\n');
        pem.push_str(&std::fs::read_to_string(path).expect("BENCH_TLS_CA"));
    }
    std::fs::write(&ca, pem).expect("CA bundle");

    let runs: usize = std::env::var("BENCH_TLS_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let mut times = Vec::new();
    let mut ours = Verdicts::new();
    for _ in 0..runs {
        let (took, v) = haetae(&lab, &endpoints, &ca, dir.path()).await;
        times.push(took);
        ours = v;
    }
    let ours_t = median(times.clone());
    println!(
        "tls    haetae:  {} endpoints, --checks 'tls.*', median {:.3} s of {runs} runs {:?}",
        endpoints.len(),
        ours_t.as_secs_f64(),
        times.iter().map(|t| (t.as_secs_f64() * 1e3).round() / 1e3).collect::<Vec<_>>()
    );
    println!("tls    verdicts per endpoint (haetae):");
    for e in &endpoints {
        println!(
            "tls      {:<26} {:<22} {}",
            e.label,
            e.addr.to_string(),
            show(ours.get(&e.label).unwrap_or(&BTreeSet::new()))
        );
    }

    let mut peers: Vec<(&str, Duration)> = Vec::new();
    let ca_for_peers = ca.clone();
    let (endpoints_b, out_b) = (endpoints.clone(), out.clone());
    let sslyze_result = match std::env::var("BENCH_SSLYZE") {
        Ok(bin) => tokio::task::spawn_blocking(move || sslyze(&bin, &endpoints_b, &ca_for_peers, &out_b))
            .await
            .expect("sslyze task"),
        Err(_) => {
            println!("tls    sslyze: not installed (scripts/bench-tls.sh installs it); skipped");
            None
        }
    };
    if let Some((t, v)) = &sslyze_result {
        println!(
            "tls    sslyze:  {} endpoints, certinfo + every protocol and cipher scan, {:.3} s",
            endpoints.len(),
            t.as_secs_f64()
        );
        let n = diff("sslyze", &ours, v, None, &endpoints);
        println!("tls    haetae vs sslyze: {n} disagreements");
        peers.push(("sslyze", *t));
    }
    let (endpoints_b, out_b, ca_b) = (endpoints.clone(), out.clone(), ca.clone());
    let testssl_result = match std::env::var("BENCH_TESTSSL") {
        Ok(bin) => {
            tokio::task::spawn_blocking(move || testssl(&bin, &endpoints_b, &ca_b, &out_b)).await.expect("testssl task")
        }
        Err(_) => {
            println!("tls    testssl: not installed (scripts/bench-tls.sh installs it); skipped");
            None
        }
    };
    if let Some((t, v, tested)) = &testssl_result {
        println!("tls    testssl: {} endpoints, --fast --parallel, {:.3} s", endpoints.len(), t.as_secs_f64());
        let n = diff("testssl", &ours, v, Some(tested), &endpoints);
        println!("tls    haetae vs testssl: {n} disagreements");
        peers.push(("testssl", *t));
    }
    let n = endpoints.len();
    for (name, t) in &peers {
        let ratio = ours_t.as_secs_f64() / t.as_secs_f64();
        println!("tls    haetae/{name} time ratio: {ratio:.3} (target <= 0.10, 10x faster)");
        bench_line(
            &format!("tls {n} endpoints vs {name} (time)"),
            ours_t.as_secs_f64(),
            t.as_secs_f64(),
            name,
            ratio,
            "<= 0.1",
        );
    }
    if let Some((name, t)) = peers.iter().min_by_key(|(_, t)| *t) {
        println!(
            "tls    fastest peer {name}: haetae {:.1}x faster (target >= 10x)",
            t.as_secs_f64() / ours_t.as_secs_f64()
        );
    }
    lab.shutdown().await;
}
