//! Property tests: every frame round-trips in both codecs; arbitrary bytes never panic a decode.

use proptest::prelude::*;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ErrorCode, ServerFrame};

fn cursor() -> impl Strategy<Value = Cursor> {
    (any::<u64>(), any::<u64>()).prop_map(|(f, b)| Cursor::new(f, b))
}

fn json_data() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (".*", ".*", ".*", any::<u64>(), cursor()).prop_map(
            |(session, user, node, heartbeat_ms, cursor)| {
                ServerFrame::Welcome {
                    session,
                    user,
                    node,
                    heartbeat_ms,
                    cursor,
                }
            }
        ),
        (any::<u64>(), ".*", any::<u64>(), cursor()).prop_map(|(id, author, ts, cursor)| {
            ServerFrame::Post {
                id,
                author,
                ts,
                cursor,
            }
        }),
        (any::<u64>(), ".*", json_data(), cursor()).prop_map(|(id, kind, data, cursor)| {
            ServerFrame::Notify {
                id,
                kind,
                data,
                cursor,
            }
        }),
        (cursor(), any::<u64>())
            .prop_map(|(cursor, count)| ServerFrame::FeedAdvanced { cursor, count }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(replayed, complete)| ServerFrame::Resumed { replayed, complete }),
        (".*", any::<u64>(), ".*").prop_map(|(url, after_ms, reason)| ServerFrame::Reconnect {
            url,
            after_ms,
            reason
        }),
        (prop::sample::select(ErrorCode::ALL.to_vec()), ".*")
            .prop_map(|(code, message)| ServerFrame::Error { code, message }),
        Just(ServerFrame::Pong),
    ]
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        cursor().prop_map(|after| ClientFrame::Resume { after }),
        ".*".prop_map(|token| ClientFrame::Refresh { token }),
        Just(ClientFrame::Ping),
    ]
}

proptest! {
    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        for codec in [Codec::Json, Codec::MsgPack] {
            let bytes = codec.encode(&frame).expect("encodes");
            prop_assert_eq!(codec.decode::<ServerFrame>(&bytes), Ok(frame.clone()));
        }
    }

    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        for codec in [Codec::Json, Codec::MsgPack] {
            let bytes = codec.encode(&frame).expect("encodes");
            prop_assert_eq!(codec.decode::<ClientFrame>(&bytes), Ok(frame.clone()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for codec in [Codec::Json, Codec::MsgPack] {
            let _ = codec.decode::<ClientFrame>(&bytes);
            let _ = codec.decode::<ServerFrame>(&bytes);
        }
    }

    #[test]
    fn near_miss_json_never_panics(text in r#"\{"type":"(resume|refresh|ping|x)"(,"[a-z]{1,6}":(1|"s"|null|\[\]|\{\}))*\}"#) {
        let _ = Codec::Json.decode::<ClientFrame>(text.as_bytes());
    }
}
