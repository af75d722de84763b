//! The administration views over what sits below identity: editing roles, groups and ACL
//! entries (`access`), and searching and exporting the audit trail (`audit`). They serve
//! signed-in callers, so they stand above identity, while the access checks and the trail
//! they administer stand below it, where every feature can reach them.

pub mod access;
pub mod audit;
