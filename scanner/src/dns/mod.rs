//! DNS wire format behind our own types (hickory-proto does the encoding).
//!
//! Only this module names hickory types; the rest of the scanner sees
//! [`RecordType`], [`RData`], [`Rec`], [`Rcode`] and [`Response`]. Sockets are
//! not opened here: the scope guard sends the bytes.

mod wire;

pub use wire::{DnsError, RData, Rcode, Rec, RecordType, Response, decode_response, encode_axfr, encode_query};
