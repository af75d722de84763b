//! The audit facts of one request, shared by everything that handles it: its id, who acted
//! (filled in once the caller is known), what it acts on, and whether an audit entry was
//! written for it. The access log reads the same facts, so its line and the audit entry of a
//! request always agree.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The shared facts of one request (cheap to clone; clones see each other's updates).
#[derive(Debug, Clone)]
pub struct Trail(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    request_id: String,
    actor: OnceLock<String>,
    user: OnceLock<(String, String)>,
    target: OnceLock<String>,
    ip: OnceLock<IpAddr>,
    recorded: AtomicBool,
}

impl Trail {
    /// The trail of a request with this id.
    pub fn new(request_id: String) -> Self {
        Self(Arc::new(Inner {
            request_id,
            actor: OnceLock::new(),
            user: OnceLock::new(),
            target: OnceLock::new(),
            ip: OnceLock::new(),
            recorded: AtomicBool::new(false),
        }))
    }

    /// The trail of something done outside any request (the command line, a schedule):
    /// no request id, and `actor` as given.
    pub fn detached(actor: &str) -> Self {
        let trail = Self::new(String::new());
        trail.set_actor(actor);
        trail
    }

    /// The request id (empty outside a request).
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }

    /// Names how the caller acts (`user`, `token:ID`, `system`); the first setting stays.
    pub fn set_actor(&self, actor: &str) {
        let _ = self.0.actor.set(actor.to_owned());
    }

    /// How the caller acts; `anonymous` until someone signed in.
    pub fn actor(&self) -> &str {
        self.0.actor.get().map_or("anonymous", String::as_str)
    }

    /// The signed-in user's id and name.
    pub fn set_user(&self, user_id: &str, username: &str) {
        let _ = self.0.user.set((user_id.to_owned(), username.to_owned()));
    }

    /// The signed-in user's id, once known.
    pub fn user_id(&self) -> Option<&str> {
        self.0.user.get().map(|(id, _)| id.as_str())
    }

    /// The signed-in user's name, once known.
    pub fn username(&self) -> Option<&str> {
        self.0.user.get().map(|(_, name)| name.as_str())
    }

    /// What the request acts on (an access path such as `/guests/alpha/101`).
    pub fn set_target(&self, target: &str) {
        let _ = self.0.target.set(target.to_owned());
    }

    /// What the request acts on, once known.
    pub fn target(&self) -> Option<&str> {
        self.0.target.get().map(String::as_str)
    }

    /// The client's address, as the client extractor resolved it.
    pub fn set_ip(&self, ip: IpAddr) {
        let _ = self.0.ip.set(ip);
    }

    /// The client's address, once resolved.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.ip.get().copied()
    }

    /// Notes that an audit entry now covers this request.
    pub fn mark_recorded(&self) {
        self.0.recorded.store(true, Ordering::Release);
    }

    /// Whether an audit entry covers this request.
    pub fn recorded(&self) -> bool {
        self.0.recorded.load(Ordering::Acquire)
    }
}
