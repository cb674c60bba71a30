//! The codec choice on the command line and in worker plans.

use pushgate_protocol::Codec;
use serde::{Deserialize, Serialize};

/// Which subprotocol pushgate clients ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WireCodec {
    /// `pushgate.v1.json`, text frames.
    #[default]
    Json,
    /// `pushgate.v1.msgpack`, binary frames.
    Msgpack,
}

impl WireCodec {
    /// The protocol crate's codec.
    pub fn codec(self) -> Codec {
        match self {
            WireCodec::Json => Codec::Json,
            WireCodec::Msgpack => Codec::MsgPack,
        }
    }
}
