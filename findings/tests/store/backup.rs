//! A damaged store is an error, never a panic; `check` finds inconsistencies;
//! `backup` and `restore` bring every record, history and the audit log back.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use haetae_findings::audit::{self, AuditEntry, AuditLog, Protocol, Verdict};
use haetae_findings::{CheckId, Coverage, Selection, State, Store, StoreError, Transition};

use crate::support::{obs, scorer};

/// A store in `dir` with findings (some triaged, some fixed by a complete
/// scan), scan runs, coverage, asset records, a change event and an audit log.
fn populated(dir: &Path) -> Store {
    let store = Store::open(dir, scorer()).unwrap();
    let run = store.begin_scan(vec!["agency.test".into()]).unwrap();
    let batch: Vec<_> =
        (0..400).map(|i| obs(CheckId::SvcSshExposed, &format!("h{i}.agency.test"), Some(22), "")).collect();
    let ids: Vec<String> = store.upsert_batch(Some(run.id), &batch).unwrap().into_iter().map(|(id, _)| id).collect();
    store.finish_scan(run.id, true).unwrap();
    store.triage(&ids[..5], &Transition::new(State::Confirmed, "kim").note("checked by hand")).unwrap();
    let run2 = store.begin_scan(vec!["agency.test".into()]).unwrap();
    store.upsert_batch(Some(run2.id), &batch[1..]).unwrap();
    let pair = Coverage { check: CheckId::SvcSshExposed, host: "h0.agency.test".into(), port: Some(22) };
    store.cover(run2.id, &[pair]).unwrap();
    store.finish_scan(run2.id, true).unwrap();
    assert_eq!(store.get(&ids[0]).unwrap().unwrap().state, State::Fixed);
    store.observe_certificate(Some(run2.id), "h1.agency.test", 443, "aa", None).unwrap();
    assert!(store.observe_certificate(Some(run2.id), "h1.agency.test", 443, "bb", None).unwrap().is_some());
    store.observe_open_port(Some(run2.id), "h1.agency.test", IpAddr::from([127, 0, 0, 1]), 22).unwrap();
    // Every asset kind and a second kind of change event (a banner) round-trip too.
    store.observe_banner(Some(run2.id), "h1.agency.test", 22, "OpenSSH_9.2").unwrap();
    assert!(store.observe_banner(Some(run2.id), "h1.agency.test", 22, "OpenSSH_9.6").unwrap().is_some());
    let log = AuditLog::open(&dir.join("audit.jsonl")).unwrap();
    for i in 0..20u8 {
        log.append(AuditEntry {
            engagement: "KR-TEST".into(),
            target: format!("h{i}.agency.test"),
            address: Some(IpAddr::from([127, 0, 0, i])),
            port: Some(22),
            protocol: Protocol::Tcp,
            probe: "tcp.connect".into(),
            verdict: Verdict::Allowed,
            reason: "in scope".into(),
            outcome: "connected".into(),
        })
        .unwrap();
    }
    log.sync().unwrap();
    store
}

/// Every file of a store directory (and `blobs/`) with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in [dir.to_owned(), dir.join("blobs")] {
        let Ok(entries) = std::fs::read_dir(&sub) else { continue };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                out.insert(entry.path().display().to_string(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

fn cut_in_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len / 2).unwrap();
}

#[test]
fn backup_then_truncate_then_restore_brings_every_finding_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = populated(&dir);
    let before = store.list(&Selection::All).unwrap().findings;
    let scans = store.scans().unwrap();
    let assets = store.assets().unwrap();
    let changes = store.changes().unwrap();
    assert!(before.len() == 400 && scans.len() == 2 && changes.len() == 2);
    // A notification waiting to be delivered, and an SLA breach already told.
    store.outbox_enqueue("webhook", "http://127.0.0.1:9/hook", "{\"digest\":1}").unwrap();
    assert!(store.notify_once("sla:abc").unwrap());
    let outbox = store.outbox().unwrap();
    let file = tmp.path().join("store.backup");
    let summary = store.backup(&file).unwrap();
    assert_eq!(summary.findings, 400);
    assert_eq!(summary.files, ["audit.jsonl", "audit.jsonl.head"]);
    drop(store);

    cut_in_half(&dir.join("db"));
    let damaged = files(&dir);
    let err = Store::open(&dir, scorer()).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert!(files(&dir) == damaged, "opening the damaged store wrote to it");
    let text = err.to_string();
    assert!(text.contains(&dir.display().to_string()) && text.contains("haetae store restore FILE"), "{text}");
    // The damaged store is refused as a restore target.
    assert!(matches!(Store::restore(&file, &dir), Err(StoreError::NotEmpty { .. })));

    let fresh = tmp.path().join("fresh");
    let restored = Store::restore(&file, &fresh).unwrap();
    assert!(restored.check.is_healthy(), "{}", restored.check);
    assert_eq!((restored.findings, restored.files.len()), (400, 2));
    let store = Store::open(&fresh, scorer()).unwrap();
    let after = store.list(&Selection::All).unwrap();
    assert!(after.skipped.is_empty());
    assert_eq!(after.findings, before, "every finding and its history");
    assert!(after.findings.iter().any(|f| f.history.len() >= 2));
    assert_eq!(store.scans().unwrap(), scans);
    assert_eq!(store.assets().unwrap(), assets);
    assert_eq!(store.changes().unwrap(), changes);
    assert_eq!(store.covered(2).unwrap().len(), 1);
    assert_eq!(store.outbox().unwrap(), outbox, "the queued notification survives");
    assert!(store.was_notified("sla:abc").unwrap(), "a breach told is not told again");
    assert!(store.check().unwrap().is_healthy());
    let verified = audit::verify(&fresh.join("audit.jsonl")).unwrap();
    assert!(verified.is_ok() && verified.records == 20, "{verified:?}");
    assert_eq!(std::fs::read(fresh.join("audit.jsonl")).unwrap(), std::fs::read(dir.join("audit.jsonl")).unwrap());
    // The restored store takes writes again.
    store.upsert(&obs(CheckId::DnsSpfMissing, "agency.test", None, "TXT")).unwrap();
}

#[test]
fn damage_to_the_engine_files_is_reported_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, damage) in [("conf cut", 0), ("db removed", 1), ("conf removed", 2), ("db cut to a tenth", 3)] {
        let dir = tmp.path().join(name);
        drop(populated(&dir));
        match damage {
            0 => std::fs::OpenOptions::new().write(true).open(dir.join("conf")).unwrap().set_len(10).unwrap(),
            1 => std::fs::remove_file(dir.join("db")).unwrap(),
            2 => std::fs::remove_file(dir.join("conf")).unwrap(),
            _ => {
                let len = std::fs::metadata(dir.join("db")).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(dir.join("db")).unwrap().set_len(len / 10).unwrap();
            }
        }
        let err = Store::open(&dir, scorer()).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{name}: {err:?}");
        assert!(!err.to_string().contains("backtrace"), "{name}: {err}");
        // Nothing was created in place of a missing file.
        if damage == 1 {
            assert!(!dir.join("db").exists(), "an empty store was started over the damaged one");
        }
    }
}

#[test]
fn check_passes_a_healthy_store_and_names_a_removed_index_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("s"));
    let report = store.check().unwrap();
    assert!(report.is_healthy(), "{report}");
    assert_eq!((report.schema_version, report.findings, report.scans), (Some(1), 400, 2));
    assert_eq!((report.coverage, report.changes), (1, 2));
    assert!(report.to_string().contains("healthy"));

    // Remove the host index entry of one finding: check names it.
    let f = store.list(&Selection::All).unwrap().findings.remove(7);
    let mut key = f.host.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(f.id.as_bytes());
    assert!(store.get_raw_for_tests("by_host", &key).unwrap().is_some());
    store.remove_raw_for_tests("by_host", &key).unwrap();
    store.put_raw_for_tests("scans", &9u64.to_be_bytes(), b"\x01{not json").unwrap();
    let report = store.check().unwrap();
    assert!(!report.is_healthy());
    assert_eq!(report.problems.len(), 2, "{report}");
    assert!(report.problems.iter().any(|p| p.contains("by_host lacks entry") && p.contains(&f.id)), "{report}");
    assert!(report.problems.iter().any(|p| p.contains("scan run 9 is unreadable")), "{report}");
}

#[test]
fn restore_refuses_a_non_empty_dir_and_a_damaged_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let store = populated(&tmp.path().join("s"));
    let file = tmp.path().join("b");
    store.backup(&file).unwrap();
    let good = std::fs::read(&file).unwrap();

    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "keep me").unwrap();
    let err = Store::restore(&file, &busy).unwrap_err();
    assert!(matches!(&err, StoreError::NotEmpty { entry, .. } if entry == "notes.txt"), "{err:?}");
    assert_eq!(std::fs::read_to_string(busy.join("notes.txt")).unwrap(), "keep me");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    // One byte changed in a record, the file cut short, a line appended, not a backup at all.
    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
    let cut = good[..good.len() * 2 / 3].to_vec();
    let mut extra = good.clone();
    extra.extend_from_slice(b"{\"end\":{\"records\":0,\"chunks\":0,\"sha256\":\"\"}}\n");
    for (name, bytes, says) in [
        ("flipped", flipped, "checksum"),
        ("cut", cut, "line"),
        ("extra", extra, "after its end line"),
        ("foreign", b"hello\n".to_vec(), "header"),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = Store::restore(&path, &empty).unwrap_err();
        assert!(
            matches!(err, StoreError::BadBackup { .. } | StoreError::Io { .. }) && err.to_string().contains(says),
            "{name}: {err}"
        );
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "{name}: nothing restored");
    }
    // And the good one restores into the empty directory.
    Store::restore(&file, &empty).unwrap();
    assert_eq!(Store::open(&empty, scorer()).unwrap().len(), 400);
}

#[test]
fn a_store_cut_to_an_older_state_is_damaged_but_a_missing_seal_checks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let old = tmp.path().join("old");
    std::fs::create_dir(&old).unwrap();
    {
        let store = Store::open(&dir, scorer()).unwrap();
        store.upsert(&obs(CheckId::DnsSpfMissing, "agency.test", None, "TXT")).unwrap();
    }
    for f in ["db", "conf"] {
        std::fs::copy(dir.join(f), old.join(f)).unwrap();
    }
    {
        let store = Store::open(&dir, scorer()).unwrap();
        let run = store.begin_scan(vec!["agency.test".into()]).unwrap();
        store.finish_scan(run.id, true).unwrap();
    }
    // The store's files replaced by older ones: sled opens them happily, the seal does not.
    for f in ["db", "conf"] {
        std::fs::copy(old.join(f), dir.join(f)).unwrap();
    }
    let err = Store::open(&dir, scorer()).unwrap_err();
    assert!(err.to_string().contains("scan runs up to 1"), "{err}");
    // Without the seal (a crash, an older haetae) the same files open.
    std::fs::remove_file(dir.join("seal.json")).unwrap();
    assert_eq!(Store::open(&dir, scorer()).unwrap().len(), 1);
    // And closing wrote a new seal.
    assert!(dir.join("seal.json").exists());
}

#[test]
fn every_read_of_a_damaged_store_without_its_seal_ends_in_data_or_damaged() {
    // Without the seal (a crash before the last close), sled opens some cut
    // logs and meets the damage while reading; its iterators then repeat
    // the error forever, so every count must stop at the first one.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    drop(populated(&dir));
    drop(Store::open(&dir, scorer()).unwrap());
    std::fs::remove_file(dir.join("seal.json")).unwrap();
    let len = std::fs::metadata(dir.join("db")).unwrap().len();
    for frac in [2u64, 3, 4, 10] {
        let copy = tmp.path().join(format!("cut{frac}"));
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
        std::fs::OpenOptions::new().write(true).open(copy.join("db")).unwrap().set_len(len / frac).unwrap();
        let Ok(store) = Store::open(&copy, scorer()) else { continue };
        assert!(store.len() <= 400);
        let damaged = |r: Result<(), StoreError>| match r {
            Ok(()) | Err(StoreError::Damaged { .. }) => {}
            Err(e) => panic!("1/{frac}: {e:?}"),
        };
        damaged(store.list(&Selection::All).map(drop));
        damaged(store.check().map(drop));
        damaged(store.scans().map(drop));
        damaged(store.changes().map(drop));
    }
}

#[test]
fn a_cut_log_that_makes_sled_panic_is_damaged() {
    // Many small flushes (as a scan journals coverage) then a reopen (sled
    // writes its snapshot): cut in half, sled's recovery indexes past its
    // segment table and panics. Without the seal, that panic is what is met.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = Store::open(&dir, scorer()).unwrap();
    let run = store.begin_scan(vec![]).unwrap();
    for chunk in 0..1500 {
        let pairs: Vec<Coverage> = (0..10)
            .map(|i| Coverage {
                check: CheckId::SvcSshExposed,
                host: format!("h{chunk}-{i}.agency.test"),
                port: Some(22),
            })
            .collect();
        store.cover(run.id, &pairs).unwrap();
    }
    drop(store);
    drop(Store::open(&dir, scorer()).unwrap());
    std::fs::remove_file(dir.join("seal.json")).unwrap();
    cut_in_half(&dir.join("db"));
    let damaged = files(&dir);
    let err = Store::open(&dir, scorer()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Damaged { detail, .. } if detail.contains("stopped while recovering")),
        "{err:?}"
    );
    assert!(files(&dir) == damaged, "sled's recovery wrote to the damaged store");
    assert!(
        !std::fs::read_dir(tmp.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("trial"))
    );
}

#[test]
fn a_store_closed_cleanly_is_opened_in_place_and_one_left_by_a_crash_through_a_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    drop(populated(&dir));
    // Closed cleanly: the seal matches, the trial is skipped, the store opens.
    assert_eq!(Store::open(&dir, scorer()).unwrap().len(), 400);
    // The seal of an older close (as after a crash): the trial runs on a
    // copy, finds it healthy, and the real open goes ahead.
    let seal = std::fs::read_to_string(dir.join("seal.json")).unwrap();
    let at = seal.find("\"db_len\":").unwrap();
    std::fs::write(dir.join("seal.json"), format!("{}\"db_len\":1}}", &seal[..at])).unwrap();
    let store = Store::open(&dir, scorer()).unwrap();
    assert_eq!(store.len(), 400);
    drop(store);
    assert!(
        !std::fs::read_dir(tmp.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("trial"))
    );
}

#[test]
fn an_empty_audit_log_is_restored_empty_and_a_store_without_one_restores_without() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let store = Store::open(&dir, scorer()).unwrap();
    store.upsert(&obs(CheckId::DnsSpfMissing, "agency.test", None, "TXT")).unwrap();
    let bare = tmp.path().join("bare.backup");
    assert!(store.backup(&bare).unwrap().files.is_empty());
    drop(AuditLog::open(&dir.join("audit.jsonl")).unwrap());
    let empty = tmp.path().join("empty.backup");
    assert_eq!(store.backup(&empty).unwrap().files, ["audit.jsonl", "audit.jsonl.head"]);

    let out = tmp.path().join("from-empty");
    Store::restore(&empty, &out).unwrap();
    assert_eq!(std::fs::read(out.join("audit.jsonl")).unwrap(), b"");
    assert!(audit::verify(&out.join("audit.jsonl")).unwrap().is_ok());
    let out = tmp.path().join("from-bare");
    let restored = Store::restore(&bare, &out).unwrap();
    assert!(restored.files.is_empty() && !out.join("audit.jsonl").exists());
    assert_eq!(Store::open(&out, scorer()).unwrap().len(), 1);
}

#[test]
fn a_schema_migration_backs_the_store_up_first_and_only_then_migrates() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("store");
    let store = populated(&dir);
    let findings = store.len();
    // A store as an older haetae (schema version 0) would have left it.
    store.put_raw_for_tests("meta", b"schema_version", &0u32.to_be_bytes()).unwrap();
    drop(store);
    let backups = dir.join(haetae_findings::store::BACKUP_DIR);
    assert!(!backups.exists());

    let store = Store::open(&dir, scorer()).unwrap();
    assert_eq!(store.get_raw_for_tests("meta", b"schema_version").unwrap(), Some(1u32.to_be_bytes().to_vec()));
    assert_eq!(store.len(), findings);
    drop(store);
    let made: Vec<_> = std::fs::read_dir(&backups).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let name = made[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("pre-migration-v0-") && name.ends_with(".jsonl"), "{name}");
    let summary = Store::verify_backup(&made[0]).unwrap();
    assert_eq!(summary.findings as usize, findings);
    // The backup holds the store as it was before the migration.
    let text = std::fs::read_to_string(&made[0]).unwrap();
    let key: String = b"schema_version".iter().map(|b| format!("{b:02x}")).collect();
    assert!(text.contains(&format!("\"tree\":\"meta\",\"key\":\"{key}\",\"value\":\"00000000\"")), "{}", &text[..300]);

    // Opened again at the current version: no migration, no second backup.
    drop(Store::open(&dir, scorer()).unwrap());
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);
}

#[test]
fn a_migration_whose_backup_cannot_be_written_leaves_the_store_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("store");
    let store = populated(&dir);
    store.put_raw_for_tests("meta", b"schema_version", &0u32.to_be_bytes()).unwrap();
    drop(store);
    // `backups` is a file: no backup can be written there.
    std::fs::write(dir.join(haetae_findings::store::BACKUP_DIR), b"in the way").unwrap();
    let err = Store::open(&dir, scorer()).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    std::fs::remove_file(dir.join(haetae_findings::store::BACKUP_DIR)).unwrap();
    let store = Store::open(&dir, scorer()).unwrap();
    drop(store);
    assert_eq!(std::fs::read_dir(dir.join(haetae_findings::store::BACKUP_DIR)).unwrap().count(), 1);
}
