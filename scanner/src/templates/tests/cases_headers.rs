//! True positives and negatives of headers.toml.

use super::{Case, Expect, GOOD_HTML, HOME, fires, good_html_with, response, run};

fn page(name: &'static str, id: &'static str, headers: &[(&str, &str)], expect: Expect) -> Case {
    Case { name, id, scheme: "https", response: response("/", 200, headers, HOME), expect }
}

pub(super) fn cases() -> Vec<Case> {
    const HSTS: &str = "http.hsts-missing";
    const CSP: &str = "http.csp-missing";
    const XCTO: &str = "http.xcto-missing";
    const FRAME: &str = "http.clickjacking";
    const VERSION: &str = "http.version-disclosure";
    const COOKIE: &str = "http.cookie-insecure";
    let hsts = |value: &'static str| good_html_with("Strict-Transport-Security", Some(value));
    let json = [("Content-Type", "application/json")];
    vec![
        // HSTS: missing, or max-age under 15552000 seconds.
        page("nginx with a one-year HSTS", HSTS, GOOD_HTML, Expect::Silent),
        page("max-age=300", HSTS, &hsts("max-age=300"), fires(&["Strict-Transport-Security: max-age=300"])),
        page("max-age=15551999 is one second short", HSTS, &hsts("max-age=15551999"), fires(&["15551999"])),
        page("max-age=15552000 is enough", HSTS, &hsts("max-age=15552000"), Expect::Silent),
        page("quoted max-age=\"15552000\"", HSTS, &hsts("max-age=\"15552000\"; preload"), Expect::Silent),
        page("max-age=10000000 (8 digits, short)", HSTS, &hsts("max-age=10000000"), fires(&["10000000"])),
        page("max-age=99999999", HSTS, &hsts("MAX-AGE=99999999"), Expect::Silent),
        page("max-age=0 removes HSTS", HSTS, &hsts("max-age=0"), fires(&["max-age=0"])),
        page("max-age after other directives", HSTS, &hsts("includeSubDomains; max-age=86400"), fires(&["86400"])),
        page("two years with preload", HSTS, &hsts("max-age=63072000; includeSubDomains; preload"), Expect::Silent),
        page(
            "HSTS absent",
            HSTS,
            &good_html_with("Strict-Transport-Security", None),
            fires(&["missing header Strict-Transport-Security"]),
        ),
        page("HSTS without max-age", HSTS, &hsts("includeSubDomains"), fires(&["includeSubDomains"])),
        Case {
            name: "plain http is not asked for HSTS",
            id: HSTS,
            scheme: "http",
            response: response("/", 200, &good_html_with("Strict-Transport-Security", None), HOME),
            expect: Expect::Silent,
        },
        // CSP on HTML pages.
        page("HTML with a CSP", CSP, GOOD_HTML, Expect::Silent),
        page(
            "HTML without a CSP",
            CSP,
            &good_html_with("Content-Security-Policy", None),
            fires(&["missing header Content-Security-Policy"]),
        ),
        page("JSON without a CSP", CSP, &json, Expect::Silent),
        Case {
            name: "CSP in a meta element",
            id: CSP,
            scheme: "https",
            response: response(
                "/",
                200,
                &good_html_with("Content-Security-Policy", None),
                "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\"></head></html>",
            ),
            expect: Expect::Silent,
        },
        Case {
            name: "404 page without a CSP",
            id: CSP,
            scheme: "https",
            response: response("/", 404, &good_html_with("Content-Security-Policy", None), HOME),
            expect: Expect::Silent,
        },
        // X-Content-Type-Options.
        page("nosniff", XCTO, GOOD_HTML, Expect::Silent),
        page("NoSniff in capitals", XCTO, &good_html_with("X-Content-Type-Options", Some(" NoSniff ")), Expect::Silent),
        page(
            "X-Content-Type-Options absent",
            XCTO,
            &good_html_with("X-Content-Type-Options", None),
            fires(&["missing header X-Content-Type-Options"]),
        ),
        page(
            "a value other than nosniff",
            XCTO,
            &good_html_with("X-Content-Type-Options", Some("sniff")),
            fires(&["sniff"]),
        ),
        // Clickjacking.
        page("X-Frame-Options and frame-ancestors", FRAME, GOOD_HTML, Expect::Silent),
        page("frame-ancestors alone", FRAME, &good_html_with("X-Frame-Options", None), Expect::Silent),
        page(
            "X-Frame-Options alone",
            FRAME,
            &good_html_with("Content-Security-Policy", Some("default-src 'self'")),
            Expect::Silent,
        ),
        page(
            "neither",
            FRAME,
            &[("Content-Type", "text/html"), ("Content-Security-Policy", "default-src 'self'")],
            fires(&["missing header X-Frame-Options", "Content-Security-Policy: default-src 'self' (no match"]),
        ),
        page(
            "no headers at all",
            FRAME,
            &[("Content-Type", "text/html")],
            fires(&["missing header Content-Security-Policy"]),
        ),
        page("JSON can not be framed usefully", FRAME, &json, Expect::Silent),
        // Version disclosure.
        page("bare nginx", VERSION, GOOD_HTML, Expect::Silent),
        page("nginx/1.18.0", VERSION, &[("Server", "nginx/1.18.0")], fires(&["Server: nginx/1.18.0"])),
        page(
            "Apache with modules",
            VERSION,
            &[("Server", "Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f")],
            fires(&["Server: Apache/2.4.41 (Ubuntu) OpenSSL/1.1.1f"]),
        ),
        page(
            "PHP in X-Powered-By",
            VERSION,
            &[("Server", "nginx"), ("x-powered-by", "PHP/7.4.3")],
            fires(&["PHP/7.4.3"]),
        ),
        page("IIS", VERSION, &[("Server", "Microsoft-IIS/10.0")], fires(&["Microsoft-IIS/10.0"])),
        page(
            "ASP.NET version header",
            VERSION,
            &[("X-AspNet-Version", "4.0.30319")],
            fires(&["X-AspNet-Version: 4.0.30319"]),
        ),
        page(
            "cloudflare and Express",
            VERSION,
            &[("Server", "cloudflare"), ("X-Powered-By", "Express")],
            Expect::Silent,
        ),
        // Cookies without Secure on HTTPS.
        page(
            "session cookie without Secure",
            COOKIE,
            &[("Set-Cookie", "JSESSIONID=4F2A9C77B1; Path=/; HttpOnly")],
            Expect::Fires { has: &["JSESSIONID=[redacted]; Path=/; HttpOnly"], hasnt: &["4F2A9C77B1"] },
        ),
        page("Secure and HttpOnly", COOKIE, &[("Set-Cookie", "sid=abc; Path=/; Secure; HttpOnly")], Expect::Silent),
        page("secure in lower case, last", COOKIE, &[("Set-Cookie", "sid=abc; path=/; secure")], Expect::Silent),
        page(
            "one of two cookies insecure",
            COOKIE,
            &[("Set-Cookie", "sid=abc; Secure; HttpOnly"), ("set-cookie", "lang=ko; Path=/")],
            Expect::Fires { has: &["lang=[redacted]"], hasnt: &["sid="] },
        ),
        page("Secure only in the value", COOKIE, &[("Set-Cookie", "flag=Secure; Path=/")], fires(&["flag=[redacted]"])),
        page("no cookies", COOKIE, GOOD_HTML, Expect::Silent),
        Case {
            name: "plain http cookies are not this check",
            id: COOKIE,
            scheme: "http",
            response: response("/", 200, &[("Set-Cookie", "sid=abc")], HOME),
            expect: Expect::Silent,
        },
    ]
}

#[test]
fn header_templates() {
    run(&cases());
}
