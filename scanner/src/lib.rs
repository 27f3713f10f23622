//! haetae-scanner: the probes, and the scope guard every connection passes.
//!
//! Nothing is implemented yet: the engine arrives with issue 3.
