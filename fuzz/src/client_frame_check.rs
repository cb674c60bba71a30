//! What decoding a client frame must satisfy, whichever codec carries it.

use std::mem::discriminant;

use pushgate_protocol::{ClientFrame, Codec, DecodeError, Frame};
use serde_json::Value;

/// Error text goes back to the sender in an `error` frame, so it must stay small however
/// large the input: the longest honest one quotes 64 characters of an unknown type, each at
/// most 10 bytes once escaped, in a short sentence.
const MAX_ERROR_TEXT: usize = 1024;

/// The input as a generic value of `codec`'s data model, if it is well formed at all.
fn generic(codec: Codec, bytes: &[u8]) -> Option<Value> {
    match codec {
        Codec::Json => serde_json::from_slice(bytes).ok(),
        Codec::MsgPack => rmp_serde::from_slice(bytes).ok(),
    }
}

/// Decode `bytes` as a client frame in `codec` and panic unless:
/// - a decoded frame encodes and decodes back to itself in both codecs;
/// - an error is classified by what the input is (not an object with a string `type`:
///   malformed; an undefined type: unknown, named by its first 64 characters; a defined
///   type: invalid field), names no other codec, and its text is bounded;
/// - an object with a string `type`, carried by either codec, decodes to the same frame or
///   the same kind of error (the codecs differ in bytes, not in what they mean).
pub fn check_client_frame(codec: Codec, bytes: &[u8]) {
    let decoded = codec.decode::<ClientFrame>(bytes);
    let value = generic(codec, bytes);
    let tag = value
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|map| map.get("type"))
        .and_then(Value::as_str);
    match &decoded {
        Ok(frame) => {
            for codec in [Codec::Json, Codec::MsgPack] {
                let bytes = codec.encode(frame).expect("client frames encode");
                assert_eq!(
                    codec.decode::<ClientFrame>(&bytes).as_ref(),
                    Ok(frame),
                    "{frame:?} does not survive {codec:?}"
                );
            }
        }
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.len() <= MAX_ERROR_TEXT,
                "{} bytes of error",
                text.len()
            );
            let other_name = match codec {
                Codec::Json => "msgpack",
                Codec::MsgPack => "json",
            };
            // Unless the sender wrote the name itself (errors may quote its input).
            let quoted = String::from_utf8_lossy(bytes)
                .to_lowercase()
                .contains(other_name);
            assert!(
                quoted || !text.to_lowercase().contains(other_name),
                "a {codec:?} error names the other codec: {text}"
            );
            match error {
                DecodeError::Malformed(_) => {
                    assert!(tag.is_none(), "{error:?}, but the type is {tag:?}")
                }
                DecodeError::UnknownType(name) => {
                    let tag = tag.expect("an unknown type is a string type");
                    assert!(!ClientFrame::TYPES.contains(&tag), "{tag:?} is defined");
                    assert_eq!(*name, tag.chars().take(64).collect::<String>());
                }
                DecodeError::InvalidField(_) => assert!(
                    tag.is_some_and(|tag| ClientFrame::TYPES.contains(&tag)),
                    "{error:?}, but the type is {tag:?}"
                ),
            }
        }
    }
    // Both sides are encoded from the generic value, which already dropped what it cannot
    // hold (a repeated key keeps its last value). Only frame-shaped values are compared: the
    // MessagePack decoder also takes serde's positional forms (`[2]` or `{"type": 2}` as a
    // ping), which JSON refuses.
    if tag.is_none() {
        return;
    }
    let Some(value) = value else {
        return;
    };
    // JSON readers stop at a nesting depth (serde_json at 128 levels) that MessagePack's
    // allows past, so a value nested that deep cannot travel as JSON at all: a JSON client
    // cannot send it, and there is no meaning to compare.
    let json_text = serde_json::to_vec(&value).expect("a JSON value encodes as JSON");
    if serde_json::from_slice::<Value>(&json_text).is_err() {
        return;
    }
    let [json, msgpack] = [Codec::Json, Codec::MsgPack].map(|codec| {
        let carried = match codec {
            Codec::Json => json_text.clone(),
            Codec::MsgPack => rmp_serde::to_vec_named(&value).expect("a JSON value encodes"),
        };
        codec.decode::<ClientFrame>(&carried)
    });
    match (&json, &msgpack) {
        (Ok(json), Ok(msgpack)) => assert_eq!(json, msgpack, "the codecs disagree"),
        (Err(json), Err(msgpack)) => assert_eq!(
            discriminant(json),
            discriminant(msgpack),
            "the codecs disagree: {json:?} / {msgpack:?}"
        ),
        _ => panic!("the codecs disagree: {json:?} / {msgpack:?}"),
    }
}
