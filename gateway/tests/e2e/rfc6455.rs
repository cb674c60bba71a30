//! RFC 6455 rules at the edge of a running node: the close code each broken rule gets.

use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::support::TestNode;

/// Send `frame` as bob and return the code and reason the node closes with; alice's pushes
/// keep arriving meanwhile.
async fn closed_after(frame: Frame) -> (u16, String) {
    let node = TestNode::start().await;
    node.follow("carol", "alice").await;
    let mut carol = node.connect("carol").await;
    let mut bob = node.connect("bob").await;
    bob.send_raw(Message::Frame(frame)).await;
    let close = bob.closed().await.expect("close frame");
    let id = node.post("alice", "unaffected").await;
    assert_eq!(carol.posts(1).await[0].0, id);
    (u16::from(close.code), close.reason.as_str().to_owned())
}

/// A close frame with any payload: tungstenite's own constructor only makes valid ones.
fn close_frame(payload: &[u8]) -> Frame {
    let header = FrameHeader {
        opcode: OpCode::Control(Control::Close),
        ..FrameHeader::default()
    };
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_is_not_utf8_closes_with_1007() {
    let text = Frame::message(vec![b'{', 0xC3, 0x28, b'}'], OpCode::Data(Data::Text), true);
    assert_eq!(closed_after(text).await, (1007, "invalid_utf8".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_an_invalid_code_closes_with_1002_not_an_echo() {
    for code in [1005u16, 1006, 2999] {
        let frame = close_frame(&code.to_be_bytes());
        assert_eq!(closed_after(frame).await, (1002, "protocol_error".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_reason_that_is_not_utf8_closes_with_1007() {
    let frame = close_frame(&[0x03, 0xE8, 0xFF]);
    assert_eq!(closed_after(frame).await, (1007, "invalid_utf8".into()));
}
