//! Operators: the networks a top-up is for. An SFR SIM cannot take an
//! Orange top-up, so every product, grant and operator token names one.

use serde::{Deserialize, Serialize};

use super::{DomainError, check_text};

/// Longest operator name.
pub const MAX_OPERATOR_NAME_CHARS: usize = 100;
/// Longest slip instructions, in either language: a few short lines on a
/// printed slip.
pub const MAX_INSTRUCTIONS_CHARS: usize = 200;

/// Operator ids events name when they were written before networks
/// existed: the upgrade attaches everything to the one operator it
/// creates, which is the database's first.
pub const FIRST_OPERATOR_ID: i64 = 1;

/// An operator to register, as the coordinator asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    /// The network's name, as structures and donors know it (`SFR`).
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub name: String,
    /// What to do with a top-up on this network, printed on its slips in
    /// French (e.g. the number to dial); at most 200 characters.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub instructions_fr: Option<String>,
    /// The same, in English.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub instructions_en: Option<String>,
}

impl NewOperator {
    /// The operator with its texts trimmed, or the first field that is
    /// wrong.
    pub fn checked(&self) -> Result<Self, DomainError> {
        let name = check_text("name", Some(&self.name), MAX_OPERATOR_NAME_CHARS)?
            .ok_or_else(|| DomainError::validation("name", "must not be empty"))?;
        Ok(Self {
            name,
            instructions_fr: check_text(
                "instructions_fr",
                self.instructions_fr.as_deref(),
                MAX_INSTRUCTIONS_CHARS,
            )?,
            instructions_en: check_text(
                "instructions_en",
                self.instructions_en.as_deref(),
                MAX_INSTRUCTIONS_CHARS,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> NewOperator {
        NewOperator {
            name: name.into(),
            instructions_fr: None,
            instructions_en: None,
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(named("  SFR ").checked().unwrap().name, "SFR");
        assert!(named("   ").checked().is_err());
        assert!(named(&"x".repeat(101)).checked().is_err());
        let mut long = named("SFR");
        long.instructions_fr = Some("y".repeat(201));
        assert!(matches!(
            long.checked(),
            Err(DomainError::Validation {
                field: "instructions_fr",
                ..
            })
        ));
    }
}
