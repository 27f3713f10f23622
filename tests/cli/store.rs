//! `haetae store check | backup | restore`, and a damaged store is a sentence, not a panic.

use haetae_findings::{CheckId, Coverage};

use crate::support::{code, haetae, open, seeded, stderr, stdout};

#[test]
fn a_truncated_store_is_a_sentence_and_restore_brings_the_findings_back() {
    let ws = seeded();
    let dir = ws.path();
    let out = haetae(&dir, &["store", "backup", "store.bak"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("3 finding(s)"), "{}", stdout(&out));

    // Cut the log inside its records: after the backup reopened it, sled
    // padded the log to a whole segment, so half the file would only lose
    // padding; the three findings sit in its first 4 KiB.
    let db = dir.join(".haetae").join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len.min(4096) / 2).unwrap();
    for args in [&["findings"][..], &["store", "check"], &["export", "--format", "json"]] {
        let out = haetae(&dir, args);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{args:?}: {err}");
        assert!(err.contains("is damaged") || err.contains("cannot be opened"), "{args:?}: {err}");
        assert!(err.contains(".haetae") && err.contains("haetae store restore FILE"), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{args:?}: {err}");
    }

    // Never over the damaged store; into an empty one after moving it aside.
    let out = haetae(&dir, &["store", "restore", "store.bak"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    std::fs::rename(dir.join(".haetae"), dir.join("damaged")).unwrap();
    let out = haetae(&dir, &["store", "restore", "store.bak"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("healthy"), "{}", stdout(&out));
    let out = haetae(&dir, &["findings", "--state", "all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = stdout(&out);
    for id in [&ws.env, &ws.ssh, &ws.spf] {
        assert!(listed.contains(&id[..16]), "{id} missing from:\n{listed}");
    }
}

#[test]
fn store_check_passes_a_healthy_store_and_fails_on_a_lost_index_entry() {
    let ws = seeded();
    let dir = ws.path();
    let out = haetae(&dir, &["store", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("3 finding(s)") && stdout(&out).contains("healthy"), "{}", stdout(&out));

    let store = open(&dir);
    let f = store.get(&ws.env).unwrap().unwrap();
    let mut key = f.host.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(f.id.as_bytes());
    store.remove_raw_for_tests("by_host", &key).unwrap();
    drop(store);
    let out = haetae(&dir, &["store", "check"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("by_host lacks entry"), "{}", stdout(&out));
    assert!(stderr(&out).contains("1 problem(s)"), "{}", stderr(&out));
}

#[test]
fn a_store_sled_panics_on_is_a_sentence_without_a_panic_message() {
    // A log written in many small flushes, reopened once and cut in half,
    // without its seal: sled panics while recovering it. The binary must say
    // so in a sentence, with no "panicked at" line and no exit 101.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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
    drop(open(dir.path()));
    let store_dir = dir.path().join(".haetae");
    std::fs::remove_file(store_dir.join("seal.json")).unwrap();
    let db = store_dir.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 2).unwrap();
    let out = haetae(dir.path(), &["findings"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("stopped while recovering") && err.contains("haetae store restore FILE"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
