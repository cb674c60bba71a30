//! Pieces the fuzz targets share: an in-memory socket, oracles, and readers of what was sent.
//!
//! - `scripted_io`: a socket whose reads and writes follow the fuzz input.
//! - `reference_reader`: an independent reading of a client's bytes (the WebSocket oracle).
//! - `written_frames`: the frames a server wrote, checked against RFC 6455.
//! - `client_frame_check`: what decoding a client frame must satisfy, in either codec.

pub mod client_frame_check;
pub mod reference_reader;
pub mod scripted_io;
pub mod written_frames;
