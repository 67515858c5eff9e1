//! Granting quota to a structure: the coordinator's API and the command
//! line take the same checks, so a grant means the same whoever makes it.

use super::{AppError, AppResult};
use crate::clock::parse_rfc3339;
use crate::code::Label;
use crate::domain::{MAX_GRANT_AMOUNT, Recurrence};
use crate::storage::{NewGrant, Store};

/// A grant as asked for (checked here).
#[derive(Debug, Clone, Copy)]
pub struct GrantOrder<'a> {
    pub structure_id: i64,
    /// The network the quota is for.
    pub operator_id: i64,
    /// The quota resource (`data_mb`, `voice`).
    pub resource: &'a str,
    /// Units of the resource, 1 to [`MAX_GRANT_AMOUNT`].
    pub amount: i64,
    /// RFC 3339, in the future: the unused remainder lapses then.
    pub expires_at: Option<&'a str>,
    pub recurrence: Option<Recurrence>,
}

/// Checks the resource and amount of any quota asked for: a grant, a
/// transfer between an association and a member, a need.
pub fn check_quota_ask(resource: &str, amount: i64) -> AppResult<()> {
    if Label::new(resource).is_none() {
        return Err(AppError::invalid(
            "resource",
            "lower-case letters, digits, - and _, at most 32",
        ));
    }
    if !(1..=MAX_GRANT_AMOUNT).contains(&amount) {
        return Err(AppError::invalid(
            "amount",
            format!("between 1 and {MAX_GRANT_AMOUNT}"),
        ));
    }
    Ok(())
}

/// Checks a grant against the rules every grant follows, as of `now`.
pub fn check(order: GrantOrder<'_>, now: i64) -> AppResult<NewGrant> {
    check_quota_ask(order.resource, order.amount)?;
    let ends_at = order
        .expires_at
        .map(|t| {
            parse_rfc3339(t)
                .filter(|&t| t > now)
                .ok_or_else(|| AppError::invalid("expires_at", "an RFC 3339 time in the future"))
        })
        .transpose()?;
    Ok(NewGrant {
        structure_id: order.structure_id,
        operator_id: order.operator_id,
        resource: order.resource.to_owned(),
        amount: order.amount,
        starts_at: now,
        ends_at,
        recurrence: order.recurrence,
    })
}

/// Grants quota by `actor` (as events name it); answers the grant's id and
/// what was granted.
pub async fn grant(
    store: &Store,
    actor: &str,
    order: GrantOrder<'_>,
    now: i64,
) -> AppResult<(i64, NewGrant)> {
    let grant = check(order, now)?;
    let id = store.create_grant(actor, &grant, now).await?;
    tracing::info!(
        grant = id,
        structure = grant.structure_id,
        operator = grant.operator_id,
        resource = %grant.resource,
        amount = grant.amount,
        "quota granted"
    );
    Ok((id, grant))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> GrantOrder<'static> {
        GrantOrder {
            structure_id: 1,
            operator_id: 1,
            resource: "data_mb",
            amount: 1000,
            expires_at: None,
            recurrence: None,
        }
    }

    #[test]
    fn a_grant_needs_a_resource_name_an_amount_in_range_and_a_future_end() {
        assert!(check(order(), 0).is_ok());
        let field = |o, now| match check(o, now) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            field(
                GrantOrder {
                    resource: "Data MB",
                    ..order()
                },
                0
            ),
            "resource"
        );
        assert_eq!(
            field(
                GrantOrder {
                    amount: 0,
                    ..order()
                },
                0
            ),
            "amount"
        );
        let too_much = MAX_GRANT_AMOUNT + 1;
        assert_eq!(
            field(
                GrantOrder {
                    amount: too_much,
                    ..order()
                },
                0
            ),
            "amount"
        );
        let past = GrantOrder {
            expires_at: Some("2020-01-01T00:00:00Z"),
            ..order()
        };
        assert_eq!(field(past, 1_700_000_000), "expires_at");
        let future = GrantOrder {
            expires_at: Some("2030-01-01T00:00:00Z"),
            ..order()
        };
        assert_eq!(
            check(future, 1_700_000_000)
                .map(|g| g.ends_at.is_some())
                .ok(),
            Some(true)
        );
    }
}
