//! Salesforce record ids: 15-character case-sensitive ids plus the 3-character suffix that makes
//! the 18-character form (salesforce.md §6.7). The sandbox mints ids with the object's key
//! prefix so clients that check prefixes (and the describe `keyPrefix`) see real-looking ids.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends the case-encoding suffix to a 15-character id.
pub fn to18(id15: &str) -> String {
    const MAP: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let bytes = id15.as_bytes();
    let mut out = id15.to_string();
    for chunk in 0..3 {
        let mut v = 0usize;
        for i in 0..5 {
            if bytes.get(chunk * 5 + i).is_some_and(u8::is_ascii_uppercase) {
                v |= 1 << i;
            }
        }
        out.push(MAP[v] as char);
    }
    out
}

/// The canonical 18-character form of a 15- or 18-character id, or `None` when the text is
/// not shaped like an id. An 18-character id must carry the suffix its first 15 characters
/// imply (compared case-insensitively, as Salesforce does).
pub fn normalize(text: &str) -> Option<String> {
    if !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match text.len() {
        15 => Some(to18(text)),
        18 => {
            let full = to18(&text[..15]);
            full.eq_ignore_ascii_case(text).then_some(full)
        }
        _ => None,
    }
}

/// The canonical 18-character form of an 18-character id typed in any case: the suffix says
/// which of the first 15 characters are upper case (salesforce.md 6.7), so
/// `001sd0000000004iaa` is `001Sd0000000004IAA`. `None` when the text is not such an id.
pub fn restore_case(text: &str) -> Option<String> {
    const MAP: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    if text.len() != 18 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, suffix) = text.split_at(15);
    let mut out = String::with_capacity(18);
    for (chunk, code) in body.as_bytes().chunks(5).zip(suffix.bytes()) {
        let bits = MAP.iter().position(|m| *m == code.to_ascii_uppercase())?;
        for (i, b) in chunk.iter().enumerate() {
            let c = if bits & (1 << i) != 0 {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            out.push(c as char);
        }
    }
    let full = to18(&out);
    full.eq_ignore_ascii_case(text).then_some(full)
}

/// A fresh random id with this key prefix: prefix + "Sb0" + 9 random base62 characters.
pub fn mint(prefix: &str) -> String {
    let mut n = uuid::Uuid::new_v4().as_u128();
    let mut body = String::with_capacity(15);
    body.push_str(prefix);
    body.push_str("Sb0");
    while body.len() < 15 {
        body.push(BASE62[(n % 62) as usize] as char);
        n /= 62;
    }
    to18(&body)
}

/// A deterministic id for the n-th seeded record: prefix + "Sd0" + n zero-padded, so the same
/// seed always yields the same ids (handy in docs and when debugging a demo).
pub fn seeded(prefix: &str, n: usize) -> String {
    to18(&format!("{prefix}Sd0{n:09}"))
}

/// A random opaque token (query locators, minted access tokens).
pub fn opaque(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut n = uuid::Uuid::new_v4().as_u128();
        for _ in 0..20 {
            if out.len() == len {
                break;
            }
            out.push(BASE62[(n % 62) as usize] as char);
            n /= 62;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_matches_the_documented_vectors() {
        assert_eq!(to18("a0RE000000IJmcN"), "a0RE000000IJmcNMAT");
        assert_eq!(to18("001M000000qfPyS"), "001M000000qfPySIAU");
        assert_eq!(to18("aaaaaaaaaaaaaaa"), "aaaaaaaaaaaaaaaAAA");
        assert_eq!(to18("AbCdEfGhIjKlMnO"), "AbCdEfGhIjKlMnOVKV");
        assert_eq!(to18("aBcDEfgHIJKLMNO"), "aBcDEfgHIJKLMNO025");
        assert_eq!(to18("001D000000IqhSL"), "001D000000IqhSLIAZ");
    }

    #[test]
    fn normalize_accepts_both_forms_and_rejects_junk() {
        assert_eq!(
            normalize("001D000000IqhSL").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(
            normalize("001D000000IqhSLiaz").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(normalize("001D000000IqhSLAAA"), None);
        assert_eq!(normalize("not-an-id"), None);
        assert_eq!(normalize("001"), None);
    }

    #[test]
    fn restore_case_reads_the_case_from_the_suffix() {
        for typed in [
            "001sd0000000004iaa",
            "001SD0000000004IAA",
            "001Sd0000000004IAA",
        ] {
            assert_eq!(
                restore_case(typed).as_deref(),
                Some("001Sd0000000004IAA"),
                "{typed}"
            );
        }
        assert_eq!(
            restore_case("001d000000iqhsliaz").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(restore_case("001D000000IqhSL"), None, "15 characters");
        assert_eq!(
            restore_case("001Sd0000000004IA9"),
            None,
            "9 is no suffix character"
        );
        assert_eq!(
            restore_case("aa\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
            None
        );
    }

    #[test]
    fn minted_ids_carry_the_prefix_and_are_valid() {
        let id = mint("00Q");
        assert!(id.starts_with("00Q"));
        assert_eq!(normalize(&id).as_deref(), Some(id.as_str()));
        assert_ne!(mint("00Q"), id);
        assert_eq!(seeded("001", 7), to18("001Sd0000000007"));
    }
}
