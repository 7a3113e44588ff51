//! Noticing that a statement's client has gone, as PostgreSQL 14+ does with
//! `client_connection_check_interval`: while a statement runs, its connection's socket is
//! polled every interval (Ember: 1 s by default, `0` turns it off); once the peer has
//! closed or reset it, the statement is cancelled, which frees its memory, its CPU and its
//! Python workers instead of computing a result nobody will read. An idle connection is
//! not polled (pgwire reads it and sees the close itself).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Weak;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::session::Session;

/// Tells whether the client at the other end of a connection is still there.
pub trait ClientProbe: Send + Sync + 'static {
    /// `true` once the client closed or reset the connection. Must not block or read.
    fn gone(&self) -> bool;
}

/// A probe of a TCP connection's socket (a duplicate of its descriptor, so the protocol
/// code keeps the socket itself). Data the client sent ahead (pipelined messages) is not
/// consumed and does not hide a close: `POLLRDHUP` reports the peer's FIN even then.
pub struct SocketProbe {
    fd: OwnedFd,
}

impl SocketProbe {
    pub fn new(socket: &impl AsFd) -> std::io::Result<Self> {
        Ok(Self { fd: socket.as_fd().try_clone_to_owned()? })
    }
}

impl ClientProbe for SocketProbe {
    #[cfg(target_os = "linux")]
    fn gone(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(&self.fd, PollFlags::RDHUP)];
        let now = Timespec { tv_sec: 0, tv_nsec: 0 };
        match poll(&mut fds, Some(&now)) {
            Ok(0) | Err(_) => false,
            Ok(_) => fds[0].revents().intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn gone(&self) -> bool {
        let _ = &self.fd;
        false
    }
}

/// Watch one connection's client until `ended` fires (the connection closed) or the
/// session is gone; cancel the session's statement when the client disappears.
pub async fn watch_client(session: Weak<Session>, probe: impl ClientProbe, ended: CancellationToken) {
    let mut interval = match session.upgrade() {
        Some(s) => s.settings().client_check_interval(),
        None => return,
    };
    loop {
        // Off (0): look at the setting again now and then.
        let wait = if interval.is_zero() { Duration::from_secs(1) } else { interval };
        tokio::select! {
            _ = ended.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(session) = session.upgrade() else { return };
        interval = session.settings().client_check_interval();
        if interval.is_zero() || !session.statement_running() || !probe.gone() {
            continue;
        }
        tracing::info!("client connection lost: cancelling its statement");
        session.cancel_statement();
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_closed_peer_is_gone_pipelined_data_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let probe = SocketProbe::new(&server).unwrap();
        assert!(!probe.gone());
        // Bytes waiting to be read are not a close.
        client.write_all(b"pipelined").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!probe.gone());
        // A close behind unread data is still seen.
        drop(client);
        std::thread::sleep(Duration::from_millis(20));
        assert!(probe.gone());
    }
}
