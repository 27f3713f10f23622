//! haetae-lab: a deliberately weak (and a hardened) set of targets on loopback.
