//! Framing: a `tokio_util::codec` Decoder/Encoder for BGP over TCP.
//!
//! The decoder looks at the 19-octet header as soon as it is in the buffer
//! and rejects a bad marker, length or type at once, so a misbehaving peer
//! can never make us buffer more than one maximum-size message. A complete
//! frame is split off without copying and handed to [`Message::decode`].

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::message::{check_header, EncodeError, Message};
use crate::notification::Notification;
use crate::types::SessionParams;

/// What can go wrong on a BGP byte stream.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The peer sent something we must answer with this NOTIFICATION before
    /// closing the connection.
    #[error("protocol error: {0}")]
    Protocol(Notification),
    /// We were asked to send something that cannot be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<Notification> for CodecError {
    fn from(n: Notification) -> Self {
        CodecError::Protocol(n)
    }
}

/// The BGP framer. Starts with pre-OPEN parameters; the session engine calls
/// [`BgpCodec::set_params`] once capabilities are negotiated.
#[derive(Clone, Debug, Default)]
pub struct BgpCodec {
    params: SessionParams,
}

impl BgpCodec {
    pub fn new(params: SessionParams) -> Self {
        BgpCodec { params }
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    pub fn set_params(&mut self, params: SessionParams) {
        self.params = params;
    }

    /// Splits the next complete message off `src` without decoding its body.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Notification> {
        let Some((len, _kind)) = check_header(src, &self.params)? else {
            return Ok(None);
        };
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl Decoder for BgpCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        match self.decode_frame(src)? {
            Some(frame) => Ok(Some(Message::decode(frame, &self.params)?)),
            None => Ok(None),
        }
    }
}

impl Encoder<&Message> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        msg.encode(&self.params, dst)?;
        Ok(())
    }
}

impl Encoder<Message> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        msg.encode(&self.params, dst)?;
        Ok(())
    }
}

/// Pre-encoded messages (from the UPDATE builder) go out as they are.
impl Encoder<Bytes> for BgpCodec {
    type Error = CodecError;

    fn encode(&mut self, msg: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(&msg);
        Ok(())
    }
}
