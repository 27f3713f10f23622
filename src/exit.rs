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
        if cause.is::<UsageError>() {
            return 2;
        }
        if cause.is::<ScopeRefused>() {
            return 3;
        }
        if cause.is::<FailOnMet>() {
            return 4;
        }
    }
    1
}

/// Run the command and turn its result into the process exit code.
pub(crate) fn run(cli: Cli) -> ExitCode {
    match crate::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if crate::output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "haetae: {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, "\n  caused by: {cause}");
            }
            let _ = writeln!(stderr);
            ExitCode::from(code_for(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_cause_chain() {
        assert_eq!(code_for(&anyhow::anyhow!("boom")), 1);
        assert_eq!(code_for(&anyhow::Error::new(UsageError("u".into()))), 2);
        assert_eq!(code_for(&anyhow::Error::new(ScopeRefused("s".into())).context("scan")), 3);
        assert_eq!(code_for(&anyhow::Error::new(FailOnMet("p1".into()))), 4);
    }
}
