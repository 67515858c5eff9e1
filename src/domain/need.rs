//! A structure's need for quota, and the answer it gets: approved in full
//! or in part, or declined with a reason. A transition table, like the
//! vouchers' lifecycle.

use serde::{Deserialize, Serialize};

use super::DomainError;

/// Longest reason for a need or for its refusal. Reasons are read by the
/// association; they must never hold names or personal data.
pub const MAX_NEED_REASON_CHARS: usize = 300;
/// Largest count of people a need may name.
pub const MAX_NEED_PEOPLE: i64 = 1_000_000;

/// Where a need is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NeedState {
    Open,
    Approved,
    Declined,
}

impl NeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Declined => "declined",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Approved, Self::Declined]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What its association (or the coordinator) does with a need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeedAnswer {
    Approve,
    Decline,
}

const TRANSITIONS: [(NeedState, NeedAnswer, NeedState); 2] = [
    (NeedState::Open, NeedAnswer::Approve, NeedState::Approved),
    (NeedState::Open, NeedAnswer::Decline, NeedState::Declined),
];

/// The state an answer leads to, or the state that refuses it: a need is
/// answered once.
pub fn next(current: NeedState, answer: NeedAnswer) -> Result<NeedState, DomainError> {
    TRANSITIONS
        .iter()
        .find(|(from, a, _)| *from == current && *a == answer)
        .map(|&(_, _, to)| to)
        .ok_or(DomainError::NeedAnswered(current))
}

/// What an approval gives: the amount asked for, or part of it.
pub fn approved_amount(asked: i64, offered: Option<i64>) -> Result<i64, DomainError> {
    match offered {
        None => Ok(asked),
        Some(a) if (1..=asked).contains(&a) => Ok(a),
        Some(_) => Err(DomainError::validation(
            "amount",
            format!("between 1 and the {asked} asked for"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_need_is_answered_once() {
        use NeedAnswer::*;
        use NeedState::*;
        assert_eq!(next(Open, Approve).ok(), Some(Approved));
        assert_eq!(next(Open, Decline).ok(), Some(Declined));
        for from in [Approved, Declined] {
            for answer in [Approve, Decline] {
                assert!(matches!(
                    next(from, answer),
                    Err(DomainError::NeedAnswered(s)) if s == from
                ));
            }
        }
    }

    #[test]
    fn an_approval_gives_all_or_part_never_more() {
        assert_eq!(approved_amount(10, None).ok(), Some(10));
        assert_eq!(approved_amount(10, Some(4)).ok(), Some(4));
        assert!(approved_amount(10, Some(11)).is_err());
        assert!(approved_amount(10, Some(0)).is_err());
    }

    #[test]
    fn states_read_back() {
        for s in [NeedState::Open, NeedState::Approved, NeedState::Declined] {
            assert_eq!(NeedState::parse(s.as_str()), Some(s));
        }
        assert_eq!(NeedState::parse("closed"), None);
    }
}
