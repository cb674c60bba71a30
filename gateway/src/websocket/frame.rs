//! WebSocket frame headers (RFC 6455 section 5.2): parsing client frames, writing server frames.

use super::WebSocketError;

/// Control frames (close, ping, pong) carry at most this many payload bytes.
pub const MAX_CONTROL_PAYLOAD: u64 = 125;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<Self, WebSocketError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return Err(WebSocketError::Protocol("unknown opcode")),
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes, allowed between fragments.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed client frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Whether this is the last frame of its message.
    pub fin: bool,
    pub opcode: OpCode,
    /// The client's masking key; every client frame must have one.
    pub mask: [u8; 4],
    /// Payload length in bytes.
    pub payload_len: u64,
    /// Bytes the header itself took, so the payload starts here.
    pub header_len: usize,
}

/// Parse the header of a client frame at the start of `bytes`: `Ok(None)` if more bytes are
/// needed to know it.
///
/// Everything a server must refuse is refused here, before any payload is buffered: reserved
/// bits (no extension is negotiated), unknown opcodes, unmasked frames, fragmented or
/// oversized control frames, and lengths with the top bit set.
pub fn parse_header(bytes: &[u8]) -> Result<Option<Header>, WebSocketError> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(WebSocketError::Protocol("reserved bits set"));
    }
    let fin = first & 0x80 != 0;
    let opcode = OpCode::from_bits(first & 0x0F)?;
    if second & 0x80 == 0 {
        return Err(WebSocketError::Protocol("client frames must be masked"));
    }
    let (payload_len, length_bytes) = match second & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.first_chunk::<8>() {
            Some(len) => (u64::from_be_bytes(*len), 8),
            None => return Ok(None),
        },
        len => (u64::from(len), 0),
    };
    if payload_len >> 63 != 0 {
        return Err(WebSocketError::Protocol(
            "payload length has its top bit set",
        ));
    }
    if opcode.is_control() && (!fin || payload_len > MAX_CONTROL_PAYLOAD) {
        return Err(WebSocketError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    let Some(mask) = rest[length_bytes..].first_chunk::<4>() else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: *mask,
        payload_len,
        header_len: 2 + length_bytes + 4,
    }))
}

/// Undo the client's masking in place.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    unmask_at(payload, mask, 0);
}

/// Undo the masking of a piece of a payload that starts `offset` bytes into it (a frame whose
/// text is checked as it arrives is unmasked piece by piece).
pub fn unmask_at(piece: &mut [u8], mask: [u8; 4], offset: usize) {
    let keys = mask.iter().cycle().skip(offset % 4);
    for (byte, key) in piece.iter_mut().zip(keys) {
        *byte ^= key;
    }
}

/// Append one whole, unmasked server frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    write_frame_parts(out, opcode, &[payload]);
}

/// Append one whole, unmasked server frame whose payload is `parts` one after the other, so
/// a payload kept in pieces (a shared push around one socket's cursor) is copied once, here.
pub fn write_frame_parts(out: &mut Vec<u8>, opcode: OpCode, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    out.reserve(10 + len);
    out.push(0x80 | opcode.bits());
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    for part in parts {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A client frame as a browser would send it.
    fn client_frame(fin: bool, opcode: OpCode, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut server = Vec::new();
        write_frame(&mut server, opcode, payload);
        let header_len = server.len() - payload.len();
        let mut frame = server[..header_len].to_vec();
        if !fin {
            frame[0] &= 0x7F;
        }
        frame[1] |= 0x80;
        frame.extend_from_slice(&mask);
        let mut masked = payload.to_vec();
        unmask(&mut masked, mask);
        frame.extend_from_slice(&masked);
        frame
    }

    #[test]
    fn short_input_asks_for_more() {
        let frame = client_frame(true, OpCode::Binary, [1, 2, 3, 4], &[7; 300]);
        for cut in 0..8 {
            assert_eq!(parse_header(&frame[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse_header(&frame[..8]).unwrap().is_some());
    }

    #[test]
    fn refuses_what_a_server_must_refuse() {
        let unmasked = [0x81, 0x00];
        let reserved = [0xC1, 0x80, 0, 0, 0, 0];
        let opcode = [0x83, 0x80, 0, 0, 0, 0];
        let fragmented_ping = [0x09, 0x80, 0, 0, 0, 0];
        let long_ping = [0x89, 0xFE, 0, 126, 0, 0, 0, 0];
        let top_bit = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for bytes in [
            &unmasked[..],
            &reserved,
            &opcode,
            &fragmented_ping,
            &long_ping,
            &top_bit,
        ] {
            assert!(
                matches!(parse_header(bytes), Err(WebSocketError::Protocol(_))),
                "{bytes:02x?} was accepted"
            );
        }
    }

    proptest! {
        #[test]
        fn every_client_frame_parses_back(
            fin in any::<bool>(),
            data in any::<bool>(),
            mask in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..70_000),
        ) {
            let opcode = if data { OpCode::Binary } else { OpCode::Continuation };
            let frame = client_frame(fin, opcode, mask, &payload);
            let header = parse_header(&frame).unwrap().unwrap();
            prop_assert_eq!(header.fin, fin);
            prop_assert_eq!(header.opcode, opcode);
            prop_assert_eq!(header.payload_len, payload.len() as u64);
            let mut body = frame[header.header_len..].to_vec();
            unmask(&mut body, header.mask);
            prop_assert_eq!(body, payload);
        }

        #[test]
        fn unmasking_in_pieces_equals_unmasking_whole(
            mask in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            cut in 0usize..64,
        ) {
            let cut = cut.min(payload.len());
            let mut whole = payload.clone();
            unmask(&mut whole, mask);
            let mut pieces = payload;
            let (head, tail) = pieces.split_at_mut(cut);
            unmask_at(head, mask, 0);
            unmask_at(tail, mask, cut);
            prop_assert_eq!(pieces, whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let _ = parse_header(&bytes);
        }
    }
}
