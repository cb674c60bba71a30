//! UTF-8 checked as a text message arrives, so a bad byte fails the connection at once.
//!
//! RFC 6455 8.1 asks an endpoint to fail a connection as soon as text stops being UTF-8,
//! which for a message in fragments (or a frame arriving over several reads) means before it
//! is whole. std's validator does the work: `Utf8Error::error_len()` tells a sequence that is
//! merely cut at the end of the bytes seen so far (`None`) from one that can never be valid,
//! so the only state kept here is the cut code point's first bytes. A crate for this would
//! add nothing std does not do.

use super::WebSocketError;

/// The state of a text message's UTF-8 check between the pieces of it that have arrived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// The first bytes of a code point that the last piece cut (at most three of four).
    cut: [u8; 4],
    /// How many bytes of `cut` are held; 0 when the last piece ended on a character edge.
    cut_len: u8,
}

impl Utf8Validator {
    /// Check the next piece of the text; `Err` as soon as a byte makes it invalid.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), WebSocketError> {
        if self.cut_len > 0 {
            let held = usize::from(self.cut_len);
            let take = (4 - held).min(bytes.len());
            let mut joined = self.cut;
            joined[held..held + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&joined[..held + take]) {
                Ok(_) => bytes = &bytes[take..],
                // The cut character is whole; whatever follows it is checked below.
                Err(error) if error.valid_up_to() > 0 => {
                    bytes = &bytes[error.valid_up_to() - held..]
                }
                Err(error) if error.error_len().is_some() => {
                    return Err(WebSocketError::InvalidUtf8);
                }
                // Still cut: this piece was too short to finish the character.
                Err(_) => {
                    self.cut = joined;
                    self.cut_len = (held + take) as u8;
                    return Ok(());
                }
            }
            self.cut_len = 0;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_some() => Err(WebSocketError::InvalidUtf8),
            Err(error) => {
                let rest = &bytes[error.valid_up_to()..];
                self.cut[..rest.len()].copy_from_slice(rest);
                self.cut_len = rest.len() as u8;
                Ok(())
            }
        }
    }

    /// The message is complete: `Err` if it ended inside a character.
    pub fn finish(&self) -> Result<(), WebSocketError> {
        if self.cut_len == 0 {
            Ok(())
        } else {
            Err(WebSocketError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feed `bytes` cut at `cuts`, reporting whether the validator accepted the whole.
    fn accepts(bytes: &[u8], cuts: &[usize]) -> bool {
        let mut validator = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts.iter().chain([&bytes.len()]) {
            let cut = cut.clamp(start, bytes.len());
            if validator.feed(&bytes[start..cut]).is_err() {
                return false;
            }
            start = cut;
        }
        validator.finish().is_ok()
    }

    #[test]
    fn fails_on_the_first_impossible_byte_not_at_the_end() {
        let mut validator = Utf8Validator::default();
        // U+10000 cut after its first byte is merely incomplete...
        validator.feed(b"ok\xF0").unwrap();
        validator.feed(b"\x90\x80").unwrap();
        validator.feed(b"\x80 and more").unwrap();
        validator.finish().unwrap();
        // ...but F4 90 can never start a code point (it would be above U+10FFFF).
        let mut validator = Utf8Validator::default();
        validator.feed(b"\xF4").unwrap();
        assert!(validator.feed(b"\x90").is_err());
        // An encoded surrogate is refused at its second byte.
        assert!(Utf8Validator::default().feed(b"\xED\xA0").is_err());
    }

    #[test]
    fn a_message_that_ends_inside_a_character_is_invalid() {
        let mut validator = Utf8Validator::default();
        validator.feed("h\u{e9}".as_bytes()[..2].as_ref()).unwrap();
        assert!(validator.finish().is_err());
    }

    proptest! {
        #[test]
        fn agrees_with_std_however_the_bytes_are_cut(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            text in "\\PC{0,16}",
            flip in any::<(usize, u8)>(),
            mut cuts in proptest::collection::vec(0usize..80, 0..8),
        ) {
            cuts.sort_unstable();
            prop_assert_eq!(accepts(&bytes, &cuts), std::str::from_utf8(&bytes).is_ok());
            prop_assert!(accepts(text.as_bytes(), &cuts));
            // Text with one byte changed: often invalid, and only in one place.
            let mut changed = text.into_bytes();
            if !changed.is_empty() {
                let at = flip.0 % changed.len();
                changed[at] = flip.1;
            }
            prop_assert_eq!(accepts(&changed, &cuts), std::str::from_utf8(&changed).is_ok());
        }
    }
}
