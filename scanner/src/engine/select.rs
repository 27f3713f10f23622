//! Check selection (`haetae scan --checks GLOB,.. --skip-checks GLOB,..`, a
//! schedule's `checks = [...]`): only the selected checks run, report and
//! cover, so a partial scan never closes a finding of a check it did not run.

use globset::{Glob, GlobSet, GlobSetBuilder};
use haetae_findings::CheckId;

/// Which checks a scan runs. The default selects every check.
#[derive(Debug, Clone, Default)]
pub struct CheckSelection {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    /// The patterns as given, for messages and the scan record.
    patterns: (Vec<String>, Vec<String>),
}

/// A pattern that is not a glob, or that selects no known check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Not a valid glob.
    #[error("`{pattern}` is not a valid glob: {reason}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What the glob parser said.
        reason: String,
    },
    /// Matches none of the known check ids.
    #[error("`{pattern}` matches no check (check ids look like `tls.cert-expired`, `http.*`, `svc.redis-noauth`)")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
}

fn build(patterns: &[String], known: &[&str]) -> Result<Option<GlobSet>, SelectError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| SelectError::Glob { pattern: p.clone(), reason: e.kind().to_string() })?;
        let one = glob.compile_matcher();
        if !known.iter().any(|k| one.is_match(k)) {
            return Err(SelectError::NoMatch { pattern: p.clone() });
        }
        set.add(glob);
    }
    set.build().map(Some).map_err(|e| SelectError::Glob { pattern: patterns.join(","), reason: e.to_string() })
}

impl CheckSelection {
    /// Every check.
    pub fn all() -> CheckSelection {
        CheckSelection::default()
    }

    /// The checks matching any of `include` (every check when empty) and
    /// none of `exclude`. Each pattern must match one of `known` (the
    /// built-in ids and the templates' ids), so a typo is an error, not an
    /// empty scan.
    pub fn new(include: &[String], exclude: &[String], known: &[&str]) -> Result<CheckSelection, SelectError> {
        Ok(CheckSelection {
            include: build(include, known)?,
            exclude: build(exclude, known)?,
            patterns: (include.to_vec(), exclude.to_vec()),
        })
    }

    /// Whether every check is selected.
    pub fn is_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// Whether `check` runs.
    pub fn selects(&self, check: &CheckId) -> bool {
        self.selects_id(check.as_str())
    }

    /// Whether the check with this id runs.
    pub fn selects_id(&self, id: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(id)) && !self.exclude.as_ref().is_some_and(|s| s.is_match(id))
    }

    /// The include and exclude patterns as given.
    pub fn patterns(&self) -> (&[String], &[String]) {
        (&self.patterns.0, &self.patterns.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<&'static str> {
        CheckId::BUILTIN.iter().map(CheckId::as_str).collect()
    }

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn globs_select_and_skip() {
        let all = CheckSelection::all();
        assert!(all.is_all() && all.selects(&CheckId::DnsCaaMissing));
        let tls = CheckSelection::new(&v(&["tls.*"]), &[], &known()).unwrap();
        assert!(tls.selects(&CheckId::TlsCertExpired) && tls.selects(&CheckId::TlsLegacyProtocol));
        assert!(!tls.selects(&CheckId::HttpExposedGit) && !tls.selects(&CheckId::DnsCaaMissing));
        let some = CheckSelection::new(&v(&["tls.*", "http.exposed-*"]), &v(&["tls.weak-*"]), &known()).unwrap();
        assert!(some.selects(&CheckId::TlsCertExpired) && some.selects(&CheckId::HttpExposedGit));
        assert!(!some.selects(&CheckId::TlsWeakCipher) && !some.selects(&CheckId::HttpHstsMissing));
        let skip = CheckSelection::new(&[], &v(&["dns.*"]), &known()).unwrap();
        assert!(!skip.selects(&CheckId::DnsAxfrOpen) && skip.selects(&CheckId::SvcSshExposed));
    }

    #[test]
    fn the_method_and_disclosure_checks_are_selected_by_their_globs() {
        let web = CheckSelection::new(&v(&["http.*"]), &v(&["http.trace-*"]), &known()).unwrap();
        assert!(web.selects(&CheckId::HttpSecurityTxtMissing) && !web.selects(&CheckId::HttpTraceEnabled));
        let one = CheckSelection::new(&v(&["http.trace-enabled"]), &[], &known()).unwrap();
        assert!(one.selects(&CheckId::HttpTraceEnabled) && !one.selects(&CheckId::HttpSecurityTxtMissing));
    }

    #[test]
    fn a_pattern_that_selects_nothing_is_an_error() {
        let e = CheckSelection::new(&v(&["tsl.*"]), &[], &known()).unwrap_err();
        assert_eq!(e, SelectError::NoMatch { pattern: "tsl.*".into() });
        assert!(e.to_string().contains("matches no check"));
        assert!(matches!(CheckSelection::new(&v(&["tls.[*"]), &[], &known()), Err(SelectError::Glob { .. })));
    }
}
