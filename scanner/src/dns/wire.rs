//! Encoding queries and decoding responses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData as HRData, RecordType as HType};

/// A record type haetae asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Name server.
    Ns,
    /// Text (SPF, DMARC).
    Txt,
    /// Certification authority authorization.
    Caa,
    /// Start of authority.
    Soa,
}

impl RecordType {
    fn to_hickory(self) -> HType {
        match self {
            RecordType::A => HType::A,
            RecordType::Aaaa => HType::AAAA,
            RecordType::Cname => HType::CNAME,
            RecordType::Mx => HType::MX,
            RecordType::Ns => HType::NS,
            RecordType::Txt => HType::TXT,
            RecordType::Caa => HType::CAA,
            RecordType::Soa => HType::SOA,
        }
    }

    /// Upper-case mnemonic (`AAAA`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Ns => "NS",
            RecordType::Txt => "TXT",
            RecordType::Caa => "CAA",
            RecordType::Soa => "SOA",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Record data haetae reads; names are lowercase without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Alias target.
    Cname(String),
    /// Mail exchanger.
    Mx {
        /// Preference.
        preference: u16,
        /// Exchange host.
        exchange: String,
    },
    /// Name server host.
    Ns(String),
    /// The character-strings of a TXT record, concatenated (RFC 7208 section 3.3).
    Txt(String),
    /// CAA property.
    Caa {
        /// Issuer-critical flag.
        critical: bool,
        /// Tag (`issue`, `issuewild`, `iodef`).
        tag: String,
        /// Value as text.
        value: String,
    },
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox.
        rname: String,
        /// Serial.
        serial: u32,
    },
    /// Anything else, by type number.
    Other(u16),
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Owner name.
    pub name: String,
    /// TTL.
    pub ttl: u32,
    /// Data.
    pub data: RData,
}

/// Response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// Success.
    NoError,
    /// Format error.
    FormErr,
    /// Server failure.
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// Not implemented.
    NotImp,
    /// Refused.
    Refused,
    /// Not authoritative (also used to refuse AXFR).
    NotAuth,
    /// Any other code.
    Other(u16),
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rcode::NoError => f.write_str("NOERROR"),
            Rcode::FormErr => f.write_str("FORMERR"),
            Rcode::ServFail => f.write_str("SERVFAIL"),
            Rcode::NxDomain => f.write_str("NXDOMAIN"),
            Rcode::NotImp => f.write_str("NOTIMP"),
            Rcode::Refused => f.write_str("REFUSED"),
            Rcode::NotAuth => f.write_str("NOTAUTH"),
            Rcode::Other(c) => write!(f, "RCODE{c}"),
        }
    }
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Message id.
    pub id: u16,
    /// Response code.
    pub rcode: Rcode,
    /// Authoritative answer flag.
    pub authoritative: bool,
    /// Truncated flag (retry over TCP).
    pub truncated: bool,
    /// The question's name, as echoed by the server.
    pub question: Option<String>,
    /// The question's type number, as echoed by the server.
    pub question_type: Option<u16>,
    /// Answer section.
    pub answers: Vec<Rec>,
    /// Authority section.
    pub authority: Vec<Rec>,
}

impl Response {
    /// Whether this response answers the question `name`/`rtype` (names
    /// compared without case and trailing dot): a reply to another question
    /// is not an answer, whatever its id.
    pub fn answers_question(&self, name: &str, rtype: RecordType) -> bool {
        let name = name.trim_end_matches('.');
        self.question.as_deref().is_some_and(|q| q.eq_ignore_ascii_case(name))
            && self.question_type == Some(u16::from(rtype.to_hickory()))
    }
}

/// Bytes that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name is not a valid DNS name.
    #[error("invalid DNS name `{name}`: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A reply that is not a DNS response.
    #[error("malformed DNS response: {0}")]
    Malformed(String),
}

fn fqdn(name: &str) -> Result<Name, DnsError> {
    let bad = |reason: String| DnsError::BadName { name: name.to_owned(), reason };
    let mut n = Name::from_ascii(name).map_err(|e| bad(e.to_string()))?;
    n.set_fqdn(true);
    Ok(n)
}

/// The UDP payload size advertised in the EDNS0 OPT record of every query:
/// 1232 bytes fits in one IPv6 packet without fragmentation (DNS flag day 2020).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

fn encode(id: u16, name: &str, rtype: HType, recursion: bool) -> Result<Vec<u8>, DnsError> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = recursion;
    m.add_query(Query::query(fqdn(name)?, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_UDP_PAYLOAD);
    m.set_edns(edns);
    m.to_vec().map_err(|e| DnsError::BadName { name: name.to_owned(), reason: e.to_string() })
}

/// Encode a standard query (recursion desired when asking a resolver), with
/// an EDNS0 OPT record advertising [`EDNS_UDP_PAYLOAD`].
pub fn encode_query(id: u16, name: &str, rtype: RecordType, recursion: bool) -> Result<Vec<u8>, DnsError> {
    encode(id, name, rtype.to_hickory(), recursion)
}

/// Encode a zone transfer request (sent over TCP to an authoritative server).
pub fn encode_axfr(id: u16, zone: &str) -> Result<Vec<u8>, DnsError> {
    encode(id, zone, HType::AXFR, false)
}

fn name_text(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

fn convert(data: &HRData) -> RData {
    match data {
        HRData::A(a) => RData::A(a.0),
        HRData::AAAA(a) => RData::Aaaa(a.0),
        HRData::CNAME(c) => RData::Cname(name_text(&c.0)),
        HRData::NS(n) => RData::Ns(name_text(&n.0)),
        HRData::MX(mx) => RData::Mx { preference: mx.preference, exchange: name_text(&mx.exchange) },
        HRData::TXT(t) => {
            let mut s = String::new();
            for part in t.txt_data.iter() {
                s.push_str(&String::from_utf8_lossy(part));
            }
            RData::Txt(s)
        }
        HRData::CAA(c) => RData::Caa {
            critical: c.issuer_critical,
            tag: c.tag.to_ascii_lowercase(),
            value: String::from_utf8_lossy(&c.value).into_owned(),
        },
        HRData::SOA(s) => RData::Soa { mname: name_text(&s.mname), rname: name_text(&s.rname), serial: s.serial },
        other => RData::Other(u16::from(other.record_type())),
    }
}

fn rcode(code: ResponseCode) -> Rcode {
    match code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::FormErr => Rcode::FormErr,
        ResponseCode::ServFail => Rcode::ServFail,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::NotImp => Rcode::NotImp,
        ResponseCode::Refused => Rcode::Refused,
        ResponseCode::NotAuth => Rcode::NotAuth,
        other => Rcode::Other(u16::from(other)),
    }
}

/// Decode a response; rejects queries and garbage.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DnsError> {
    let m = Message::from_vec(bytes).map_err(|e| DnsError::Malformed(e.to_string()))?;
    if m.metadata.message_type != MessageType::Response {
        return Err(DnsError::Malformed("message is a query, not a response".into()));
    }
    let recs = |v: &[hickory_proto::rr::Record]| -> Vec<Rec> {
        v.iter().map(|r| Rec { name: name_text(&r.name), ttl: r.ttl, data: convert(&r.data) }).collect()
    };
    Ok(Response {
        id: m.metadata.id,
        rcode: rcode(m.metadata.response_code),
        authoritative: m.metadata.authoritative,
        truncated: m.metadata.truncation,
        question: m.queries.first().map(|q| name_text(q.name())),
        question_type: m.queries.first().map(|q| u16::from(q.query_type())),
        answers: recs(&m.answers),
        authority: recs(&m.authorities),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips_through_hickory() {
        let q = encode_query(7, "www.Agency.test", RecordType::Txt, true).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.metadata.id, 7);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].query_type(), HType::TXT);
        assert!(decode_response(&q).is_err(), "a query is not a response");
        assert!(encode_query(1, "bad..name", RecordType::A, true).is_err());
    }

    #[test]
    fn queries_carry_edns0_with_a_1232_byte_payload() {
        let q = encode_query(9, "www.agency.test", RecordType::A, true).unwrap();
        let m = Message::from_vec(&q).unwrap();
        let edns = m.edns.expect("an OPT record");
        assert_eq!(edns.max_payload(), 1232);
        assert_eq!(edns.version(), 0);
    }

    fn reply(name: &str, rtype: HType) -> Response {
        let mut m = Message::new(3, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        decode_response(&m.to_vec().unwrap()).unwrap()
    }

    #[test]
    fn a_reply_answers_only_its_own_question() {
        let r = reply("WWW.agency.test.", HType::A);
        assert!(r.answers_question("www.agency.test", RecordType::A));
        assert!(r.answers_question("www.agency.test.", RecordType::A));
        assert!(!r.answers_question("www.agency.test", RecordType::Aaaa), "another type");
        assert!(!r.answers_question("mail.agency.test", RecordType::A), "another name");
        let mut none = r.clone();
        none.question = None;
        assert!(!none.answers_question("www.agency.test", RecordType::A), "no question at all");
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decode_response(&bytes);
        }
    }
}
