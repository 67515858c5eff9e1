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

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

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

/// The address a connection counts against: an IPv4 address (also when
/// written as IPv4-mapped IPv6) as it is; an IPv6 address by its /64, which
/// one client commonly holds whole.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// The open connections: how many each address holds, and which sit idle
/// between requests, so that a full server can close those first.
struct Registry {
    per_address_cap: usize,
    open: Mutex<Open>,
    /// Told whenever a connection turns idle, for a new connection waiting
    /// for a slot.
    turned_idle: Notify,
}

#[derive(Default)]
struct Open {
    /// Only addresses holding at least one connection: an entry is removed
    /// when its count falls to zero, so the map is bounded by the open
    /// connections, not by every address ever seen.
    per_address: HashMap<IpAddr, usize>,
    /// Connections answered and read nothing since, by id.
    idle: HashMap<u64, Idle>,
    /// Connections asked to close for a new one, not closed yet: while one
    /// is on its way out, its slot is coming, and no other is closed.
    closing: HashSet<u64>,
    next_id: u64,
}

struct Idle {
    since: std::time::Instant,
    close: Arc<Notify>,
}

impl Registry {
    fn new(per_address_cap: usize) -> Self {
        Self {
            per_address_cap,
            open: Mutex::new(Open::default()),
            turned_idle: Notify::new(),
        }
    }

    /// The lock cannot be poisoned by anything that leaves `Open` half
    /// changed (nothing in it panics), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `ip`, or `None` if its address already
    /// holds its limit. The count is given back when the returned value is
    /// dropped.
    fn admit(registry: &Arc<Self>, ip: IpAddr) -> Option<Arc<Tracked>> {
        let address = counted_as(ip);
        let mut open = registry.lock();
        let held = open.per_address.get(&address).copied().unwrap_or(0);
        if held >= registry.per_address_cap {
            return None;
        }
        open.per_address.insert(address, held + 1);
        let id = open.next_id;
        open.next_id = open.next_id.wrapping_add(1);
        drop(open);
        Some(Arc::new(Tracked {
            id,
            address,
            registry: Arc::clone(registry),
            idle: AtomicBool::new(false),
            close: Arc::new(Notify::new()),
        }))
    }

    /// Asks the connection idle the longest to close, unless one asked
    /// before is still closing.
    fn close_longest_idle(&self) {
        let close = {
            let mut open = self.lock();
            if !open.closing.is_empty() {
                return;
            }
            let Some(id) = open
                .idle
                .iter()
                // Ids break ties: the older connection first.
                .min_by_key(|&(&id, idle)| (idle.since, id))
                .map(|(&id, _)| id)
            else {
                return;
            };
            let Some(idle) = open.idle.remove(&id) else {
                return;
            };
            open.closing.insert(id);
            idle.close
        };
        close.notify_one();
    }
}

/// One open connection's place in the [`Registry`]; dropping the last
/// reference gives back its address's count, however the connection ended.
struct Tracked {
    id: u64,
    address: IpAddr,
    registry: Arc<Registry>,
    /// Mirrors membership of `Open::idle`, so that reads need not take the
    /// lock to say the connection is busy again.
    idle: AtomicBool,
    close: Arc<Notify>,
}

impl Tracked {
    /// Its last answer is sent: it may be closed for a new connection.
    fn turned_idle(&self) {
        {
            let mut open = self.registry.lock();
            if open.closing.contains(&self.id) {
                return;
            }
            open.idle.insert(
                self.id,
                Idle {
                    since: std::time::Instant::now(),
                    close: Arc::clone(&self.close),
                },
            );
            self.idle.store(true, Ordering::Relaxed);
        }
        self.registry.turned_idle.notify_one();
    }

    /// A byte of a next request arrived: closing it now would cut that
    /// request.
    fn turned_busy(&self) {
        if self.idle.swap(false, Ordering::Relaxed) {
            self.registry.lock().idle.remove(&self.id);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        open.idle.remove(&self.id);
        open.closing.remove(&self.id);
        if let Some(held) = open.per_address.get_mut(&self.address) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

/// An answer's body; when it is dropped (sent, or abandoned with its
/// connection), the connection turns idle.
struct Answer {
    body: Body,
    _idle_after: IdleOnceSent,
}

struct IdleOnceSent(Arc<Tracked>);

impl Drop for IdleOnceSent {
    fn drop(&mut self) {
        self.0.turned_idle();
    }
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Says, at most once a minute, how many connections were refused for
/// their address's limit: one line each would let a flood fill the log.
#[derive(Default)]
struct Refusals {
    last_said: Option<Instant>,
    since_said: u64,
}

impl Refusals {
    const INTERVAL: Duration = Duration::from_secs(60);

    fn note(&mut self, ip: IpAddr, cap: usize) {
        self.since_said += 1;
        let now = Instant::now();
        if self
            .last_said
            .is_some_and(|said| now.duration_since(said) < Self::INTERVAL)
        {
            return;
        }
        tracing::warn!(
            address = %ip,
            refused = self.since_said,
            cap,
            "closed new connections from addresses holding --max-connections-per-address \
             (behind a reverse proxy every client shares its address: raise the limit there)"
        );
        self.last_said = Some(now);
        self.since_said = 0;
    }
}

/// A TCP stream that fails with `TimedOut` once no byte has moved in either
/// direction for `idle`; the connection is then closed. It also tells the
/// [`Registry`] when a byte arrives on a connection it counts as idle.
struct IdleTimeout {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    tracked: Arc<Tracked>,
}

impl IdleTimeout {
    fn new(stream: TcpStream, idle: Duration, tracked: Arc<Tracked>) -> Self {
        Self {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            tracked,
        }
    }
    /// After an operation on the stream: progress moves the deadline, a
    /// wait checks it (and registers for its wake-up).
    fn after<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                let deadline = Instant::now() + self.idle;
                self.deadline.as_mut().reset(deadline);
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracked.turned_busy();
        }
        this.after(cx, polled)
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.after(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::net::Ipv4Addr;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn held(registry: &Registry, ip: IpAddr) -> Option<usize> {
        registry.lock().per_address.get(&counted_as(ip)).copied()
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_gives_back_on_drop() {
        let registry = Arc::new(Registry::new(2));
        let first = Registry::admit(&registry, A).unwrap();
        let second = Registry::admit(&registry, A).unwrap();
        assert!(Registry::admit(&registry, A).is_none());
        let other = Registry::admit(&registry, B).unwrap();
        assert_eq!(held(&registry, A), Some(2));
        drop(first);
        let third = Registry::admit(&registry, A).unwrap();
        drop((second, third, other));
        // Nothing left behind for addresses that hold nothing.
        assert!(registry.lock().per_address.is_empty());
    }

    #[test]
    fn the_count_holds_under_concurrency() {
        const CAP: usize = 4;
        let registry = Arc::new(Registry::new(CAP));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let now_held = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (registry, most_at_once, now_held) = (
                    Arc::clone(&registry),
                    Arc::clone(&most_at_once),
                    Arc::clone(&now_held),
                );
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        if let Some(tracked) = Registry::admit(&registry, A) {
                            let n = now_held.fetch_add(1, Ordering::SeqCst) + 1;
                            most_at_once.fetch_max(n, Ordering::SeqCst);
                            tracked.turned_idle();
                            tracked.turned_busy();
                            now_held.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most_at_once.load(Ordering::SeqCst) <= CAP);
        let open = registry.lock();
        assert!(open.per_address.is_empty());
        assert!(open.idle.is_empty());
        assert!(open.closing.is_empty());
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(counted_as(one), counted_as(same_64));
        assert_ne!(counted_as(one), counted_as(other_64));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(counted_as(mapped), A);
    }

    #[test]
    fn the_longest_idle_is_closed_one_at_a_time_and_never_a_busy_one() {
        let registry = Arc::new(Registry::new(10));
        let busy = Registry::admit(&registry, A).unwrap();
        let older = Registry::admit(&registry, A).unwrap();
        let newer = Registry::admit(&registry, B).unwrap();
        registry.close_longest_idle();
        assert!(registry.lock().closing.is_empty(), "closed a busy one");
        older.turned_idle();
        newer.turned_idle();
        registry.close_longest_idle();
        assert!(registry.lock().closing.contains(&older.id));
        // While it closes, no other is asked to.
        registry.close_longest_idle();
        assert_eq!(registry.lock().closing.len(), 1);
        assert!(registry.lock().idle.contains_key(&newer.id));
        drop(older);
        // A byte of a next request: no longer a candidate.
        newer.turned_busy();
        registry.close_longest_idle();
        assert!(registry.lock().closing.is_empty());
        drop((busy, newer));
        assert!(registry.lock().per_address.is_empty());
    }
}
