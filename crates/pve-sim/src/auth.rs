//! PVE's ticket authentication: `POST /access/ticket` with a password (or the current ticket,
//! to renew), tickets `PVE:<userid>:<hex time>::<signature>` valid for a set lifetime, and
//! CSRF tokens `<hex time>:<signature>` bound to the user. PVE signs tickets with RSA; the
//! simulator uses HMAC-SHA256, which clients cannot tell apart since they treat both as opaque.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

use crate::tasks::unix_now;

/// PVE accepts tickets from up to five minutes in the future (clock skew between nodes).
const SKEW: u64 = 300;

/// The cluster's signing key and ticket lifetime.
#[derive(Debug)]
pub struct Tickets {
    /// Replaced by [`Tickets::expire_all`], which voids every ticket and CSRF token at once.
    key: RwLock<[u8; 32]>,
    lifetime: Duration,
}

impl Tickets {
    /// A fresh random key; tickets live for `lifetime`.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            key: RwLock::new(fresh_key()),
            lifetime,
        }
    }

    /// Voids every ticket issued so far, as if they had all expired.
    pub fn expire_all(&self) {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = fresh_key();
    }

    fn mac(&self, text: &str) -> Hmac<Sha256> {
        let key = *self.key.read().unwrap_or_else(|e| e.into_inner());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(text.as_bytes());
        mac
    }

    fn sign(&self, text: &str) -> String {
        STANDARD_NO_PAD.encode(self.mac(text).finalize().into_bytes())
    }

    fn verify(&self, text: &str, signature: &str) -> bool {
        let mac = self.mac(text);
        STANDARD_NO_PAD
            .decode(signature)
            .is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
    }

    fn fresh(&self, issued: u64) -> bool {
        let now = unix_now();
        issued <= now + SKEW && now.saturating_sub(issued) <= self.lifetime.as_secs()
    }

    /// A new ticket for `userid`.
    pub fn ticket(&self, userid: &str) -> String {
        let text = format!("PVE:{userid}:{:08X}", unix_now());
        let signature = self.sign(&text);
        format!("{text}::{signature}")
    }

    /// The user a valid, unexpired ticket was issued to.
    pub fn check_ticket(&self, ticket: &str) -> Option<String> {
        let (text, signature) = ticket.split_once("::")?;
        let rest = text.strip_prefix("PVE:")?;
        let (userid, time) = rest.rsplit_once(':')?;
        let issued = u64::from_str_radix(time, 16).ok()?;
        let valid = time.len() == 8
            && !userid.starts_with("!tfa!")
            && self.verify(text, signature)
            && self.fresh(issued);
        valid.then(|| userid.to_owned())
    }

    /// The half ticket of a login that still owes its TOTP code: it names the factors left
    /// (URL-escaped JSON, as PVE does) and is signed with the user id as associated data, so it
    /// is useless for anyone else and is never accepted as a ticket.
    pub fn half_ticket(&self, userid: &str) -> String {
        let text = format!("PVE:!tfa!%7B%22totp%22%3Atrue%7D:{:08X}", unix_now());
        let signature = self.sign(&format!("{text}:{userid}"));
        format!("{text}::{signature}")
    }

    /// Whether `ticket` is a fresh half ticket issued to `userid`.
    pub fn check_half_ticket(&self, ticket: &str, userid: &str) -> bool {
        let Some((text, signature)) = ticket.split_once("::") else {
            return false;
        };
        let Some((_, time)) = text.rsplit_once(':') else {
            return false;
        };
        let issued = u64::from_str_radix(time, 16).unwrap_or(0);
        text.starts_with("PVE:!tfa!")
            && self.verify(&format!("{text}:{userid}"), signature)
            && self.fresh(issued)
    }

    /// A console ticket (`PVEVNC:`) for `userid` on `path`, as vncproxy and termproxy give.
    pub fn vnc_ticket(&self, userid: &str, path: &str) -> String {
        let time = format!("{:08X}", unix_now());
        let signature = self.sign(&format!("PVEVNC:{time}:{userid}:{path}"));
        format!("PVEVNC:{time}::{signature}")
    }

    /// A CSRF prevention token for `userid`.
    pub fn csrf(&self, userid: &str) -> String {
        let time = format!("{:08X}", unix_now());
        let signature = self.sign(&format!("{time}:{userid}"));
        format!("{time}:{signature}")
    }

    /// Whether `token` is a valid, unexpired CSRF token for `userid`.
    pub fn check_csrf(&self, token: &str, userid: &str) -> bool {
        let Some((time, signature)) = token.split_once(':') else {
            return false;
        };
        let Ok(issued) = u64::from_str_radix(time, 16) else {
            return false;
        };
        time.len() == 8 && self.verify(&format!("{time}:{userid}"), signature) && self.fresh(issued)
    }
}

fn fresh_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_and_csrf_tokens_verify_and_resist_tampering() {
        let tickets = Tickets::new(Duration::from_secs(7200));
        let ticket = tickets.ticket("root@pam");
        assert!(ticket.starts_with("PVE:root@pam:"));
        assert_eq!(tickets.check_ticket(&ticket).as_deref(), Some("root@pam"));
        let forged = ticket.replace("root@pam", "admin@pve");
        assert_eq!(tickets.check_ticket(&forged), None);
        assert_eq!(tickets.check_ticket("PVE:root@pam:00000000::AAAA"), None);
        let other = Tickets::new(Duration::from_secs(7200));
        assert_eq!(other.check_ticket(&ticket), None, "another cluster's key");

        let csrf = tickets.csrf("root@pam");
        assert!(tickets.check_csrf(&csrf, "root@pam"));
        assert!(!tickets.check_csrf(&csrf, "alice@pve"), "bound to the user");
        assert!(!tickets.check_csrf("nonsense", "root@pam"));

        let half = tickets.half_ticket("ops@pve");
        assert!(tickets.check_half_ticket(&half, "ops@pve"));
        assert!(!tickets.check_half_ticket(&half, "root@pam"));
        assert_eq!(
            tickets.check_ticket(&half),
            None,
            "a half ticket is no ticket"
        );
        tickets.expire_all();
        assert_eq!(tickets.check_ticket(&ticket), None, "voided by expire_all");
    }

    #[test]
    fn expired_tickets_are_refused() {
        let tickets = Tickets::new(Duration::ZERO);
        let old = format!("PVE:root@pam:{:08X}", unix_now() - 10);
        let ticket = format!("{old}::{}", tickets.sign(&old));
        assert_eq!(tickets.check_ticket(&ticket), None);
    }
}
