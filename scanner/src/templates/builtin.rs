//! The templates compiled into the binary, one file per area
//! (`scanner/templates/*.toml`).

/// What [`super::Template::source`] says for a built-in template.
pub(crate) const SOURCE: &str = "built-in";

/// Directory name used in the positions of errors in built-in files.
pub(crate) const DIR: &str = "built-in";

/// File name and text of each built-in file, in load order.
pub(crate) const FILES: &[(&str, &str)] = &[
    ("headers.toml", include_str!("../../templates/headers.toml")),
    ("exposures.toml", include_str!("../../templates/exposures.toml")),
    ("secrets.toml", include_str!("../../templates/secrets.toml")),
    ("behaviour.toml", include_str!("../../templates/behaviour.toml")),
    ("apis.toml", include_str!("../../templates/apis.toml")),
];
