//! The cipher suite table: IANA names, why a suite falls outside Mozilla's
//! "intermediate" configuration, and the suite lists probes offer.

/// Why a suite is outside Mozilla's "intermediate" configuration (v5.7), which
/// allows only ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305.
///
/// A suite with several flaws carries the worst one, in the order
/// `Null`, `Export`, `Anonymous`, `Rc4`, `TripleDes`, `StaticRsa`.
///
/// Not flagged (no weakness) although outside "intermediate": CBC-mode
/// ECDHE/DHE suites (common, and not what the weak-suite check reports), and
/// static DH/ECDH, PSK, SRP, Camellia and SEED suites without one of the flaws
/// below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// RC4 stream cipher (RFC 7465 prohibits it).
    Rc4,
    /// 64-bit block ciphers and broken small keys: 3DES (Sweet32), and also
    /// single DES and IDEA, which share the 64-bit block and are weaker still.
    TripleDes,
    /// No encryption at all (`*_WITH_NULL_*`).
    Null,
    /// Export-grade suites (`*_EXPORT*`: 40- or 56-bit ciphers, 512-bit key exchange).
    Export,
    /// Unauthenticated key exchange (`DH_anon`, `ECDH_anon`).
    Anonymous,
    /// Static RSA key exchange (`TLS_RSA_WITH_*`): no forward secrecy, and the
    /// Bleichenbacher/ROBOT family of padding oracles.
    StaticRsa,
}

/// One cipher suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// The IANA value.
    pub id: u16,
    /// The IANA name, e.g. `TLS_RSA_WITH_3DES_EDE_CBC_SHA`. The 0x0060-0x0066
    /// suites were never registered (IANA reserves them); they carry the names of
    /// the expired draft (draft-ietf-tls-56-bit-ciphersuites) that OpenSSL uses.
    pub name: &'static str,
    /// Why the suite is outside Mozilla "intermediate", if it is one of the flagged flaws.
    pub weakness: Option<Weakness>,
    /// The ServerKeyExchange carries finite-field Diffie-Hellman parameters
    /// (`dh_p` first): `TLS_DHE_RSA_*`, `TLS_DHE_DSS_*` and `TLS_DH_anon_*`,
    /// export ones included. Not DHE_PSK, whose ServerKeyExchange starts with a
    /// PSK identity hint.
    pub dhe: bool,
}

const NULL: Option<Weakness> = Some(Weakness::Null);
const EXPORT: Option<Weakness> = Some(Weakness::Export);
const ANON: Option<Weakness> = Some(Weakness::Anonymous);
const RC4: Option<Weakness> = Some(Weakness::Rc4);
const DES: Option<Weakness> = Some(Weakness::TripleDes);
const STATIC_RSA: Option<Weakness> = Some(Weakness::StaticRsa);
const NOT_FLAGGED: Option<Weakness> = None;

const fn s(id: u16, name: &'static str, weakness: Option<Weakness>, dhe: bool) -> Suite {
    Suite { id, name, weakness, dhe }
}

/// Every suite we know, sorted by id: 0x0001-0x001B, 0x001E-0x0046 (Kerberos,
/// PSK NULL, AES, Camellia-128), 0x0060-0x006D, 0x0084-0x0089 (Camellia-256),
/// 0x0096-0x00AB (SEED, AES-GCM), 0xC001-0xC032 (ECC) and 0xCCA8-0xCCAA (ChaCha20).
static SUITES: &[Suite] = &[
    s(0x0001, "TLS_RSA_WITH_NULL_MD5", NULL, false),
    s(0x0002, "TLS_RSA_WITH_NULL_SHA", NULL, false),
    s(0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", EXPORT, false),
    s(0x0004, "TLS_RSA_WITH_RC4_128_MD5", RC4, false),
    s(0x0005, "TLS_RSA_WITH_RC4_128_SHA", RC4, false),
    s(0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", EXPORT, false),
    s(0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA", DES, false),
    s(0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT, false),
    s(0x0009, "TLS_RSA_WITH_DES_CBC_SHA", DES, false),
    s(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0x000B, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA", EXPORT, false),
    s(0x000C, "TLS_DH_DSS_WITH_DES_CBC_SHA", DES, false),
    s(0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0x000E, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT, false),
    s(0x000F, "TLS_DH_RSA_WITH_DES_CBC_SHA", DES, false),
    s(0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", EXPORT, true),
    s(0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", DES, true),
    s(0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", DES, true),
    s(0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", EXPORT, true),
    s(0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", DES, true),
    s(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", DES, true),
    s(0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", EXPORT, true),
    s(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", ANON, true),
    s(0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA", EXPORT, true),
    s(0x001A, "TLS_DH_anon_WITH_DES_CBC_SHA", ANON, true),
    s(0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", ANON, true),
    s(0x001E, "TLS_KRB5_WITH_DES_CBC_SHA", DES, false),
    s(0x001F, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0x0020, "TLS_KRB5_WITH_RC4_128_SHA", RC4, false),
    s(0x0021, "TLS_KRB5_WITH_IDEA_CBC_SHA", DES, false),
    s(0x0022, "TLS_KRB5_WITH_DES_CBC_MD5", DES, false),
    s(0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5", DES, false),
    s(0x0024, "TLS_KRB5_WITH_RC4_128_MD5", RC4, false),
    s(0x0025, "TLS_KRB5_WITH_IDEA_CBC_MD5", DES, false),
    s(0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA", EXPORT, false),
    s(0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA", EXPORT, false),
    s(0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA", EXPORT, false),
    s(0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5", EXPORT, false),
    s(0x002A, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5", EXPORT, false),
    s(0x002B, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5", EXPORT, false),
    s(0x002C, "TLS_PSK_WITH_NULL_SHA", NULL, false),
    s(0x002D, "TLS_DHE_PSK_WITH_NULL_SHA", NULL, false),
    s(0x002E, "TLS_RSA_PSK_WITH_NULL_SHA", NULL, false),
    s(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", STATIC_RSA, false),
    s(0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", NOT_FLAGGED, true),
    s(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, true),
    s(0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA", ANON, true),
    s(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", STATIC_RSA, false),
    s(0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", NOT_FLAGGED, true),
    s(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, true),
    s(0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA", ANON, true),
    s(0x003B, "TLS_RSA_WITH_NULL_SHA256", NULL, false),
    s(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", STATIC_RSA, false),
    s(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", STATIC_RSA, false),
    s(0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, true),
    s(0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", STATIC_RSA, false),
    s(0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA", NOT_FLAGGED, false),
    s(0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA", NOT_FLAGGED, false),
    s(0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", NOT_FLAGGED, true),
    s(0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", NOT_FLAGGED, true),
    s(0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", ANON, true),
    s(0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5", EXPORT, false),
    s(0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5", EXPORT, false),
    s(0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA", EXPORT, false),
    s(0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA", EXPORT, true),
    s(0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", EXPORT, false),
    s(0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA", EXPORT, true),
    s(0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA", RC4, true),
    s(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, true),
    s(0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256", NOT_FLAGGED, false),
    s(0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256", NOT_FLAGGED, false),
    s(0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", NOT_FLAGGED, true),
    s(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", NOT_FLAGGED, true),
    s(0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256", ANON, true),
    s(0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256", ANON, true),
    s(0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", STATIC_RSA, false),
    s(0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA", NOT_FLAGGED, false),
    s(0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA", NOT_FLAGGED, false),
    s(0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", NOT_FLAGGED, true),
    s(0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", NOT_FLAGGED, true),
    s(0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", ANON, true),
    s(0x0096, "TLS_RSA_WITH_SEED_CBC_SHA", STATIC_RSA, false),
    s(0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA", NOT_FLAGGED, false),
    s(0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA", NOT_FLAGGED, false),
    s(0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA", NOT_FLAGGED, true),
    s(0x009A, "TLS_DHE_RSA_WITH_SEED_CBC_SHA", NOT_FLAGGED, true),
    s(0x009B, "TLS_DH_anon_WITH_SEED_CBC_SHA", ANON, true),
    s(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", STATIC_RSA, false),
    s(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", STATIC_RSA, false),
    s(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, true),
    s(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, true),
    s(0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, true),
    s(0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, true),
    s(0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256", ANON, true),
    s(0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384", ANON, true),
    s(0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", NULL, false),
    s(0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", RC4, false),
    s(0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", NULL, false),
    s(0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", RC4, false),
    s(0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA", NULL, false),
    s(0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA", RC4, false),
    s(0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA", NULL, false),
    s(0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", RC4, false),
    s(0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC015, "TLS_ECDH_anon_WITH_NULL_SHA", NULL, false),
    s(0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA", ANON, false),
    s(0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA", ANON, false),
    s(0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", ANON, false),
    s(0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA", ANON, false),
    s(0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA", DES, false),
    s(0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA", NOT_FLAGGED, false),
    s(0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA", NOT_FLAGGED, false),
    s(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", NOT_FLAGGED, false),
    s(0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", NOT_FLAGGED, false),
    s(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", NOT_FLAGGED, false),
    s(0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", NOT_FLAGGED, false),
    s(0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", NOT_FLAGGED, false),
    s(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", NOT_FLAGGED, false),
    s(0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", NOT_FLAGGED, false),
    s(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", NOT_FLAGGED, false),
    s(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", NOT_FLAGGED, false),
    s(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", NOT_FLAGGED, true),
];

/// The suite with IANA value `id`, if it is in our table.
pub fn suite(id: u16) -> Option<&'static Suite> {
    SUITES.binary_search_by_key(&id, |s| s.id).ok().and_then(|i| SUITES.get(i))
}

/// Every suite in the table with a [`Weakness`] (RC4, 3DES/DES/IDEA, NULL,
/// export, anonymous, static RSA), in id order.
pub fn weak_suites() -> Vec<u16> {
    SUITES.iter().filter(|s| s.weakness.is_some()).map(|s| s.id).collect()
}

/// What a real TLS 1.0-1.2 client offers, strongest first: ECDHE and DHE with
/// AES-GCM, ChaCha20 and AES-CBC, static RSA with AES, and 3DES. Any server
/// that speaks TLS 1.0-1.2 with a certificate can pick one of these.
pub fn broad_suites() -> Vec<u16> {
    BROAD.to_vec()
}

const BROAD: &[u16] = &[
    0xC02B, // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    0xC02F, // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    0xC02C, // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    0xC030, // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    0xCCA9, // TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    0xCCA8, // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    0x009E, // TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    0x009F, // TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
    0xCCAA, // TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    0xC023, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
    0xC027, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
    0xC024, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384
    0xC028, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
    0xC009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0xC013, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    0xC00A, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0xC014, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    0x0067, // TLS_DHE_RSA_WITH_AES_128_CBC_SHA256
    0x006B, // TLS_DHE_RSA_WITH_AES_256_CBC_SHA256
    0x0033, // TLS_DHE_RSA_WITH_AES_128_CBC_SHA
    0x0039, // TLS_DHE_RSA_WITH_AES_256_CBC_SHA
    0x0032, // TLS_DHE_DSS_WITH_AES_128_CBC_SHA
    0x0038, // TLS_DHE_DSS_WITH_AES_256_CBC_SHA
    0x009C, // TLS_RSA_WITH_AES_128_GCM_SHA256
    0x009D, // TLS_RSA_WITH_AES_256_GCM_SHA384
    0x003C, // TLS_RSA_WITH_AES_128_CBC_SHA256
    0x003D, // TLS_RSA_WITH_AES_256_CBC_SHA256
    0x002F, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x0035, // TLS_RSA_WITH_AES_256_CBC_SHA
    0xC008, // TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA
    0xC012, // TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
    0x0016, // TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
    0x000A, // TLS_RSA_WITH_3DES_EDE_CBC_SHA
];

/// The non-anonymous, non-export finite-field DHE suites (`TLS_DHE_RSA_*`,
/// `TLS_DHE_DSS_*`), AEAD first, for reading the size of the server's DH group.
/// Export suites are left out: their 512-bit parameters say nothing about the
/// group the server normally uses.
pub fn dhe_suites() -> Vec<u16> {
    let mut ids: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| s.dhe && !matches!(s.weakness, Some(Weakness::Anonymous | Weakness::Export)))
        .collect();
    // AEAD, then CBC with AES/Camellia/SEED, then RC4/DES/3DES; stable within a class.
    ids.sort_by_key(|s| {
        let aead = s.name.contains("_GCM_") || s.name.contains("CHACHA20");
        (s.weakness.is_some(), !aead)
    });
    ids.into_iter().map(|s| s.id).collect()
}
