//! Password comparison in constant time (the seed's `secrets.compare_digest`).

use subtle::ConstantTimeEq;

/// Longest password accepted (the wire contract's limit).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Compares without an early exit on the first differing byte, so response timing does not
/// reveal how much of a guess was right. Both sides are padded to the same fixed length, so
/// the time does not depend on the expected password's length either.
pub fn password_matches(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    if given.len() > MAX_PASSWORD_BYTES || expected.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let mut a = [0u8; MAX_PASSWORD_BYTES];
    let mut b = [0u8; MAX_PASSWORD_BYTES];
    a[..given.len()].copy_from_slice(given);
    b[..expected.len()].copy_from_slice(expected);
    let same_len = (given.len() as u64).ct_eq(&(expected.len() as u64));
    (same_len & a.ct_eq(&b)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_password() {
        assert!(password_matches("31415", "31415"));
        for wrong in ["3141", "314150", "31416", "", "31415\0"] {
            assert!(!password_matches(wrong, "31415"), "{wrong:?}");
        }
        assert!(!password_matches(&"x".repeat(2000), &"x".repeat(2000)));
    }
}
