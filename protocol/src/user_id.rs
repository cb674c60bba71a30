//! The one rule for user IDs, checked wherever one enters: token subjects, REST paths and bodies.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest user ID in bytes of UTF-8: IDs are Redis keys and sit in every frame, so the
/// bound is on their size, not on how many characters they show.
pub const MAX_USER_ID_BYTES: usize = 128;

/// Why a string is not a user ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    /// Nothing to identify anyone by.
    #[error("a user id must not be empty")]
    Empty,
    /// Over [`MAX_USER_ID_BYTES`].
    #[error("a user id must be at most {MAX_USER_ID_BYTES} bytes of UTF-8")]
    TooLong,
    /// White space at either end: invisible, and lists such as `?users=a, b` trim it.
    #[error("a user id must not begin or end with white space")]
    Padded,
    /// A character that is invisible, reorders or breaks text, or separates lists.
    #[error(
        "a user id must not contain {0:?} (no control, format, invisible or line separator characters, no ',')"
    )]
    Forbidden(char),
}

/// Check `id` against the rule: 1 to [`MAX_USER_ID_BYTES`] bytes, no white space at either
/// end, and no forbidden character.
pub fn check_user_id(id: &str) -> Result<(), UserIdError> {
    if id.is_empty() {
        return Err(UserIdError::Empty);
    }
    if id.len() > MAX_USER_ID_BYTES {
        return Err(UserIdError::TooLong);
    }
    // The usual ID is printable ASCII without `,`, which one pass over its bytes settles
    // (folded without short-circuits, so it runs many bytes at a time); only other IDs are
    // walked character by character, which cost about 300 instructions of every connect.
    let printable = id
        .bytes()
        .fold(true, |ok, b| ok & (b' '..=b'~').contains(&b) & (b != b','));
    if !printable {
        if let Some(c) = id.chars().find(|c| !allowed(*c)) {
            return Err(UserIdError::Forbidden(c));
        }
    }
    if id.starts_with(char::is_whitespace) || id.ends_with(char::is_whitespace) {
        return Err(UserIdError::Padded);
    }
    Ok(())
}

/// Whether `c` may appear in a user ID.
///
/// Refused: controls (Cc), format characters (Cf: zero-width space and joiners, bidi
/// embeddings, overrides and isolates, the BOM, soft hyphen, tags), line and paragraph
/// separators (Zl, Zp), the Hangul fillers (letters by category, blank on screen), and `,`,
/// which separates IDs in `GET /v1/presence?users=`. Two IDs that look the same would let
/// one user pass for another; a bidi override would make logs and UIs show another name.
fn allowed(c: char) -> bool {
    // The usual ID is ASCII, where the only refused category is Cc: a comparison instead of
    // the Unicode table (a test checks the two agree on every ASCII character).
    if c.is_ascii() {
        return c != ',' && !c.is_ascii_control();
    }
    const HANGUL_FILLERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];
    if HANGUL_FILLERS.contains(&c) {
        return false;
    }
    by_category(c)
}

/// The category rule of [`allowed`], for any character.
fn by_category(c: char) -> bool {
    !matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_ascii_shortcut_agrees_with_the_category_rule() {
        for c in (0u8..=0x7F).map(char::from) {
            assert_eq!(allowed(c), c != ',' && by_category(c), "{c:?}");
        }
    }

    #[test]
    fn the_printable_shortcut_passes_only_allowed_characters() {
        for c in (b' '..=b'~').map(char::from).filter(|&c| c != ',') {
            assert!(allowed(c), "{c:?}");
        }
    }

    #[test]
    fn ordinary_ids_pass() {
        for id in [
            "alice",
            "user-42",
            "a b",
            "Zoë",
            "用户",
            "🦀",
            "❤\u{FE0F}",
            "x:y@z",
        ] {
            assert_eq!(check_user_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn invisible_reordering_and_list_characters_are_refused() {
        let cases = [
            ('\u{0}', "nul"),
            ('\n', "newline"),
            ('\u{7F}', "delete"),
            ('\u{85}', "next line (C1)"),
            ('\u{AD}', "soft hyphen"),
            ('\u{200B}', "zero-width space"),
            ('\u{200C}', "zero-width non-joiner"),
            ('\u{200D}', "zero-width joiner"),
            ('\u{200E}', "left-to-right mark"),
            ('\u{202E}', "right-to-left override"),
            ('\u{2066}', "left-to-right isolate"),
            ('\u{2069}', "pop directional isolate"),
            ('\u{2060}', "word joiner"),
            ('\u{FEFF}', "byte order mark"),
            ('\u{E0041}', "tag latin capital a"),
            ('\u{2028}', "line separator"),
            ('\u{2029}', "paragraph separator"),
            ('\u{3164}', "hangul filler"),
            (',', "comma"),
        ];
        for (c, name) in cases {
            let id = format!("ali{c}ce");
            assert_eq!(check_user_id(&id), Err(UserIdError::Forbidden(c)), "{name}");
        }
    }

    #[test]
    fn the_bound_is_in_bytes() {
        assert_eq!(check_user_id(""), Err(UserIdError::Empty));
        assert_eq!(check_user_id(" alice"), Err(UserIdError::Padded));
        assert_eq!(check_user_id("alice\u{3000}"), Err(UserIdError::Padded));
        assert_eq!(check_user_id(&"a".repeat(128)), Ok(()));
        assert_eq!(check_user_id(&"a".repeat(129)), Err(UserIdError::TooLong));
        // 43 three-byte characters are 129 bytes: too long, though only 43 characters.
        assert_eq!(check_user_id(&"用".repeat(42)), Ok(()));
        assert_eq!(check_user_id(&"用".repeat(43)), Err(UserIdError::TooLong));
    }

    proptest! {
        #[test]
        fn accepted_ids_hold_no_forbidden_character(id in "(?s).{0,60}") {
            match check_user_id(&id) {
                Ok(()) => {
                    prop_assert!(!id.is_empty() && id.len() <= MAX_USER_ID_BYTES);
                    prop_assert!(id.chars().all(allowed));
                    prop_assert!(!id.contains(','));
                    prop_assert!(!id.chars().any(char::is_control));
                }
                Err(UserIdError::Forbidden(c)) => {
                    prop_assert!(id.contains(c) && !allowed(c));
                }
                Err(UserIdError::Empty) => prop_assert!(id.is_empty()),
                Err(UserIdError::Padded) => prop_assert_ne!(id.trim(), id.as_str()),
                Err(UserIdError::TooLong) => prop_assert!(id.len() > MAX_USER_ID_BYTES),
            }
        }

        #[test]
        fn any_forbidden_character_anywhere_is_refused(
            prefix in "[a-z]{0,20}",
            suffix in "[a-z]{0,20}",
            c in prop::sample::select(vec![
                '\u{1}', '\u{9F}', '\u{200B}', '\u{202A}', '\u{202D}', '\u{2067}',
                '\u{FFF9}', '\u{1D173}', '\u{2028}', ',', '\u{1160}',
            ]),
        ) {
            let id = format!("{prefix}{c}{suffix}");
            prop_assert_eq!(check_user_id(&id), Err(UserIdError::Forbidden(c)));
        }
    }
}
