//! The two dated data files: release lines with their end of life
//! (`software-eol.toml`) and version ranges of CISA KEV entries
//! (`known-exploited.toml`). The built-in copies (the repository's `data/`)
//! are compiled in; a workspace's `data/` folder replaces either file.
//! Every error names the file, line and column.

use std::collections::HashSet;
use std::fs;
use std::ops::Range as Span;
use std::path::{Path, PathBuf};

use haetae_findings::SourceError;
use serde::Deserialize;
use toml::Spanned;

use super::parse::Version;

/// File name of the end-of-life data.
pub const EOL_FILE: &str = "software-eol.toml";
/// File name of the known-exploited data.
pub const KEV_FILE: &str = "known-exploited.toml";

const BUILTIN_EOL: &str = include_str!("../../../data/software-eol.toml");
const BUILTIN_KEV: &str = include_str!("../../../data/known-exploited.toml");

/// Where a data file in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary.
    BuiltIn,
    /// The workspace's file.
    Workspace(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Workspace(p) => write!(f, "{}", p.display()),
        }
    }
}

/// When a release line ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eol {
    /// Ended (or ends) on this date, `YYYY-MM-DD`.
    Date(String),
    /// Ended, no date published.
    Ended,
    /// No end announced.
    Supported,
}

/// One release line of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// As written (`1.18`).
    pub text: String,
    /// Its numeric parts.
    pub version: Version,
    /// Its end.
    pub eol: Eol,
}

/// One product: how banners name it, and its release lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Stable id (`apache-httpd`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Names banners use for it (compared without case).
    pub names: Vec<String>,
    /// Where its dates come from.
    pub source: String,
    /// Release lines.
    pub lines: Vec<Line>,
}

impl Product {
    /// The most specific line `v` belongs to (`1.18` for 1.18.0; `7` for 7.17.14).
    pub fn line_of(&self, v: &Version) -> Option<&Line> {
        self.lines.iter().filter(|l| v.starts_with(&l.version)).max_by_key(|l| l.version.parts().len())
    }
}

/// The end-of-life file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EolData {
    /// Date of the data, `YYYY-MM-DD`.
    pub date: String,
    /// Products.
    pub products: Vec<Product>,
}

/// One bound of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper {
    /// Up to and including.
    To(Version),
    /// Up to, not including.
    Below(Version),
}

/// A range of affected versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    /// First affected version (inclusive).
    pub from: Version,
    /// Upper bound.
    pub upper: Upper,
}

impl Affected {
    /// Whether `v` is in the range.
    pub fn contains(&self, v: &Version) -> bool {
        *v >= self.from
            && match &self.upper {
                Upper::To(t) => v <= t,
                Upper::Below(b) => v < b,
            }
    }
}

/// Which platforms a CVE applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Only when the banner names Windows.
    Windows,
    /// Not when the banner names Windows.
    Unix,
}

/// One KEV entry with its ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cve {
    /// `CVE-2021-41773`.
    pub id: String,
    /// A product id of the end-of-life file.
    pub product: String,
    /// Affected ranges.
    pub affected: Vec<Affected>,
    /// Platform restriction.
    pub platform: Option<Platform>,
    /// The condition under which it is exploitable, if any.
    pub note: Option<String>,
    /// Where the range comes from.
    pub source: String,
}

/// The known-exploited file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KevData {
    /// Date of the data, `YYYY-MM-DD`.
    pub date: String,
    /// Entries.
    pub cves: Vec<Cve>,
}

/// Both files, as in force for a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftwareData {
    /// End-of-life data.
    pub eol: EolData,
    /// Where it came from.
    pub eol_origin: Option<Origin>,
    /// Known-exploited data.
    pub kev: KevData,
    /// Where it came from.
    pub kev_origin: Option<Origin>,
}

impl SoftwareData {
    /// The built-in files.
    pub fn builtin() -> Result<SoftwareData, Vec<SourceError>> {
        SoftwareData::load(None)
    }

    /// The built-in files, each replaced by the one in `dir` when it exists.
    pub fn load(dir: Option<&Path>) -> Result<SoftwareData, Vec<SourceError>> {
        let mut errors = Vec::new();
        let read = |name: &str, builtin: &'static str, errors: &mut Vec<SourceError>| -> (PathBuf, String, Origin) {
            if let Some(dir) = dir {
                let path = dir.join(name);
                if path.exists() {
                    match fs::read_to_string(&path) {
                        Ok(text) => return (path.clone(), text, Origin::Workspace(path)),
                        Err(e) => {
                            errors.push(SourceError::whole_file(&path, format!("cannot read the data file: {e}")))
                        }
                    }
                }
            }
            (Path::new("built-in").join(name), builtin.to_owned(), Origin::BuiltIn)
        };
        let (eol_path, eol_text, eol_origin) = read(EOL_FILE, BUILTIN_EOL, &mut errors);
        let (kev_path, kev_text, kev_origin) = read(KEV_FILE, BUILTIN_KEV, &mut errors);
        let eol = match parse_eol(&eol_path, &eol_text) {
            Ok(e) => e,
            Err(e) => {
                errors.extend(e);
                EolData::default()
            }
        };
        let ids: Vec<&str> = eol.products.iter().map(|p| p.id.as_str()).collect();
        let kev = match parse_kev(&kev_path, &kev_text, &ids) {
            Ok(k) => k,
            Err(e) => {
                errors.extend(e);
                KevData::default()
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SoftwareData { eol, eol_origin: Some(eol_origin), kev, kev_origin: Some(kev_origin) })
    }

    /// The product a banner's name stands for.
    pub fn product_named(&self, name: &str) -> Option<&Product> {
        self.eol.products.iter().find(|p| p.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The product with this id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.eol.products.iter().find(|p| p.id == id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEol {
    date: Spanned<toml::value::Datetime>,
    #[serde(default)]
    product: Vec<Spanned<RawProduct>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    id: Spanned<String>,
    name: Spanned<String>,
    names: Spanned<Vec<Spanned<String>>>,
    source: Spanned<String>,
    lines: Vec<Spanned<RawLine>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    line: Spanned<String>,
    eol: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKev {
    date: Spanned<toml::value::Datetime>,
    #[serde(default)]
    cve: Vec<Spanned<RawCve>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCve {
    id: Spanned<String>,
    product: Spanned<String>,
    affected: Spanned<Vec<Spanned<RawRange>>>,
    platform: Option<Spanned<String>>,
    note: Option<String>,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    from: Spanned<String>,
    to: Option<Spanned<String>>,
    below: Option<Spanned<String>>,
}

/// Collects positioned errors for one file.
struct Errors<'a> {
    path: &'a Path,
    text: &'a str,
    list: Vec<SourceError>,
}

impl Errors<'_> {
    fn at(&mut self, span: Span<usize>, message: impl Into<String>) {
        self.list.push(SourceError::at_offset(self.path, self.text, span.start, message));
    }

    /// A date without a time (`2026-08-22`).
    fn date(&mut self, d: &Spanned<toml::value::Datetime>, what: &str) -> String {
        let v = d.get_ref();
        match (v.date, v.time, v.offset) {
            (Some(date), None, None) => date.to_string(),
            _ => {
                self.at(d.span(), format!("{what} must be a date like 2026-08-22, without a time"));
                String::new()
            }
        }
    }

    fn version(&mut self, s: &Spanned<String>, what: &str) -> Option<Version> {
        match Version::strict(s.get_ref()) {
            Some(v) => Some(v),
            None => {
                self.at(
                    s.span(),
                    format!(
                        "{what} `{}` is not a version: expected numbers joined by dots (1.18, 2.4.49)",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn text(&mut self, s: &Spanned<String>, what: &str) -> String {
        if s.get_ref().trim().is_empty() {
            self.at(s.span(), format!("{what} must not be empty"));
        }
        s.get_ref().clone()
    }
}

/// Parse and validate an end-of-life file.
pub fn parse_eol(path: &Path, text: &str) -> Result<EolData, Vec<SourceError>> {
    let raw: RawEol = toml::from_str(text).map_err(|e| vec![SourceError::from_toml(path, text, &e)])?;
    let mut err = Errors { path, text, list: Vec::new() };
    let date = err.date(&raw.date, "`date`");
    let mut ids = HashSet::new();
    let mut products = Vec::new();
    for p in raw.product {
        let span = p.span();
        let p = p.into_inner();
        let id = err.text(&p.id, "`id`");
        if !ids.insert(id.clone()) {
            err.at(p.id.span(), format!("product `{id}` is defined twice"));
        }
        if p.names.get_ref().is_empty() {
            err.at(p.names.span(), "`names` must list at least one name banners use for the product");
        }
        let names: Vec<String> = p.names.get_ref().iter().map(|n| err.text(n, "a name")).collect();
        let mut lines: Vec<Line> = Vec::new();
        for l in &p.lines {
            let l = l.get_ref();
            let Some(version) = err.version(&l.line, "`line`") else { continue };
            if lines.iter().any(|x| x.version == version) {
                err.at(l.line.span(), format!("line `{}` of `{id}` is listed twice", l.line.get_ref()));
                continue;
            }
            let eol = match l.eol.get_ref() {
                toml::Value::Boolean(true) => Eol::Ended,
                toml::Value::Boolean(false) => Eol::Supported,
                toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => match d.date {
                    Some(date) => Eol::Date(date.to_string()),
                    None => Eol::Supported,
                },
                _ => {
                    err.at(
                        l.eol.span(),
                        "`eol` must be a date (2021-04-20), true (ended, no date) or false (supported)",
                    );
                    continue;
                }
            };
            lines.push(Line { text: l.line.get_ref().clone(), version, eol });
        }
        if names.is_empty() && lines.is_empty() && id.is_empty() {
            err.at(span, "empty [[product]]");
        }
        products.push(Product {
            id,
            name: err.text(&p.name, "`name`"),
            names,
            source: err.text(&p.source, "`source`"),
            lines,
        });
    }
    if err.list.is_empty() { Ok(EolData { date, products }) } else { Err(err.list) }
}

/// Whether `id` looks like a CVE id.
fn is_cve_id(id: &str) -> bool {
    let mut parts = id.splitn(3, '-');
    parts.next() == Some("CVE")
        && parts.next().is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_some_and(|n| n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parse and validate a known-exploited file; `products` are the product ids
/// of the end-of-life file in force.
pub fn parse_kev(path: &Path, text: &str, products: &[&str]) -> Result<KevData, Vec<SourceError>> {
    let raw: RawKev = toml::from_str(text).map_err(|e| vec![SourceError::from_toml(path, text, &e)])?;
    let mut err = Errors { path, text, list: Vec::new() };
    let date = err.date(&raw.date, "`date`");
    let mut seen = HashSet::new();
    let mut cves = Vec::new();
    for c in raw.cve {
        let c = c.into_inner();
        let id = c.id.get_ref().clone();
        if !is_cve_id(&id) {
            err.at(c.id.span(), format!("`{id}` is not a CVE id: expected CVE-YYYY-NNNN"));
        } else if !seen.insert(id.clone()) {
            err.at(c.id.span(), format!("{id} is listed twice"));
        }
        let product = c.product.get_ref().clone();
        if !products.contains(&product.as_str()) {
            err.at(
                c.product.span(),
                format!("unknown product `{product}`: expected one of {} (the ids of {EOL_FILE})", products.join(", ")),
            );
        }
        if c.affected.get_ref().is_empty() {
            err.at(c.affected.span(), "`affected` must list at least one range");
        }
        let mut affected = Vec::new();
        for r in c.affected.get_ref() {
            let span = r.span();
            let r = r.get_ref();
            let Some(from) = err.version(&r.from, "`from`") else { continue };
            let upper = match (&r.to, &r.below) {
                (Some(t), None) => err.version(t, "`to`").map(Upper::To),
                (None, Some(b)) => err.version(b, "`below`").map(Upper::Below),
                _ => {
                    err.at(span.clone(), "a range needs exactly one of `to` (inclusive) or `below` (exclusive)");
                    None
                }
            };
            let Some(upper) = upper else { continue };
            let empty = match &upper {
                Upper::To(t) => *t < from,
                Upper::Below(b) => *b <= from,
            };
            if empty {
                err.at(span, "this range is empty: its upper bound is below `from`");
                continue;
            }
            affected.push(Affected { from, upper });
        }
        let platform = match &c.platform {
            None => None,
            Some(p) => match p.get_ref().as_str() {
                "windows" => Some(Platform::Windows),
                "unix" => Some(Platform::Unix),
                other => {
                    err.at(p.span(), format!("unknown platform `{other}`: expected windows or unix"));
                    None
                }
            },
        };
        cves.push(Cve {
            id,
            product,
            affected,
            platform,
            note: c.note.filter(|n| !n.trim().is_empty()),
            source: err.text(&c.source, "`source`"),
        });
    }
    if err.list.is_empty() { Ok(KevData { date, cves }) } else { Err(err.list) }
}
