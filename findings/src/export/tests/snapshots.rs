//! One snapshot per format (md and html in both languages). The report fixes
//! the time and the version, so nothing needs redacting; review changes with
//! `cargo insta review`.

use super::{fixture, render};
use crate::export::{Format, Lang};

#[test]
fn every_format() {
    let findings = fixture();
    for format in Format::ALL {
        insta::assert_snapshot!(format!("report.{}", format.extension()), render(&findings, *format, Lang::En));
    }
    for format in [Format::Md, Format::Html] {
        insta::assert_snapshot!(format!("report.ko.{}", format.extension()), render(&findings, format, Lang::Ko));
    }
}

#[test]
fn every_format_empty() {
    for format in Format::ALL {
        insta::assert_snapshot!(format!("empty.{}", format.extension()), render(&[], *format, Lang::En));
    }
}
