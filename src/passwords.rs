//! Passwords and one-time activation codes for personal accounts.
//!
//! Passwords are stored as Argon2id PHC strings with the parameters OWASP
//! recommends for Argon2id (19 MiB of memory, 2 passes, 1 lane), a 16-byte
//! random salt each. The parameters travel in the stored string, so they
//! can be raised later and older hashes still verify.
//!
//! Activation codes are 16 random symbols (74 bits) from an alphabet
//! without look-alikes, shown once in four groups and stored as SHA-256 of
//! their normalised form.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

/// Memory per hash, in KiB.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ARGON2_PASSES: u32 = 2;
/// Lanes.
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Option<Argon2<'static>> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The stored form of a password. `None` only if the system's random
/// source fails.
pub fn hash(password: &str) -> Option<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).ok()?;
    let salt = SaltString::encode_b64(&salt).ok()?;
    let hashed = argon2()?.hash_password(password.as_bytes(), &salt).ok()?;
    Some(hashed.to_string())
}

/// Whether `password` is the one `stored` was made from. A stored string
/// that does not parse verifies nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    let (Ok(parsed), Some(argon2)) = (PasswordHash::new(stored), argon2()) else {
        return false;
    };
    argon2.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash to verify against when the login is unknown, so that an unknown
/// login costs the same time as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password, never chosen").unwrap_or_default())
}

/// Symbols of activation codes: no 0/O, 1/I/L, 5/S, 2/Z, 8/B.
const CODE_ALPHABET: &[u8; 25] = b"ACDEFGHJKMNPQRTUVWXY34679";
const CODE_SYMBOLS: usize = 16;

/// A fresh activation code as shown (`ACDE-FGHJ-KMNP-QRTU`) and its hash.
pub fn activation_code() -> Option<(String, [u8; 32])> {
    // Bytes at or above the largest multiple of 25 are skipped, so every
    // symbol is equally likely.
    let limit = 256 - 256 % CODE_ALPHABET.len();
    let mut code = String::with_capacity(CODE_SYMBOLS + 3);
    let mut taken = 0;
    while taken < CODE_SYMBOLS {
        let mut bytes = [0u8; CODE_SYMBOLS];
        SystemRandom::new().fill(&mut bytes).ok()?;
        for b in bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if taken == CODE_SYMBOLS {
                break;
            }
            if taken > 0 && taken % 4 == 0 {
                code.push('-');
            }
            code.push(char::from(CODE_ALPHABET[b % CODE_ALPHABET.len()]));
            taken += 1;
        }
    }
    let hash = activation_hash(&code)?;
    Some((code, hash))
}

/// The stored form of a typed activation code: spaces and dashes removed,
/// upper-cased. `None` when it cannot be a code (wrong length or symbol),
/// so nothing is looked up for it.
pub fn activation_hash(typed: &str) -> Option<[u8; 32]> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == CODE_SYMBOLS && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
    valid.then(|| crate::tokens::hash(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_another_does_not() {
        let stored = hash("cheval agrafe pile").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("cheval agrafe pile", &stored));
        assert!(!verify("cheval agrafe pilE", &stored));
        assert!(!verify("cheval agrafe pile", "not a hash"));
        assert_ne!(stored, hash("cheval agrafe pile").unwrap(), "salted");
    }

    #[test]
    fn activation_codes_are_grouped_and_read_back_however_typed() {
        let (code, hash) = activation_code().unwrap();
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        assert_eq!(activation_hash(&code), Some(hash));
        let typed = code.replace('-', " ").to_lowercase();
        assert_eq!(activation_hash(&typed), Some(hash));
        assert_eq!(activation_hash("ABCD"), None);
        assert_eq!(activation_hash("0000-0000-0000-0000"), None);
        assert_ne!(code, activation_code().unwrap().0);
    }
}
