//! True positives and negatives of secrets.toml.

use super::{Case, Expect, HOME, response, run};

fn js(name: &'static str, body: &'static str, expect: Expect) -> Case {
    Case {
        name,
        id: "http.secret-in-response",
        scheme: "https",
        response: response("/config.js", 200, &[("Content-Type", "application/javascript")], body),
        expect,
    }
}

pub(super) fn cases() -> Vec<Case> {
    vec![
        js(
            "AWS access key id",
            "window.cfg = { region: 'ap-northeast-2', key: 'AKIAZ7VQ3EXAMPLE2KEY' };",
            Expect::Fires { has: &["/config.js: 200; AKIA…[redacted]"], hasnt: &["Z7VQ3EXAMPLE2KEY"] },
        ),
        js(
            "AWS secret access key",
            "aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
            Expect::Fires { has: &["aws_secret_access_key = \"[redacted]"], hasnt: &["wJalrXUtnFEMI", "EXAMPLEKEY"] },
        ),
        js(
            "GitHub token",
            "const gh = \"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\";",
            Expect::Fires { has: &["ghp_…[redacted]"], hasnt: &["aBcDeFgHiJ"] },
        ),
        js(
            "private key",
            "var k = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\n-----END RSA PRIVATE KEY-----`;",
            Expect::Fires { has: &["BEGIN RSA PRIVATE KEY"], hasnt: &["MIIEowIBAAKCAQEA7bq"] },
        ),
        js(
            "Slack bot token",
            "slack: 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'",
            Expect::Fires { has: &["xoxb-…[redacted]"], hasnt: &["AbCdEfGhIj"] },
        ),
        js(
            "database password",
            "module.exports = { DB_PASSWORD: \"Tr0ub4dor&3x\" };",
            Expect::Fires { has: &["DB_PASSWORD: \"[redacted]\""], hasnt: &["Tr0ub4dor"] },
        ),
        js("translation table", "i18n = { password: \"Password\", token: \"Code\" };", Expect::Silent),
        js(
            "a browser Maps key is public by design",
            "maps.key = 'AIzaSyA-1234567890abcdefghijklmnopqrstu';",
            Expect::Silent,
        ),
        js("AKIA inside a longer word", "var s = 'XAKIAZ7VQ3EXAMPLE2KEYZ';", Expect::Silent),
        Case {
            name: "home page without secrets",
            id: "http.secret-in-response",
            scheme: "https",
            response: response("/", 200, &[("Content-Type", "text/html")], HOME),
            expect: Expect::Silent,
        },
    ]
}

#[test]
fn secret_templates() {
    run(&cases());
}
