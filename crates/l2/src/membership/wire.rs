//! The membership datagram (UDP 7946) and its HMAC-SHA256 tag.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +---------------+---------------+---------------+---------------+
//! |                       magic "OXL2"                            |
//! +---------------+---------------+---------------+---------------+
//! |  version = 1  | kind 1/2/3    | from length   |  to length    |
//! +---------------+---------------+---------------+---------------+
//! |                  epoch (8, the sender's boot epoch)           |
//! |                  seq   (8, per sender, strictly increasing)   |
//! |                  echo epoch (8) \ the receiver's own (epoch,  |
//! |                  echo seq   (8) / seq) last heard, 0/0: none  |
//! +---------------------------------------------------------------+
//! |  from name (from length)  |  to name (to length)              |
//! +---------------+-----------------------------------------------+
//! | link count    | { name length (1) | interface name }*         |
//! +---------------+-----------------------------------------------+
//! | seen count    | { name length (1) | member | age ms (2) }*    |
//! +---------------+-----------------------------------------------+
//! |         HMAC-SHA256 (32) over every octet above               |
//! +---------------------------------------------------------------+
//! ```
//!
//! Kind 1 is a ping, 2 the ack that answers it, 3 a leave. `links` are the
//! names of the sender's interfaces without carrier (link health); `seen`
//! the members the sender has itself proven alive, with the age of that
//! proof (indirect evidence, see the `membership` module doc).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const MAGIC: [u8; 4] = *b"OXL2";
pub const VERSION: u8 = 1;
pub const TAG_LEN: usize = 32;
const FIXED_LEN: usize = 4 + 4 + 8 * 4;
/// At most this many interface names per datagram.
pub const MAX_LINKS: usize = 32;
/// At most this many seen members per datagram (members are at most 255).
pub const MAX_SEEN: usize = 255;
/// The largest datagram: fixed part, two 255-octet names, the links, the
/// seen members, tag.
pub const MAX_LEN: usize = FIXED_LEN + 2 * 255 + 1 + MAX_LINKS * 256 + 1 + MAX_SEEN * 258 + TAG_LEN;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ping = 1,
    Ack = 2,
    Leave = 3,
}

/// One decoded membership datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub kind: Kind,
    pub from: String,
    pub to: String,
    pub epoch: u64,
    pub seq: u64,
    pub echo_epoch: u64,
    pub echo_seq: u64,
    pub links: Vec<String>,
    /// (member, milliseconds since the sender's newest proof of it).
    pub seen: Vec<(String, u16)>,
}

/// Why a datagram was not decoded. Each names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    TooShort { len: usize },
    TooLong { len: usize },
    BadMagic,
    BadVersion { got: u8 },
    UnknownKind { got: u8 },
    Truncated { field: &'static str },
    NotUtf8 { field: &'static str },
    TooManyLinks { count: u8 },
    TrailingBytes { count: usize },
    BadMac,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort { len } => {
                write!(f, "membership datagram: length {len} is below the minimum {}", FIXED_LEN + TAG_LEN)
            }
            WireError::TooLong { len } => {
                write!(f, "membership datagram: length {len} is above the maximum {MAX_LEN}")
            }
            WireError::BadMagic => write!(f, "membership datagram: field `magic` is not \"OXL2\""),
            WireError::BadVersion { got } => {
                write!(f, "membership datagram: field `version` is {got}, expected {VERSION}")
            }
            WireError::UnknownKind { got } => {
                write!(f, "membership datagram: field `kind` {got} is not ping(1), ack(2) or leave(3)")
            }
            WireError::Truncated { field } => {
                write!(f, "membership datagram: field `{field}` runs past the end")
            }
            WireError::NotUtf8 { field } => write!(f, "membership datagram: field `{field}` is not UTF-8"),
            WireError::TooManyLinks { count } => {
                write!(f, "membership datagram: field `link count` {count} is above {MAX_LINKS}")
            }
            WireError::TrailingBytes { count } => {
                write!(f, "membership datagram: {count} octets after the last seen member")
            }
            WireError::BadMac => write!(
                f,
                "membership datagram: field `hmac` does not match (sender lacks the shared key, or the datagram was altered)"
            ),
        }
    }
}

impl std::error::Error for WireError {}

/// The HMAC key derived from the shared secret (a domain-separation step,
/// so the same secret used elsewhere never yields the same tags).
#[derive(Clone)]
pub struct Key(HmacSha256);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_secret(secret: &[u8]) -> Self {
        // HMAC takes a key of any length (RFC 2104 §3: longer keys are
        // hashed, shorter ones padded), so `new_from_slice` cannot fail.
        let mut kdf = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        kdf.update(b"oxlb l2 membership v1");
        let derived = kdf.finalize().into_bytes();
        Key(HmacSha256::new_from_slice(&derived).expect("HMAC takes any key length"))
    }

    /// `body` followed by its tag: what `decode` checks first. `encode`
    /// uses it; tests use it to reach the field checks behind the tag.
    pub fn seal(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + TAG_LEN);
        out.extend_from_slice(body);
        out.extend_from_slice(&self.tag(body));
        out
    }

    fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    // Names are checked to fit 255 octets when the config is built
    // (`MembershipConfig::validate`); a longer one is cut, never a panic.
    let b = &name.as_bytes()[..name.len().min(255)];
    out.extend_from_slice(b);
}

impl Datagram {
    /// Encodes and signs.
    pub fn encode(&self, key: &Key) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.kind as u8);
        out.push(self.from.len().min(255) as u8);
        out.push(self.to.len().min(255) as u8);
        for v in [self.epoch, self.seq, self.echo_epoch, self.echo_seq] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        put_name(&mut out, &self.from);
        put_name(&mut out, &self.to);
        let links: Vec<&String> = self
            .links
            .iter()
            .filter(|l| l.len() <= 255)
            .take(MAX_LINKS)
            .collect();
        out.push(links.len() as u8);
        for l in links {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        let seen: Vec<&(String, u16)> = self
            .seen
            .iter()
            .filter(|(n, _)| n.len() <= 255)
            .take(MAX_SEEN)
            .collect();
        out.push(seen.len() as u8);
        for (n, age) in seen {
            out.push(n.len() as u8);
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(&age.to_be_bytes());
        }
        key.seal(&out)
    }

    /// Checks the tag first (nothing of an unauthenticated datagram is
    /// looked at beyond its length), then decodes strictly.
    pub fn decode(buf: &[u8], key: &Key) -> Result<Datagram, WireError> {
        if buf.len() < FIXED_LEN + TAG_LEN {
            return Err(WireError::TooShort { len: buf.len() });
        }
        if buf.len() > MAX_LEN {
            return Err(WireError::TooLong { len: buf.len() });
        }
        let (body, tag) = buf.split_at(buf.len() - TAG_LEN);
        if !key.verify(body, tag) {
            return Err(WireError::BadMac);
        }
        let mut r = Reader { buf: body, pos: 0 };
        if r.take(4, "magic")? != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(WireError::BadVersion { got: version });
        }
        let kind = match r.u8("kind")? {
            1 => Kind::Ping,
            2 => Kind::Ack,
            3 => Kind::Leave,
            got => return Err(WireError::UnknownKind { got }),
        };
        let from_len = r.u8("from length")? as usize;
        let to_len = r.u8("to length")? as usize;
        let epoch = r.u64("epoch")?;
        let seq = r.u64("seq")?;
        let echo_epoch = r.u64("echo epoch")?;
        let echo_seq = r.u64("echo seq")?;
        let from = r.string(from_len, "from name")?;
        let to = r.string(to_len, "to name")?;
        let count = r.u8("link count")?;
        if count as usize > MAX_LINKS {
            return Err(WireError::TooManyLinks { count });
        }
        let mut links = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len = r.u8("link name length")? as usize;
            links.push(r.string(len, "link name")?);
        }
        let count = r.u8("seen count")?;
        let mut seen = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len = r.u8("seen name length")? as usize;
            let name = r.string(len, "seen name")?;
            let b = r.take(2, "seen age")?;
            seen.push((name, u16::from_be_bytes([b[0], b[1]])));
        }
        if r.pos != body.len() {
            return Err(WireError::TrailingBytes {
                count: body.len() - r.pos,
            });
        }
        Ok(Datagram {
            kind,
            from,
            to,
            epoch,
            seq,
            echo_epoch,
            echo_seq,
            links,
            seen,
        })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(WireError::Truncated { field })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, field)?[0])
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self, n: usize, field: &'static str) -> Result<String, WireError> {
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError::NotUtf8 { field })
    }
}
