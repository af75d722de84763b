//! Getting messages to the receiver (`config::syslog::Target`): a `Sender` that writes UDP
//! datagrams, or TCP frames with the octet-counting framing of RFC 6587 over one connection,
//! reopened after a failure.

use std::io;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UdpSocket};

use crate::config::syslog::{Protocol, Target};

/// Patience for connecting and for each write: a stuck receiver must not stall the forwarder.
const PATIENCE: Duration = Duration::from_secs(5);

/// Sends to one target, keeping its socket or connection between batches.
#[derive(Debug)]
pub struct Sender {
    target: Target,
    udp: Option<UdpSocket>,
    tcp: Option<TcpStream>,
}

impl Sender {
    /// A sender that connects on first use.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            udp: None,
            tcp: None,
        }
    }

    /// Sends every message in order; after an error the connection is dropped, so the next
    /// call starts afresh (and the caller sends the batch again).
    pub async fn send(&mut self, messages: &[String]) -> io::Result<()> {
        let sent = self.try_send(messages).await;
        if sent.is_err() {
            self.udp = None;
            self.tcp = None;
        }
        sent
    }

    async fn try_send(&mut self, messages: &[String]) -> io::Result<()> {
        match self.target.protocol {
            Protocol::Udp => {
                if self.udp.is_none() {
                    self.udp = Some(self.open_udp().await?);
                }
                let socket = self.udp.as_ref().ok_or_else(not_open)?;
                for message in messages {
                    patient(socket.send(message.as_bytes())).await?;
                }
            }
            Protocol::Tcp => {
                if self.tcp.is_none() {
                    let addr = (self.target.host.as_str(), self.target.port);
                    self.tcp = Some(patient(TcpStream::connect(addr)).await?);
                }
                let stream = self.tcp.as_mut().ok_or_else(not_open)?;
                let mut frames = Vec::new();
                for message in messages {
                    frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
                    frames.extend_from_slice(message.as_bytes());
                }
                patient(stream.write_all(&frames)).await?;
                patient(stream.flush()).await?;
            }
        }
        Ok(())
    }

    async fn open_udp(&self) -> io::Result<UdpSocket> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let addrs = patient(tokio::net::lookup_host((
            self.target.host.as_str(),
            self.target.port,
        )));
        for addr in addrs.await? {
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket = UdpSocket::bind(local).await?;
            match socket.connect(addr).await {
                Ok(()) => return Ok(socket),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn not_open() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "not connected")
}

async fn patient<T>(work: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(PATIENCE, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the receiver did not answer"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for raw in [
            "udp://siem.example:514",
            "tcp://10.0.0.5:6514",
            "tcp://[::1]:514",
        ] {
            let target: Target = raw.parse().unwrap();
            assert_eq!(target.to_string(), raw);
        }
        assert_eq!(
            "tcp://[::1]:514".parse::<Target>().unwrap().protocol,
            Protocol::Tcp
        );
    }

    #[test]
    fn malformed_targets_are_refused() {
        for raw in [
            "",
            "siem:514",
            "http://siem:514",
            "udp://siem",
            "udp://siem:0",
            "udp://siem:70000",
            "udp://:514",
            "udp://user@siem:514",
            "udp://siem/path:514",
            "tcp://[not-v6]:514",
            "udp://si em:514",
            "udp://siem;rm:514",
        ] {
            assert!(raw.parse::<Target>().is_err(), "{raw:?} was accepted");
        }
    }
}
