//! Quota rules: how issue draws from a structure's grants, how give-backs
//! return, when a grant's remainder lapses, and when a recurring grant credits
//! again. Pure functions over plain data; storage applies their results.
//!
//! A grant credits a *bucket* (one at once, then one a month if it recurs).
//! Issue draws from the live buckets that lapse first, so a structure never
//! loses quota it could have used. A voucher remembers the buckets it drew
//! from: voiding or expiry gives its amount back to them, or lapses it at
//! once if a bucket has lapsed meanwhile.

use serde::Serialize;

/// A bucket as issue sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub id: i64,
    pub remaining: i64,
    /// Unix seconds after which the unused remainder lapses; `None`: never.
    pub expires_at: Option<i64>,
}

impl Bucket {
    pub fn is_live(&self, now_secs: i64) -> bool {
        self.expires_at.is_none_or(|t| now_secs < t)
    }
}

/// An amount drawn from one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Take {
    pub bucket_id: i64,
    pub amount: i64,
}

/// There was not enough quota: what was available and what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub available: i64,
    pub requested: i64,
}

/// Draws `count` vouchers of `amount` each from `buckets`, soonest-lapsing
/// first (then oldest). Returns each voucher's takes, or the shortfall; on a
/// shortfall nothing is drawn: issue is all or nothing.
pub fn allocate(
    buckets: &[Bucket],
    amount: i64,
    count: usize,
    now_secs: i64,
) -> Result<Vec<Vec<Take>>, Shortfall> {
    let mut live: Vec<Bucket> = buckets
        .iter()
        .filter(|b| b.is_live(now_secs) && b.remaining > 0)
        .copied()
        .collect();
    live.sort_by_key(|b| (b.expires_at.unwrap_or(i64::MAX), b.id));
    let available: i64 = live.iter().map(|b| b.remaining).sum();
    let requested = i64::try_from(count)
        .unwrap_or(i64::MAX)
        .saturating_mul(amount);
    if amount <= 0 || requested > available {
        return Err(Shortfall {
            available,
            requested,
        });
    }
    let mut cursor = live.iter_mut().peekable();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut needed = amount;
        let mut takes = Vec::with_capacity(1);
        while needed > 0 {
            let Some(bucket) = cursor.peek_mut() else {
                return Err(Shortfall {
                    available,
                    requested,
                });
            };
            let drawn = needed.min(bucket.remaining);
            bucket.remaining -= drawn;
            needed -= drawn;
            takes.push(Take {
                bucket_id: bucket.id,
                amount: drawn,
            });
            if bucket.remaining == 0 {
                cursor.next();
            }
        }
        out.push(takes);
    }
    Ok(out)
}

/// A structure's balance for one resource. `available` is what issue may
/// still draw: granted + received − sent − issued + returned − lapsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// The network this quota is for: a top-up works on one network only.
    pub operator_id: i64,
    pub resource: String,
    pub granted: i64,
    pub issued: i64,
    pub returned: i64,
    pub lapsed: i64,
    /// Arrived from the tree: allocations from its association, and
    /// claw-backs from its members.
    pub received: i64,
    /// Left for the tree: allocations to its members, and claw-backs by its
    /// association.
    pub sent: i64,
    pub available: i64,
}

impl Balance {
    pub fn new(
        operator_id: i64,
        resource: String,
        granted: i64,
        issued: i64,
        returned: i64,
        lapsed: i64,
    ) -> Self {
        Self {
            available: granted - issued + returned - lapsed,
            operator_id,
            resource,
            granted,
            issued,
            returned,
            lapsed,
            received: 0,
            sent: 0,
        }
    }

    /// The same balance with what arrived from the tree and left for it.
    pub fn with_transfers(mut self, received: i64, sent: i64) -> Self {
        self.available += received - self.received - (sent - self.sent);
        self.received = received;
        self.sent = sent;
        self
    }
}

/// How often a grant credits again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recurrence {
    Monthly,
}

impl Recurrence {
    pub fn as_str(self) -> &'static str {
        "monthly"
    }

    pub fn parse(text: &str) -> Option<Self> {
        (text == "monthly").then_some(Self::Monthly)
    }
}

/// When credit number `period` of a monthly grant falls: the same day of the
/// month and time as the start, `period` months later, on the month's last
/// day when it is shorter (a grant starting on 31 January credits on 28 or
/// 29 February).
pub fn monthly_credit_at(starts_at: i64, period: u32) -> Option<i64> {
    use time::OffsetDateTime;
    let start = OffsetDateTime::from_unix_timestamp(starts_at).ok()?;
    let months = i64::from(start.month() as u8 - 1) + i64::from(period);
    let year = start.year().checked_add(i32::try_from(months / 12).ok()?)?;
    let month = time::Month::try_from(u8::try_from(months % 12 + 1).ok()?).ok()?;
    let day = start.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    Some(date.with_time(start.time()).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(id: i64, remaining: i64, expires_at: Option<i64>) -> Bucket {
        Bucket {
            id,
            remaining,
            expires_at,
        }
    }

    #[test]
    fn draws_from_the_bucket_that_lapses_first() {
        let buckets = [b(1, 10, None), b(2, 5, Some(500)), b(3, 5, Some(100))];
        let takes = allocate(&buckets, 4, 2, 0).unwrap();
        assert_eq!(
            takes[0],
            vec![Take {
                bucket_id: 3,
                amount: 4
            }]
        );
        assert_eq!(
            takes[1],
            vec![
                Take {
                    bucket_id: 3,
                    amount: 1
                },
                Take {
                    bucket_id: 2,
                    amount: 3
                }
            ]
        );
    }

    #[test]
    fn lapsed_buckets_are_not_drawn() {
        let buckets = [b(1, 10, Some(100))];
        assert_eq!(
            allocate(&buckets, 1, 1, 100),
            Err(Shortfall {
                available: 0,
                requested: 1
            })
        );
    }

    #[test]
    fn all_or_nothing() {
        let buckets = [b(1, 10, None)];
        assert_eq!(
            allocate(&buckets, 4, 3, 0),
            Err(Shortfall {
                available: 10,
                requested: 12
            })
        );
    }

    #[test]
    fn monthly_credits_clamp_to_short_months() {
        let jan31 = time::macros::datetime!(2027-01-31 09:00 UTC).unix_timestamp();
        let feb28 = time::macros::datetime!(2027-02-28 09:00 UTC).unix_timestamp();
        let dec31 = time::macros::datetime!(2027-12-31 09:00 UTC).unix_timestamp();
        assert_eq!(monthly_credit_at(jan31, 0), Some(jan31));
        assert_eq!(monthly_credit_at(jan31, 1), Some(feb28));
        assert_eq!(monthly_credit_at(jan31, 11), Some(dec31));
    }

    proptest! {
        #[test]
        fn allocation_conserves_quota(
            remaining in prop::collection::vec((0i64..1000, prop::option::of(0i64..200)), 0..6),
            amount in 1i64..300, count in 1usize..10, now in 0i64..200,
        ) {
            let buckets: Vec<Bucket> = remaining.iter().enumerate()
                .map(|(i, &(r, e))| b(i as i64, r, e)).collect();
            let available: i64 = buckets.iter().filter(|b| b.is_live(now)).map(|b| b.remaining).sum();
            match allocate(&buckets, amount, count, now) {
                Ok(takes) => {
                    prop_assert_eq!(takes.len(), count);
                    for t in &takes {
                        prop_assert_eq!(t.iter().map(|t| t.amount).sum::<i64>(), amount);
                    }
                    for bucket in &buckets {
                        let drawn: i64 = takes.iter().flatten()
                            .filter(|t| t.bucket_id == bucket.id).map(|t| t.amount).sum();
                        prop_assert!(drawn <= bucket.remaining);
                        prop_assert!(drawn == 0 || bucket.is_live(now));
                    }
                }
                Err(s) => {
                    prop_assert_eq!(s.available, available);
                    prop_assert!(s.requested > available);
                }
            }
        }
    }
}
