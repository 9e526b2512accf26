//! What a malformed attribute calls for ([`ErrorAction`], RFC 7606) and the
//! error an attribute decoder returns ([`AttributeError`]).

use std::fmt;

use super::attribute_name;
use crate::notification::Notification;
use crate::types::Family;

/// What to do about a malformed attribute (RFC 7606 §2). Ordered from the
/// mildest to the strongest: when an UPDATE has several errors, the
/// strongest one wins (RFC 7606 §3.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// Drop the attribute, keep the routes.
    AttributeDiscard,
    /// Handle the UPDATE's announced routes as withdrawn.
    TreatAsWithdraw,
    /// Stop using this family on the session (RFC 4760 §7).
    AfiSafiDisable(Family),
    /// Send the NOTIFICATION and close the session.
    SessionReset,
}

/// One attribute problem found while decoding an UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeError {
    pub type_code: u8,
    pub action: ErrorAction,
    /// What RFC 4271 §6.3 would send; sent only for a session reset.
    pub notification: Notification,
}

impl AttributeError {
    pub fn attribute_name(&self) -> &'static str {
        attribute_name(self.type_code)
    }
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            ErrorAction::AttributeDiscard => "attribute discarded".to_string(),
            ErrorAction::TreatAsWithdraw => "routes treated as withdrawn".to_string(),
            ErrorAction::AfiSafiDisable(fam) => format!("family {fam} disabled"),
            ErrorAction::SessionReset => "session reset".to_string(),
        };
        write!(
            f,
            "{} (type {}): {}; {action}",
            self.attribute_name(),
            self.type_code,
            self.notification
        )
    }
}
