//! The frames a server wrote, read back with every rule RFC 6455 sets for server frames.

use std::ops::Range;

/// One frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFrame {
    /// The frame's opcode (text 0x1, binary 0x2, close 0x8, ping 0x9, pong 0xA).
    pub opcode: u8,
    /// The payload, never masked by a server.
    pub payload: Vec<u8>,
    /// Where the frame lies in everything written, to tell which frames the server held
    /// unwritten at the same time.
    pub at: Range<usize>,
}

/// Split everything a server wrote into frames; panics on anything a client would refuse:
/// a partial frame, fragmentation (the server sends whole frames), reserved bits, a mask, an
/// unknown opcode, a length not in its shortest form, or a control frame over 125 bytes.
pub fn read_written(written: &[u8]) -> Vec<WrittenFrame> {
    let mut frames = Vec::new();
    let mut bytes = written;
    while !bytes.is_empty() {
        let start = written.len() - bytes.len();
        let Some((&[first, second], rest)) = bytes.split_first_chunk::<2>() else {
            panic!("a partial frame header was written: {bytes:02x?}");
        };
        assert_eq!(
            first & 0xF0,
            0x80,
            "a fragmented frame or reserved bits: {first:02x}"
        );
        assert_eq!(second & 0x80, 0, "server frames are never masked");
        let opcode = first & 0x0F;
        assert!(
            matches!(opcode, 0x1 | 0x2 | 0x8 | 0x9 | 0xA),
            "unknown opcode {opcode:x}"
        );
        let (length, rest) = match second & 0x7F {
            126 => {
                let (bytes, rest) = rest.split_first_chunk::<2>().expect("a whole length");
                let length = u64::from(u16::from_be_bytes(*bytes));
                assert!(length >= 126, "length {length} not in its shortest form");
                (length, rest)
            }
            127 => {
                let (bytes, rest) = rest.split_first_chunk::<8>().expect("a whole length");
                let length = u64::from_be_bytes(*bytes);
                assert!(length > 0xFFFF, "length {length} not in its shortest form");
                (length, rest)
            }
            short => (u64::from(short), rest),
        };
        if opcode & 0x08 != 0 {
            assert!(length <= 125, "a control frame of {length} bytes");
        }
        let length = usize::try_from(length).expect("a length that fits memory");
        let (payload, rest) = rest.split_at_checked(length).expect("a whole payload");
        bytes = rest;
        frames.push(WrittenFrame {
            opcode,
            payload: payload.to_vec(),
            at: start..written.len() - bytes.len(),
        });
    }
    frames
}
