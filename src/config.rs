//! haetae.toml: parsed strictly (unknown keys are errors), validated, merged
//! with command-line overrides into one [`Workspace`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use haetae_findings::SourceError;
use serde::Deserialize;

use crate::cli::Global;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    scope: Option<PathBuf>,
    rules: Option<toml::Spanned<PathBuf>>,
    store: Option<PathBuf>,
    /// With a PostgreSQL `store`: a file holding its password (else `PGPASSWORD`).
    store_password_file: Option<PathBuf>,
    /// With a PostgreSQL `store`: how many `haetae worker`s share the scope's
    /// rate budget (each gets its share; more wait for a slot).
    workers: Option<toml::Spanned<i64>>,
    #[serde(default)]
    resolver: RawResolver,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    schedule: Vec<RawSchedule>,
    #[serde(default)]
    notify: RawNotify,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolver {
    #[serde(default)]
    nameservers: Vec<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    extra_roots: Vec<PathBuf>,
    expiring_days: Option<toml::Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: toml::Spanned<String>,
    every: Option<toml::Spanned<String>>,
    cron: Option<toml::Spanned<String>>,
    timezone: Option<toml::Spanned<String>>,
    #[serde(default)]
    targets: Vec<String>,
    profile: Option<toml::Spanned<String>>,
    checks: Option<toml::Spanned<Vec<String>>>,
}

use crate::config_notify::RawNotify;

/// How deep a scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Passive,
    Standard,
    Deep,
}

/// One `[[schedule]]`.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) name: String,
    /// `every = "6h"` or `cron = "0 3 * * *"` with `timezone`.
    pub(crate) when: haetae_service::schedule::When,
    pub(crate) targets: Vec<String>,
    pub(crate) profile: Profile,
    /// Only these checks (globs); empty: every check.
    pub(crate) checks: Vec<String>,
}

/// Configuration after validation and command-line overrides. Paths are absolute
/// or relative to the workspace directory.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "scope, resolver, TLS and schedules are read by scan and daemon (issues 3-5)")]
pub(crate) struct Workspace {
    /// The directory commands run in (`-C`).
    pub(crate) dir: PathBuf,
    /// The config file, when one was read.
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) scope: PathBuf,
    pub(crate) rules: PathBuf,
    /// Where haetae.toml named the rules file (`FILE:LINE:COLUMN`), when it
    /// did: such a file must exist. Without it a missing rules.toml means the
    /// default score.
    pub(crate) rules_named_at: Option<String>,
    /// The local state directory: the sled store itself, or, with a
    /// PostgreSQL store, this machine's audit log, API socket and token.
    pub(crate) store: PathBuf,
    /// `store = "postgres://..."`: the shared database.
    pub(crate) database: Option<Database>,
    /// `workers`: how many workers share the budget (1 by default).
    pub(crate) workers: u32,
    pub(crate) nameservers: Vec<SocketAddr>,
    pub(crate) extra_roots: Vec<PathBuf>,
    pub(crate) expiring_days: u32,
    pub(crate) schedules: Vec<Schedule>,
    /// `[notify]`, validated (see `config_notify.rs`).
    pub(crate) notify: haetae_notify::NotifyConfig,
}

/// A PostgreSQL store: its URL and the password read for it.
#[derive(Clone)]
pub(crate) struct Database {
    pub(crate) url: String,
    pub(crate) password: Option<String>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Whether a `store` value names a PostgreSQL database rather than a directory.
pub(crate) fn is_database_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

pub(crate) const DEFAULT_CONFIG: &str = "haetae.toml";

impl Workspace {
    /// Load haetae.toml (if present, or as named by `--config`) and apply overrides.
    pub(crate) fn load(g: &Global) -> Result<Workspace> {
        let dir = match &g.chdir {
            Some(d) => {
                if !d.is_dir() {
                    bail!("-C {}: not a directory", d.display());
                }
                d.clone()
            }
            None => PathBuf::from("."),
        };
        let (config_file, raw) = match &g.config {
            Some(f) => {
                let path = dir.join(f);
                (Some(path.clone()), read_config(&path)?)
            }
            None => {
                let path = dir.join(DEFAULT_CONFIG);
                if path.exists() { (Some(path.clone()), read_config(&path)?) } else { (None, RawConfig::default()) }
            }
        };
        let file = config_file.clone().unwrap_or_else(|| dir.join(DEFAULT_CONFIG));
        validate(dir, config_file, &file, raw, g)
    }
}

fn read_config(path: &Path) -> Result<RawConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).map_err(|e| SourceError::from_toml(path, &text, &e).into())
}

fn validate(dir: PathBuf, config_file: Option<PathBuf>, file: &Path, raw: RawConfig, g: &Global) -> Result<Workspace> {
    let text = config_file.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    let at = |span: std::ops::Range<usize>, msg: String| -> anyhow::Error {
        SourceError::at_offset(file, &text, span.start, msg).into()
    };
    let rel = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };

    let mut nameservers = Vec::new();
    if g.resolver.is_empty() {
        for ns in &raw.resolver.nameservers {
            let addr =
                parse_nameserver(ns.get_ref()).map_err(|m| at(ns.span(), format!("[resolver] nameservers: {m}")))?;
            nameservers.push(addr);
        }
    } else {
        for ns in &g.resolver {
            nameservers.push(parse_nameserver(ns).map_err(|m| anyhow::anyhow!("--resolver: {m}"))?);
        }
    }

    let expiring_days = match &raw.tls.expiring_days {
        None => 30,
        Some(d) => u32::try_from(*d.get_ref())
            .ok()
            .filter(|d| *d <= 3650)
            .ok_or_else(|| at(d.span(), "[tls] expiring_days: expected a number of days from 0 to 3650".into()))?,
    };

    let mut schedules = Vec::new();
    for s in raw.schedule {
        let name = s.name.get_ref().trim().to_owned();
        if name.is_empty() || schedules.iter().any(|o: &Schedule| o.name == name) {
            let why = if name.is_empty() { "must not be empty" } else { "is already used by another [[schedule]]" };
            return Err(at(s.name.span(), format!("[[schedule]] name: \"{name}\" {why}")));
        }
        let when = match (&s.every, &s.cron) {
            (Some(every), None) => {
                if let Some(tz) = &s.timezone {
                    return Err(at(tz.span(), "[[schedule]] timezone: only with `cron`, not with `every`".into()));
                }
                let d = humantime::parse_duration(every.get_ref()).map_err(|e| {
                    at(every.span(), format!("[[schedule]] every: expected a duration such as \"15m\" or \"6h\" ({e})"))
                })?;
                if d < Duration::from_secs(60) {
                    return Err(at(every.span(), "[[schedule]] every: at least 1m between scans".into()));
                }
                haetae_service::schedule::When::Every(d)
            }
            (None, Some(cron)) => {
                let (tz, tz_span) = match &s.timezone {
                    Some(t) => (t.get_ref().as_str(), t.span()),
                    None => (haetae_service::schedule::DEFAULT_TIMEZONE, cron.span()),
                };
                haetae_service::schedule::When::cron(cron.get_ref(), tz).map_err(|m| {
                    let span = if m.starts_with("timezone") { tz_span } else { cron.span() };
                    at(span, format!("[[schedule]] {m}"))
                })?
            }
            (Some(_), Some(cron)) => {
                return Err(at(cron.span(), "[[schedule]] cron: give `every` or `cron`, not both".into()));
            }
            (None, None) => {
                return Err(at(
                    s.name.span(),
                    format!("[[schedule]] \"{name}\": expected `every = \"6h\"` or `cron = \"0 3 * * *\"`"),
                ));
            }
        };
        let profile = match s.profile.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("standard") => Profile::Standard,
            Some("passive") => Profile::Passive,
            Some("deep") => Profile::Deep,
            Some(other) => {
                let span = s.profile.as_ref().map(|p| p.span()).unwrap_or_default();
                return Err(at(
                    span,
                    format!("[[schedule]] profile: expected passive, standard or deep, found \"{other}\""),
                ));
            }
        };
        let checks = match &s.checks {
            None => Vec::new(),
            Some(c) => {
                // Built-in ids are known here; a workspace template's id is
                // `x.<name>`, checked against the templates when the scan starts.
                let known: Vec<&str> =
                    haetae_findings::CheckId::BUILTIN.iter().map(|c| c.as_str()).chain(["x.template"]).collect();
                let globs: Vec<String> = c.get_ref().clone();
                for g in &globs {
                    if let Err(e) = haetae_scanner::engine::CheckSelection::new(std::slice::from_ref(g), &[], &known)
                        && !g.starts_with("x.")
                    {
                        return Err(at(c.span(), format!("[[schedule]] checks: {e}")));
                    }
                }
                globs
            }
        };
        schedules.push(Schedule { name, when, targets: s.targets, profile, checks });
    }

    let notify = crate::config_notify::validate(raw.notify, &dir, &at)?;

    let mut extra_roots: Vec<PathBuf> = raw.tls.extra_roots.into_iter().map(rel).collect();
    extra_roots.extend(g.ca_cert.iter().cloned());

    // `store` (or --store) is a directory, or a PostgreSQL URL: then the
    // local state stays in .haetae and the findings live in the database.
    let named = g.store.clone().or(raw.store.clone());
    let (store, database) = match named.as_ref().and_then(|p| p.to_str()).filter(|s| is_database_url(s)) {
        Some(url) => {
            let password = match &raw.store_password_file {
                Some(f) => {
                    let path = rel(f.clone());
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!("{}: store_password_file {}: cannot read it", file.display(), path.display())
                    })?;
                    Some(text.trim_end_matches(['\r', '\n']).to_owned())
                }
                None => None,
            };
            (rel(".haetae".into()), Some(Database { url: url.to_owned(), password }))
        }
        None => (rel(named.unwrap_or_else(|| ".haetae".into())), None),
    };

    let workers = match &raw.workers {
        None => 1,
        Some(w) => match u32::try_from(*w.get_ref()) {
            Ok(n @ 1..=1000) => n,
            _ => return Err(at(w.span(), format!("workers: expected a count from 1 to 1000, found {}", w.get_ref()))),
        },
    };

    let rules_named_at = raw.rules.as_ref().map(|r| {
        let (line, column) = haetae_findings::source::line_col(&text, r.span().start);
        format!("{}:{line}:{column}", file.display())
    });

    Ok(Workspace {
        scope: g.scope.clone().map(&rel).unwrap_or_else(|| rel(raw.scope.unwrap_or_else(|| "scope.toml".into()))),
        rules: rel(raw.rules.map_or_else(|| "rules.toml".into(), toml::Spanned::into_inner)),
        rules_named_at,
        store,
        database,
        workers,
        dir,
        config_file,
        nameservers,
        extra_roots,
        expiring_days,
        schedules,
        notify,
    })
}

/// `IP:PORT`, `[IPv6]:PORT`, or a bare IP meaning port 53.
fn parse_nameserver(s: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!("expected IP:PORT such as \"127.0.0.1:53\" or \"[::1]:5353\", found \"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(dir: &Path) -> Global {
        Global {
            chdir: Some(dir.to_owned()),
            config: None,
            scope: None,
            store: None,
            resolver: vec![],
            ca_cert: vec![],
        }
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("haetae.toml"), "store = \".h\"\n[resolver]\nnameservers = [\"bogus\"]\n")
            .unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:3:16:"), "{e}");
        assert!(e.contains("expected IP:PORT"), "{e}");

        std::fs::write(d.path().join("haetae.toml"), "[resolver]\nnameserver = []\n").unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:2:1:") && e.contains("unknown field `nameserver`"), "{e}");

        std::fs::write(d.path().join("haetae.toml"), "[[schedule]]\nname = \"a\"\nevery = \"soon\"\n").unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:3:9:") && e.contains("duration"), "{e}");

        std::fs::write(
            d.path().join("haetae.toml"),
            "[[schedule]]\nname = \"a\"\nevery = \"1h\"\nchecks = [\"tsl.*\"]\n",
        )
        .unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:4:10:") && e.contains("`tsl.*` matches no check"), "{e}");
    }

    #[test]
    fn a_postgres_store_keeps_local_files_in_dot_haetae_and_reads_its_password_file() {
        let d = tempfile::tempdir().unwrap();
        let toml = "store = \"postgres://haetae@db.test:5432/h\"\nstore_password_file = \"pg.pass\"\nworkers = 3\n";
        std::fs::write(d.path().join("haetae.toml"), toml).unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml") && e.contains("pg.pass") && e.contains("cannot read"), "{e}");
        std::fs::write(d.path().join("pg.pass"), "s3cret\n").unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        let db = w.database.unwrap();
        assert_eq!((db.url.as_str(), db.password.as_deref()), ("postgres://haetae@db.test:5432/h", Some("s3cret")));
        assert_eq!((w.store, w.workers), (d.path().join(".haetae"), 3));

        std::fs::write(d.path().join("haetae.toml"), "workers = 0\n").unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:1:11:") && e.contains("from 1 to 1000"), "{e}");
        std::fs::write(d.path().join("haetae.toml"), "").unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        assert!(w.database.is_none());
        assert_eq!(w.workers, 1);
    }

    #[test]
    fn defaults_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        assert_eq!(w.store, d.path().join(".haetae"));
        assert_eq!(w.expiring_days, 30);
        assert_eq!((w.rules, w.rules_named_at), (d.path().join("rules.toml"), None));
        std::fs::write(d.path().join("haetae.toml"), "store = \"s\"\nrules = \"team.toml\"\n").unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        assert_eq!(w.rules, d.path().join("team.toml"));
        assert_eq!(w.rules_named_at, Some(format!("{}:2:9", d.path().join("haetae.toml").display())));
        std::fs::write(
            d.path().join("haetae.toml"),
            "store = \"s\"\n[resolver]\nnameservers = [\"127.0.0.1:5353\", \"::1\"]\n[[schedule]]\nname = \"p\"\nevery = \"15m\"\nprofile = \"deep\"\nchecks = [\"tls.*\", \"http.*\"]\n",
        )
        .unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        assert_eq!(w.store, d.path().join("s"));
        assert_eq!(w.nameservers.len(), 2);
        assert_eq!(w.nameservers[1].port(), 53);
        assert!(
            matches!(w.schedules[0].when, haetae_service::schedule::When::Every(d) if d == Duration::from_secs(900))
        );
        assert_eq!(w.schedules[0].profile, Profile::Deep);
        assert_eq!(w.schedules[0].checks, ["tls.*", "http.*"]);
        let mut g = global(d.path());
        g.resolver = vec!["127.0.0.9:53".into()];
        g.store = Some("/tmp/x".into());
        let w = Workspace::load(&g).unwrap();
        assert_eq!(w.nameservers, vec!["127.0.0.9:53".parse().unwrap()]);
        assert_eq!(w.store, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn cron_schedules_with_their_time_zone_and_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("haetae.toml"),
            "[[schedule]]\nname = \"night\"\ncron = \"0 3 * * *\"\n[[schedule]]\nname = \"utc\"\ncron = \"30 2 * * 1-5\"\ntimezone = \"UTC\"\n",
        )
        .unwrap();
        let w = Workspace::load(&global(d.path())).unwrap();
        assert_eq!(w.schedules[0].when.to_string(), "cron \"0 3 * * *\" (Asia/Seoul)");
        assert_eq!(w.schedules[1].when.to_string(), "cron \"30 2 * * 1-5\" (UTC)");
        std::fs::write(
            d.path().join("haetae.toml"),
            "[[schedule]]\nname = \"a\"\nevery = \"1h\"\n[[schedule]]\nname = \"a\"\nevery = \"2h\"\n",
        )
        .unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:5:8:") && e.contains("already used"), "{e}");
        std::fs::write(
            d.path().join("haetae.toml"),
            "[[schedule]]\nname = \"a\"\nevery = \"1h\"\ncron = \"0 3 * * *\"\n",
        )
        .unwrap();
        let e = Workspace::load(&global(d.path())).unwrap_err().to_string();
        assert!(e.contains("haetae.toml:4:8:") && e.contains("not both"), "{e}");
    }
}
