//! A user-space simulation of the Linux DRM stack's locking, validated by `lockdep`.
//!
//! The simulation arrives with the DRM work; this crate is where it will live.
