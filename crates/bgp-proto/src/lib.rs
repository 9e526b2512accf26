//! BGP-4 wire codec for oxlb.
//!
//! * [`codec::BgpCodec`] frames a TCP byte stream into [`Message`]s
//!   (`tokio_util::codec`), rejecting bad headers at once.
//! * Inside a frame, bodies are decoded with nom's `complete` combinators;
//!   every failure is a ready-to-send [`Notification`] naming the field.
//! * UPDATE attribute errors follow RFC 7606: see [`ErrorAction`].
//! * [`builder`] packs prefixes into as few UPDATEs as fit.
//!
//! Nothing here does I/O.
#![forbid(unsafe_code)]

pub mod adj_rib_out;
pub mod attribute;
pub mod builder;
pub mod capability;
pub mod codec;
pub mod fsm;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod nlri;
pub mod notification;
pub mod open;
mod parse;
pub mod route_refresh;
pub mod types;
pub mod update;

pub use attribute::{
    Aggregator, AsPath, AsSegment, AttributeError, Community, ErrorAction, ExtendedCommunity,
    LargeCommunity, MpNlri, MpReach, MpUnreach, NextHop, Origin, PathAttribute, SegmentType,
    UnknownAttribute,
};
pub use capability::Capability;
pub use codec::{BgpCodec, CodecError};
pub use message::{EncodeError, Message, MessageType};
pub use nlri::Nlri;
pub use notification::{ErrorCode, Notification};
pub use open::{negotiate, Open, OptionalParameter};
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use types::{Family, SessionParams};
pub use update::Update;
