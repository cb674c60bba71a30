//! Any bytes a MessagePack connection's client sends, decoded as a client frame.
//!
//! Checked (see `check_client_frame`): frames round-trip in both codecs, errors are classified
//! by what the input is, bounded and name no other codec, and the same value sent as JSON
//! decodes the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pushgate_fuzz::client_frame_check::check_client_frame;
use pushgate_protocol::Codec;

fuzz_target!(|data: &[u8]| check_client_frame(Codec::MsgPack, data));
