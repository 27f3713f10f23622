//! `haetae tui` in a real terminal: tmux runs it, `send-keys` types, and
//! `capture-pane` reads the screen. Each test has its own tmux server.
//! Every capture is appended to `tui-recording.txt` in the test's temporary
//! target directory, a readable record of the run.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use haetae_findings::State;

use crate::support::{open, seeded};

struct Tmux {
    socket: String,
    log: std::fs::File,
}

impl Tmux {
    /// Run `haetae ARGS` in `dir` on a `width` x `height` terminal.
    fn start(name: &str, dir: &Path, args: &str, width: u16, height: u16) -> Tmux {
        let socket = format!("haetae-test-{}-{name}", std::process::id());
        let cmd = format!("{} {args}; echo EXITED:$?; sleep 600", env!("CARGO_BIN_EXE_haetae"));
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .args([
                "-c",
                &dir.display().to_string(),
                "-e",
                "HAETAE_ACTOR=kim",
                "-e",
                "NO_COLOR=1",
                "-e",
                "TERM=xterm-256color",
            ])
            .arg(cmd)
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(ok.success(), "tmux started");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tui-recording.txt");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        Tmux { socket, log }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Type keys (tmux key names: "Enter", "Escape", "C-c", or literal text).
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
        }
    }

    /// Wait until the screen shows `text`; returns the screen. Polls the
    /// terminal's content (the readiness there is), with a deadline.
    fn wait_for(&mut self, text: &str, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if s.contains(text) {
                let _ = writeln!(self.log, "===== {what}\n{s}");
                return s;
            }
            assert!(Instant::now() < deadline, "waited for {text:?} ({what}); the screen shows:\n{s}");
            std::thread::yield_now();
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn starts_filters_and_triages_in_a_real_terminal() {
    let s = seeded();
    let mut t = Tmux::start("triage", &s.path(), "tui", 120, 30);
    t.wait_for("2 of 3 shown", "the app starts on the findings view");
    t.keys(&["/", "포털"]);
    let screen = t.wait_for("1 of 3 shown", "typed a filter");
    assert!(screen.contains("포털.agency.test:22"), "{screen}");
    t.keys(&["Enter", "f"]);
    t.wait_for("False positive", "the false-positive dialog asks for a note");
    t.keys(&["관리망 전용 포트"]);
    t.keys(&["Enter"]);
    t.wait_for("1 finding(s) recorded: false-positive", "triaged");
    t.keys(&["0", "e"]);
    t.wait_for("Language", "filters cleared; the export dialog");
    t.keys(&["Enter"]);
    let exported = t.wait_for("exported 1 finding(s)", "exported the shown finding as an HTML report");
    assert!(!exported.contains("export failed"), "{exported}");
    // No scope.toml in this workspace: the file is named for the export.
    let report = s.path().join("haetae-export.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("www.agency.test") && html.contains("<svg"), "{}", report.display());
    t.keys(&["?"]);
    t.wait_for("any key closes this", "help");
    t.keys(&["Escape", "q"]);
    t.wait_for("EXITED:0", "quit: the terminal is back to the shell");
    let f = open(&s.path()).get(&s.ssh).unwrap().unwrap();
    assert_eq!(f.state, State::FalsePositive);
    let last = f.history.last().unwrap();
    assert_eq!((last.actor.as_str(), last.note.as_deref()), ("kim", Some("관리망 전용 포트")));
}

#[test]
fn ctrl_c_quits_and_restores_the_terminal() {
    let s = seeded();
    let mut t = Tmux::start("ctrlc", &s.path(), "tui", 80, 24);
    t.wait_for("2 of 3 shown", "started");
    t.keys(&["C-c"]);
    let screen = t.wait_for("EXITED:0", "Ctrl-C quits");
    assert!(!screen.contains("shown"), "the alternate screen is gone:\n{screen}");
}

#[test]
fn sigterm_quits_and_restores_the_terminal() {
    let s = seeded();
    let mut t = Tmux::start("sigterm", &s.path(), "tui", 80, 24);
    t.wait_for("2 of 3 shown", "started");
    let shell = t.tmux(&["display-message", "-p", "#{pane_pid}"]);
    let children = Command::new("pgrep").args(["-P", shell.trim()]).output().unwrap();
    let pid = String::from_utf8_lossy(&children.stdout).lines().next().unwrap_or_default().trim().to_owned();
    assert!(!pid.is_empty(), "haetae runs under the pane's shell");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let screen = t.wait_for("EXITED:0", "SIGTERM quits like q");
    assert!(!screen.contains("shown"), "the alternate screen is gone:\n{screen}");
}

#[test]
fn a_scan_in_the_same_process_shows_live() {
    let lw = crate::scan::lab_workspace();
    let mut t = Tmux::start("live", lw.dir.path(), "tui --scan", 140, 40);
    t.wait_for("scan 1 running", "the scan starts");
    t.keys(&["2"]);
    t.wait_for("requests", "the Scans view follows it");
    t.keys(&["1"]);
    let done = t.wait_for("scan 1 complete", "the scan ends; its findings are in the table");
    assert!(done.contains("svc.redis-noauth"), "{done}");
    t.keys(&["3"]);
    let assets = t.wait_for("redis.agency.test", "the assets view lists the lab's hosts");
    assert!(assets.contains("127.77."), "{assets}");
    t.keys(&["q"]);
    t.wait_for("EXITED:0", "quit");
    drop(lw);
}

#[test]
fn attached_to_a_daemon_it_shows_the_daemons_scans_live_and_triages_through_it() {
    let lw = crate::scan::lab_workspace();
    let dir = lw.dir.path();
    let toml = std::fs::read_to_string(dir.join("haetae.toml")).unwrap();
    // A schedule that is not due for a day: the scan is asked for below.
    std::fs::write(
        dir.join("haetae.toml"),
        format!("{toml}\n[[schedule]]\nname = \"nightly\"\ncron = \"0 3 * * *\"\n"),
    )
    .unwrap();
    let (mut daemon, rx) = crate::daemon::spawn_daemon(dir);
    crate::daemon::wait_for(&rx, "local API listening");
    let mut t = Tmux::start("attached", dir, "tui", 140, 40);
    t.wait_for("0 of 0 shown", "the empty store, through the API");
    // A scan asked of the daemon from another terminal shows up live.
    let scan = std::thread::spawn({
        let dir = dir.to_owned();
        move || crate::support::haetae(&dir, &["scan"])
    });
    let done = t.wait_for("scan 1 complete", "the daemon's scan ends; its findings are in the table");
    assert!(done.contains("svc.redis-noauth"), "{done}");
    let o = scan.join().unwrap();
    assert_eq!(crate::support::code(&o), 0, "{}", crate::support::stderr(&o));
    // Triage from the TUI goes through the daemon.
    t.keys(&["/", "redis-noauth", "Enter", "c"]);
    t.wait_for("recorded: confirmed", "the triage is applied");
    assert!(Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap().success());
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    t.keys(&["q"]);
    t.wait_for("EXITED:0", "quit");
    let store = open(dir);
    let confirmed = store.list(&haetae_findings::Selection::States(vec![State::Confirmed])).unwrap().findings;
    assert_eq!(confirmed.len(), 1, "{confirmed:#?}");
    assert_eq!(confirmed[0].check.as_str(), "svc.redis-noauth");
    assert_eq!(confirmed[0].history.last().unwrap().actor, "kim");
    drop(lw);
}
