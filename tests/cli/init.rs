use crate::support::{code, haetae, stderr, stdout};

#[test]
fn init_writes_starters_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["init", "ws"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["haetae.toml", "scope.toml", "rules.toml"] {
        let text = std::fs::read_to_string(d.path().join("ws").join(f)).unwrap();
        assert!(text.starts_with('#'), "{f} is commented");
        toml::from_str::<toml::Table>(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(stdout(&o).contains(f));
    }
    std::fs::write(d.path().join("ws/rules.toml"), "# mine\n").unwrap();
    let o = haetae(d.path(), &["init", "ws"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("already exist") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(d.path().join("ws/rules.toml")).unwrap(), "# mine\n");
    let o = haetae(d.path(), &["init", "ws", "--force"]);
    assert_eq!(code(&o), 0);
    assert_ne!(std::fs::read_to_string(d.path().join("ws/rules.toml")).unwrap(), "# mine\n");

    // The starter configuration loads: the workspace is only not scanned yet.
    let o = haetae(d.path(), &["-C", "ws", "findings"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing has been scanned"), "{}", stderr(&o));
}

#[test]
fn bad_config_names_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("haetae.toml"), "store = \".haetae\"\n[tls]\nexpiring_days = \"soon\"\n").unwrap();
    let o = haetae(d.path(), &["findings"]);
    assert_eq!(code(&o), 1);
    let e = stderr(&o);
    assert!(e.contains("haetae.toml:3:17:"), "{e}");
    assert!(e.contains("invalid type"), "{e}");
    let o = haetae(d.path(), &["--config", "nope.toml", "findings"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nope.toml"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2_and_unbuilt_commands_exit_1() {
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["findings", "--bogus"]);
    assert_eq!(code(&o), 2);
    let o = haetae(d.path(), &["daemon"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no [[schedule]]"), "{}", stderr(&o));
    let o = haetae(d.path(), &["export", "--format", "csv"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("no store at"), "{}", stderr(&o));
    let o = haetae(d.path(), &["--help"]);
    assert_eq!(code(&o), 0);
    for cmd in [
        "init",
        "scope",
        "scan",
        "daemon",
        "tui",
        "findings",
        "triage",
        "export",
        "rules",
        "templates",
        "audit",
        "demo",
    ] {
        assert!(stdout(&o).contains(cmd), "--help lists {cmd}");
    }
}

#[test]
fn templates_list_and_check_name_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let o = haetae(d.path(), &["templates", "list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.as_array().unwrap().iter().any(|t| t["id"] == "http.exposed-git"));
    std::fs::create_dir(d.path().join("templates")).unwrap();
    std::fs::write(
        d.path().join("templates/team.toml"),
        "[[template]]\nid = \"x.team\"\ntitle = \"t\"\nseverity = \"low\"\nremediation = \"r\"\n[template.request]\nmethod = \"GET\"\npaths = [\"/\"]\n[template.match]\n[[template.match.matcher]]\nbody = \"(unclosed\"\n",
    )
    .unwrap();
    let o = haetae(d.path(), &["templates", "check"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("templates/team.toml:11:8: invalid regex `(unclosed`"), "{}", stderr(&o));
    std::fs::write(d.path().join("templates/team.toml"), "[[template]]\nid = \"x.team\"\ntitle = \"t\"\nseverity = \"low\"\nremediation = \"r\"\n[template.request]\nmethod = \"GET\"\npaths = [\"/\"]\n[template.match]\n[[template.match.matcher]]\nbody = \"team\"\n").unwrap();
    let o = haetae(d.path(), &["templates", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("1 from"), "{}", stdout(&o));
}
