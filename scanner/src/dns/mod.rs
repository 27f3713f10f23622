//! DNS wire format behind our own types (hickory-proto does the encoding),
//! random query ids, and the name servers' circuit breakers.
//!
//! Only this module names hickory types; the rest of the scanner sees
//! [`RecordType`], [`RData`], [`Rec`], [`Rcode`] and [`Response`]. Sockets are
//! not opened here: the scope guard sends the bytes.

pub mod breaker;
mod ids;
mod wire;

pub use ids::QueryIds;
pub use wire::{
    DnsError, EDNS_UDP_PAYLOAD, RData, Rcode, Rec, RecordType, Response, Rrsig, decode_response, encode_axfr,
    encode_query,
};
