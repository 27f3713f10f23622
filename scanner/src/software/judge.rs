//! Readings against the data: which are past their line's end of life,
//! which are in a known-exploited range.

use super::data::{Cve, Eol, Line, Platform, Product, SoftwareData};
use super::parse::Reading;

/// A reading of a product the data knows.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    /// What was read.
    pub reading: &'a Reading,
    /// The product.
    pub product: &'a Product,
    /// The release line past its end of life, if it is.
    pub eol: Option<&'a Line>,
    /// KEV entries whose range holds the version.
    pub kev: Vec<&'a Cve>,
}

/// Whether `line` has ended by `today` (`YYYY-MM-DD`).
fn ended(line: &Line, today: &str) -> bool {
    match &line.eol {
        Eol::Date(d) => d.as_str() <= today,
        Eol::Ended => true,
        Eol::Supported => false,
    }
}

fn platform_fits(cve: &Cve, r: &Reading) -> bool {
    match cve.platform {
        None => true,
        Some(Platform::Windows) => r.windows,
        Some(Platform::Unix) => !r.windows,
    }
}

/// Judge every reading of a product the data knows (others are dropped).
pub fn judge<'a>(data: &'a SoftwareData, readings: &'a [Reading], today: &str) -> Vec<Judged<'a>> {
    let mut out: Vec<Judged<'a>> = Vec::new();
    for r in readings {
        let Some(product) = data.product_named(&r.name) else { continue };
        // The same product and version read twice (several responses) counts once.
        if out.iter().any(|j| j.product.id == product.id && j.reading.version == r.version) {
            continue;
        }
        let eol = product.line_of(&r.version).filter(|l| ended(l, today));
        let kev = data
            .kev
            .cves
            .iter()
            .filter(|c| c.product == product.id && platform_fits(c, r))
            .filter(|c| c.affected.iter().any(|a| a.contains(&r.version)))
            .collect();
        out.push(Judged { reading: r, product, eol, kev });
    }
    out
}
