//! True positives and negatives of exposures.toml.

use super::{Case, Expect, HOME, fires, response, run};

fn case(
    name: &'static str,
    id: &'static str,
    path: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    expect: Expect,
) -> Case {
    Case { name, id, scheme: "https", response: response(path, status, headers, body), expect }
}

const HTML: &[(&str, &str)] = &[("Content-Type", "text/html")];
const TEXT: &[(&str, &str)] = &[("Content-Type", "text/plain")];
const OCTETS: &[(&str, &str)] = &[("Content-Type", "application/octet-stream")];
const JSON: &[(&str, &str)] = &[("Content-Type", "application/vnd.spring-boot.actuator.v3+json")];
const NOT_FOUND: &[u8] =
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>";

pub(super) fn cases() -> Vec<Case> {
    const GIT: &str = "http.exposed-git";
    const ENV: &str = "http.exposed-env";
    const BACKUP: &str = "http.exposed-backup";
    const STATUS: &str = "http.exposed-status-page";
    const ACTUATOR: &str = "http.exposed-actuator";
    const PHPINFO: &str = "http.exposed-phpinfo";
    const ADMIN: &str = "http.exposed-admin";
    const DOCS: &str = "http.exposed-api-docs";
    const LISTING: &str = "http.directory-listing";
    const BUCKET: &str = "http.public-bucket-listing";
    let home = HOME.as_bytes();
    vec![
        case("git HEAD", GIT, "/.git/HEAD", 200, TEXT, b"ref: refs/heads/main\n", fires(&["/.git/HEAD: 200; ref: refs/heads/main"])),
        case(
            "git config with a credential in the remote",
            GIT,
            "/.git/config",
            200,
            TEXT,
            b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = https://deploy:s3cr3tT0ken@git.agency.test/portal.git\n",
            Expect::Fires { has: &["https://deploy:[redacted]@git.agency.test/portal.git"], hasnt: &["s3cr3tT0ken"] },
        ),
        case("git HEAD answered by the home page", GIT, "/.git/HEAD", 200, HTML, home, Expect::Silent),
        case("git HEAD 404", GIT, "/.git/HEAD", 404, HTML, NOT_FOUND, Expect::Silent),
        case(
            ".env file",
            ENV,
            "/.env",
            200,
            TEXT,
            b"APP_NAME=portal\nAPP_ENV=production\nDB_PASSWORD=hunter2hunter2\n",
            Expect::Fires { has: &["/.env: 200; APP_NAME"], hasnt: &["hunter2", "production"] },
        ),
        case(".env 404 page", ENV, "/.env", 404, HTML, NOT_FOUND, Expect::Silent),
        case(
            ".env soft 404 in HTML",
            ENV,
            "/.env",
            200,
            HTML,
            b"<!DOCTYPE html>\n<html>\nSTATUS=not found\n</html>",
            Expect::Silent,
        ),
        case("zip backup", BACKUP, "/backup.zip", 200, OCTETS, b"PK\x03\x04\x14\x00\x00\x00\x08\x00", fires(&["zip archive"])),
        case("gzip backup", BACKUP, "/site.tar.gz", 200, OCTETS, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xec\xbd", fires(&["gzip archive"])),
        case(
            "SQL dump",
            BACKUP,
            "/db.sql",
            200,
            TEXT,
            b"-- MySQL dump 10.13\n\nCREATE TABLE `citizens` (\n  `id` int NOT NULL,\n",
            fires(&["CREATE TABLE `citizens"]),
        ),
        case("soft 404 mentioning SQL", BACKUP, "/db.sql", 200, HTML, b"<!doctype html><p>Use INSERT INTO ...</p>", Expect::Silent),
        case("zip magic behind a 404", BACKUP, "/backup.zip", 404, OCTETS, b"PK\x03\x04", Expect::Silent),
        case("other binary", BACKUP, "/backup.zip", 200, OCTETS, b"\x89PNG\r\n\x1a\n", Expect::Silent),
        case(
            "Apache server-status",
            STATUS,
            "/server-status",
            200,
            HTML,
            b"<html><head><title>Apache Status</title></head><body><h1>Apache Server Status for portal.agency.test (via 10.0.0.5)</h1><dl><dt>Server Version: Apache/2.4.41 (Ubuntu)</dt>",
            fires(&["Apache/2.4.41 (Ubuntu)"]),
        ),
        case(
            "nginx stub_status",
            STATUS,
            "/nginx_status",
            200,
            TEXT,
            b"Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n",
            fires(&["Active connections: 291"]),
        ),
        case("server-status forbidden", STATUS, "/server-status", 403, HTML, b"<title>403 Forbidden</title>", Expect::Silent),
        case("home page at /server-status", STATUS, "/server-status", 200, HTML, home, Expect::Silent),
        case(
            "actuator index",
            ACTUATOR,
            "/actuator",
            200,
            JSON,
            br#"{"_links":{"self":{"href":"https://portal.agency.test/actuator","templated":false},"env":{"href":"https://portal.agency.test/actuator/env","templated":false}}}"#,
            fires(&["actuator index"]),
        ),
        case(
            "actuator env",
            ACTUATOR,
            "/actuator/env",
            200,
            JSON,
            br#"{"activeProfiles":["prod"],"propertySources":[{"name":"server.ports","properties":{}}]}"#,
            fires(&[r#""activeProfiles":["prod"]"#]),
        ),
        case(
            "HAL API that is not an actuator",
            ACTUATOR,
            "/actuator",
            200,
            &[("Content-Type", "application/hal+json")],
            br#"{"_links":{"self":{"href":"https://portal.agency.test/api/people"}}}"#,
            Expect::Silent,
        ),
        case("actuator path serving HTML", ACTUATOR, "/actuator", 200, HTML, home, Expect::Silent),
        case(
            "phpinfo of PHP 7",
            PHPINFO,
            "/phpinfo.php",
            200,
            HTML,
            b"<html><head><title>phpinfo()</title></head><body><h1 class=\"p\">PHP Version 7.4.3</h1>",
            fires(&["PHP Version 7.4.3"]),
        ),
        case(
            "phpinfo of PHP 8",
            PHPINFO,
            "/info.php",
            200,
            HTML,
            b"<html><head><title>PHP 8.2.7 - phpinfo()</title></head><body><h1>PHP Version 8.2.7</h1>",
            fires(&["PHP Version 8.2.7"]),
        ),
        case(
            "a blog post about PHP versions",
            PHPINFO,
            "/info.php",
            200,
            HTML,
            b"<html><head><title>Upgrading</title></head><body>Check the PHP Version in phpinfo() first.</body>",
            Expect::Silent,
        ),
        case(
            "Tomcat manager behind basic auth",
            ADMIN,
            "/manager/html",
            401,
            &[("WWW-Authenticate", "Basic realm=\"Tomcat Manager Application\"")],
            b"",
            fires(&["WWW-Authenticate: Basic realm=\"Tomcat Manager Application\""]),
        ),
        case(
            "a whole site behind one login",
            ADMIN,
            "/admin/",
            401,
            &[("WWW-Authenticate", "Basic realm=\"Restricted\"")],
            b"",
            Expect::Silent,
        ),
        case(
            "WordPress login",
            ADMIN,
            "/wp-login.php",
            200,
            HTML,
            b"<html><head><title>Log In &lsaquo; Portal &#8212; WordPress</title></head><form><input type=\"password\" name=\"pwd\"></form>",
            fires(&["password field", "administration page title"]),
        ),
        case("home page with a search form", ADMIN, "/admin/", 200, HTML, home, Expect::Silent),
        case(
            "catch-all login page without an admin title",
            ADMIN,
            "/admin/",
            200,
            HTML,
            b"<html><head><title>Sign in</title></head><form><input type='password'></form>",
            Expect::Silent,
        ),
        case(
            "Swagger 2 document",
            DOCS,
            "/v2/api-docs",
            200,
            &[("Content-Type", "application/json")],
            br#"{"swagger":"2.0","info":{"description":"x","version":"1.0","title":"Citizen API"},"paths":{}}"#,
            fires(&[r#""swagger":"2.0""#, "Citizen API"]),
        ),
        case(
            "OpenAPI 3 document",
            DOCS,
            "/v3/api-docs",
            200,
            &[("Content-Type", "application/json")],
            br#"{"openapi": "3.0.1", "info": {"title": "Portal", "version": "v1"}}"#,
            fires(&[r#""openapi": "3.0.1""#]),
        ),
        case(
            "Swagger UI",
            DOCS,
            "/swagger-ui/",
            200,
            HTML,
            b"<!DOCTYPE html><html><head><title>Swagger UI</title><script src=\"./swagger-ui-bundle.js\">",
            fires(&["Swagger UI page"]),
        ),
        case("JSON that is not API docs", DOCS, "/openapi.json", 200, &[], br#"{"status":"ok"}"#, Expect::Silent),
        case("api docs 404", DOCS, "/swagger.json", 404, HTML, NOT_FOUND, Expect::Silent),
        case(
            "nginx autoindex",
            LISTING,
            "/files/",
            200,
            HTML,
            b"<html>\r\n<head><title>Index of /files/</title></head>\r\n<body>\r\n<h1>Index of /files/</h1><hr><pre><a href=\"../\">../</a>",
            fires(&["Index of /files/"]),
        ),
        case(
            "Apache autoindex",
            LISTING,
            "/uploads/",
            200,
            HTML,
            b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index of /uploads</title>",
            fires(&["Index of /uploads"]),
        ),
        case("ordinary page", LISTING, "/", 200, HTML, home, Expect::Silent),
        case(
            "public S3 bucket",
            BUCKET,
            "/",
            200,
            &[("Content-Type", "application/xml")],
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>agency-public</Name><Prefix></Prefix><Contents><Key>citizens.csv</Key></Contents></ListBucketResult>",
            fires(&["agency-public"]),
        ),
        case(
            "private bucket",
            BUCKET,
            "/",
            403,
            &[("Content-Type", "application/xml")],
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            Expect::Silent,
        ),
    ]
}

#[test]
fn exposure_templates() {
    run(&cases());
}
