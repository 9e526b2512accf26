//! A serde [`Deserializer`] for a small, strict subset of one-line YAML
//! flow collections (`{a: b, c: [1, "x"]}`), as a generator or a compact
//! `kubectl`-like dump writes a List item on one line.
//!
//! Every scalar is resolved as the YAML parser resolves it (YAML 1.2 core
//! schema, as `serde_yaml_ng` does): a plain `80` is an integer, a plain
//! `LoadBalancer` a string. Whatever could read differently from how it
//! looks, or needs more of YAML than this subset, is an error here (the
//! caller then hands the document to the full YAML parser, which decides):
//! plain scalars other than a canonical integer or a word of
//! `[A-Za-z0-9._/-]` starting with a letter (so no null, bool, float,
//! hex/octal, or words with spaces), the words `null`/`true`/`false` in
//! any of their spellings, quoted scalars with an escape or a character
//! outside printable ASCII, a line break before the collection closes,
//! comments, trailing commas, and anything after the closing bracket but
//! blank lines.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Why the subset gave up; never shown to a user.
#[derive(Debug)]
pub(crate) struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("not in the one-line flow subset")
    }
}

impl std::error::Error for Declined {}

impl de::Error for Declined {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Declined
    }
}

/// Deserializes a `T` from `text`: one flow collection, then only blank
/// lines.
pub(crate) fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T, Declined> {
    let mut de = Flow {
        s: text.as_bytes(),
        pos: 0,
    };
    de.skip_spaces();
    if !matches!(de.peek(), Some(b'{' | b'[')) {
        return Err(Declined);
    }
    let v = T::deserialize(&mut de)?;
    // Only blank lines may follow.
    if de.s[de.pos..]
        .iter()
        .all(|b| matches!(b, b' ' | b'\n' | b'\r'))
    {
        Ok(v)
    } else {
        Err(Declined)
    }
}

struct Flow<'de> {
    s: &'de [u8],
    pos: usize,
}

impl<'de> Flow<'de> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Consumes `b` or declines.
    fn expect(&mut self, b: u8) -> Result<(), Declined> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// A quoted scalar's content (the opening quote is at `pos`).
    fn quoted(&mut self, q: u8) -> Result<&'de str, Declined> {
        let start = self.pos + 1;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == q)
            .ok_or(Declined)?;
        let body = &self.s[start..start + len];
        // YAML 1.2: no escapes in this subset (a `\` in double quotes, a
        // doubled quote in single quotes), printable ASCII only.
        if body
            .iter()
            .any(|&b| b == b'\\' || !(0x20..0x7f).contains(&b))
        {
            return Err(Declined);
        }
        self.pos = start + len + 1;
        if q == b'\'' && self.peek() == Some(b'\'') {
            return Err(Declined);
        }
        std::str::from_utf8(body).map_err(|_| Declined)
    }

    /// A plain scalar: a run of `[A-Za-z0-9._/-]`, ending at a space or a
    /// flow indicator (a `:` only ends it when a key is read).
    fn plain(&mut self) -> Result<&'de str, Declined> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-') {
                self.pos += 1;
            } else {
                break;
            }
        }
        match self.peek() {
            None | Some(b' ' | b',' | b'}' | b']' | b':' | b'\n' | b'\r') => {}
            Some(_) => return Err(Declined),
        }
        std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| Declined)
    }
}

/// A plain scalar that is a canonical decimal integer (`0`, `80`, `-5`).
fn canonical_int(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    let mut b = digits.bytes();
    match b.next() {
        Some(b'0') => digits.len() == 1 && !t.starts_with('-'),
        Some(b'1'..=b'9') => b.all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

impl<'de> Deserializer<'de> for &mut Flow<'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Declined> {
        self.skip_spaces();
        match self.peek().ok_or(Declined)? {
            b'{' => {
                self.pos += 1;
                let v = visitor.visit_map(Entries {
                    de: &mut *self,
                    first: true,
                    close: b'}',
                })?;
                self.expect(b'}')?;
                Ok(v)
            }
            b'[' => {
                self.pos += 1;
                let v = visitor.visit_seq(Entries {
                    de: &mut *self,
                    first: true,
                    close: b']',
                })?;
                self.expect(b']')?;
                Ok(v)
            }
            q @ (b'"' | b'\'') => visitor.visit_borrowed_str(self.quoted(q)?),
            _ => {
                let t = self.plain()?;
                if canonical_int(t) {
                    if let Ok(n) = t.parse::<u64>() {
                        return visitor.visit_u64(n);
                    }
                    if let Ok(n) = t.parse::<i64>() {
                        return visitor.visit_i64(n);
                    }
                    return Err(Declined);
                }
                let word = t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
                let special = matches!(
                    t,
                    "null"
                        | "Null"
                        | "NULL"
                        | "true"
                        | "True"
                        | "TRUE"
                        | "false"
                        | "False"
                        | "FALSE"
                );
                if word && !special {
                    visitor.visit_borrowed_str(t)
                } else {
                    Err(Declined)
                }
            }
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The entries of a flow mapping or sequence, up to (not including) its
/// closing bracket.
struct Entries<'a, 'de> {
    de: &'a mut Flow<'de>,
    first: bool,
    close: u8,
}

impl Entries<'_, '_> {
    /// True if another entry follows (its separator consumed).
    fn more(&mut self) -> Result<bool, Declined> {
        self.de.skip_spaces();
        let next = self.de.peek().ok_or(Declined)?;
        if next == self.close {
            return Ok(false);
        }
        if !self.first {
            self.de.expect(b',')?;
            self.de.skip_spaces();
            // A trailing comma: valid YAML, but not in this subset.
            if self.de.peek() == Some(self.close) {
                return Err(Declined);
            }
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Declined;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Declined> {
        if !self.more()? {
            return Ok(None);
        }
        // Keys are scalars, followed by `: `.
        if matches!(self.de.peek(), Some(b'{' | b'[')) {
            return Err(Declined);
        }
        let k = seed.deserialize(&mut *self.de)?;
        self.de.expect(b':')?;
        self.de.expect(b' ')?;
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Declined> {
        self.de.skip_spaces();
        // `{a: }` (a null value) and a line break are not in the subset.
        if matches!(
            self.de.peek(),
            None | Some(b',' | b'}' | b']' | b'\n' | b'\r')
        ) {
            return Err(Declined);
        }
        seed.deserialize(&mut *self.de)
    }
}

impl<'de> SeqAccess<'de> for Entries<'_, 'de> {
    type Error = Declined;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Declined> {
        if !self.more()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}
