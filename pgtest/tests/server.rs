//! The harness against the real PostgreSQL of this machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use haetae_pgtest::{PgServer, require, shared};

fn psql(server: &PgServer, url: &str, sql: &str) -> String {
    let out = Command::new(server.tool("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "psql {sql:?} on {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_server_answers_queries_in_a_fresh_database() {
    let Some(server) = require() else { return };
    let url = server.fresh_database().unwrap();
    assert!(url.starts_with(&format!("postgres://haetae@127.0.0.1:{}/", server.port())), "{url}");
    assert_eq!(psql(server, &url, "select 1"), "1");
    assert_eq!(psql(server, &url, "select current_user"), "haetae");
    // Listening on loopback only.
    assert_eq!(psql(server, &url, "show listen_addresses"), "127.0.0.1");
    assert_eq!(psql(server, &server.url(), "select current_database()"), "postgres");
}

#[test]
fn two_fresh_databases_are_distinct_and_isolated() {
    let Some(server) = require() else { return };
    let (a, b) = (server.fresh_database().unwrap(), server.fresh_database().unwrap());
    assert_ne!(a, b);
    assert_ne!(psql(server, &a, "select current_database()"), psql(server, &b, "select current_database()"));
    psql(server, &a, "create table t (x int); insert into t values (7)");
    assert_eq!(psql(server, &a, "select x from t"), "7");
    assert_eq!(psql(server, &b, "select count(*) from pg_tables where tablename = 't'"), "0", "b sees a's table");
}

#[test]
fn a_dropped_server_is_stopped_and_its_directory_removed() {
    if require().is_none() {
        return;
    }
    let started = Instant::now();
    let server = PgServer::start().unwrap();
    println!("PgServer::start took {:?}", started.elapsed());
    let (port, pid, dir) = (server.port(), server.pid().unwrap(), server.dir().to_path_buf());
    assert!(accepts(port), "the server does not listen on {port}");
    assert!(alive(pid));
    drop(server);
    // Drop waits for the watchdog: everything is gone when it returns.
    assert!(!alive(pid), "postmaster {pid} still running after drop");
    assert!(!accepts(port), "port {port} still accepts connections after drop");
    assert!(!dir.exists(), "{} not removed", dir.display());
}

/// Run by the cleanup tests in a child process: starts the shared server
/// (a `static`, never dropped), tells the parent where it is, then ends
/// the way `HAETAE_PGTEST_CHILD` says.
#[test]
#[ignore = "child process of the cleanup tests"]
fn pgtest_child() {
    let Ok(how) = std::env::var("HAETAE_PGTEST_CHILD") else { return };
    let server = shared().expect("the child could not start PostgreSQL");
    println!("SERVER {} {} {}", server.port(), server.pid().unwrap(), server.dir().display());
    match how.as_str() {
        "exit" => std::process::exit(0),
        "panic" => panic!("the child test panics with the server running"),
        // Wait to be killed.
        _ => loop {
            std::thread::park();
        },
    }
}

fn spawn_child(how: &str) -> (Child, u16, u32, PathBuf) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pgtest_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("HAETAE_PGTEST_CHILD", how)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // libtest writes "test pgtest_child ... " before the line, without a newline.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = tx.send(lines.find_map(|l| l.split_once("SERVER ").map(|(_, rest)| rest.to_string())));
        lines.for_each(drop); // keep reading: the child never blocks on a full pipe
    });
    let Ok(Some(line)) = rx.recv_timeout(Duration::from_secs(60)) else {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("the {how} child printed no server line within 60 s");
    };
    let mut parts = line.splitn(3, ' ');
    let port = parts.next().unwrap().parse().unwrap();
    let pid = parts.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(parts.next().unwrap());
    assert!(alive(pid), "the child's server is not running");
    (child, port, pid, dir)
}

/// Polls until the server of an ended child is gone; 30 s at most.
fn assert_cleaned_up(how: &str, port: u16, pid: u32, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) || accepts(port) || dir.exists() {
        assert!(
            Instant::now() < deadline,
            "{how}: 30 s after the child ended: postmaster {pid} alive {}, port {port} accepts {}, {} exists {}",
            alive(pid),
            accepts(port),
            dir.display(),
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn no_server_outlives_a_process_that_exits_with_it_in_a_static() {
    if require().is_none() {
        return;
    }
    let (mut child, port, pid, dir) = spawn_child("exit");
    assert!(child.wait().unwrap().success());
    assert_cleaned_up("exit", port, pid, &dir);
}

#[test]
fn no_server_outlives_a_test_that_panics() {
    if require().is_none() {
        return;
    }
    let (mut child, port, pid, dir) = spawn_child("panic");
    assert!(!child.wait().unwrap().success(), "the child test should have failed");
    assert_cleaned_up("panic", port, pid, &dir);
}

#[test]
fn no_server_outlives_a_killed_process() {
    if require().is_none() {
        return;
    }
    let (mut child, port, pid, dir) = spawn_child("kill");
    assert!(accepts(port));
    child.kill().unwrap(); // SIGKILL: no destructor, no handler runs
    child.wait().unwrap();
    assert_cleaned_up("kill", port, pid, &dir);
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1)).is_ok()
}

/// Whether the process runs (a zombie waiting for a parent that does not
/// reap it, as PID 1 of some containers, counts as ended).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
}
