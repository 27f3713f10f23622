//! Loading the workspace's templates/ directory next to the built-ins.

use std::fs;
use std::path::Path;

use haetae_findings::{CheckId, Confidence, Severity};

use super::{builtin, response};
use crate::templates::TemplateSet;

fn custom(id: &str, path: &str) -> String {
    format!(
        r#"[[template]]
id = "{id}"
title = "Debug console exposed"
severity = "high"
remediation = "Turn debug mode off."
[template.request]
paths = ["{path}"]
[template.match]
[[template.match.matcher]]
status = [200]
[[template.match.matcher]]
body = 'Debug console'
"#
    )
}

const GIT_OVERRIDE: &str = r#"[[template]]
id = "http.exposed-git"
confidence = "certain"
remediation = "The team's own wording."
[template.request]
paths = ["/.git/HEAD"]
[template.match]
[[template.match.matcher]]
body = '\Aref: '
"#;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn user_templates_follow_the_built_ins_in_file_order_and_replace_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.toml", &custom("x.b-debug", "/b"));
    write(dir.path(), "a.toml", &format!("{GIT_OVERRIDE}\n{}", custom("x.a-debug", "/a")));
    write(dir.path(), "notes.txt", "not a template");
    fs::create_dir(dir.path().join("sub.toml")).unwrap();

    let set = TemplateSet::load(Some(dir.path())).unwrap();
    let builtin = builtin();
    let ids: Vec<&str> = set.templates().iter().map(|t| t.id.as_str()).collect();
    let builtin_ids: Vec<&str> = builtin.templates().iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids[..builtin_ids.len()], builtin_ids[..], "built-ins keep their places");
    assert_eq!(ids[builtin_ids.len()..], ["x.a-debug", "x.b-debug"], "user files are read in name order");
    assert_eq!(set.overridden(), [CheckId::HttpExposedGit]);

    let git = set.get(&CheckId::HttpExposedGit).unwrap();
    assert!(git.source.ends_with("a.toml"), "{}", git.source);
    assert_eq!((git.confidence, git.severity), (Confidence::Certain, Severity::High), "catalogue severity kept");
    assert_eq!(git.title, "Git repository exposed over HTTP");
    assert_eq!(git.requests().len(), 1);
    let head = response("/.git/HEAD", 404, &[], "ref: refs/heads/main");
    assert!(git.evaluate(&[&head]).is_some(), "the override, not the built-in (which wants a 200), is in force");

    let team = set.get(&CheckId::Custom("x.a-debug".into())).unwrap();
    assert_eq!((team.title.as_str(), team.severity, team.cwe), ("Debug console exposed", Severity::High, None));
    let page = response("/a", 200, &[], "<h1>Debug console</h1>");
    assert_eq!(
        team.evaluate(&[&page]).as_deref(),
        Some("https://portal.agency.test/a: 200; body matches `Debug console`")
    );
}

#[test]
fn a_missing_directory_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let set = TemplateSet::load(Some(&dir.path().join("templates"))).unwrap();
    assert_eq!(set.templates().len(), builtin().templates().len());
    assert_eq!(TemplateSet::load(None).unwrap().templates().len(), builtin().templates().len());
}

#[test]
fn errors_of_every_file_are_collected_and_ids_are_unique_among_user_templates() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", &custom("x.same", "/a"));
    write(dir.path(), "b.toml", &format!("# another\n{}", custom("x.same", "/b")));
    write(dir.path(), "c.toml", &custom("x.bad", "/c").replace("'Debug console'", "'(unclosed'"));
    write(dir.path(), "d.toml", "[[template]\n");

    let errors = TemplateSet::load(Some(dir.path())).unwrap_err();
    let shown: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{}:{}", e.path.file_name().unwrap().to_string_lossy(), e.line, e.column))
        .collect();
    assert_eq!(shown, ["b.toml:3:6", "c.toml:12:8", "d.toml:1:11"], "{errors:#?}");
    assert!(
        errors[0].message.contains("template id `x.same` is already defined at")
            && errors[0].message.contains("a.toml:2:6")
    );
    assert!(errors[1].message.contains("invalid regex `(unclosed`"));
}
