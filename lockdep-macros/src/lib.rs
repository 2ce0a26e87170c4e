//! Attribute macros for `lockdep` (lock classes on types and fields, annotation sections on
//! functions). The macros arrive with the annotations work; this crate is the home they will
//! live in.
