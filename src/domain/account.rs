//! Personal accounts: who may create whom, what a login and a password
//! must look like. Hashing and storage live elsewhere; these are the rules.

use serde::{Deserialize, Serialize};

use super::{DomainError, MAX_LABEL_CHARS, Role, check_text};

/// What a person may do. Each maps onto the role of the tokens, so one
/// set of rules decides what a request may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    /// Everything an admin token can do.
    Coordinator,
    /// Reads everything, changes nothing.
    Auditor,
    /// Issues, and manages the staff accounts of its structure.
    StructureManager,
    /// Issues, prints, voids.
    StructureStaff,
}

impl AccountRole {
    pub const ALL: [Self; 4] = [
        Self::Coordinator,
        Self::Auditor,
        Self::StructureManager,
        Self::StructureStaff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coordinator => "coordinator",
            Self::Auditor => "auditor",
            Self::StructureManager => "structure_manager",
            Self::StructureStaff => "structure_staff",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The token role whose rights the account has.
    pub fn role(self) -> Role {
        match self {
            Self::Coordinator => Role::Admin,
            Self::Auditor => Role::Auditor,
            Self::StructureManager | Self::StructureStaff => Role::Structure,
        }
    }

    /// Whether the role belongs to one structure.
    pub fn is_structure_role(self) -> bool {
        self.role() == Role::Structure
    }
}

/// Who asks to manage accounts: a coordinator (or an admin token), or the
/// manager (or a token) of one structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountManager {
    Coordinator,
    Structure(i64),
}

impl AccountManager {
    /// Whether this manager may create, disable or reset an account of
    /// `role` in `structure_id`. A coordinator manages coordinators,
    /// auditors and managers; a structure manages its own staff only.
    pub fn may_manage(self, role: AccountRole, structure_id: Option<i64>) -> bool {
        match self {
            Self::Coordinator => role != AccountRole::StructureStaff || structure_id.is_some(),
            Self::Structure(own) => {
                role == AccountRole::StructureStaff && structure_id == Some(own)
            }
        }
    }
}

/// An account to create, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    pub login: String,
    pub display_name: String,
    pub role: AccountRole,
    pub structure_id: Option<i64>,
}

/// Shortest and longest login.
pub const LOGIN_CHARS: std::ops::RangeInclusive<usize> = 3..=64;
/// Shortest password: long passphrases beat complexity rules.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password: bounds the work one sign-in can ask of the server.
pub const MAX_PASSWORD_CHARS: usize = 256;

impl NewAccount {
    /// Checks a request: the login normalised, the name bounded, the
    /// structure given exactly for structure roles.
    pub fn check(
        login: &str,
        display_name: &str,
        role: AccountRole,
        structure_id: Option<i64>,
    ) -> Result<Self, DomainError> {
        let login = normalise_login(login)?;
        let display_name =
            check_text("display_name", Some(display_name), MAX_LABEL_CHARS)?.unwrap_or_default();
        match (role.is_structure_role(), structure_id) {
            (true, None) => Err(DomainError::validation(
                "structure_id",
                "required for structure_manager and structure_staff",
            )),
            (false, Some(_)) => Err(DomainError::validation(
                "structure_id",
                "only structure_manager and structure_staff belong to a structure",
            )),
            _ => Ok(Self {
                login,
                display_name,
                role,
                structure_id,
            }),
        }
    }
}

/// A login as stored and compared: trimmed and lower-case; letters, digits
/// and `.`, `_`, `-`, `@` only, so that two logins never look alike.
pub fn normalise_login(login: &str) -> Result<String, DomainError> {
    let login = login.trim().to_lowercase();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c);
    if !LOGIN_CHARS.contains(&login.chars().count()) {
        return Err(DomainError::validation(
            "login",
            format!(
                "between {} and {} characters",
                LOGIN_CHARS.start(),
                LOGIN_CHARS.end()
            ),
        ));
    }
    if !login.chars().all(allowed) {
        return Err(DomainError::validation(
            "login",
            "letters a to z, digits, '.', '_', '-' and '@' only",
        ));
    }
    Ok(login)
}

/// The commonly used passwords of at least [`MIN_PASSWORD_CHARS`]
/// characters, lower-case (shorter ones are refused by length already).
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

fn common_passwords() -> impl Iterator<Item = &'static str> {
    COMMON_PASSWORDS.lines().filter(|l| !l.starts_with('#'))
}

/// Words French speakers build passwords from, which the estimator's own
/// (English) dictionaries do not hold: it is given them as its own.
const COMMON_WORDS_FR: &str = include_str!("../../data/common-words-fr.txt");

fn common_words_fr<'a>() -> impl Iterator<Item = &'a str> {
    COMMON_WORDS_FR
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
}

/// French letters with their accents taken off.
fn without_accents(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            other => other,
        })
        .collect()
}

/// The estimator's score (0 to 4) a password needs: 4 is "more than 10^10
/// guesses". A desk account issues bearer value, so the bar is the top
/// one; a passphrase of four unrelated words clears it by far, while a
/// name, a place and a year ("emilezola2026", about 10^8) do not.
pub const MIN_PASSWORD_SCORE: u8 = 4;

/// Why a password is refused, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeakPassword {
    TooShort,
    TooLong,
    Common,
    LikeLogin,
}

/// Checks a chosen password: long enough, not absurdly long, not the login
/// or the name, not one of the commonly used ones, not a repetition of a
/// few characters, and hard enough to guess for zxcvbn, the estimator
/// that finds words (English, and French from our list), names, keyboard
/// runs, dates, repeats and sequences, here also the person's login, name
/// and structure (`context`).
pub fn check_password(
    password: &str,
    login: &str,
    display_name: &str,
    context: &[&str],
) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(WeakPassword::TooLong);
    }
    let lower = password.to_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let name = display_name.to_lowercase();
    if lower.contains(&login.to_lowercase()) || (!name.is_empty() && lower.contains(&name)) {
        return Err(WeakPassword::LikeLogin);
    }
    if distinct.len() <= 3 || common_passwords().any(|common| common == lower) {
        return Err(WeakPassword::Common);
    }
    // The person's own words, as typed and without accents (a password
    // is typed on any keyboard: "Émile" becomes "emile").
    let mut own: Vec<String> = Vec::new();
    for text in [login, display_name].iter().chain(context) {
        own.push(text.to_lowercase());
        own.extend(
            text.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() > 2)
                .map(str::to_lowercase),
        );
    }
    own.extend(own.iter().map(|w| without_accents(w)).collect::<Vec<_>>());
    // The estimator ranks a dictionary by position: the person's own
    // words first, as the likeliest guesses.
    let words: Vec<&str> = own
        .iter()
        .map(String::as_str)
        .chain(common_words_fr())
        .collect();
    if u8::from(zxcvbn::zxcvbn(password, &words).score()) < MIN_PASSWORD_SCORE {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_map_onto_token_roles() {
        for r in AccountRole::ALL {
            assert_eq!(AccountRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(AccountRole::Coordinator.role(), Role::Admin);
        assert_eq!(AccountRole::StructureStaff.role(), Role::Structure);
        assert_eq!(AccountRole::parse("admin"), None);
    }

    #[test]
    fn a_structure_manages_only_its_own_staff() {
        let s = AccountManager::Structure(4);
        assert!(s.may_manage(AccountRole::StructureStaff, Some(4)));
        assert!(!s.may_manage(AccountRole::StructureStaff, Some(5)));
        assert!(!s.may_manage(AccountRole::StructureManager, Some(4)));
        assert!(!s.may_manage(AccountRole::Coordinator, None));
        let c = AccountManager::Coordinator;
        for r in AccountRole::ALL {
            assert!(c.may_manage(r, r.is_structure_role().then_some(4)));
        }
    }

    #[test]
    fn logins_are_normalised_and_bounded() {
        assert_eq!(normalise_login("  Amina.B ").unwrap(), "amina.b");
        assert!(normalise_login("ab").is_err());
        assert!(normalise_login("amína").is_err());
        assert!(normalise_login("a b c").is_err());
        assert!(normalise_login(&"a".repeat(65)).is_err());
    }

    #[test]
    fn structure_roles_need_a_structure_and_others_none() {
        assert!(NewAccount::check("amina", "Amina B.", AccountRole::StructureStaff, None).is_err());
        assert!(NewAccount::check("coord", "C", AccountRole::Coordinator, Some(1)).is_err());
        let ok = NewAccount::check("Amina", " Amina B. ", AccountRole::StructureStaff, Some(1));
        assert_eq!(ok.unwrap().display_name, "Amina B.");
    }

    #[test]
    fn weak_passwords_are_refused_with_their_reason() {
        let check = |p: &str| check_password(p, "amina", "Amina B.", &["Centre social Émile-Zola"]);
        assert_eq!(check("short pass"), Err(WeakPassword::TooShort));
        assert_eq!(check("Q1W2E3R4T5Y6"), Err(WeakPassword::Common));
        assert_eq!(check("abababababab"), Err(WeakPassword::Common));
        assert_eq!(check("xx-amina-2026-xx"), Err(WeakPassword::LikeLogin));
        assert_eq!(check(&"long horse ".repeat(30)), Err(WeakPassword::TooLong));
        // What people type when asked for 12 characters, in France too.
        for weak in [
            "motdepasse123",
            "azertyuiop12",
            "soleil123456",
            "123412341234",
            "abcdabcdabcd",
            "Marseille2026",
            "emilezola2026",
            "centresocial1",
        ] {
            assert_eq!(check(weak), Err(WeakPassword::Common), "{weak}");
        }
        // A passphrase of four unrelated words is what we ask for.
        assert_eq!(check("cheval agrafe pile batterie"), Ok(()));
        assert_eq!(check("lampe rivière tortue violon"), Ok(()));
    }

    #[test]
    fn the_shipped_list_is_lower_case_and_long_enough_to_matter() {
        assert!(common_passwords().count() > 100);
        for p in common_passwords() {
            assert_eq!(p, p.to_lowercase());
            assert!(p.chars().count() >= MIN_PASSWORD_CHARS, "{p}");
        }
    }
}
