//! Server frames and shared push encodings built from fuzz bytes, encoded and read back.
//!
//! Checked: every `ServerFrame` decodes back to itself in both codecs; its JSON is an object
//! whose `type` is one of `ServerFrame::TYPES`; its MessagePack holds the same value as its
//! JSON (field names kept); and a `SharedItem`'s push, from a fresh template and a reused
//! one, is byte for byte the encoding of the frame it stands for.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pushgate_protocol::{
    Audience, Codec, Cursor, ErrorCode, FeedItem, Frame, ServerFrame, SharedItem,
};
use serde_json::Value;

/// Notification payloads nest at most this deep, as the REST body limit keeps them small.
const MAX_DEPTH: u32 = 4;

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let kinds = if depth >= MAX_DEPTH { 5 } else { 7 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(u.arbitrary::<u64>()?),
        4 => Value::from(u.arbitrary::<f64>()?),
        5 => Value::Array(
            (0..u.choose_index(4)?)
                .map(|_| value(u, depth + 1))
                .collect::<Result<_>>()?,
        ),
        _ => Value::Object(
            (0..u.choose_index(4)?)
                .map(|_| Ok((u.arbitrary()?, value(u, depth + 1)?)))
                .collect::<Result<_>>()?,
        ),
    })
}

fn cursor(u: &mut Unstructured<'_>) -> Result<Cursor> {
    Ok(Cursor::new(u.arbitrary()?, u.arbitrary()?))
}

fn feed_item(u: &mut Unstructured<'_>) -> Result<FeedItem> {
    Ok(if u.arbitrary()? {
        FeedItem::Post {
            id: u.arbitrary()?,
            author: u.arbitrary()?,
            ts: u.arbitrary()?,
            audience: if u.arbitrary()? {
                Audience::Friends
            } else {
                Audience::Followers
            },
        }
    } else {
        FeedItem::Notify {
            id: u.arbitrary()?,
            kind: u.arbitrary()?,
            data: value(u, 0)?,
            ts: u.arbitrary()?,
        }
    })
}

fn server_frame(u: &mut Unstructured<'_>) -> Result<ServerFrame> {
    Ok(match u.choose_index(8)? {
        0 => ServerFrame::Welcome {
            session: u.arbitrary()?,
            user: u.arbitrary()?,
            node: u.arbitrary()?,
            heartbeat_ms: u.arbitrary()?,
            cursor: cursor(u)?,
        },
        1 | 2 => feed_item(u)?.to_frame(cursor(u)?),
        3 => ServerFrame::FeedAdvanced {
            cursor: cursor(u)?,
            count: u.arbitrary()?,
        },
        4 => ServerFrame::Resumed {
            replayed: u.arbitrary()?,
            complete: u.arbitrary()?,
        },
        5 => ServerFrame::Reconnect {
            url: u.arbitrary()?,
            after_ms: u.arbitrary()?,
            reason: u.arbitrary()?,
        },
        6 => ServerFrame::Error {
            code: *u.choose(&ErrorCode::ALL)?,
            message: u.arbitrary()?,
        },
        _ => ServerFrame::Pong,
    })
}

fn check_frame(frame: &ServerFrame) {
    for codec in [Codec::Json, Codec::MsgPack] {
        let bytes = codec.encode(frame).expect("server frames encode");
        assert_eq!(
            codec.decode::<ServerFrame>(&bytes).as_ref(),
            Ok(frame),
            "{frame:?} does not survive {codec:?}"
        );
    }
    let json: Value = serde_json::from_slice(&Codec::Json.encode(frame).expect("encodes"))
        .expect("the JSON encoding is JSON");
    let tag = json
        .get("type")
        .and_then(Value::as_str)
        .expect("a JSON object with a string type");
    assert!(ServerFrame::TYPES.contains(&tag), "undeclared type {tag:?}");
    let msgpack: Value = rmp_serde::from_slice(&Codec::MsgPack.encode(frame).expect("encodes"))
        .expect("the MessagePack encoding is a plain value");
    assert_eq!(msgpack, json, "the codecs carry different shapes");
}

fn check_shared(item: &FeedItem, cursors: [Cursor; 2]) {
    let shared = SharedItem::new(item.clone());
    for codec in [Codec::Json, Codec::MsgPack] {
        for cursor in cursors {
            let frame = item.to_frame(cursor);
            assert_eq!(
                shared.encode(codec, cursor).expect("pushes encode"),
                codec.encode(&frame).expect("frames encode"),
                "{codec:?} push of {item:?} at {cursor}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(frame) = server_frame(&mut u) else {
        return;
    };
    check_frame(&frame);
    if let Ok(item) = feed_item(&mut u) {
        check_shared(
            &item,
            [
                cursor(&mut u).unwrap_or_default(),
                cursor(&mut u).unwrap_or_default(),
            ],
        );
    }
});
