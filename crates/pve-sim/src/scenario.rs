//! Scenario files: a small TOML file that seeds a simulator beyond what the flags say: the
//! cluster's shape, task length and ticket lifetime, and the users, tokens and ACL entries a
//! test or a demo needs. Flags given on the command line win over the file.
//!
//! ```toml
//! cluster = "lab"
//! nodes = 3
//! guests = 50
//! seed = 42
//! task_ms = 500
//! root_password = "choose-one"
//!
//! [[users]]
//! userid = "ops@pve"
//! password = "ops-password"
//! totp = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"   # optional base32 seed
//!
//! [[tokens]]
//! tokenid = "ops@pve!monitor"
//! secret = "0f0e0d0c-0b0a-0908-0706-050403020100"
//! privsep = true
//!
//! [[acl]]
//! path = "/vms"
//! ugid = "ops@pve"
//! role = "PVEVMUser"
//! propagate = true
//! ```

use serde::Deserialize;

use crate::{Simulator, perms};

/// A parsed scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Cluster name.
    pub cluster: Option<String>,
    /// Number of nodes.
    pub nodes: Option<u16>,
    /// Number of guests.
    pub guests: Option<u32>,
    /// Generator seed.
    pub seed: Option<u64>,
    /// Task length in milliseconds.
    pub task_ms: Option<u64>,
    /// Ticket lifetime in seconds.
    pub ticket_seconds: Option<u64>,
    /// `root@pam`'s password.
    pub root_password: Option<String>,
    /// Users to add.
    #[serde(default)]
    pub users: Vec<ScenarioUser>,
    /// Tokens to add.
    #[serde(default)]
    pub tokens: Vec<ScenarioToken>,
    /// ACL entries to add.
    #[serde(default)]
    pub acl: Vec<ScenarioAcl>,
}

/// A user of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioUser {
    pub userid: String,
    pub password: String,
    #[serde(default)]
    pub totp: Option<String>,
}

/// A token of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioToken {
    pub tokenid: String,
    pub secret: String,
    #[serde(default = "yes")]
    pub privsep: bool,
}

/// An ACL entry of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioAcl {
    pub path: String,
    pub ugid: String,
    pub role: String,
    #[serde(default = "yes")]
    pub propagate: bool,
}

fn yes() -> bool {
    true
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the scenario {}: {e}", path.display()))?;
        let scenario: Self = toml::from_str(&text)
            .map_err(|e| format!("the scenario {} is not valid: {e}", path.display()))?;
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        for user in &self.users {
            if !user.userid.contains('@') || user.userid.contains('!') {
                return Err(format!("user {:?}: a user id is user@realm", user.userid));
            }
        }
        for token in &self.tokens {
            let owner = perms::Access::owner(&token.tokenid);
            let known = owner == "root@pam" || self.users.iter().any(|u| u.userid == owner);
            if owner == token.tokenid || !known {
                return Err(format!(
                    "token {:?}: a token id is user@realm!name of a user in the scenario",
                    token.tokenid
                ));
            }
        }
        for entry in &self.acl {
            if perms::role(&entry.role).is_none() || !entry.path.starts_with('/') {
                return Err(format!(
                    "ACL entry on {:?}: unknown role {:?} or a path not starting with /",
                    entry.path, entry.role
                ));
            }
        }
        Ok(())
    }

    /// Adds the scenario's users, tokens and ACL entries to a running simulator.
    pub fn apply(&self, sim: &Simulator) {
        for user in &self.users {
            sim.add_user(&user.userid, &user.password, user.totp.as_deref());
        }
        for token in &self.tokens {
            sim.add_token_with_secret(&token.tokenid, &token.secret, token.privsep);
        }
        for entry in &self.acl {
            sim.grant(&entry.path, &entry.ugid, &entry.role, entry.propagate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_and_bad_ones_are_refused_with_a_reason() {
        let good: Scenario = toml::from_str(
            "nodes = 2\n[[users]]\nuserid = \"ops@pve\"\npassword = \"x\"\n[[tokens]]\ntokenid = \"ops@pve!t\"\nsecret = \"s\"\n[[acl]]\npath = \"/\"\nugid = \"ops@pve\"\nrole = \"PVEAuditor\"\n",
        )
        .unwrap();
        assert!(good.check().is_ok());
        assert_eq!(good.nodes, Some(2));
        assert!(good.tokens[0].privsep && good.acl[0].propagate);
        assert!(toml::from_str::<Scenario>("nodes = 2\nbogus = 1\n").is_err());
        let orphan: Scenario =
            toml::from_str("[[tokens]]\ntokenid = \"x@pve!t\"\nsecret = \"s\"\n").unwrap();
        assert!(orphan.check().unwrap_err().contains("x@pve!t"));
        let role: Scenario =
            toml::from_str("[[acl]]\npath = \"/\"\nugid = \"a@pve\"\nrole = \"God\"\n").unwrap();
        assert!(role.check().is_err());
    }
}
