//! Errors and warnings, each naming the object, where it was read from, and
//! the field.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a document was read from: the file, the 1-based document index in
/// that file, and the `items[]` index for `kind: List`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// The file (as given, or joined to the directory), shared by every
    /// object read from it.
    pub file: Arc<Path>,
    /// 1-based YAML document index within the file (`u32`: one record
    /// per Service is kept, and 8 bytes less put it in a smaller
    /// allocation class).
    pub doc: u32,
    /// Index in a `kind: List`'s `items`.
    pub item: Option<u32>,
}

/// A document or item index as [`Source`] keeps it (saturating: 4 billion
/// documents do not fit in memory anyway).
pub(crate) fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} doc {}", self.file.display(), self.doc)?;
        if let Some(i) = self.item {
            write!(f, " items[{i}]")?;
        }
        Ok(())
    }
}

/// An object's identity: `Kind namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// e.g. `BGPPeer`.
    pub kind: String,
    /// The namespace (the configured one when omitted).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One error or warning.
///
/// Displays as `Kind ns/name (file doc N): field: message`; parts that are
/// unknown are left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// The object concerned, if the document got that far.
    pub object: Option<ObjectRef>,
    /// Where it was read from (None for objects built in code).
    pub source: Option<Source>,
    /// Field path, e.g. `spec.holdTime` (may be empty).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(
        object: Option<ObjectRef>,
        source: Option<Source>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            object,
            source,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(o) = &self.object {
            write!(f, "{o}")?;
            sep = " ";
        }
        if let Some(s) = &self.source {
            if self.object.is_some() {
                write!(f, "{sep}({s})")?;
            } else {
                write!(f, "{s}")?;
            }
            sep = " ";
        }
        if !sep.is_empty() {
            f.write_str(":")?;
        }
        if !self.field.is_empty() {
            write!(f, "{sep}{}:", self.field)?;
            sep = " ";
        }
        write!(f, "{sep}{}", self.message)
    }
}

/// A non-empty list of errors (plus any warnings found on the way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// The errors; never empty when returned as an `Err`.
    pub errors: Vec<Diagnostic>,
    /// Warnings found before giving up.
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    /// True if an error's text contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.errors.iter().any(|e| e.to_string().contains(needle))
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration error(s)", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// What [`crate::load`] returns on failure.
pub type LoadErrors = Diagnostics;
