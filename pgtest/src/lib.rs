//! A real PostgreSQL server for tests: `initdb` and `pg_ctl` in a temporary
//! directory, listening on a free loopback port only.
//!
//! One server per test binary ([`shared`], [`require`]) and one fresh,
//! empty database per test ([`PgServer::fresh_database`]) give isolation
//! without paying for `initdb` in every test.
//!
//! No server outlives the test process: each one is watched by a small
//! `sh` whose standard input is a pipe held by this process. When the
//! process ends, however it ends (normal exit with the server in a
//! `static`, panic, `SIGKILL`), the pipe closes, the watchdog's `read`
//! returns, and it stops the server (`pg_ctl stop -m immediate`) and
//! removes the directory. Dropping a [`PgServer`] does the same and waits
//! for it.
//!
//! Binaries come from Debian's `postgresql` package
//! (`/usr/lib/postgresql/<N>/bin`, the newest N) or from `PATH`. `initdb`
//! refuses to run as root: as root, the server's commands run as the
//! `postgres` user (`runuser -u postgres --`), which the package creates.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The message of a test that cannot run because PostgreSQL is missing.
pub const NOT_INSTALLED: &str =
    "PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL tests did NOT run";

/// The role every server is initialised with (`trust` authentication).
pub const USER: &str = "haetae";

/// How long the server has to start and answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(10);

/// Start attempts when the free port was taken between picking and binding.
const PORT_ATTEMPTS: usize = 5;

/// A running PostgreSQL server in a temporary directory; stopped and
/// removed when dropped or when the test process ends.
#[derive(Debug)]
pub struct PgServer {
    root: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    /// The watchdog; its stdin is the pipe whose closing stops the server.
    watchdog: Option<Child>,
    databases: AtomicUsize,
}

impl PgServer {
    /// Runs `initdb` in a new temporary directory and starts a server on a
    /// free port of 127.0.0.1; returns once it accepts connections.
    pub fn start() -> Result<PgServer, String> {
        let bin = find_bin().ok_or_else(|| NOT_INSTALLED.to_string())?;
        let as_postgres = is_root()?;
        let root = tempfile::Builder::new()
            .prefix("haetae-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        // From here on the watchdog (or the error path) removes `root`.
        let watchdog = match spawn_watchdog(&root, &bin, as_postgres) {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        let mut server =
            PgServer { root, port: 0, bin, as_postgres, watchdog: Some(watchdog), databases: AtomicUsize::new(0) };
        // On error `server` is dropped: the watchdog stops whatever started.
        server.init()?;
        server.port = server.launch()?;
        server.wait_ready()?;
        Ok(server)
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data directory, socket and server log.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The postmaster's process id (from `postmaster.pid`).
    pub fn pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.root.join("data").join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// A PostgreSQL client program of the same installation (`psql`,
    /// `createdb`, `pg_isready`, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Creates a new, empty database with a name used by no other call in
    /// this process, and returns its URL.
    pub fn fresh_database(&self) -> Result<String, String> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let port = self.port.to_string();
        let out = Command::new(self.tool("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", USER, &name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("createdb {name} failed: {}", stderr(&out)));
        }
        Ok(self.database_url(&name))
    }

    fn database_url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A command for a server program, run as `postgres` when we are root.
    fn server_command(&self, program: &str) -> Command {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.tool(program));
            c
        } else {
            Command::new(self.tool(program))
        };
        // The server user may not be allowed into our working directory.
        cmd.current_dir(&self.root).stdin(Stdio::null());
        cmd
    }

    fn init(&self) -> Result<(), String> {
        if self.as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(&self.root, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to the postgres user: {e}", self.root.display()))?;
        }
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed ({}): {}", out.status, stderr(&out)));
        }
        // Settings in the configuration file rather than on a command line a
        // shell splits: the directory's name may hold anything.
        let mut conf = String::from("\n# haetae-pgtest\nlisten_addresses = '127.0.0.1'\n");
        let _ = writeln!(conf, "unix_socket_directories = '{}'", quote_conf(&self.root));
        conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| format!("cannot configure the server: {e}"))
    }

    /// Starts the server on a free port; picks another one when the port
    /// was taken in between.
    fn launch(&self) -> Result<u16, String> {
        let log = self.root.join("server.log");
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let out = self
                .server_command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "30", "-s", "-o", &format!("-p {port}")])
                .output()
                .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
            if out.status.success() {
                return Ok(port);
            }
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            last = format!("pg_ctl start failed ({}): {}\n{}", out.status, stderr(&out), tail(&server_log, 20));
            if !server_log.contains("Address already in use") {
                break;
            }
        }
        Err(last)
    }

    /// `pg_ctl -w` waited for the server; this also waits until it answers
    /// on its TCP port, within [`READY_WITHIN`].
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        let port = self.port.to_string();
        loop {
            let out = Command::new(self.tool("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", USER, "-d", "postgres"])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run pg_isready: {e}"))?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
                return Err(format!("PostgreSQL on port {port} not ready within 30 s\n{}", tail(&log, 20)));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for PgServer {
    /// Closes the watchdog's pipe and waits while it stops the server and
    /// removes the directory.
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// The shared server of this test process, started on first use; `None`
/// when it cannot start (see [`require`] for the reason, said loudly).
pub fn shared() -> Option<&'static PgServer> {
    shared_result().as_ref().ok()
}

fn shared_result() -> &'static Result<PgServer, String> {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// The shared server for a PostgreSQL test. Where PostgreSQL is not
/// installed it says so loudly on stderr and returns `None` (the test
/// skips), except in CI (`CI` or `HAETAE_REQUIRE_POSTGRES` set), where it
/// panics. A server that is installed but fails to start always panics.
pub fn require() -> Option<&'static PgServer> {
    let required = ["CI", "HAETAE_REQUIRE_POSTGRES"].iter().any(|v| std::env::var_os(v).is_some());
    verdict(shared_result(), required)
}

/// [`require`]'s decision on a start's result.
#[allow(clippy::print_stderr)]
fn verdict<T>(started: &Result<T, String>, required: bool) -> Option<&T> {
    match started {
        Ok(server) => Some(server),
        Err(e) if e == NOT_INSTALLED => {
            assert!(!required, "{NOT_INSTALLED} (CI or HAETAE_REQUIRE_POSTGRES is set)");
            eprintln!("\n!!!!!!!! {NOT_INSTALLED} !!!!!!!!\n");
            None
        }
        Err(e) => panic!("PostgreSQL is installed but the test server did not start: {e}"),
    }
}

/// The newest `/usr/lib/postgresql/<N>/bin` with `initdb` and `pg_ctl`,
/// else the directory of the `initdb` found on `PATH`.
pub fn find_bin() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "createdb", "pg_isready"].iter().all(|t| dir.join(t).is_file());
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| complete(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .filter(|initdb| initdb.is_file())
        .filter_map(|initdb| Some(fs::canonicalize(initdb).ok()?.parent()?.to_path_buf()))
        .find(|bin| complete(bin))
}

/// The watchdog: `sh`, reading its stdin until this process closes it,
/// then `pg_ctl stop -m immediate` and `rm -rf` of the directory. It
/// ignores the terminal's signals (a Ctrl-C reaches the whole foreground
/// group) and is in a process group of its own.
fn spawn_watchdog(root: &Path, bin: &Path, as_postgres: bool) -> Result<Child, String> {
    use std::os::unix::process::CommandExt as _;
    const SCRIPT: &str = r#"trap '' HUP INT TERM PIPE
while read -r _; do :; done
"$@" stop -D "$0/data" -m immediate -w -s >/dev/null 2>&1
rm -rf "$0""#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(SCRIPT).arg(root);
    if as_postgres {
        cmd.args(["runuser", "-u", "postgres", "--"]);
    }
    cmd.arg(bin.join("pg_ctl"))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the watchdog shell: {e}"))
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> Result<bool, String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .ok_or("no Uid line in /proc/self/status")?;
    Ok(euid == "0")
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id").args([flag, "postgres"]).output().map_err(|e| format!("cannot run id: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "running as root needs the postgres user (created by Debian's postgresql package): {}",
                stderr(&out)
            ));
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("id {flag} postgres: {e}"))
    };
    Ok((id("-u")?, id("-g")?))
}

/// A port of 127.0.0.1 free right now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

/// A path as a single-quoted `postgresql.conf` value's content.
fn quote_conf(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "\\\\").replace('\'', "''")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn tail(text: &str, lines: usize) -> String {
    let skip = text.lines().count().saturating_sub(lines);
    text.lines().skip(skip).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_postgresql_skips_outside_ci_and_fails_in_ci() {
        let missing: Result<(), String> = Err(NOT_INSTALLED.into());
        assert_eq!(verdict(&missing, false), None);
        let in_ci = std::panic::catch_unwind(|| verdict(&missing, true).is_some());
        let message = *in_ci.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("PostgreSQL is not installed (apt-get install postgresql)"), "{message}");
        assert_eq!(verdict(&Ok(7), true), Some(&7));
    }

    #[test]
    fn a_server_that_does_not_start_always_fails() {
        let broken: Result<(), String> = Err("initdb failed".into());
        assert!(std::panic::catch_unwind(|| verdict(&broken, false)).is_err());
    }

    #[test]
    fn the_directory_is_quoted_for_postgresql_conf() {
        assert_eq!(quote_conf(Path::new("/tmp/it's")), "/tmp/it''s");
        assert_eq!(quote_conf(Path::new("/tmp/a\\b")), "/tmp/a\\\\b");
    }
}
