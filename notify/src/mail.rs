//! E-mail over SMTP (lettre): `smtp://host[:port]` (port 25 by default)
//! upgrades with STARTTLS when the server offers it, `smtps://host[:port]`
//! (port 465) speaks TLS from the start. Certificates are verified against
//! the web PKI roots (rustls, ring). One deadline covers the whole session.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::config::Email;

/// A parsed SMTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// TLS from the start (`smtps://`), else STARTTLS when offered.
    pub implicit_tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl SmtpUrl {
    /// `smtp://host:port`, for listings and the audit log.
    pub fn label(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Splits `smtp[s]://host[:port]`.
///
/// # Errors
/// Another scheme, no host, a bad port, or a path, user info or query.
pub fn split_smtp(url: &str) -> Result<SmtpUrl, String> {
    let (implicit_tls, rest) = if let Some(r) = url.strip_prefix("smtp://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("smtps://") {
        (true, r)
    } else {
        return Err(format!("expected smtp://HOST[:PORT] or smtps://HOST[:PORT], found \"{url}\""));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '@', '?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(format!("expected smtp://HOST[:PORT] without path or user, found \"{url}\""));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("bad port in \"{url}\""))?)
        }
        _ => (rest, if implicit_tls { 465 } else { 25 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("no host in \"{url}\""));
    }
    Ok(SmtpUrl { implicit_tls, host: host.to_owned(), port })
}

/// Sends one message; `Ok(reply)` (the server's answer) when it accepted it.
///
/// # Errors
/// A bad address or URL, a connection, TLS or SMTP error, or the deadline passing.
pub async fn send(
    email: &Email,
    subject: &str,
    text: &str,
    extra_roots: &[Vec<u8>],
    deadline: Duration,
) -> Result<String, String> {
    let url = split_smtp(&email.smtp)?;
    let from: Mailbox = email.from.parse().map_err(|e| format!("from \"{}\": {e}", email.from))?;
    let mut builder = Message::builder().from(from).subject(subject);
    for to in &email.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|e| format!("to \"{to}\": {e}"))?);
    }
    let message = builder.body(text.to_owned()).map_err(|e| format!("message: {e}"))?;
    let mut params = TlsParameters::builder(url.host.clone());
    for pem in extra_roots {
        let cert = lettre::transport::smtp::client::Certificate::from_pem(pem).map_err(|e| format!("CA: {e}"))?;
        params = params.add_root_certificate(cert);
    }
    let params = params.build_rustls().map_err(|e| format!("TLS setup: {e}"))?;
    let tls = if url.implicit_tls { Tls::Wrapper(params) } else { Tls::Opportunistic(params) };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.as_str())
        .port(url.port)
        .tls(tls)
        .timeout(Some(deadline))
        .build();
    let sent = tokio::time::timeout(deadline, transport.send(message))
        .await
        .map_err(|_| format!("no answer within {deadline:?}"))?;
    match sent {
        Ok(reply) => Ok(format!("SMTP {}", reply.code())),
        Err(e) => Err(format!("SMTP: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let u = split_smtp("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((u.implicit_tls, u.host.as_str(), u.port), (false, "127.0.0.1", 2525));
        assert_eq!(split_smtp("smtps://mail.agency.test").unwrap().port, 465);
        assert_eq!(split_smtp("smtp://mail.agency.test/").unwrap().port, 25);
        assert_eq!(split_smtp("smtp://[::1]:25").unwrap().host, "::1");
        assert!(split_smtp("http://x").is_err());
        assert!(split_smtp("smtp://u@x").is_err());
        assert!(split_smtp("smtp://x:y").is_err());
    }
}
