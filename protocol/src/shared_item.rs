//! A feed item pushed to many sockets, its frame encoded once per codec.

use std::sync::OnceLock;

use crate::{Codec, Cursor, EncodeError, FeedItem};

/// A [`FeedItem`] on its way to every recipient on a node.
///
/// All recipients get the same push frame but for its cursor, the frame's last field. So the
/// frame is encoded once per codec up to the cursor, and each socket's copy is that prefix,
/// its own cursor and the closing byte: two copies instead of a serializer run per delivery,
/// which was a tenth of a busy gateway's CPU. The prefix is cut from a real encoding of the
/// frame, so the wire format stays the one `ServerFrame` defines (tests compare the two).
#[derive(Debug)]
pub struct SharedItem {
    /// The item itself, for positions, timestamps and relays.
    item: FeedItem,
    /// The JSON prefix, made by the first JSON recipient.
    json: OnceLock<PushTemplate>,
    /// The MessagePack prefix, made by the first MessagePack recipient.
    msgpack: OnceLock<PushTemplate>,
    /// Counts the item's socket writes for a trace; dropped with the item, when the last
    /// recipient is done with it. None when the post is not traced (the usual case).
    observer: Option<Box<dyn WriteObserver>>,
}

/// Told of each recipient's encoding of a [`SharedItem`] (one per socket write of it), so a
/// trace can report counts instead of a span per socket. Its `Drop` runs when the last
/// recipient lets go of the item.
pub trait WriteObserver: Send + Sync + std::fmt::Debug {
    /// One more socket got the push frame.
    fn written(&self);
}

/// One codec's encoding of a push frame, split where the cursor goes.
#[derive(Debug)]
enum PushTemplate {
    /// Everything before the cursor's value, and what follows it.
    Split {
        prefix: Vec<u8>,
        suffix: &'static [u8],
    },
    /// The encoding did not end as expected (a frame layout this code does not know): every
    /// recipient encodes the whole frame instead.
    Whole,
}

impl SharedItem {
    /// Share `item` among its recipients.
    pub fn new(item: FeedItem) -> Self {
        Self {
            item,
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
            observer: None,
        }
    }

    /// Share `item`, telling `observer` of every recipient's encoding.
    pub fn observed(item: FeedItem, observer: Box<dyn WriteObserver>) -> Self {
        Self {
            observer: Some(observer),
            ..Self::new(item)
        }
    }

    /// The shared item.
    pub fn item(&self) -> &FeedItem {
        &self.item
    }

    /// The push frame of this item at `cursor`, as `codec` encodes it: slices of the shared
    /// encoding around this recipient's cursor, for the socket to copy straight into its write
    /// buffer. No buffer is built per recipient.
    pub fn frame(&self, codec: Codec, cursor: Cursor) -> Result<PushFrame<'_>, EncodeError> {
        if let Some(observer) = &self.observer {
            observer.written();
        }
        let template = match codec {
            Codec::Json => &self.json,
            Codec::MsgPack => &self.msgpack,
        };
        let template = match template.get() {
            Some(template) => template,
            None => {
                let made = PushTemplate::new(codec, &self.item)?;
                template.get_or_init(|| made)
            }
        };
        Ok(PushFrame(match template {
            PushTemplate::Split { prefix, suffix } => Parts::Split {
                prefix,
                cursor: CursorBytes::new(codec, cursor)?,
                suffix,
            },
            PushTemplate::Whole => Parts::Whole(codec.encode(&self.item.to_frame(cursor))?),
        }))
    }
}

/// One recipient's push frame, borrowed from its [`SharedItem`].
#[derive(Debug)]
pub struct PushFrame<'a>(Parts<'a>);

/// Where a push frame's bytes are.
#[derive(Debug)]
enum Parts<'a> {
    /// The shared prefix, this recipient's cursor, the shared suffix.
    Split {
        prefix: &'a [u8],
        cursor: CursorBytes,
        suffix: &'static [u8],
    },
    /// A frame encoded for this recipient alone (the template could not be split).
    Whole(Vec<u8>),
}

impl PushFrame<'_> {
    /// The frame's bytes, in order: write them one after the other.
    pub fn slices(&self) -> [&[u8]; 3] {
        match &self.0 {
            Parts::Split {
                prefix,
                cursor,
                suffix,
            } => [prefix, cursor.bytes(), suffix],
            Parts::Whole(bytes) => [bytes, &[], &[]],
        }
    }
}

/// A cursor's encoding, kept inline: the longest, `"<u64>:<u64>"` with JSON's quotes or
/// MessagePack's string header, is 43 bytes.
#[derive(Debug)]
struct CursorBytes {
    buf: [u8; 48],
    len: u8,
}

impl CursorBytes {
    fn new(codec: Codec, cursor: Cursor) -> Result<Self, EncodeError> {
        let mut buf = [0u8; 48];
        let mut rest: &mut [u8] = &mut buf;
        codec.encode_into(&cursor, &mut rest)?;
        let len = (48 - rest.len()) as u8;
        Ok(Self { buf, len })
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// Equal when the items are: the templates are caches of them.
impl PartialEq for SharedItem {
    fn eq(&self, other: &Self) -> bool {
        self.item == other.item
    }
}

impl PushTemplate {
    /// Encode the frame once with a probe cursor and cut the cursor's value out.
    fn new(codec: Codec, item: &FeedItem) -> Result<Self, EncodeError> {
        let probe = Cursor::default();
        let whole = codec.encode(&item.to_frame(probe))?;
        let value = codec.encode(&probe)?;
        // A JSON object closes after its last field; a MessagePack map has no terminator.
        let suffix: &'static [u8] = match codec {
            Codec::Json => b"}",
            Codec::MsgPack => b"",
        };
        let tail = value.len() + suffix.len();
        let split = whole
            .len()
            .checked_sub(tail)
            .filter(|&at| whole[at..].starts_with(&value) && whole[at + value.len()..] == *suffix);
        Ok(match split {
            Some(at) => PushTemplate::Split {
                prefix: whole[..at].to_vec(),
                suffix,
            },
            None => PushTemplate::Whole,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Audience;

    fn items() -> impl Strategy<Value = FeedItem> {
        prop_oneof![
            (any::<u64>(), ".{0,40}", any::<u64>(), any::<bool>()).prop_map(
                |(id, author, ts, friends)| FeedItem::Post {
                    id,
                    author,
                    ts,
                    audience: if friends {
                        Audience::Friends
                    } else {
                        Audience::Followers
                    },
                }
            ),
            (any::<u64>(), ".{0,20}", ".{0,40}", any::<u64>()).prop_map(|(id, kind, text, ts)| {
                FeedItem::Notify {
                    id,
                    kind,
                    data: serde_json::json!({ "text": text, "n": [1, 2.5, null] }),
                    ts,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn shared_encoding_is_byte_for_byte_the_frame(
            item in items(),
            feed in any::<u64>(),
            broadcast in any::<u64>(),
        ) {
            let shared = SharedItem::new(item.clone());
            let cursor = Cursor::new(feed, broadcast);
            for codec in [Codec::Json, Codec::MsgPack] {
                // Twice: the first call makes the template, the second uses it.
                for _ in 0..2 {
                    let frame = shared.frame(codec, cursor).expect("encodes");
                    let whole = codec.encode(&item.to_frame(cursor)).expect("encodes");
                    prop_assert_eq!(frame.slices().concat(), whole);
                }
            }
        }
    }

    #[derive(Debug)]
    struct Tally(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl WriteObserver for Tally {
        fn written(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn an_observer_hears_every_encoding_and_drops_with_the_item() {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let item = FeedItem::Post {
            id: 7,
            author: "alice".into(),
            ts: 1,
            audience: crate::Audience::Followers,
        };
        let shared = SharedItem::observed(item, Box::new(Tally(count.clone())));
        for feed in 1..=3 {
            shared
                .frame(Codec::Json, Cursor::new(feed, 0))
                .expect("encodes");
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 3);
        drop(shared);
        assert_eq!(
            std::sync::Arc::strong_count(&count),
            1,
            "the observer went with the item"
        );
    }

    #[test]
    fn the_longest_cursor_fits_inline_in_both_codecs() {
        let shared = SharedItem::new(FeedItem::Post {
            id: u64::MAX,
            author: "a".repeat(128),
            ts: u64::MAX,
            audience: crate::Audience::Friends,
        });
        let cursor = Cursor::new(u64::MAX, u64::MAX);
        for codec in [Codec::Json, Codec::MsgPack] {
            let frame = shared.frame(codec, cursor).expect("encodes");
            assert_eq!(
                frame.slices().concat(),
                codec
                    .encode(&shared.item().to_frame(cursor))
                    .expect("encodes")
            );
        }
    }

    #[test]
    fn posts_use_the_split_template_in_both_codecs() {
        let shared = SharedItem::new(FeedItem::Post {
            id: 7,
            author: "alice".into(),
            ts: 1,
            audience: Audience::Followers,
        });
        for codec in [Codec::Json, Codec::MsgPack] {
            shared.frame(codec, Cursor::new(3, 4)).expect("encodes");
        }
        assert!(matches!(
            shared.json.get(),
            Some(PushTemplate::Split { .. })
        ));
        assert!(matches!(
            shared.msgpack.get(),
            Some(PushTemplate::Split { .. })
        ));
    }
}
