//! Accepting connections, with the limits a service facing the internet
//! needs: at most `max_connections` at once, at most
//! `max_connections_per_address` of them from one client, a deadline for
//! each request's headers, and a deadline for a connection on which nothing
//! moves.
//!
//! Without them a client that opens connections and sends nothing (or half
//! a request, or never reads its answer) holds a file descriptor for ever,
//! and enough such clients stop the service from accepting anyone.
//!
//! - The header deadline (`header_read_timeout_secs`) runs from the moment
//!   the server waits for a request (a new connection, or a kept-alive one
//!   after its last answer) until that request's headers are complete. It
//!   closes idle and half-sent connections alike.
//! - The idle deadline (`idle_timeout_secs`) closes a connection on which no
//!   byte was read or written for that long, whatever it is doing: a body
//!   trickling in, an answer nobody reads.
//! - A new connection from an address that already holds
//!   `max_connections_per_address` is closed as soon as it is accepted,
//!   before it takes one of the `max_connections` slots, so one client
//!   cannot take them all (a security review saw 1,500 idle sockets from
//!   one address keep everyone else out for over 20 s). IPv6 clients are
//!   counted by /64, since one client commonly holds a whole /64 and could
//!   otherwise use a new address for each connection.
//! - At `max_connections`, the connection that has been idle longest (kept
//!   alive after its answer, and no byte of a next request read since) is
//!   asked to close, and the new connection takes its slot: a client's
//!   pool of idle connections must not keep a new client waiting. HTTP/1.1
//!   clients expect an idle kept-alive connection to be closed at any time.
//!   Connections with a request under way, or that have sent nothing yet,
//!   are left alone: closing them would cut a request, or a client whose
//!   first bytes are on their way; the per-address limit and the header
//!   deadline bound them. When no connection is idle, new connections wait
//!   in the kernel's backlog until one closes, rather than taking file
//!   descriptors the database and the key file need.
//!
//! Each request carries its peer address as [`ConnectInfo`], for the limits
//! that count per client.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, watch};
use tower::ServiceExt;

mod idle;
mod registry;

use idle::IdleTimeout;
use registry::{Answer, IdleOnceSent, Refusals, Registry, Tracked};

/// The connection limits (from [`crate::config::Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// Most connections one client address (IPv6: one /64) may hold.
    pub max_connections_per_address: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // `Semaphore::new` panics over its maximum; no one means that many.
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let registry = Arc::new(Registry::new(limits.max_connections_per_address));
    // Each connection's task holds a clone; once every clone is gone,
    // `recv` answers `None`: how shutdown knows the last connection ended.
    let (alive, mut all_ended) = mpsc::channel::<()>(1);
    let mut refusals = Refusals::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        // Counted before it takes a slot, so that an address at its limit
        // costs the others nothing but this accept and close.
        let Some(tracked) = Registry::admit(&registry, peer.ip()) else {
            drop(stream);
            refusals.note(peer.ip(), limits.max_connections_per_address);
            continue;
        };
        let slot = tokio::select! {
            slot = free_slot(&slots, &registry) => slot?,
            () = stopped(&mut stop) => break,
        };
        // Answers are small; do not hold them back for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        // Requests hyper cannot read are answered as problems too.
        let io = TokioIo::new(crate::parse_problems::ProblemHeads::new(IdleTimeout::new(
            stream,
            limits.idle_timeout,
            Arc::clone(&tracked),
        )));
        let answered = Arc::clone(&tracked);
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .map_response(move |response: Response| {
                let idle_after = IdleOnceSent(Arc::clone(&answered));
                response.map(|body| {
                    Body::new(Answer {
                        body,
                        _idle_after: idle_after,
                    })
                })
            });
        let connection = builder.serve_connection(io, TowerToHyperService::new(service));
        let mut stop = stop.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            {
                let mut connection = std::pin::pin!(connection);
                let mut closing = false;
                loop {
                    tokio::select! {
                        ended = connection.as_mut() => {
                            if let Err(e) = ended {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                            break;
                        }
                        () = asked_to_close(&mut stop, &tracked), if !closing => {
                            // Closes it now if it is between requests;
                            // otherwise once the answer under way is sent.
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                }
            }
            // The socket is closed (the connection dropped) before its slot
            // is given back; its address's count goes with the last
            // `Arc<Tracked>`, here or just above, however it ended.
            drop(tracked);
            drop(slot);
            drop(alive);
        });
    }
    drop(listener);
    drop(alive);
    let _ = all_ended.recv().await;
    Ok(())
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here.
    let _ = stop.wait_for(|&s| s).await.map(|_| ());
}

/// Resolves once the server stops or a new connection needs this one's
/// slot.
async fn asked_to_close(stop: &mut watch::Receiver<bool>, tracked: &Tracked) {
    tokio::select! {
        () = stopped(stop) => {}
        () = tracked.close.notified() => {}
    }
}

/// A slot for a new connection: a free one, or else the slot of the
/// connection idle the longest, asked to close for it. With none idle, it
/// waits for any connection to end, or to turn idle.
async fn free_slot(
    slots: &Arc<Semaphore>,
    registry: &Registry,
) -> io::Result<OwnedSemaphorePermit> {
    loop {
        // Made before looking, so a connection turning idle in between is
        // not missed (a stored notification only costs one more look).
        let turned_idle = registry.turned_idle.notified();
        match Arc::clone(slots).try_acquire_owned() {
            Ok(slot) => return Ok(slot),
            Err(TryAcquireError::Closed) => {
                return Err(io::Error::other("connection slots closed"));
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        registry.close_longest_idle();
        tokio::select! {
            slot = Arc::clone(slots).acquire_owned() => return slot.map_err(io::Error::other),
            () = turned_idle => {}
        }
    }
}

/// Accepting fails when the process is out of file descriptors (or the
/// peer gave up before we took it); waiting a moment lets connections close
/// rather than spinning on the error.
async fn wait_after_accept_error(error: io::Error) {
    let per_connection = matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    );
    if per_connection {
        return;
    }
    tracing::error!(error = %error, "cannot accept connections; retrying in one second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
