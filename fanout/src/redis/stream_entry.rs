//! The fan-out stream's entry format: the one place events become stream fields and back.
//!
//! A post entry is flat fields (`post`, `author`, `ts`, `vis`) because the create script
//! writes it with an ID it assigns itself; a notification entry is one MessagePack `event`
//! field. Either may carry `tp`, the trace context of the request that appended it. Dead
//! letters repeat the entry's fields beside their own (an undecodable entry's bounded, and
//! prefixed `raw:`).

use std::collections::HashMap;

use pushgate_protocol::{Audience, FeedItem, TraceParent};
use serde::{Deserialize, Serialize};

use super::connection::ScriptCall;
use crate::backplane::{BackplaneError, FanoutEvent, NotifyEvent, PostEvent, UserId};

/// The post ID field: first in a post entry, written by the create script.
pub(crate) const POST_ID: &str = "post";
const AUTHOR: &str = "author";
const TS: &str = "ts";
/// Who receives the post. The name is from when it held the visibility; entries then said
/// `public` or `followers`, both read as the followers audience, so workers and API
/// processes of either version read each other's entries.
const AUDIENCE: &str = "vis";
/// A notification entry's one field.
const NOTIFY: &str = "event";
/// The `traceparent` of the request that appended the entry, when it was traced.
const TRACE: &str = "tp";

/// Bytes kept of each field name and value of an undecodable entry in its dead letter:
/// enough to see what wrote it, bounded so one huge entry cannot bloat the dead-letter stream.
const RAW_CAP: usize = 4096;
/// Fields kept of an undecodable entry in its dead letter, for the same reason.
const RAW_FIELDS: usize = 32;
/// Before each kept field's name, so a foreign `reason` or `id` cannot pass for the dead
/// letter's own.
const RAW_PREFIX: &[u8] = b"raw:";

/// Why a stream entry is not an event: a bug, or a foreign writer (a newer publisher, a
/// hand-typed `XADD`). The messages name fields, never their values, which may hold user
/// data; a dead letter keeps the values beside its [`DecodeError::cause`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("stream entry lacks field {0:?}")]
    Missing(&'static str),
    #[error("stream entry field {0:?} is not a decimal number")]
    NotANumber(&'static str),
    #[error("stream entry field {0:?} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("stream entry names an unknown audience")]
    UnknownAudience,
    #[error("stream entry holds an undecodable notification")]
    Notification(#[source] rmp_serde::decode::Error),
    #[error("stream entry's notification item is a post")]
    NotANotification,
}

impl DecodeError {
    /// A stable name of the cause, for the dead letter's `cause` field: tools filter on it
    /// where the message may be reworded.
    pub(crate) fn cause(&self) -> &'static str {
        match self {
            DecodeError::Missing(_) => "missing_field",
            DecodeError::NotANumber(_) => "not_a_number",
            DecodeError::NotUtf8(_) => "not_utf8",
            DecodeError::UnknownAudience => "unknown_audience",
            DecodeError::Notification(_) => "bad_notification",
            DecodeError::NotANotification => "not_a_notification",
        }
    }
}

/// A notification that MessagePack could not encode (a bug: every event is plain data).
#[derive(Debug, thiserror::Error)]
#[error("notification could not be encoded")]
pub(crate) struct EncodeError(#[source] rmp_serde::encode::Error);

impl From<EncodeError> for BackplaneError {
    fn from(e: EncodeError) -> Self {
        BackplaneError::Corrupt(format!("fan-out event: {e}"))
    }
}

/// A notification's `event` field: the shape notification events had as serde values, kept
/// so entries already in a stream stay readable.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum EncodedEvent {
    Notify { item: FeedItem, users: Vec<UserId> },
}

/// An event as the fields of its stream entry, in the order XADD writes them.
#[derive(Debug, PartialEq)]
pub(crate) struct StreamEntry {
    /// Field names and values.
    fields: Vec<(&'static str, Vec<u8>)>,
}

impl StreamEntry {
    /// The entry of `event`.
    pub(crate) fn of(event: &FanoutEvent) -> Result<Self, EncodeError> {
        match event {
            FanoutEvent::Post(post) => {
                let mut entry = Self::post_without_id(&post.author, post.ts, post.audience);
                entry
                    .fields
                    .insert(0, (POST_ID, post.id.to_string().into_bytes()));
                Ok(entry)
            }
            FanoutEvent::Notify(notify) => Self::notify(notify),
        }
    }

    /// A notification's entry.
    pub(crate) fn notify(event: &NotifyEvent) -> Result<Self, EncodeError> {
        let encoded = EncodedEvent::Notify {
            item: event.item(),
            users: event.users.clone(),
        };
        let bytes = rmp_serde::to_vec_named(&encoded).map_err(EncodeError)?;
        Ok(Self {
            fields: vec![(NOTIFY, bytes)],
        })
    }

    /// A post's entry without its [`POST_ID`] field, which the create script writes first
    /// because it assigns the ID in the same step.
    pub(crate) fn post_without_id(author: &str, ts: u64, audience: Audience) -> Self {
        let audience = match audience {
            Audience::Followers => "followers",
            Audience::Friends => "friends",
        };
        Self {
            fields: vec![
                (AUTHOR, author.as_bytes().to_vec()),
                (TS, ts.to_string().into_bytes()),
                (AUDIENCE, audience.as_bytes().to_vec()),
            ],
        }
    }

    /// The same entry carrying `trace`, the appending request's span, if it has one.
    pub(crate) fn traced(mut self, trace: Option<&TraceParent>) -> Self {
        if let Some(trace) = trace {
            self.fields
                .push((TRACE, trace.as_str().as_bytes().to_vec()));
        }
        self
    }

    /// The trace context of an entry, from its fields as name, value, name, value...
    pub(crate) fn trace(flat: &[Vec<u8>]) -> Option<TraceParent> {
        flat.chunks_exact(2)
            .find(|pair| pair[0] == TRACE.as_bytes())
            .and_then(|pair| String::from_utf8(pair[1].clone()).ok())
            .map(TraceParent::new)
    }

    /// `call` with the fields appended as name, value arguments.
    pub(crate) fn into_args(self, call: ScriptCall) -> ScriptCall {
        self.fields
            .into_iter()
            .fold(call, |call, (name, value)| call.arg(name).arg(value))
    }

    /// `cmd` with the fields appended as name, value arguments.
    pub(crate) fn write_to(self, cmd: &mut redis::Cmd) {
        for (name, value) in self.fields {
            cmd.arg(name).arg(value);
        }
    }

    /// What a dead letter keeps of an entry that did not decode, as name, value arguments:
    /// its first [`RAW_FIELDS`] fields, names prefixed `raw:`, each cut to [`RAW_CAP`] bytes.
    pub(crate) fn raw(flat: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let cut = |bytes: &[u8]| bytes[..bytes.len().min(RAW_CAP)].to_vec();
        flat.chunks_exact(2)
            .take(RAW_FIELDS)
            .flat_map(|pair| [[RAW_PREFIX, &cut(&pair[0])].concat(), cut(&pair[1])])
            .collect()
    }

    /// The event an entry holds, from its fields as name, value, name, value...
    pub(crate) fn decode(flat: &[Vec<u8>]) -> Result<FanoutEvent, DecodeError> {
        let fields: HashMap<&[u8], &[u8]> = flat
            .chunks_exact(2)
            .map(|pair| (pair[0].as_slice(), pair[1].as_slice()))
            .collect();
        if let Some(event) = fields.get(NOTIFY.as_bytes()) {
            let EncodedEvent::Notify { item, users } =
                rmp_serde::from_slice(event).map_err(DecodeError::Notification)?;
            let FeedItem::Notify { id, kind, data, ts } = item else {
                return Err(DecodeError::NotANotification);
            };
            return Ok(FanoutEvent::Notify(NotifyEvent {
                id,
                kind,
                data,
                ts,
                users,
            }));
        }
        let text = |name: &'static str| {
            let value = fields
                .get(name.as_bytes())
                .ok_or(DecodeError::Missing(name))?;
            std::str::from_utf8(value).map_err(|_| DecodeError::NotUtf8(name))
        };
        let number = |name: &'static str| {
            text(name)?
                .parse::<u64>()
                .map_err(|_| DecodeError::NotANumber(name))
        };
        let audience = match text(AUDIENCE)? {
            "public" | "followers" => Audience::Followers,
            "friends" => Audience::Friends,
            _ => return Err(DecodeError::UnknownAudience),
        };
        Ok(FanoutEvent::Post(PostEvent {
            id: number(POST_ID)?,
            author: text(AUTHOR)?.to_owned(),
            ts: number(TS)?,
            audience,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(entry: StreamEntry) -> Vec<Vec<u8>> {
        entry
            .fields
            .into_iter()
            .flat_map(|(name, value)| [name.as_bytes().to_vec(), value])
            .collect()
    }

    fn pairs(fields: &[(&str, &[u8])]) -> Vec<Vec<u8>> {
        fields
            .iter()
            .flat_map(|(name, value)| [name.as_bytes().to_vec(), value.to_vec()])
            .collect()
    }

    fn post(audience: Audience) -> FanoutEvent {
        FanoutEvent::Post(PostEvent {
            id: 42,
            author: "alice".into(),
            ts: 1_764_264_000_123_456,
            audience,
        })
    }

    fn notify() -> FanoutEvent {
        FanoutEvent::Notify(NotifyEvent {
            id: 7,
            kind: "mention".into(),
            data: serde_json::json!({"by": "bob", "n": [1, 2.5, null]}),
            ts: 9,
            users: vec!["carol".into(), "dave".into()],
        })
    }

    #[test]
    fn every_event_survives_its_entry() {
        for event in [post(Audience::Followers), post(Audience::Friends), notify()] {
            let entry = StreamEntry::of(&event).expect("encodes");
            assert_eq!(StreamEntry::decode(&flat(entry)).expect("decodes"), event);
        }
    }

    #[test]
    fn a_post_entry_is_the_scripts_id_then_the_rest() {
        let whole = flat(StreamEntry::of(&post(Audience::Friends)).expect("encodes"));
        let mut scripted = pairs(&[(POST_ID, b"42")]);
        scripted.extend(flat(StreamEntry::post_without_id(
            "alice",
            1_764_264_000_123_456,
            Audience::Friends,
        )));
        assert_eq!(whole, scripted);
        assert_eq!(
            whole,
            pairs(&[
                ("post", b"42"),
                ("author", b"alice"),
                ("ts", b"1764264000123456"),
                ("vis", b"friends")
            ])
        );
    }

    #[test]
    fn entries_written_before_audiences_still_read() {
        let public = pairs(&[
            ("post", b"1"),
            ("author", b"al"),
            ("ts", b"5"),
            ("vis", b"public"),
        ]);
        assert!(matches!(
            StreamEntry::decode(&public),
            Ok(FanoutEvent::Post(PostEvent {
                audience: Audience::Followers,
                ..
            }))
        ));
        // A notification as the serde derive of the old event enum wrote it.
        let old = serde_json::json!({
            "type": "notify",
            "item": {"type": "notify", "id": 7, "kind": "mention",
                     "data": {"by": "bob", "n": [1, 2.5, null]}, "ts": 9},
            "users": ["carol", "dave"],
        });
        let bytes = rmp_serde::to_vec_named(&old).expect("encodes");
        assert_eq!(
            StreamEntry::decode(&pairs(&[("event", &bytes)])).expect("decodes"),
            notify()
        );
    }

    #[test]
    fn corrupt_entries_are_typed_errors() {
        let missing = pairs(&[("post", b"1"), ("ts", b"5"), ("vis", b"followers")]);
        assert!(matches!(
            StreamEntry::decode(&missing),
            Err(DecodeError::Missing("author"))
        ));
        let bad_id = pairs(&[
            ("post", b"x1"),
            ("author", b"al"),
            ("ts", b"5"),
            ("vis", b"followers"),
        ]);
        assert!(matches!(
            StreamEntry::decode(&bad_id),
            Err(DecodeError::NotANumber("post"))
        ));
        let bad_author = pairs(&[
            ("post", b"1"),
            ("author", b"\xff"),
            ("ts", b"5"),
            ("vis", b"followers"),
        ]);
        assert!(matches!(
            StreamEntry::decode(&bad_author),
            Err(DecodeError::NotUtf8("author"))
        ));
        // Private posts are never fanned out, so no entry may name them.
        let private = pairs(&[
            ("post", b"1"),
            ("author", b"al"),
            ("ts", b"5"),
            ("vis", b"private"),
        ]);
        assert!(matches!(
            StreamEntry::decode(&private),
            Err(DecodeError::UnknownAudience)
        ));
        assert!(matches!(
            StreamEntry::decode(&pairs(&[("event", b"\xc1")])),
            Err(DecodeError::Notification(_))
        ));
        // A type tag of a newer writer.
        let poll = serde_json::json!({"type": "poll", "users": ["u"]});
        let bytes = rmp_serde::to_vec_named(&poll).expect("encodes");
        assert!(matches!(
            StreamEntry::decode(&pairs(&[("event", &bytes)])),
            Err(DecodeError::Notification(_))
        ));
        let post_item = serde_json::json!({
            "type": "notify",
            "item": {"type": "post", "id": 1, "author": "al", "ts": 5},
            "users": ["u"],
        });
        let bytes = rmp_serde::to_vec_named(&post_item).expect("encodes");
        assert!(matches!(
            StreamEntry::decode(&pairs(&[("event", &bytes)])),
            Err(DecodeError::NotANotification)
        ));
        assert!(matches!(
            StreamEntry::decode(&Vec::new()),
            Err(DecodeError::Missing(_))
        ));
    }

    #[test]
    fn a_dead_letter_keeps_a_bounded_prefixed_copy_of_the_raw_fields() {
        let raw = StreamEntry::raw(&pairs(&[("reason", b"mine"), ("vis", b"\xff")]));
        assert_eq!(raw, pairs(&[("raw:reason", b"mine"), ("raw:vis", b"\xff")]));
        let huge = vec![b'x'; RAW_CAP * 3];
        let many: Vec<Vec<u8>> = (0..RAW_FIELDS * 2)
            .flat_map(|_| [huge.clone(), huge.clone()])
            .collect();
        let raw = StreamEntry::raw(&many);
        assert_eq!(raw.len(), RAW_FIELDS * 2);
        assert_eq!(raw[0].len(), RAW_PREFIX.len() + RAW_CAP);
        assert_eq!(raw[1].len(), RAW_CAP);
    }

    #[test]
    fn the_trace_field_is_optional_and_round_trips() {
        let trace = TraceParent::new("00-ab-cd-01".into());
        let traced = flat(
            StreamEntry::of(&notify())
                .expect("encodes")
                .traced(Some(&trace)),
        );
        assert_eq!(StreamEntry::trace(&traced), Some(trace));
        assert_eq!(StreamEntry::decode(&traced).expect("decodes"), notify());
        let untraced = flat(
            StreamEntry::of(&post(Audience::Friends))
                .expect("encodes")
                .traced(None),
        );
        assert_eq!(StreamEntry::trace(&untraced), None);
    }
}
