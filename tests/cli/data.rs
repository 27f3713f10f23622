use crate::support::{code, haetae, stderr, stdout};

#[test]
fn data_check_says_what_is_in_force_and_names_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["data", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("software-eol.toml: built-in, dated 2026-08-22"), "{out}");
    assert!(out.contains("known-exploited.toml: built-in, dated 2025-08-25"), "{out}");

    std::fs::create_dir(d.path().join("data")).unwrap();
    let kev = d.path().join("data/known-exploited.toml");
    std::fs::write(
        &kev,
        "date = 2026-12-01\n[[cve]]\nid = \"CVE-2021-41773\"\nproduct = \"apache\"\naffected = [{ from = \"2.4.49\", to = \"2.4.49\" }]\nsource = \"s\"\n",
    )
    .unwrap();
    let o = haetae(d.path(), &["data", "check"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("data/known-exploited.toml:4:11: unknown product `apache`"), "{}", stderr(&o));

    std::fs::write(
        &kev,
        "date = 2026-12-01\n[[cve]]\nid = \"CVE-2021-41773\"\nproduct = \"apache-httpd\"\naffected = [{ from = \"2.4.49\", to = \"2.4.49\" }]\nsource = \"s\"\n",
    )
    .unwrap();
    let o = haetae(d.path(), &["data", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("software-eol.toml: built-in"), "{out}");
    assert!(out.contains("known-exploited.toml: workspace") && out.contains("dated 2026-12-01: 1 CVEs"), "{out}");
}
