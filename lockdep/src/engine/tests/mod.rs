//! Model checks of the validator's own lock-free structures, built only with `--cfg loom`
//! (`lockdep/loom.sh`): they live inside the crate to reach its private parts.

mod loom_chain;
