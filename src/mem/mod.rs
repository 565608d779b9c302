//! Library memory: byte buffers ([`bytes`]) and delivered reads' buffers kept for reuse
//! ([`buffers`]).

pub mod buffers;
pub mod bytes;
