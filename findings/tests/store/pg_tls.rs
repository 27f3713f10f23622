//! `sslmode=require`: the store talks TLS (rustls) to a real PostgreSQL with
//! `ssl = on`, verifies its certificate against the URL's `sslrootcert`, and
//! refuses a server whose certificate no trusted CA issued.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use haetae_findings::Store;
use haetae_pgtest::PgServer;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::support::scorer;

/// A CA: its certificate (PEM) and what signs with it.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// A server certificate for 127.0.0.1 signed by `issuer`: (cert PEM, key PEM).
fn leaf(issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Write `text` to `path`, owned like the server's directory (the server
/// runs as `postgres` when the tests run as root) and readable by it only.
fn write_for_server(server: &PgServer, path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let meta = std::fs::metadata(server.dir()).unwrap();
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid())).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn psql(server: &PgServer, sql: &str) -> String {
    let out = std::process::Command::new(server.tool("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &server.url(), "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn sslmode_require_talks_tls_and_verifies_the_server_certificate() {
    let Some(_) = haetae_pgtest::require() else { return };
    // A server of its own: this test turns TLS on.
    let server = PgServer::start().unwrap();
    let (ca_pem, issuer) = ca("haetae test CA");
    let (cert, key) = leaf(&issuer);
    write_for_server(&server, &server.dir().join("server.crt"), &cert);
    write_for_server(&server, &server.dir().join("server.key"), &key);
    let dir = server.dir().display().to_string();
    psql(&server, "ALTER SYSTEM SET ssl = on");
    psql(&server, &format!("ALTER SYSTEM SET ssl_cert_file = '{dir}/server.crt'"));
    psql(&server, &format!("ALTER SYSTEM SET ssl_key_file = '{dir}/server.key'"));
    psql(&server, "SELECT pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(30);
    while psql(&server, "SHOW ssl") != "on" {
        assert!(Instant::now() < deadline, "the server did not turn TLS on");
        std::thread::yield_now();
    }
    let ours = tempfile::tempdir().unwrap();
    let ca_file = ours.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let db = server.fresh_database().unwrap();

    // The CA given: connected, over TLS.
    let url = format!("{db}?sslmode=require&sslrootcert={}", ca_file.display());
    let store = Store::open_postgres(&url, scorer()).unwrap();
    assert_eq!(store.len(), 0);
    let tls = psql(
        &server,
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'haetae'",
    );
    assert_eq!(tls, "t", "every connection of the store is TLS");
    drop(store);

    // No trusted CA: refused, and the message says why.
    let err = Store::open_postgres(&format!("{db}?sslmode=require"), scorer()).unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer") || err.contains("invalid peer certificate"), "{err}");

    // Another CA's certificate given: refused as well.
    let (other_pem, _) = ca("another CA");
    let other = ours.path().join("other.pem");
    std::fs::write(&other, other_pem).unwrap();
    let err = Store::open_postgres(&format!("{db}?sslmode=require&sslrootcert={}", other.display()), scorer())
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid peer certificate"), "{err}");

    // A file that is no certificate: a clear error naming it.
    let junk = ours.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let err = Store::open_postgres(&format!("{db}?sslmode=require&sslrootcert={}", junk.display()), scorer())
        .unwrap_err()
        .to_string();
    assert!(err.contains("junk.pem") && err.contains("no certificate"), "{err}");
}
