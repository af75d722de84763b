//! PVE tasks: UPIDs in PVE's exact layout, a log per task, and a run that takes a set time and
//! ends with an exit status. What an action does to a guest happens when its task finishes.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// A task id: `UPID:node:pid:pstart:starttime:type:id:user:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// Node that runs the task.
    pub node: String,
    /// Worker process id.
    pub pid: u32,
    /// Process start, in clock ticks since boot.
    pub pstart: u64,
    /// Unix time the task started.
    pub starttime: u64,
    /// Worker type (`qmstart`, `vzstop`, ...).
    pub kind: String,
    /// Object id, usually the VMID; may be empty.
    pub id: String,
    /// Who started it (`user@realm` or a token id).
    pub user: String,
}

/// Why a UPID string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse worker upid '{0}'")]
pub struct UpidError(String);

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.kind, self.id, self.user
        )
    }
}

impl FromStr for Upid {
    type Err = UpidError;

    fn from_str(s: &str) -> Result<Self, UpidError> {
        let bad = || UpidError(s.chars().take(200).collect());
        let rest = s.strip_prefix("UPID:").ok_or_else(bad)?;
        let fields: Vec<&str> = rest.split(':').collect();
        // Eight pieces: seven fields and the empty one after the trailing colon.
        let [node, pid, pstart, start, kind, id, user, ""] = fields[..] else {
            return Err(bad());
        };
        let hex = |field: &str, widths: std::ops::RangeInclusive<usize>| {
            (widths.contains(&field.len()))
                .then(|| u64::from_str_radix(field, 16).ok())
                .flatten()
                .ok_or_else(bad)
        };
        let valid_name =
            |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid_name(node) || !valid_name(kind) || user.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            node: node.to_owned(),
            pid: u32::try_from(hex(pid, 8..=8)?).map_err(|_| bad())?,
            pstart: hex(pstart, 8..=9)?,
            starttime: hex(start, 8..=8)?,
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        })
    }
}

/// One task and its log.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its id.
    pub upid: Upid,
    /// Log lines, without the final `TASK ...` line.
    pub lines: Vec<String>,
    /// `None` while running, then `OK` or the error message.
    pub exit: Option<String>,
    /// Unix time it ended.
    pub endtime: Option<u64>,
}

impl Task {
    /// The body of `tasks/{upid}/status`.
    pub fn status(&self) -> Value {
        let mut status = self.summary();
        if let Some(exit) = &self.exit {
            status["exitstatus"] = json!(exit);
        }
        status["status"] = json!(if self.exit.is_some() {
            "stopped"
        } else {
            "running"
        });
        status
    }

    /// The entry in `/nodes/{node}/tasks`.
    pub fn listing(&self) -> Value {
        let mut entry = self.summary();
        if let (Some(exit), Some(end)) = (&self.exit, self.endtime) {
            entry["status"] = json!(exit);
            entry["endtime"] = json!(end);
        }
        entry
    }

    fn summary(&self) -> Value {
        let u = &self.upid;
        json!({
            "upid": u.to_string(),
            "node": u.node,
            "pid": u.pid,
            "pstart": u.pstart,
            "starttime": u.starttime,
            "type": u.kind,
            "id": u.id,
            "user": u.user,
        })
    }

    /// Every log line as PVE numbers them, the final `TASK ...` line included once ended
    /// (none while a quiet task runs).
    pub fn log(&self) -> Vec<String> {
        let mut lines = self.lines.clone();
        match self.exit.as_deref() {
            Some("OK") => lines.push("TASK OK".to_owned()),
            Some(error) => lines.push(format!("TASK ERROR: {error}")),
            None => {}
        }
        lines
    }
}

/// Every task the cluster has run, newest last.
#[derive(Debug, Default)]
pub struct Tasks {
    tasks: Mutex<Vec<Task>>,
    next_pid: Mutex<u32>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Tasks {
    /// Records a new running task and returns its UPID.
    pub fn begin(
        &self,
        node: &str,
        kind: &str,
        id: &str,
        user: &str,
        first_line: Option<String>,
    ) -> Upid {
        let pid = {
            let mut next = self.next_pid.lock().unwrap_or_else(|e| e.into_inner());
            *next = next.wrapping_add(1).max(1);
            1000 + *next
        };
        let upid = Upid {
            node: node.to_owned(),
            pid,
            pstart: 1_000_000 + u64::from(pid) * 7,
            starttime: unix_now(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        };
        let task = Task {
            upid: upid.clone(),
            lines: first_line.into_iter().collect(),
            exit: None,
            endtime: None,
        };
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
        upid
    }

    /// Ends the task `upid` with `exit` (`OK` or an error message) if it is still running,
    /// running `effect` first under the lock, so a stopped task never has its effect and a
    /// finished one is never seen without it. Returns whether it was running.
    pub fn finish_with(&self, upid: &Upid, exit: String, effect: impl FnOnce()) -> bool {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        match tasks
            .iter_mut()
            .find(|t| &t.upid == upid && t.exit.is_none())
        {
            Some(task) => {
                effect();
                task.exit = Some(exit);
                task.endtime = Some(unix_now());
                true
            }
            None => false,
        }
    }

    /// Adds a log line to the running task `upid`.
    pub fn append(&self, upid: &Upid, line: String) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = tasks
            .iter_mut()
            .find(|t| &t.upid == upid && t.exit.is_none())
        {
            task.lines.push(line);
        }
    }

    /// A copy of the task `upid`.
    pub fn get(&self, upid: &Upid) -> Option<Task> {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.iter().find(|t| &t.upid == upid).cloned()
    }

    /// Copies of the tasks `keep` selects, newest first.
    pub fn select(&self, keep: impl Fn(&Task) -> bool) -> Vec<Task> {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.iter().rev().filter(|t| keep(t)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upids_round_trip_with_pve_widths() {
        let text = "UPID:pve1:000B1E30:0A2D4F3B:6745A1C2:qmstart:100:root@pam:";
        let upid: Upid = text.parse().unwrap();
        assert_eq!(upid.node, "pve1");
        assert_eq!(upid.pid, 0x000B_1E30);
        assert_eq!(upid.starttime, 0x6745_A1C2);
        assert_eq!(upid.kind, "qmstart");
        assert_eq!(upid.id, "100");
        assert_eq!(upid.user, "root@pam");
        assert_eq!(upid.to_string(), text);
        let token = "UPID:pve2:00001234:1A2D4F3B9:6745A1C2:vzdump::root@pam!pmp:";
        assert_eq!(token.parse::<Upid>().unwrap().to_string(), token);
    }

    #[test]
    fn malformed_upids_are_refused() {
        for bad in [
            "",
            "UPID:pve1:1:2:3:qmstart:100:root@pam:",
            "UPID:pve1:000B1E30:0A2D4F3B:6745A1C2:qmstart:100:root@pam",
            "UPID:../etc:000B1E30:0A2D4F3B:6745A1C2:qmstart:100:root@pam:",
            "UPID:pve1:ZZZZZZZZ:0A2D4F3B:6745A1C2:qmstart:100:root@pam:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
    }
}
