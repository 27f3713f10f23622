use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use std::net::IpAddr;

use super::*;

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        engagement: "KR-2026-0142".into(),
        target: format!("h{i}.agency.test"),
        address: Some(IpAddr::from([127, 77, 0, (i % 250) as u8])),
        port: if i.is_multiple_of(3) { None } else { Some(443) },
        protocol: if i.is_multiple_of(2) { Protocol::Tcp } else { Protocol::DnsTcp },
        probe: "tcp.connect".into(),
        verdict: if i.is_multiple_of(5) { Verdict::Refused } else { Verdict::Allowed },
        reason: "127.77.0.1 is inside cidrs 127.77.0.0/20".into(),
        outcome: "connected".into(),
    }
}

/// A synced log of `n` records in a fresh directory (created by `open`).
fn log_with(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit").join("log.jsonl");
    let log = AuditLog::open(&path).unwrap();
    for i in 1..=n {
        assert_eq!(log.append(entry(i)).unwrap(), i);
    }
    log.sync().unwrap();
    (dir, path)
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'));
    bytes[..bytes.len() - 1].split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    fs::write(path, out).unwrap();
}

fn replace(line: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(line.to_vec()).unwrap();
    assert!(s.contains(from), "{s} lacks {from}");
    s.replacen(from, to, 1).into_bytes()
}

fn problem(path: &Path) -> Option<ChainProblem> {
    verify(path).unwrap().problem
}

/// `open` must refuse a damaged log with that problem and leave both files as they were.
fn open_refuses(path: &Path, expected: &ChainProblem) {
    let before = (fs::read(path).unwrap(), fs::read(head_path(path)).ok());
    match AuditLog::open(path) {
        Err(AuditError::Damaged { path: p, problem }) => {
            assert_eq!(p, path);
            assert_eq!(&problem, expected);
        }
        other => panic!("open accepted a damaged log: {other:?}"),
    }
    assert_eq!(before, (fs::read(path).unwrap(), fs::read(head_path(path)).ok()));
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<AuditLog>();
}

#[test]
fn record_format_is_flat_json_with_kebab_case_names() {
    let (_dir, path) = log_with(2);
    let first = String::from_utf8(lines(&path)[0].clone()).unwrap();
    assert!(first.starts_with(r#"{"seq":1,"time":""#), "{first}");
    assert!(first.contains(r#""engagement":"KR-2026-0142","target":"h1.agency.test","address":"127.77.0.1","port":443,"protocol":"dns-tcp","probe":"tcp.connect","verdict":"allowed""#), "{first}");
    assert!(first.ends_with(&format!(r#""prev":"{}"}}"#, "0".repeat(64))), "{first}");
    let head: serde_json::Value = serde_json::from_slice(&fs::read(head_path(&path)).unwrap()).unwrap();
    let last_hash = hex(&Sha256::digest(&lines(&path)[1]).into());
    assert_eq!(head, serde_json::json!({"seq": 2, "hash": last_hash}));
}

#[test]
fn append_after_reopen_continues_the_chain() {
    let (_dir, path) = log_with(3);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.path(), path);
    assert_eq!(log.last_seq(), Some(3));
    assert_eq!(log.append(entry(4)).unwrap(), 4);
    assert_eq!(log.last_seq(), Some(4));
    log.sync().unwrap();
    drop(log);
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: None });
    let records = read_all(&path).unwrap();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(records[3].entry, entry(4));
    assert_eq!(records[3].prev, hex(&Sha256::digest(&lines(&path)[2]).into()));
    assert_eq!(records[0].prev, "0".repeat(64));
}

#[test]
fn new_and_empty_logs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.last_seq(), None);
    drop(log);
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 0, problem: None });
    // An empty log without a head file is fine too, and gets one on open.
    fs::remove_file(head_path(&path)).unwrap();
    assert!(verify(&path).unwrap().is_ok());
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.append(entry(1)).unwrap(), 1);
    drop(log); // syncs
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 1, problem: None });
}

#[test]
fn a_thousand_records_from_several_threads_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let log = Arc::new(AuditLog::open(&path).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..250 {
                    seqs.push(log.append(entry(t * 1000 + i)).unwrap());
                    if i % 100 == 99 {
                        log.sync().unwrap();
                    }
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    log.sync().unwrap();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    assert_eq!(log.last_seq(), Some(1000));
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 1000, problem: None });
    assert_eq!(read_all(&path).unwrap().len(), 1000);
}

#[test]
fn an_edited_record_is_found() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l[4] = replace(&l[4], "connected", "connectex");
    write_lines(&path, &l);
    let report = verify(&path).unwrap();
    let expected = ChainProblem::Edited { line: 5, seq: 5 };
    assert_eq!(report, VerifyReport { records: 5, problem: Some(expected.clone()) });
    let text = expected.to_string();
    assert!(text.contains("line 5") && text.contains("seq 5") && text.contains("changed"), "{text}");
    open_refuses(&path, &expected);
}

#[test]
fn an_edited_seq_is_an_edit_not_a_deletion() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l[4] = replace(&l[4], r#""seq":5"#, r#""seq":7"#);
    write_lines(&path, &l);
    assert_eq!(problem(&path), Some(ChainProblem::Edited { line: 5, seq: 5 }));
}

#[test]
fn an_edited_last_record_is_found_through_the_head() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l[8] = replace(&l[8], "connected", "refused by host");
    write_lines(&path, &l);
    let expected = ChainProblem::TailEdited { line: 9, seq: 9 };
    assert_eq!(problem(&path), Some(expected.clone()));
    open_refuses(&path, &expected);
}

#[test]
fn a_deleted_middle_record_is_found() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l.remove(4);
    write_lines(&path, &l);
    let expected = ChainProblem::Deleted { line: 5, expected: 5, found: 6 };
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: Some(expected.clone()) });
    let text = expected.to_string();
    assert!(text.contains("line 5") && text.contains("seq 5 was deleted"), "{text}");
    open_refuses(&path, &expected);
}

#[test]
fn deleted_first_records_are_found() {
    let (_dir, path) = log_with(9);
    let l = lines(&path);
    write_lines(&path, &l[3..]);
    let expected = ChainProblem::Deleted { line: 1, expected: 1, found: 4 };
    assert_eq!(problem(&path), Some(expected.clone()));
    assert!(expected.to_string().contains("seq 1 to 3 were deleted from the start"), "{expected}");
}

#[test]
fn swapped_records_are_found() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l.swap(3, 4);
    write_lines(&path, &l);
    let expected = ChainProblem::Reordered { line: 4, expected: 4, found: 5 };
    assert_eq!(problem(&path), Some(expected.clone()));
    assert!(expected.to_string().contains("line 4 has seq 5 where seq 4 belongs"), "{expected}");
    open_refuses(&path, &expected);
}

#[test]
fn a_record_moved_far_and_a_repeated_record_are_reordering() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    let moved = l.remove(2);
    l.insert(7, moved);
    write_lines(&path, &l);
    assert_eq!(problem(&path), Some(ChainProblem::Reordered { line: 3, expected: 3, found: 4 }));

    let (_dir2, path2) = log_with(9);
    let mut l = lines(&path2);
    l.insert(5, l[4].clone());
    write_lines(&path2, &l);
    assert_eq!(problem(&path2), Some(ChainProblem::Reordered { line: 6, expected: 6, found: 5 }));
}

#[test]
fn a_deleted_last_record_is_found_through_the_head() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l.pop();
    write_lines(&path, &l);
    let expected = ChainProblem::Truncated { records: 8, head_seq: 9 };
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 8, problem: Some(expected.clone()) });
    let text = expected.to_string();
    assert!(text.contains("line 8") && text.contains("seq 9 to 9") && text.contains("deleted"), "{text}");
    open_refuses(&path, &expected);
}

#[test]
fn a_deleted_log_with_its_head_left_is_not_restarted() {
    let (_dir, path) = log_with(3);
    fs::remove_file(&path).unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(report, VerifyReport { records: 0, problem: Some(ChainProblem::Missing { head_seq: 3 }) });
    let text = report.problem.unwrap().to_string();
    assert!(text.contains("log file is missing") && text.contains("seals 3 record(s)"), "{text}");
    match AuditLog::open(&path) {
        Err(AuditError::Damaged { problem, .. }) => {
            assert_eq!(problem, ChainProblem::Missing { head_seq: 3 });
        }
        other => panic!("{other:?}"),
    }
    assert!(!path.exists());
    // Without the head file nothing says the log held records: a plain missing file.
    fs::remove_file(head_path(&path)).unwrap();
    assert!(matches!(verify(&path), Err(AuditError::Io { .. })));
}

#[test]
fn a_missing_or_bad_head_is_a_problem() {
    let (_dir, path) = log_with(4);
    let head = fs::read(head_path(&path)).unwrap();
    fs::remove_file(head_path(&path)).unwrap();
    let expected = ChainProblem::NoHead { records: 4 };
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 4, problem: Some(expected.clone()) });
    open_refuses_without_head(&path, &expected);
    fs::write(head_path(&path), b"{\"seq\": 4}").unwrap();
    assert!(matches!(problem(&path), Some(ChainProblem::BadHead { .. })));
    fs::write(head_path(&path), head).unwrap();
    assert!(verify(&path).unwrap().is_ok());
}

fn open_refuses_without_head(path: &Path, expected: &ChainProblem) {
    let before = fs::read(path).unwrap();
    match AuditLog::open(path) {
        Err(AuditError::Damaged { problem, .. }) => assert_eq!(&problem, expected),
        other => panic!("{other:?}"),
    }
    assert_eq!(before, fs::read(path).unwrap());
    assert!(!head_path(path).exists());
}

#[test]
fn a_torn_last_line_is_cut_on_open_and_the_chain_continues() {
    // A crash: seq 9 was sealed, 10 reached the disk, 11 was cut mid-write.
    let (_dir, path) = log_with(9);
    let sealed_head = fs::read(head_path(&path)).unwrap();
    {
        let log = AuditLog::open(&path).unwrap();
        log.append(entry(10)).unwrap();
        log.append(entry(11)).unwrap();
    }
    fs::write(head_path(&path), &sealed_head).unwrap();
    assert_eq!(problem(&path), Some(ChainProblem::Unsealed { head_seq: 9, last_seq: 11 }));
    let full = fs::read(&path).unwrap();
    let last_len = lines(&path)[10].len();
    fs::write(&path, &full[..full.len() - 1 - last_len / 2]).unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(report, VerifyReport { records: 10, problem: Some(ChainProblem::Torn { line: 11 }) });
    assert!(report.problem.as_ref().is_some_and(ChainProblem::recoverable));

    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.last_seq(), Some(10));
    assert_eq!(log.append(entry(11)).unwrap(), 11);
    log.sync().unwrap();
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 11, problem: None });
    assert_eq!(read_all(&path).unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
}

#[test]
fn a_truncation_mid_line_is_not_mistaken_for_a_crash() {
    let (_dir, path) = log_with(9);
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 10]).unwrap();
    let expected = ChainProblem::Truncated { records: 8, head_seq: 9 };
    assert_eq!(problem(&path), Some(expected.clone()));
    open_refuses(&path, &expected);
}

#[test]
fn a_malformed_line_is_found() {
    let (_dir, path) = log_with(9);
    let mut l = lines(&path);
    l[2] = br#"{"seq":3,"time":"2026-01-01T00:00:00Z"}"#.to_vec();
    write_lines(&path, &l);
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 2);
    let Some(ChainProblem::Malformed { line: 3, reason }) = &report.problem else { panic!("{report:?}") };
    assert!(reason.contains("missing field"), "{reason}");
    let p = report.problem.clone().unwrap();
    open_refuses(&path, &p);
    let err = AuditLog::open(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("line 3"), "{err}");
    assert!(matches!(
        read_all(&path),
        Err(AuditError::Damaged { problem: ChainProblem::Malformed { line: 3, .. }, .. })
    ));

    l[2] = b"not json at all".to_vec();
    write_lines(&path, &l);
    assert!(matches!(problem(&path), Some(ChainProblem::Malformed { line: 3, .. })));
    l[2] = Vec::new();
    write_lines(&path, &l);
    assert_eq!(problem(&path), Some(ChainProblem::Malformed { line: 3, reason: "the line is empty".into() }));
}

#[test]
fn an_overlong_line_is_malformed_without_being_read_whole() {
    let (_dir, path) = log_with(3);
    let mut l = lines(&path);
    l.insert(1, vec![b'x'; MAX_LINE + 10]);
    write_lines(&path, &l);
    assert!(matches!(problem(&path), Some(ChainProblem::Malformed { line: 2, .. })));
    let log = AuditLog::open(&path);
    assert!(matches!(log, Err(AuditError::Damaged { .. })));
}

#[test]
fn an_overlong_record_is_refused_and_the_log_goes_on() {
    let (_dir, path) = log_with(1);
    let log = AuditLog::open(&path).unwrap();
    let mut big = entry(2);
    big.reason = "r".repeat(MAX_LINE);
    assert!(matches!(log.append(big), Err(AuditError::TooLong { .. })));
    assert_eq!(log.append(entry(2)).unwrap(), 2);
    log.sync().unwrap();
    assert_eq!(verify(&path).unwrap(), VerifyReport { records: 2, problem: None });
}

/// A sound log of 9 records and its head file, built once.
fn sample() -> &'static (Vec<u8>, Vec<u8>) {
    static SAMPLE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let (_dir, path) = log_with(9);
        (fs::read(&path).unwrap(), fs::read(head_path(&path)).unwrap())
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Append { line: usize, bytes: Vec<u8> },
    Replace { line: usize, bytes: Vec<u8> },
    Flip { at: usize, byte: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    let bytes = || {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "[ -~\n]{0,64}".prop_map(String::into_bytes),
            Just(b"\n".to_vec()),
        ]
    };
    prop_oneof![
        (0..9usize, bytes()).prop_map(|(line, bytes)| Damage::Append { line, bytes }),
        (0..9usize, bytes()).prop_map(|(line, bytes)| Damage::Replace { line, bytes }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Flip { at, byte }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever is done to a line, verify neither panics nor fails to read,
    /// notices any change, and open refuses exactly what it cannot repair.
    #[test]
    fn any_damage_is_reported_without_panicking(d in damage()) {
        let (good, head) = sample();
        let mut l: Vec<Vec<u8>> = good[..good.len() - 1].split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let bad = match &d {
            Damage::Append { line, bytes } => {
                l[*line].extend_from_slice(bytes);
                l.iter().flat_map(|x| x.iter().copied().chain([b'\n'])).collect::<Vec<u8>>()
            }
            Damage::Replace { line, bytes } => {
                l[*line].clone_from(bytes);
                l.iter().flat_map(|x| x.iter().copied().chain([b'\n'])).collect()
            }
            Damage::Flip { at, byte } => {
                let mut g = good.clone();
                let at = at % g.len();
                g[at] = *byte;
                g
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, &bad).unwrap();
        fs::write(head_path(&path), head).unwrap();
        let report = verify(&path).unwrap();
        prop_assert_eq!(report.problem.is_none(), &bad == good, "{:?}", report);
        match AuditLog::open(&path) {
            Ok(log) => {
                prop_assert!(report.problem.as_ref().is_none_or(ChainProblem::recoverable), "{:?}", report);
                drop(log);
                let after = verify(&path).unwrap();
                prop_assert!(after.is_ok(), "{:?} after open of {:?}", after, report);
            }
            Err(AuditError::Damaged { problem, .. }) => {
                prop_assert_eq!(Some(problem), report.problem);
            }
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}

#[test]
fn io_errors_read_as_sentences() {
    let full = AuditError::Io {
        path: PathBuf::from("/w/.haetae/audit.jsonl"),
        action: "write",
        source: std::io::Error::from_raw_os_error(28),
    };
    let text = full.to_string();
    assert!(
        text.starts_with("cannot write to the audit log /w/.haetae/audit.jsonl: no space left on device;"),
        "{text}"
    );
    let denied = AuditError::Io {
        path: PathBuf::from("/w/a.jsonl"),
        action: "open",
        source: std::io::Error::from_raw_os_error(13),
    };
    assert_eq!(denied.to_string(), "audit log /w/a.jsonl: cannot open: permission denied");
}
