//! Who holds the connections: the count per address (an IPv6 client by
//! its /64), which ones are idle since their last answer, and the
//! connection asked to close when every slot is taken.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The address a connection counts against: an IPv4 address (also when
/// written as IPv4-mapped IPv6) as it is; an IPv6 address by its /64, which
/// one client commonly holds whole.
pub(super) fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// The open connections: how many each address holds, and which sit idle
/// between requests, so that a full server can close those first.
pub(super) struct Registry {
    pub(super) per_address_cap: usize,
    open: Mutex<Open>,
    /// Told whenever a connection turns idle, for a new connection waiting
    /// for a slot.
    pub(super) turned_idle: Notify,
}

#[derive(Default)]
pub(super) struct Open {
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

pub(super) struct Idle {
    since: std::time::Instant,
    close: Arc<Notify>,
}

impl Registry {
    pub(super) fn new(per_address_cap: usize) -> Self {
        Self {
            per_address_cap,
            open: Mutex::new(Open::default()),
            turned_idle: Notify::new(),
        }
    }

    /// The lock cannot be poisoned by anything that leaves `Open` half
    /// changed (nothing in it panics), so a poisoned lock is used as is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `ip`, or `None` if its address already
    /// holds its limit. The count is given back when the returned value is
    /// dropped.
    pub(super) fn admit(registry: &Arc<Self>, ip: IpAddr) -> Option<Arc<Tracked>> {
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
    pub(super) fn close_longest_idle(&self) {
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
pub(super) struct Tracked {
    id: u64,
    address: IpAddr,
    registry: Arc<Registry>,
    /// Mirrors membership of `Open::idle`, so that reads need not take the
    /// lock to say the connection is busy again.
    idle: AtomicBool,
    pub(super) close: Arc<Notify>,
}

impl Tracked {
    /// Its last answer is sent: it may be closed for a new connection.
    pub(super) fn turned_idle(&self) {
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
    pub(super) fn turned_busy(&self) {
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
pub(super) struct Answer {
    pub(super) body: Body,
    pub(super) _idle_after: IdleOnceSent,
}

pub(super) struct IdleOnceSent(pub(super) Arc<Tracked>);

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
pub(super) struct Refusals {
    last_said: Option<Instant>,
    since_said: u64,
}

impl Refusals {
    pub(super) const INTERVAL: Duration = Duration::from_secs(60);

    pub(super) fn note(&mut self, ip: IpAddr, cap: usize) {
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
