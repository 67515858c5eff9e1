//! Operators: the networks a top-up is for. An SFR SIM cannot take an
//! Orange top-up, so every product, grant and operator token names one.

use serde::{Deserialize, Serialize};

use super::{DomainError, check_text};

/// Longest operator name.
pub const MAX_OPERATOR_NAME_CHARS: usize = 100;
/// Longest slip instructions, in either language: a few short lines on a
/// printed slip.
pub const MAX_INSTRUCTIONS_CHARS: usize = 200;

/// Shortest and longest dialling pattern (`*144*PIN#` is 9 characters).
pub const MIN_DIAL_PATTERN_CHARS: usize = 5;
pub const MAX_DIAL_PATTERN_CHARS: usize = 40;
/// What stands for the PIN's twenty digits in a dialling pattern.
pub const PIN_PLACEHOLDER: &str = "PIN";

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
    /// How a basic phone tops up with a PIN: the USSD string with `PIN`
    /// where the twenty digits go (`*144*PIN#`). PIN slips turn it into a
    /// sentence in each language printed; `null`: the free instructions.
    #[serde(default)]
    #[schema(
        min_length = 5,
        max_length = 40,
        pattern = r"^[0-9*#]+PIN[0-9*#]*#$",
        example = "*144*PIN#"
    )]
    pub slip_instructions: Option<String>,
}

/// The two sides of a dialling pattern around the PIN (`*144*`, `#`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialling<'a> {
    pub before: &'a str,
    pub after: &'a str,
}

/// Reads a dialling pattern: keys a phone pad has (digits, `*`, `#`),
/// `PIN` once, and a closing `#` as every USSD request has. `None` for
/// anything else, so that a slip never prints a string no phone can dial.
pub fn dialling(pattern: &str) -> Option<Dialling<'_>> {
    let length = pattern.chars().count();
    if !(MIN_DIAL_PATTERN_CHARS..=MAX_DIAL_PATTERN_CHARS).contains(&length) {
        return None;
    }
    let (before, after) = pattern.split_once(PIN_PLACEHOLDER)?;
    let keys = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    };
    let fits = !before.is_empty() && keys(before) && keys(after) && after.ends_with('#');
    fits.then_some(Dialling { before, after })
}

/// A dialling pattern, exactly as the API stores it, or the field's error.
pub fn check_dialling(pattern: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    dialling(pattern)
        .map(|_| Some(pattern.to_owned()))
        .ok_or_else(|| {
            DomainError::validation(
                "slip_instructions",
                "a USSD string with PIN where the code goes, ending with # (e.g. *144*PIN#)",
            )
        })
}

/// A dialling pattern as a person types it at the desk or on the command
/// line: spaces dropped and letters upper-cased (a valid pattern's only
/// letters are `PIN`); `None` when nothing was typed.
pub fn tidy_dialling(typed: &str) -> Option<String> {
    let tidy: String = typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    (!tidy.is_empty()).then_some(tidy)
}

/// A change to an operator's dialling instructions for PIN slips.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlipInstructions {
    /// The USSD string with `PIN` where the twenty digits go
    /// (`*144*PIN#`), or `null` to print the free instructions instead.
    #[schema(
        min_length = 5,
        max_length = 40,
        pattern = r"^[0-9*#]+PIN[0-9*#]*#$",
        example = "*144*PIN#"
    )]
    pub slip_instructions: Option<String>,
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
            slip_instructions: check_dialling(self.slip_instructions.as_deref())?,
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
            slip_instructions: None,
        }
    }

    #[test]
    fn dialling_patterns_are_keys_a_phone_has() {
        assert_eq!(
            dialling("*144*PIN#"),
            Some(Dialling {
                before: "*144*",
                after: "#"
            })
        );
        assert_eq!(
            dialling("#124*PIN*1#"),
            Some(Dialling {
                before: "#124*",
                after: "*1#"
            })
        );
        for bad in [
            "PIN#",
            "*144*PIN",
            "*144*",
            "*144*PIN#PIN#",
            "*1a4*PIN#",
            "*144*PIN# ",
            "",
        ] {
            assert_eq!(dialling(bad), None, "{bad:?}");
        }
        assert_eq!(dialling(&format!("*{}*PIN#", "1".repeat(40))), None);
        assert_eq!(tidy_dialling(" *144* pin # ").as_deref(), Some("*144*PIN#"));
        assert_eq!(tidy_dialling("  "), None);
        assert!(check_dialling(Some(" *144*PIN#")).is_err());
        assert_eq!(check_dialling(None).unwrap(), None);
        assert!(matches!(
            check_dialling(Some("appelez le 950")),
            Err(DomainError::Validation {
                field: "slip_instructions",
                ..
            })
        ));
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
