//! The nom layer: primitive readers over an already-framed body.
//!
//! Only `nom::*::complete` combinators are used, so running out of input is
//! always an error, never `Incomplete`: the framer has delivered the whole
//! message before any of these run. The nom error type is `()`; each caller
//! turns a failure into the NOTIFICATION that fits the field it was reading
//! with [`OrNotify::or_notify`].

use nom::IResult;

use crate::notification::Notification;

pub(crate) type Res<'a, T> = IResult<&'a [u8], T, ()>;

pub(crate) use nom::bytes::complete::take;
pub(crate) use nom::number::complete::{be_u16, be_u32, be_u8};

/// Reads `n` bytes.
pub(crate) fn bytes(n: usize) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| take(n)(i)
}

/// Reads a one-octet length and that many bytes.
pub(crate) fn u8_len_data(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, n) = be_u8(i)?;
    take(n)(i)
}

/// Reads a two-octet length and that many bytes.
pub(crate) fn u16_len_data(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, n) = be_u16(i)?;
    take(n)(i)
}

/// Turns a nom failure into the NOTIFICATION the caller chose.
pub(crate) trait OrNotify<'a, T> {
    fn or_notify(self, err: impl FnOnce() -> Notification) -> Result<(&'a [u8], T), Notification>;
}

impl<'a, T> OrNotify<'a, T> for Res<'a, T> {
    #[inline]
    fn or_notify(self, err: impl FnOnce() -> Notification) -> Result<(&'a [u8], T), Notification> {
        self.map_err(|_| err())
    }
}
