//! The audit trail: security events (`events`, the one way to record one) in a hash chain
//! (`chain`), an entry for every state-changing request (`requests`), and `syslog`, which
//! forwards the chain to a SIEM. Searching and exporting it is `admin::audit`.

mod chain;
pub mod events;
pub mod requests;
pub mod syslog;

pub use chain::{Broken, Entry, append, verify};
