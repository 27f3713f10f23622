//! Exit codes, decided in one place (SPEC.md): 0 ok; 1 error; 2 usage;
//! 3 refused by scope or authorization window; 4 `--fail-on` threshold met.

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;

use crate::cli::Cli;

/// A command line that parsed but makes no sense (exit 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

/// Refused by scope or the authorization window (exit 3).
#[derive(Debug)]
pub(crate) struct ScopeRefused(pub(crate) String);

/// A `--fail-on` threshold was met (exit 4); the message says by what.
#[derive(Debug)]
pub(crate) struct FailOnMet(pub(crate) String);

macro_rules! plain_error {
    ($($t:ident),+) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for $t {}
    )+};
}
plain_error!(UsageError, ScopeRefused, FailOnMet);

/// The exit code for an error: the first special cause in its chain decides.
pub(crate) fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<haetae_service::BadRequest>() {
            return 2;
        }
        if cause.is::<ScopeRefused>() || cause.is::<haetae_service::Refused>() {
            return 3;
        }
        if cause.is::<FailOnMet>() {
            return 4;
        }
    }
    1
}

/// The error as the user reads it: `haetae: ` and the message, then each
/// cause that adds something on a `caused by:` line. An I/O error is said in
/// words (`no space left on device`, not `(os error 28)` or a debug
/// structure) and ends the line it explains.
pub(crate) fn render(err: &anyhow::Error) -> String {
    format!("haetae: {}", lines(err).join("\n  caused by: "))
}

/// [`render`] on one line, for a status line: the causes joined by `: `.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    lines(err).join(": ")
}

/// The message and each cause that adds something; I/O errors in words end
/// the line they explain.
fn lines(err: &anyhow::Error) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut said = String::new();
    for (i, cause) in err.chain().enumerate() {
        let (text, io) = match cause.downcast_ref::<std::io::Error>() {
            Some(e) => (haetae_findings::error::io_reason(e), true),
            None => (cause.to_string(), false),
        };
        if i > 0 && said.contains(&text) {
            continue;
        }
        said.push_str(&text);
        said.push('\n');
        match out.last_mut() {
            Some(last) if io => {
                last.push_str(": ");
                last.push_str(&text);
            }
            _ => out.push(text),
        }
    }
    out
}

/// Run the command and turn its result into the process exit code.
pub(crate) fn run(cli: Cli) -> ExitCode {
    match crate::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if crate::output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr().lock(), "{}", render(&err));
            ExitCode::from(code_for(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_reads_as_a_sentence() {
        use haetae_findings::{AuditError, StoreError};
        let enospc = || std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(enospc()).context("cannot write to the store in /w/.haetae");
        assert_eq!(render(&e), "haetae: cannot write to the store in /w/.haetae: no space left on device");
        let e = anyhow::Error::new(StoreError::NoSpace { dir: "/w/.haetae".into() });
        assert!(render(&e).starts_with("haetae: cannot write to the store in /w/.haetae: no space left on device;"));
        let e = anyhow::Error::new(AuditError::Io { path: "/w/a.jsonl".into(), action: "write", source: enospc() });
        let text = render(&e);
        assert!(
            text.starts_with("haetae: cannot write to the audit log /w/a.jsonl: no space left on device"),
            "{text}"
        );
        for debug in ["os error", "Os {", "StorageFull", "caused by"] {
            assert!(!text.contains(debug), "{text}");
        }
    }

    #[test]
    fn causes_that_add_something_get_a_line() {
        let e = anyhow::anyhow!("inner reason").context("outer");
        assert_eq!(render(&e), "haetae: outer\n  caused by: inner reason");
        let e = anyhow::anyhow!("same").context("said the same");
        assert_eq!(render(&e), "haetae: said the same");
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(13)).context("cannot read scope.toml");
        assert_eq!(render(&e), "haetae: cannot read scope.toml: permission denied");
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(28)).context("disk").context("scan failed");
        assert_eq!(one_line(&e), "scan failed: disk: no space left on device");
    }

    #[test]
    fn codes_come_from_the_cause_chain() {
        assert_eq!(code_for(&anyhow::anyhow!("boom")), 1);
        assert_eq!(code_for(&anyhow::Error::new(UsageError("u".into()))), 2);
        assert_eq!(code_for(&anyhow::Error::new(ScopeRefused("s".into())).context("scan")), 3);
        assert_eq!(code_for(&anyhow::Error::new(FailOnMet("p1".into()))), 4);
    }
}
