//! PVE tasks: UPIDs parsed into their fields (PVE's layout, and PBS/PDM's with the extra task
//! id), waiting for a task while streaming its new log lines to a callback, stopping a task,
//! and its outcome. Always addresses the node named in the UPID, as PVE requires.
//!
//! The simulator has its own UPID code on purpose: it is the oracle the client is tested
//! against, so the two must not share a bug.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Method;

use crate::Client;
use crate::error::Error;
use crate::models::{LogLine, TaskStatus};

/// A task id, `UPID:node:pid:pstart:starttime:type:id:user:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    /// Node that runs the task.
    pub node: String,
    /// Worker process id.
    pub pid: u32,
    /// Process start in clock ticks since boot.
    pub pstart: u64,
    /// Unix time the task started.
    pub starttime: u64,
    /// Worker type (`qmstart`, `vzdump`, ...).
    pub kind: String,
    /// Object id, often the VMID; may be empty.
    pub id: String,
    /// Who started it.
    pub user: String,
    raw: String,
}

/// Why a UPID string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Proxmox task id (UPID)")]
pub struct UpidError;

impl FromStr for Upid {
    type Err = UpidError;

    fn from_str(s: &str) -> Result<Self, UpidError> {
        if s.len() > 512 {
            return Err(UpidError);
        }
        let fields: Vec<&str> = s
            .strip_prefix("UPID:")
            .ok_or(UpidError)?
            .split(':')
            .collect();
        // PVE: 7 fields and the empty one after the trailing colon. PBS and PDM insert a
        // task id after pstart, which makes 9.
        let (node, pid, pstart, start, kind, id, user) = match fields[..] {
            [node, pid, pstart, start, kind, id, user, ""] => {
                (node, pid, pstart, start, kind, id, user)
            }
            [node, pid, pstart, _task, start, kind, id, user, ""] => {
                (node, pid, pstart, start, kind, id, user)
            }
            _ => return Err(UpidError),
        };
        let hex = |f: &str, min: usize, max: usize| {
            (min..=max)
                .contains(&f.len())
                .then(|| u64::from_str_radix(f, 16).ok())
                .flatten()
                .ok_or(UpidError)
        };
        let name =
            |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name(node) || !name(kind) || user.is_empty() || user.contains(['/', '?', '#']) {
            return Err(UpidError);
        }
        Ok(Self {
            node: node.to_owned(),
            pid: u32::try_from(hex(pid, 8, 8)?).map_err(|_| UpidError)?,
            pstart: hex(pstart, 8, 9)?,
            starttime: hex(start, 8, 8)?,
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
            raw: s.to_owned(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `OK`.
    Ok,
    /// `WARNINGS: n`: done, with warnings.
    Warnings(u32),
    /// Any other exit status: the error message.
    Failed(String),
}

impl Outcome {
    fn of(exit: &str) -> Self {
        match exit {
            "OK" => Self::Ok,
            other => match other
                .strip_prefix("WARNINGS: ")
                .and_then(|n| n.parse().ok())
            {
                Some(n) => Self::Warnings(n),
                None => Self::Failed(other.to_owned()),
            },
        }
    }
}

/// A task that has written nothing yet has an empty log file, and PVE then answers one line
/// `{"n": 1, "t": "no content"}` (with `total: 1`) whatever the start, for the web UI's sake.
/// Taken for a real line it would be numbered 1, and the task's real first line, numbered 1
/// too, would be skipped once it came.
fn without_placeholder(lines: Vec<LogLine>) -> Vec<LogLine> {
    match lines.as_slice() {
        [only] if only.n == 1 && only.t == "no content" => Vec::new(),
        _ => lines,
    }
}

impl Client {
    fn task_path(upid: &Upid) -> String {
        format!("/nodes/{}/tasks/{upid}", upid.node)
    }

    /// The task's state.
    pub async fn task_status(&self, upid: &Upid) -> Result<TaskStatus, Error> {
        self.get(&format!("{}/status", Self::task_path(upid)), &[])
            .await
    }

    /// Up to `limit` log lines from line `start` (0-based); none while the task has written
    /// nothing (see `without_placeholder`).
    pub async fn task_log(
        &self,
        upid: &Upid,
        start: u64,
        limit: u64,
    ) -> Result<Vec<LogLine>, Error> {
        let params = [("start", start.to_string()), ("limit", limit.to_string())];
        let lines = self
            .get(&format!("{}/log", Self::task_path(upid)), &params)
            .await?;
        Ok(without_placeholder(lines))
    }

    /// The cluster's recent tasks the credentials may see (`/cluster/tasks`), as parsed UPIDs;
    /// entries that do not parse are left out.
    pub async fn cluster_tasks(&self) -> Result<Vec<Upid>, Error> {
        #[derive(serde::Deserialize)]
        struct Entry {
            upid: String,
        }
        let entries: Vec<Entry> = self.get("/cluster/tasks", &[]).await?;
        Ok(entries
            .into_iter()
            .filter_map(|e| e.upid.parse().ok())
            .collect())
    }

    /// Stops a running task (PVE answers the same for one that already ended).
    pub async fn stop_task(&self, upid: &Upid) -> Result<(), Error> {
        self.call(Method::DELETE, &Self::task_path(upid), &[])
            .await
            .map(drop)
    }

    /// Waits until the task ends, polling every `poll`, and hands each new log line to
    /// `on_line` exactly once, in order, from line `seen` on (so a resumed wait does not
    /// repeat what was already streamed). Returns the outcome and the lines seen in all.
    pub async fn wait_task(
        &self,
        upid: &Upid,
        poll: Duration,
        mut seen: u64,
        mut on_line: impl FnMut(&LogLine),
    ) -> Result<(Outcome, u64), Error> {
        const PAGE: u64 = 500;
        loop {
            let status = self.task_status(upid).await?;
            // Read the log after the status: a stopped task's log is complete.
            loop {
                let lines = self.task_log(upid, seen, PAGE).await?;
                let fresh: Vec<&LogLine> = lines.iter().filter(|l| l.n > seen).collect();
                for line in &fresh {
                    on_line(line);
                }
                seen = fresh.last().map_or(seen, |l| l.n);
                if (lines.len() as u64) < PAGE {
                    break;
                }
            }
            if status.status == "stopped" {
                let exit = status.exitstatus.as_deref().unwrap_or("unexpected status");
                return Ok((Outcome::of(exit), seen));
            }
            tokio::time::sleep(poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_log_placeholder_is_no_line_and_real_lines_stay() {
        let parse = |body: &str| -> Vec<LogLine> {
            let answer: serde_json::Value = serde_json::from_str(body).unwrap();
            serde_json::from_value(answer["data"].clone()).unwrap()
        };
        // As PVE answers for a task that has written nothing yet, at any start.
        let empty = parse(r#"{"total":1,"data":[{"n":1,"t":"no content"}]}"#);
        assert!(without_placeholder(empty).is_empty());
        let only_ok = parse(r#"{"data":[{"t":"TASK OK","n":1}],"total":1}"#);
        let kept = without_placeholder(only_ok);
        assert_eq!((kept[0].n, kept[0].t.as_str()), (1, "TASK OK"));
        let two = parse(r#"{"total":2,"data":[{"n":1,"t":"no content"},{"n":2,"t":"TASK OK"}]}"#);
        assert_eq!(without_placeholder(two).len(), 2);
        let past_the_end = parse(r#"{"total":4,"data":[]}"#);
        assert!(without_placeholder(past_the_end).is_empty());
    }

    #[test]
    fn upids_parse_in_pve_and_pbs_layouts_and_refuse_junk() {
        let text = "UPID:pve1:000A1B2C:0012D687:6745A1C2:qmstart:100:root@pam!pmp:";
        let upid: Upid = text.parse().unwrap();
        assert_eq!(
            (upid.node.as_str(), upid.pid, upid.kind.as_str()),
            ("pve1", 0xA1B2C, "qmstart")
        );
        assert_eq!(
            (upid.id.as_str(), upid.user.as_str()),
            ("100", "root@pam!pmp")
        );
        assert_eq!(upid.starttime, 0x6745_A1C2);
        assert_eq!(upid.to_string(), text);
        let nine = "UPID:pve1:000A1B2C:10012D687:6745A1C2:vzdump::root@pam:";
        assert_eq!(nine.parse::<Upid>().unwrap().pstart, 0x1_0012_D687);
        let pbs = "UPID:pbs:000003E8:0000F0A1:00000002:6745A1C2:backup:store1:root@pam:";
        assert_eq!(pbs.parse::<Upid>().unwrap().kind, "backup");
        for junk in [
            "",
            "UPID:pve1:1:2:3:qmstart:100:root@pam:",
            "UPID:../x:000A1B2C:0012D687:6745A1C2:qmstart:100:root@pam:",
            "UPID:pve1:000A1B2C:0012D687:6745A1C2:qmstart:100:root@pam",
            "UPID:pve1:000A1B2C:0012D687:6745A1C2:qm/start:100:root@pam:",
        ] {
            assert_eq!(junk.parse::<Upid>(), Err(UpidError), "{junk}");
        }
    }

    #[test]
    fn exit_statuses_map_to_outcomes() {
        assert_eq!(Outcome::of("OK"), Outcome::Ok);
        assert_eq!(Outcome::of("WARNINGS: 2"), Outcome::Warnings(2));
        assert_eq!(
            Outcome::of("VM 100 not running"),
            Outcome::Failed("VM 100 not running".into())
        );
    }
}
