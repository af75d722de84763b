//! The alert rules and their defaults. Every rule is on by default; an administrator may turn
//! one off or change its threshold and window (`PUT /api/v1/alert-rules/{rule}`). What the
//! threshold and window mean is stated per rule in `describe`.

use serde::{Deserialize, Serialize};

/// A rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    LoginFailuresAccount,
    LoginFailuresAddress,
    Lockout,
    NewNetwork,
    UnusualHour,
    RefreshReuse,
    DenialBurst,
    MassAction,
    ServerUnreachable,
    NodeOffline,
    CertificateChanged,
    StorageFull,
    GuestDown,
    BackupStale,
    JobFailed,
}

/// A rule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether it is evaluated.
    pub enabled: bool,
    /// How many occurrences raise it (see `describe`).
    pub threshold: i64,
    /// The window it counts over, in seconds (see `describe`).
    pub window_secs: i64,
}

const DAY: i64 = 86_400;

impl Settings {
    /// Refuses values no rule can mean; the sentence is for the person who typed them.
    pub fn check(&self) -> Result<(), String> {
        if (1..=100_000).contains(&self.threshold) && (0..=366 * DAY).contains(&self.window_secs) {
            Ok(())
        } else {
            Err("threshold is 1 to 100000 and window_secs 0 to 31622400".to_owned())
        }
    }
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 15] = [
        Rule::LoginFailuresAccount,
        Rule::LoginFailuresAddress,
        Rule::Lockout,
        Rule::NewNetwork,
        Rule::UnusualHour,
        Rule::RefreshReuse,
        Rule::DenialBurst,
        Rule::MassAction,
        Rule::ServerUnreachable,
        Rule::NodeOffline,
        Rule::CertificateChanged,
        Rule::StorageFull,
        Rule::GuestDown,
        Rule::BackupStale,
        Rule::JobFailed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginFailuresAccount => "login_failures_account",
            Self::LoginFailuresAddress => "login_failures_address",
            Self::Lockout => "lockout",
            Self::NewNetwork => "new_network",
            Self::UnusualHour => "unusual_hour",
            Self::RefreshReuse => "refresh_reuse",
            Self::DenialBurst => "denial_burst",
            Self::MassAction => "mass_action",
            Self::ServerUnreachable => "server_unreachable",
            Self::NodeOffline => "node_offline",
            Self::CertificateChanged => "certificate_changed",
            Self::StorageFull => "storage_full",
            Self::GuestDown => "guest_down",
            Self::BackupStale => "backup_stale",
            Self::JobFailed => "job_failed",
        }
    }

    /// The rule named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// What the rule watches, and what its threshold and window mean.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LoginFailuresAccount => {
                "failed sign-ins for one account: threshold failures within the window"
            }
            Self::LoginFailuresAddress => {
                "failed sign-ins from one address: threshold failures within the window"
            }
            Self::Lockout => "an account or address locked out by sign-in throttling",
            Self::NewNetwork => {
                "a sign-in from a network (IPv4 /24, IPv6 /64) the account never used within the window, once it has at least threshold earlier sign-ins"
            }
            Self::UnusualHour => {
                "a sign-in at an hour of day (UTC, within one hour) the account never used within the window, once it has at least threshold earlier sign-ins"
            }
            Self::RefreshReuse => "a spent refresh token presented again (a stolen token)",
            Self::DenialBurst => {
                "refused requests by one person (probing for ids): threshold within the window"
            }
            Self::MassAction => "guest actions by one person: threshold within the window",
            Self::ServerUnreachable => "a PVE server the portal cannot reach",
            Self::NodeOffline => "a node its cluster reports offline",
            Self::CertificateChanged => {
                "a PVE server presenting a certificate other than the pinned one"
            }
            Self::StorageFull => "a storage whose use reached threshold percent of its capacity",
            Self::GuestDown => {
                "a guest set to start at boot (onboot) that stayed stopped for the window (seconds)"
            }
            Self::BackupStale => {
                "a guest whose newest backup is threshold days old or older (guests never backed up are not watched)"
            }
            Self::JobFailed => "a job that failed or ran out of attempts",
        }
    }

    /// The defaults.
    pub fn defaults(self) -> Settings {
        let (threshold, window_secs) = match self {
            Self::LoginFailuresAccount => (5, 300),
            Self::LoginFailuresAddress => (10, 300),
            Self::NewNetwork => (1, 90 * DAY),
            Self::UnusualHour => (10, 90 * DAY),
            Self::DenialBurst => (10, 60),
            Self::MassAction => (20, 60),
            Self::StorageFull => (90, 0),
            Self::GuestDown => (1, 300),
            Self::BackupStale => (7, 0),
            _ => (1, 0),
        };
        Settings {
            enabled: true,
            threshold,
            window_secs,
        }
    }

    /// Whether the rule watches the audit trail (and so resolves once its window passes
    /// quietly), rather than the inventory and jobs.
    pub fn is_anomaly(self) -> bool {
        !matches!(
            self,
            Self::ServerUnreachable
                | Self::NodeOffline
                | Self::CertificateChanged
                | Self::StorageFull
                | Self::GuestDown
                | Self::BackupStale
                | Self::JobFailed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn names_round_trip_and_defaults_are_sane() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
            assert!(rule.defaults().enabled);
            assert!(rule.defaults().threshold >= 1);
        }
        assert_eq!(Rule::parse("<script>"), None);
    }
}
