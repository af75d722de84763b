//! Child processes that never outlive their owner. A test that starts a server (chromedriver
//! and the Chromium it starts, `pmp serve`, `pve-sim`) holds a `Reaped`; when it is dropped
//! (the test passed, failed or panicked) the child and every process descended from it are
//! killed. Descendants are found through `/proc` before anything is killed, because a killed
//! parent's children are handed to PID 1 and could no longer be told apart. A child stays in
//! its owner's process group, so a signal to the test's group (nextest interrupted) reaches it
//! too.

use std::collections::BTreeMap;
use std::io;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, Output};

/// A running child, killed with its descendants on drop.
#[derive(Debug)]
pub struct Reaped(Option<Child>);

impl Reaped {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        command.spawn().map(|child| Self(Some(child)))
    }

    /// Waits for the child to end by itself and collects its output; its descendants are
    /// killed when it has ended.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        let Some(child) = self.0.take() else {
            return Err(io::Error::other("the child was already reaped"));
        };
        let pid = child.id();
        let before = descendants(pid);
        let output = child.wait_with_output();
        kill(&before);
        output
    }
}

/// `command.spawn_reaped()` for `Reaped::spawn(&mut command)`.
pub trait SpawnReaped {
    /// Starts the command as a `Reaped` child.
    fn spawn_reaped(&mut self) -> io::Result<Reaped>;
}

impl SpawnReaped for Command {
    fn spawn_reaped(&mut self) -> io::Result<Reaped> {
        Reaped::spawn(self)
    }
}

impl Deref for Reaped {
    type Target = Child;

    fn deref(&self) -> &Child {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("only wait_with_output takes the child"))
    }
}

impl DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("only wait_with_output takes the child"))
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let mut tree = descendants(child.id());
            tree.push(child.id());
            kill(&tree);
            let _ = child.wait();
        }
    }
}

/// The parent of every process, read from `/proc/{pid}/stat`.
fn parents() -> BTreeMap<u32, u32> {
    let mut parents = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return parents;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the name may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// Every process descended from `root`, children before grandchildren.
pub fn descendants(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (&pid, _) in parents.iter().filter(|&(_, &ppid)| ppid == parent) {
            if !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// Sends SIGKILL to `pids` (through kill(1): this workspace has no unsafe code).
fn kill(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    }

    #[test]
    fn dropping_kills_the_child_and_the_grandchildren_it_left_behind() {
        // The shell starts a sleeper in the background and then waits itself.
        let shell = Reaped::spawn(Command::new("sh").args(["-c", "sleep 300 & sleep 300"]))
            .expect("start sh");
        let root = shell.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut tree = descendants(root);
        while tree.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tree = descendants(root);
        }
        assert_eq!(tree.len(), 2, "{tree:?}");
        drop(shell);
        std::thread::sleep(std::time::Duration::from_millis(200));
        for pid in tree {
            assert!(!alive(pid), "{pid} survived");
        }
    }
}
