//! The scanner's HTTP client (`client`) and response parsing (`parse`).
//! Content checks (templates) run on what it fetches.

pub mod client;
pub mod parse;

pub use client::{BODY_CAP, FetchError, HttpClient, HttpResponse, Method, Request, Session, requests_sent};
