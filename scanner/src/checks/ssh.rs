//! `svc.ssh-exposed`: read the identification string an SSH server sends
//! first (RFC 4253 section 4.2).

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Longest banner line read (RFC 4253: at most 255 characters).
const MAX_BANNER: usize = 255;

/// What the first bytes of a service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Greeting {
    /// Bytes (possibly empty when the server closed at once).
    Data(Vec<u8>),
    /// Nothing within the wait.
    Silent,
    /// The read failed.
    Failed(String),
}

/// Whether a greeting filled the whole read without a line end: a banner
/// that never ends (a real one is a line well under the limit).
pub(crate) fn endless(greeting: &[u8]) -> bool {
    greeting.len() > MAX_BANNER && !greeting.contains(&b'\n')
}

/// Read what a server sends on its own within `wait`, up to a line.
pub(crate) async fn read_greeting(stream: &mut TcpStream, wait: Duration) -> Greeting {
    let mut buf = vec![0u8; MAX_BANNER + 2];
    let mut n = 0;
    let read = async {
        loop {
            match stream.read(&mut buf[n..]).await {
                Ok(0) => return Ok(()),
                Ok(k) => {
                    n += k;
                    if buf[..n].contains(&b'\n') || n >= buf.len() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    };
    match tokio::time::timeout(wait, read).await {
        Err(_) if n == 0 => Greeting::Silent,
        Err(_) | Ok(Ok(())) => {
            buf.truncate(n);
            Greeting::Data(buf)
        }
        Ok(Err(e)) => Greeting::Failed(e.to_string()),
    }
}

/// The SSH identification line, if the greeting is one (`SSH-2.0-OpenSSH_9.6`).
pub(crate) fn ssh_banner(greeting: &[u8]) -> Option<String> {
    let line = greeting.split(|&b| b == b'\n').next()?;
    let text: String =
        String::from_utf8_lossy(line).trim_end_matches('\r').chars().filter(|c| !c.is_control()).collect();
    (text.starts_with("SSH-1.") || text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-")).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners() {
        assert_eq!(ssh_banner(b"SSH-2.0-OpenSSH_7.4\r\n").as_deref(), Some("SSH-2.0-OpenSSH_7.4"));
        assert_eq!(ssh_banner(b"SSH-1.99-Cisco-1.25\r\n").as_deref(), Some("SSH-1.99-Cisco-1.25"));
        assert_eq!(ssh_banner(b"220 mail ESMTP\r\n"), None);
        assert_eq!(ssh_banner(b""), None);
        assert_eq!(ssh_banner(b"SSH-2.0-x\x1b[31m\r\n").as_deref(), Some("SSH-2.0-x[31m"));
    }
}
