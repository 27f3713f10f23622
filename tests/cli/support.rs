use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use haetae_findings::{Asset, CheckId, Confidence, Observation, Severity, Store};
use haetae_rules::DefaultScorer;

/// Run the built binary in `dir` with `args`.
pub(crate) fn haetae(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haetae"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("HAETAE_ACTOR", "kim")
        .output()
        .unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

pub(crate) fn open(dir: &Path) -> Store {
    Store::open(&dir.join(".haetae"), Arc::new(DefaultScorer)).unwrap()
}

pub(crate) struct Seeded {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) env: String,
    pub(crate) ssh: String,
    pub(crate) spf: String,
}

impl Seeded {
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// A workspace whose store holds three findings: .env (P1), SSH (P4), SPF (P4, fixed).
pub(crate) fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mk = |check: CheckId, host: &str, port: Option<u16>, loc: &str, sev: Severity| {
        let mut o = Observation::new(check, Asset { host: host.into(), ip: None, port }, loc, "KR-2026-0142");
        o.severity = sev;
        o.confidence = Confidence::Certain;
        o.evidence = format!("evidence for {loc}");
        o.remediation = "fix it".into();
        store.upsert(&o).unwrap().0
    };
    let env =
        mk(CheckId::HttpExposedEnv, "www.agency.test", Some(443), "https://www.agency.test/.env", Severity::Critical);
    let ssh = mk(CheckId::SvcSshExposed, "포털.agency.test", Some(22), "", Severity::Info);
    let spf = mk(CheckId::DnsSpfMissing, "agency.test", None, "TXT", Severity::Low);
    store.triage(&[&spf], &haetae_findings::Transition::new(haetae_findings::State::Fixed, "kim")).unwrap();
    drop(store);
    Seeded { dir, env, ssh, spf }
}
