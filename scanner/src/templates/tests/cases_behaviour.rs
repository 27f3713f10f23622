//! True positives and negatives of behaviour.toml (CORS, open redirect) and
//! apis.toml (Docker, Elasticsearch and Kubernetes APIs).

use super::{Case, Expect, HOME, fires, response};

const PROBE_ORIGIN: &str = "https://haetae-cors-probe.invalid";

fn case(
    name: &'static str,
    id: &'static str,
    path: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    expect: Expect,
) -> Case {
    Case { name, id, scheme: "https", response: response(path, status, headers, body), expect }
}

const DOCKER_VERSION: &str = r#"{"Platform":{"Name":"Docker Engine - Community"},"Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12","GitCommit":"311b9ff","GoVersion":"go1.20.10","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0-13-amd64"}"#;
const K8S_VERSION: &str = r#"{
  "major": "1",
  "minor": "28",
  "gitVersion": "v1.28.3",
  "gitCommit": "a8a1abc25cad87333840cd7d54be2efaf31a3177",
  "gitTreeState": "clean",
  "buildDate": "2023-10-18T11:33:18Z",
  "goVersion": "go1.20.10",
  "compiler": "gc",
  "platform": "linux/amd64"
}"#;
const ES_ROOT: &str = r#"{
  "name" : "es01",
  "cluster_name" : "docker-cluster",
  "cluster_uuid" : "Qd1Xzq8BQ2iSY0w6Wv6ZzQ",
  "version" : { "number" : "7.17.14", "build_flavor" : "default" },
  "tagline" : "You Know, for Search"
}"#;
const ES_401: &str = r#"{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials for REST request [/]"}],"type":"security_exception"},"status":401}"#;

pub(super) fn cases() -> Vec<Case> {
    const CORS: &str = "http.cors-reflect-credentials";
    const REDIRECT: &str = "http.open-redirect";
    const DOCKER: &str = "svc.docker-api";
    const ES: &str = "svc.elasticsearch-open";
    const K8S: &str = "svc.kubernetes-api";
    let json = ("Content-Type", "application/json");
    let redirect_path = "/login?next=https://haetae-redirect-probe.invalid/";
    vec![
        // CORS: our origin reflected with credentials.
        case(
            "origin reflected with credentials",
            CORS,
            "/api/",
            200,
            &[json, ("Access-Control-Allow-Origin", PROBE_ORIGIN), ("Access-Control-Allow-Credentials", "true")],
            "{}",
            fires(&["Access-Control-Allow-Origin: https://haetae-cors-probe.invalid", "allows credentialed requests"]),
        ),
        case(
            "origin reflected without credentials",
            CORS,
            "/api/",
            200,
            &[json, ("Access-Control-Allow-Origin", PROBE_ORIGIN)],
            "{}",
            Expect::Silent,
        ),
        case(
            "wildcard with credentials (browsers refuse it)",
            CORS,
            "/",
            200,
            &[("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true")],
            HOME,
            Expect::Silent,
        ),
        case(
            "allow-list answers its own origin",
            CORS,
            "/",
            200,
            &[
                ("Access-Control-Allow-Origin", "https://portal.agency.test"),
                ("Access-Control-Allow-Credentials", "true"),
            ],
            HOME,
            Expect::Silent,
        ),
        case(
            "a lookalike origin is not ours",
            CORS,
            "/",
            200,
            &[
                ("Access-Control-Allow-Origin", "https://haetae-cors-probe.invalid.agency.test"),
                ("Access-Control-Allow-Credentials", "true"),
            ],
            HOME,
            Expect::Silent,
        ),
        // Open redirect: only the Location header is read.
        case(
            "redirect to the foreign URL",
            REDIRECT,
            redirect_path,
            302,
            &[("Location", "https://haetae-redirect-probe.invalid/")],
            "",
            fires(&["Location: https://haetae-redirect-probe.invalid/"]),
        ),
        case(
            "scheme-relative redirect",
            REDIRECT,
            redirect_path,
            301,
            &[("Location", "//haetae-redirect-probe.invalid/")],
            "",
            fires(&["//haetae-redirect-probe.invalid/"]),
        ),
        case(
            "backslash trick",
            REDIRECT,
            redirect_path,
            302,
            &[("Location", "/\\haetae-redirect-probe.invalid/")],
            "",
            fires(&["haetae-redirect-probe.invalid"]),
        ),
        case("redirect to a local path", REDIRECT, redirect_path, 302, &[("Location", "/login")], "", Expect::Silent),
        case(
            "the parameter kept inside a local redirect",
            REDIRECT,
            redirect_path,
            302,
            &[("Location", "https://portal.agency.test/login?next=https://haetae-redirect-probe.invalid/")],
            "",
            Expect::Silent,
        ),
        case(
            "a lookalike host",
            REDIRECT,
            redirect_path,
            302,
            &[("Location", "https://haetae-redirect-probe.invalid.agency.test/")],
            "",
            Expect::Silent,
        ),
        case(
            "the URL echoed in a 200 page",
            REDIRECT,
            redirect_path,
            200,
            &[("Content-Type", "text/html")],
            "<a href=\"https://haetae-redirect-probe.invalid/\">continue</a>",
            Expect::Silent,
        ),
        // Docker Engine API.
        case("docker /version", DOCKER, "/version", 200, &[json], DOCKER_VERSION, fires(&["24.0.7"])),
        case(
            "docker behind TLS client auth answers 400",
            DOCKER,
            "/version",
            400,
            &[json],
            "Client sent an HTTP request to an HTTPS server.",
            Expect::Silent,
        ),
        case("kubernetes /version is not docker", DOCKER, "/version", 200, &[json], K8S_VERSION, Expect::Silent),
        case("a web page at /version", DOCKER, "/version", 200, &[("Content-Type", "text/html")], HOME, Expect::Silent),
        // Elasticsearch.
        case("elasticsearch root", ES, "/", 200, &[json], ES_ROOT, fires(&["7.17.14"])),
        case("elasticsearch with security on", ES, "/", 401, &[json], ES_401, Expect::Silent),
        case("an ordinary home page", ES, "/", 200, &[("Content-Type", "text/html")], HOME, Expect::Silent),
        // Kubernetes.
        case("kubernetes /version", K8S, "/version", 200, &[json], K8S_VERSION, fires(&["v1.28.3"])),
        case(
            "kubernetes with anonymous auth off",
            K8S,
            "/version",
            401,
            &[json],
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#,
            Expect::Silent,
        ),
        case("docker /version is not kubernetes", K8S, "/version", 200, &[json], DOCKER_VERSION, Expect::Silent),
    ]
}

#[test]
fn behaviour_and_api_cases() {
    super::run(&cases());
}
