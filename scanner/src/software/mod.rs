//! `software.eol` and `software.known-exploited`: product and version from
//! banners, headers and API answers ([`parse`]), against two dated data
//! files ([`data`]), matched in [`judge`]; [`observations`] turns one
//! endpoint's readings into at most one finding per check.
//!
//! A banner with a distribution marker gives a finding at confidence
//! tentative (the distribution may backport fixes without changing the
//! version); an upstream banner, firm (a banner can lie). No version read,
//! no finding, and no coverage.

pub mod data;
pub mod judge;
pub mod parse;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use haetae_findings::{Asset, CheckId, Confidence, Observation};

pub use data::SoftwareData;
pub use parse::Reading;

use crate::checks::observe;

/// The checks of this module.
pub const CHECKS: [CheckId; 2] = [CheckId::SoftwareEol, CheckId::SoftwareKnownExploited];

/// What one endpoint's readings give.
#[derive(Debug, Default)]
pub struct Report {
    /// At most one per check.
    pub observations: Vec<Observation>,
    /// Whether a version of a product the data knows was read: only then
    /// are the checks covered on the endpoint.
    pub covered: bool,
}

/// Where the readings were taken.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// Host name.
    pub host: &'a str,
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// Engagement id.
    pub engagement: &'a str,
    /// Today, `YYYY-MM-DD` (the guard's clock).
    pub today: &'a str,
}

fn what(j: &judge::Judged<'_>, at: &Endpoint<'_>) -> String {
    let r = j.reading;
    let distro = match &r.distro {
        Some(m) => format!("; a distribution build (`{m}`) that may carry backported fixes"),
        None => String::new(),
    };
    format!("{} {} ({} \"{}\" on port {}{distro})", j.product.name, r.version, r.origin, r.raw, at.port)
}

fn confidence(hits: &[&judge::Judged<'_>]) -> Confidence {
    if hits.iter().any(|j| j.reading.distro.is_some()) { Confidence::Tentative } else { Confidence::Firm }
}

/// The findings of one endpoint's readings (`audit`: the exchanges they came from).
pub fn observations(data: &SoftwareData, readings: &[Reading], at: &Endpoint<'_>, audit: &[u64]) -> Report {
    let judged = judge::judge(data, readings, at.today);
    let mut report = Report { observations: Vec::new(), covered: !judged.is_empty() };
    let asset = Asset { host: at.host.to_owned(), ip: Some(at.addr), port: Some(at.port) };
    let origin = |o: &Option<data::Origin>| o.as_ref().map_or_else(|| "built-in".to_owned(), ToString::to_string);

    let eol: Vec<&judge::Judged<'_>> = judged.iter().filter(|j| j.eol.is_some()).collect();
    if !eol.is_empty() {
        let parts: Vec<String> = eol
            .iter()
            .filter_map(|j| {
                let line = j.eol?;
                let end = match &line.eol {
                    data::Eol::Date(d) => format!("reached end of life on {d}"),
                    _ => "has reached end of life (no date published)".to_owned(),
                };
                Some(format!("{}: release line {} {end}", what(j, at), line.text))
            })
            .collect();
        let evidence =
            format!("{} [{} of {}, {}]", parts.join("; "), data::EOL_FILE, data.eol.date, origin(&data.eol_origin));
        let mut o = observe(CheckId::SoftwareEol, at.engagement, asset.clone(), "", evidence, audit);
        o.confidence = confidence(&eol);
        report.observations.push(o);
    }

    let kev: Vec<&judge::Judged<'_>> = judged.iter().filter(|j| !j.kev.is_empty()).collect();
    if !kev.is_empty() {
        let parts: Vec<String> = kev
            .iter()
            .map(|j| {
                let ids: Vec<String> = j
                    .kev
                    .iter()
                    .map(|c| match &c.note {
                        Some(n) => format!("{} (when: {n})", c.id),
                        None => c.id.clone(),
                    })
                    .collect();
                format!("{}: in the range of {}", what(j, at), ids.join(", "))
            })
            .collect();
        let evidence = format!(
            "{} [CISA KEV; {} of {}, {}]",
            parts.join("; "),
            data::KEV_FILE,
            data.kev.date,
            origin(&data.kev_origin)
        );
        let mut o = observe(CheckId::SoftwareKnownExploited, at.engagement, asset, "", evidence, audit);
        o.confidence = confidence(&kev);
        report.observations.push(o);
    }
    report
}
