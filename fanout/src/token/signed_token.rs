//! A compact JWS token split into its three parts, once, with its header read.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::{DecodeError, DecodeSliceError, Engine as _};
use jsonwebtoken::errors::{Error, ErrorKind};

use super::key_choice::KeyChoice;

/// A token's parts, borrowed from it.
#[derive(Debug)]
pub(super) struct SignedToken<'a> {
    /// The token as received, for jsonwebtoken (which verifies public-key tokens).
    pub whole: &'a str,
    /// `alg` and `kid` of the header: which keys to try.
    pub choice: KeyChoice,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The claims, base64url.
    pub payload: &'a str,
    /// The signature, base64url.
    pub signature: &'a str,
}

impl<'a> SignedToken<'a> {
    /// Split as jsonwebtoken splits, from the right (a token with more than two dots keeps
    /// the extra ones in its header part, which then fails as base64), and read the header.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        let (signing_input, signature) = split_at_last_dot(token)?;
        let (header, payload) = split_at_last_dot(signing_input)?;
        Ok(Self {
            whole: token,
            choice: KeyChoice::read(header)?,
            signing_input,
            payload,
            signature,
        })
    }
}

/// `text` around its last `.`. memchr's search rather than `str::rsplit_once`, which walks a
/// token's claims a word at a time: about 460 instructions of every connect.
fn split_at_last_dot(text: &str) -> Result<(&str, &str), Error> {
    let dot = memchr::memrchr(b'.', text.as_bytes()).ok_or(ErrorKind::InvalidToken)?;
    // `.` is ASCII, so both sides of it are whole characters.
    Ok((&text[..dot], &text[dot + 1..]))
}

/// A base64url (unpadded) part of a token, decoded into `stack` when it fits, else into
/// `heap`: the parts of ordinary tokens cost no allocation. Fails as jsonwebtoken's decoding
/// does (the same engine).
pub(super) fn decode_part<'b>(
    part: &str,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], DecodeError> {
    match URL_SAFE_NO_PAD.decode_slice(part, stack) {
        Ok(len) => Ok(&stack[..len]),
        Err(DecodeSliceError::DecodeError(e)) => Err(e),
        Err(DecodeSliceError::OutputSliceTooSmall) => {
            *heap = URL_SAFE_NO_PAD.decode(part)?;
            Ok(heap)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "eyJhbGciOiJIUzI1NiJ9";

    #[test]
    fn splits_from_the_right_as_jsonwebtoken_does() {
        let token = format!("{HEADER}.payload.signature");
        let parts = SignedToken::parse(&token).expect("three parts");
        assert_eq!(
            (parts.signing_input, parts.payload, parts.signature),
            (format!("{HEADER}.payload").as_str(), "payload", "signature")
        );
        assert_eq!(parts.choice.alg, jsonwebtoken::Algorithm::HS256);
        let empty_parts = format!("{HEADER}..");
        assert!(
            SignedToken::parse(&empty_parts).is_ok(),
            "parts may be empty"
        );
        for bad in [
            HEADER.to_owned(),
            format!("{HEADER}.payload"),
            format!("{HEADER}.extra.payload.signature"),
            format!(".{HEADER}.payload.signature"),
        ] {
            assert!(SignedToken::parse(&bad).is_err(), "{bad:?}");
            assert!(jsonwebtoken::decode_header(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parts_decode_on_the_stack_or_the_heap_alike() {
        for len in [0, 1, 2, 3, 4, 15, 16, 17, 100] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let part = URL_SAFE_NO_PAD.encode(&bytes);
            let (mut small, mut large) = ([0u8; 16], [0u8; 128]);
            let (mut heap, mut unused) = (Vec::new(), Vec::new());
            assert_eq!(decode_part(&part, &mut small, &mut heap), Ok(&bytes[..]));
            assert_eq!(decode_part(&part, &mut large, &mut unused), Ok(&bytes[..]));
            assert!(unused.is_empty());
        }
        for bad in ["A", "AB=", "A+B", "AB.C", &"B".repeat(41)] {
            let expected = URL_SAFE_NO_PAD.decode(bad).map(|_| ());
            assert!(expected.is_err(), "{bad:?}");
            let (mut small, mut heap) = ([0u8; 16], Vec::new());
            assert_eq!(
                decode_part(bad, &mut small, &mut heap).map(|_| ()),
                expected,
                "{bad:?}"
            );
        }
    }
}
