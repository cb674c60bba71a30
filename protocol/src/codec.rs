//! JSON and MessagePack encoding of frames, chosen per connection by WebSocket subprotocol.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ServerFrame;

/// A tagged frame enum: knows its `type` names so decode errors can tell "unknown type" apart
/// from "known type, bad fields".
pub trait Frame: Serialize + DeserializeOwned {
    /// Every `type` tag this enum defines.
    const TYPES: &'static [&'static str];
}

/// Room for a `welcome` (about 150 bytes in JSON) and the other control frames in one
/// allocation: at 128 bytes, every connect grew the buffer once or twice.
const WELCOME_CAPACITY: usize = 256;

/// The wire encoding of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Text frames holding JSON objects (the default).
    #[default]
    Json,
    /// Binary frames holding MessagePack maps (field names kept, so the shape matches JSON).
    MsgPack,
}

/// Why bytes could not be decoded into a frame. Messages are safe to show to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON / MessagePack at all, or not an object with a string `type`.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A well-formed object whose `type` is not defined.
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    /// A known type with a missing or wrongly typed field.
    #[error("invalid field: {0}")]
    InvalidField(String),
}

/// Why a frame could not be encoded (only for data serde cannot represent in the codec).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("json encode: {0}")]
    Json(#[from] serde_json::Error),
    #[error("msgpack encode: {0}")]
    MsgPack(#[from] rmp_serde::encode::Error),
}

impl Codec {
    /// Subprotocol name of the JSON codec.
    pub const JSON_SUBPROTOCOL: &'static str = "pushgate.v1.json";
    /// Subprotocol name of the MessagePack codec.
    pub const MSGPACK_SUBPROTOCOL: &'static str = "pushgate.v1.msgpack";

    /// The codec a subprotocol name selects, if it is one of ours.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        match name.trim() {
            Self::JSON_SUBPROTOCOL => Some(Codec::Json),
            Self::MSGPACK_SUBPROTOCOL => Some(Codec::MsgPack),
            _ => None,
        }
    }

    /// This codec's subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => Self::JSON_SUBPROTOCOL,
            Codec::MsgPack => Self::MSGPACK_SUBPROTOCOL,
        }
    }

    /// Whether frames of this codec travel as binary WebSocket messages.
    pub fn is_binary(self) -> bool {
        self == Codec::MsgPack
    }

    /// Encode any serializable value (frames, node messages).
    pub fn encode<T: Serialize>(self, value: &T) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(WELCOME_CAPACITY);
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Encode a frame the gateway sends: as [`Codec::encode`] does, with `welcome` in JSON
    /// written directly. Every connect sends one, and serde's path through the tagged enum
    /// escaped each of its six keys on the way: about 2,000 instructions of a connect's
    /// 40,000, against about 1,150 here. The bytes are serde's (a property test holds them to it).
    pub fn encode_frame(self, frame: &ServerFrame) -> Result<Vec<u8>, EncodeError> {
        match (self, frame) {
            (
                Codec::Json,
                ServerFrame::Welcome {
                    session,
                    user,
                    node,
                    heartbeat_ms,
                    cursor,
                },
            ) => {
                let mut out = Vec::with_capacity(WELCOME_CAPACITY);
                out.extend_from_slice(br#"{"type":"welcome","session":"#);
                serde_json::to_writer(&mut out, session)?;
                out.extend_from_slice(br#","user":"#);
                serde_json::to_writer(&mut out, user)?;
                out.extend_from_slice(br#","node":"#);
                serde_json::to_writer(&mut out, node)?;
                out.extend_from_slice(br#","heartbeat_ms":"#);
                out.extend_from_slice(itoa::Buffer::new().format(*heartbeat_ms).as_bytes());
                out.extend_from_slice(br#","cursor":"#);
                serde_json::to_writer(&mut out, cursor)?;
                out.push(b'}');
                Ok(out)
            }
            _ => self.encode(frame),
        }
    }

    /// Encode `value` at the end of `out` (a `Vec`, or a fixed buffer for small values).
    pub fn encode_into<T: Serialize>(
        self,
        value: &T,
        mut out: impl std::io::Write,
    ) -> Result<(), EncodeError> {
        match self {
            Codec::Json => serde_json::to_writer(&mut out, value)?,
            Codec::MsgPack => rmp_serde::encode::write_named(&mut out, value)?,
        }
        Ok(())
    }

    /// Decode a tagged frame, classifying failures for the error frame.
    ///
    /// The direct decode is the hot path; only a failure pays for the second, diagnostic pass
    /// through a generic value that tells an unknown `type` from a bad field.
    pub fn decode<T: Frame>(self, bytes: &[u8]) -> Result<T, DecodeError> {
        let direct = match self {
            Codec::Json => serde_json::from_slice::<T>(bytes).map_err(|e| e.to_string()),
            Codec::MsgPack => rmp_serde::from_slice::<T>(bytes).map_err(|e| e.to_string()),
        };
        direct.map_err(|direct_error| self.diagnose::<T>(bytes, direct_error))
    }

    fn diagnose<T: Frame>(self, bytes: &[u8], direct_error: String) -> DecodeError {
        let parsed: Result<serde_json::Value, String> = match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            // A syntax error here is a value the generic (JSON) model cannot hold; say what
            // can be sent rather than name the model.
            Codec::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| match e {
                rmp_serde::decode::Error::Syntax(_) => "a MessagePack frame holds only nil, \
                    booleans, numbers, strings, arrays and maps with string keys"
                    .to_owned(),
                e => e.to_string(),
            }),
        };
        let value = match parsed {
            Ok(value) => value,
            Err(parse_error) => return DecodeError::Malformed(parse_error),
        };
        let tag = match &value {
            serde_json::Value::Object(map) => map.get("type"),
            _ => return DecodeError::Malformed("a frame must be an object".into()),
        };
        let Some(serde_json::Value::String(tag)) = tag else {
            return DecodeError::Malformed("a frame needs a string field `type`".into());
        };
        if !T::TYPES.contains(&tag.as_str()) {
            return DecodeError::UnknownType(tag.chars().take(64).collect());
        }
        match serde_json::from_value::<T>(value) {
            Err(e) => DecodeError::InvalidField(e.to_string()),
            // The value decodes but the bytes did not: the direct decoder is stricter than the
            // generic value (a repeated key in JSON, which the value keeps the last of), and
            // its own error says where.
            Ok(_) => DecodeError::InvalidField(direct_error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientFrame, Cursor, ServerFrame};

    #[test]
    fn classifies_json_errors() {
        let json = Codec::Json;
        assert!(matches!(
            json.decode::<ClientFrame>(b"{nope"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            json.decode::<ClientFrame>(b"[1]"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            json.decode::<ClientFrame>(b"{\"a\":1}"),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(
            json.decode::<ClientFrame>(b"{\"type\":\"dance\"}"),
            Err(DecodeError::UnknownType("dance".into()))
        );
        let Err(DecodeError::InvalidField(msg)) =
            json.decode::<ClientFrame>(b"{\"type\":\"resume\",\"after\":5}")
        else {
            panic!("wrong type must be an invalid field");
        };
        assert!(msg.contains("string") || msg.contains("cursor"), "{msg}");
    }

    #[test]
    fn field_errors_only_the_direct_decoder_sees_name_the_cause() {
        // Found by the codec_json fuzz target: JSON clients were told about msgpack.
        let repeated = br#"{"type":"refresh","token":"a","token":"b"}"#;
        let Err(DecodeError::InvalidField(msg)) = Codec::Json.decode::<ClientFrame>(repeated)
        else {
            panic!("a repeated field must be an invalid field");
        };
        assert!(msg.contains("duplicate field `token`"), "{msg}");
        assert!(!msg.contains("msgpack"), "{msg}");
    }

    #[test]
    fn msgpack_values_json_cannot_hold_are_malformed_without_naming_json() {
        // Found by the codec_msgpack fuzz target: the error named the internal JSON model.
        let binary_field = b"\x82\xa4type\xa7refresh\xa5bytes\xc4\x03abc";
        let Err(DecodeError::Malformed(msg)) = Codec::MsgPack.decode::<ClientFrame>(binary_field)
        else {
            panic!("a binary value must be malformed");
        };
        assert!(msg.contains("strings"), "{msg}");
        assert!(!msg.to_lowercase().contains("json"), "{msg}");
    }

    #[test]
    fn json_keeps_notification_numbers_exact() {
        // Found by the server_encoding fuzz target: without serde_json's `float_roundtrip`
        // this parsed back one unit in the last place off.
        let frame = ServerFrame::Notify {
            id: 1,
            kind: "k".into(),
            data: serde_json::json!(-1.2603686308497686e-228),
            cursor: Cursor::new(1, 0),
        };
        let bytes = Codec::Json.encode(&frame).expect("encodes");
        assert_eq!(Codec::Json.decode::<ServerFrame>(&bytes), Ok(frame));
    }

    #[test]
    fn msgpack_garbage_is_malformed() {
        let err = Codec::MsgPack.decode::<ClientFrame>(&[0xc1, 0xff, 0x00]);
        assert!(matches!(err, Err(DecodeError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn msgpack_keeps_field_names() {
        let frame = ServerFrame::FeedAdvanced {
            cursor: Cursor::new(3, 1),
            count: 2,
        };
        let bytes = Codec::MsgPack.encode(&frame).expect("encodes");
        assert!(bytes.windows(6).any(|w| w == b"cursor"));
        assert_eq!(Codec::MsgPack.decode::<ServerFrame>(&bytes), Ok(frame));
    }

    #[test]
    fn subprotocols_round_trip() {
        for codec in [Codec::Json, Codec::MsgPack] {
            assert_eq!(Codec::from_subprotocol(codec.subprotocol()), Some(codec));
        }
        assert_eq!(Codec::from_subprotocol("chat"), None);
    }

    proptest::proptest! {
        #[test]
        fn a_welcome_is_encoded_byte_for_byte_as_serde_encodes_it(
            session in "\\PC{0,30}|[\"\\\\\u{0}-\u{1f}]{0,4}",
            user in "\\PC{0,20}|[\"\\\\\u{0}-\u{1f}]{0,4}",
            node in ".{0,20}",
            heartbeat_ms in proptest::prelude::any::<u64>(),
            feed in proptest::prelude::any::<u64>(),
            broadcast in proptest::prelude::any::<u64>(),
        ) {
            let welcome = ServerFrame::Welcome {
                session,
                user,
                node,
                heartbeat_ms,
                cursor: Cursor::new(feed, broadcast),
            };
            for codec in [Codec::Json, Codec::MsgPack] {
                let direct = codec.encode_frame(&welcome).expect("encodes");
                proptest::prop_assert_eq!(&direct, &codec.encode(&welcome).expect("encodes"));
                let decoded = codec.decode::<ServerFrame>(&direct);
                proptest::prop_assert_eq!(decoded, Ok(welcome.clone()));
            }
        }
    }
}
