//! How often one client may try to sign in at the desk: a structure token
//! is a bearer secret, so guesses must stay slow whatever they guess.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::DefaultKeyedRateLimiter;
use governor::clock::{Clock as _, DefaultClock};

/// The key every client shares when the server does not say who is
/// connecting: everyone then waits together, which is stricter than a
/// limit per client, never looser.
const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Where a sign-in attempt comes from, as the limiter counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientKey(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        Ok(Self(address.map_or(UNKNOWN_CLIENT, network_of)))
    }
}

/// The address the limiter counts for `ip`. An IPv6 client is usually
/// handed a whole /64 and may pick any address in it, so it is counted by
/// its /64; an IPv4 address seen through IPv6 counts as itself.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Counts one attempt from `client`; over the limit, the seconds to wait.
pub fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, client: ClientKey) -> Result<(), u64> {
    limiter.check_key(&client.0).map_err(|not_until| {
        not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            .saturating_add(1)
    })
}

/// The answer to a client over a limit: `response` (a page drawn with
/// status 429) with the seconds to wait in `Retry-After`.
pub fn with_retry_after(
    mut response: axum::response::Response,
    wait_secs: u64,
) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(wait_secs),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_ne!(network_of(a), network_of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_limit_refuses_past_its_attempts_and_says_how_long_to_wait() {
        let limiter = governor::RateLimiter::keyed(crate::app::desk_sign_in_quota(2));
        let client = ClientKey("192.0.2.1".parse().unwrap());
        let neighbour = ClientKey("192.0.2.2".parse().unwrap());
        assert_eq!(check(&limiter, client), Ok(()));
        assert_eq!(check(&limiter, client), Ok(()));
        let wait = check(&limiter, client).unwrap_err();
        assert!((1..=31).contains(&wait), "{wait}");
        assert_eq!(check(&limiter, neighbour), Ok(()));
    }
}
