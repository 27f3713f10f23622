//! The scanner's HTTP client (`client`; the protocol is hyper's, driven
//! over the guard's connections in `conn`) and redirects followed through
//! the guard (`redirect`).
//! Content checks (templates) run on what it fetches.

pub mod client;
mod conn;
pub mod redirect;

pub use client::{BODY_CAP, FetchError, HttpClient, HttpResponse, Method, Request, Session, requests_sent};
pub use redirect::{Followed, MAX_REDIRECTS, fetch_following};
