//! Splitting a one-document `kind: List` file into its items.
//!
//! The YAML parser buffers every event of a document before handing out
//! the first value, so a List of 100k Services cost ~5 kB of events per
//! item plus the whole value tree (about 1 GB at 100k). A file as `kubectl
//! get -o yaml` writes it (one document, a block sequence under a
//! top-level `items:`) is cut here, by lines, into the document without its
//! items and one text per item; each is parsed on its own and freed after
//! loading. The cut is conservative: any construct that could make a line
//! mean something else than its indentation says (document markers,
//! directives, anchors/aliases, tabs, a flow or inline `items:` value)
//! makes [`split`] decline, and the caller parses the file whole. A part
//! that fails to parse also makes the caller start over on the whole file,
//! so error messages stay those of the whole-file parse.

use serde_yaml_ng::Value;
use std::ops::Range;

/// A one-document file with a block sequence under a top-level `items:`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SplitList<'t> {
    text: &'t str,
    /// The document with the sequence replaced by `items: []`.
    pub rest: String,
    /// Per item: where its text is.
    items: Vec<Item>,
}

/// Where a List item's text is: the byte range from just after its `- `,
/// and the column where that text starts (12 bytes: at 100k items the
/// table is part of the load's peak).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Item {
    start: u32,
    end: u32,
    col: u32,
}

impl Item {
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl SplitList<'_> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// A hash of item `i`'s text and column: equal for an item whose text
    /// did not change, wherever it sits in the list.
    pub fn item_hash(&self, i: usize) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let it = self.items.get(i)?;
        let mut h = crate::fast_hash::FastHasher::default();
        (it.col as usize).hash(&mut h);
        self.text.get(it.range())?.hash(&mut h);
        Some(h.finish())
    }

    /// The text of item `i` from just after its `- `, not indented.
    pub fn item_body(&self, i: usize) -> Option<&str> {
        self.text.get(self.items.get(i)?.range())
    }

    /// The text of item `i`, indented so that it parses on its own exactly
    /// as it did inside the sequence.
    pub fn item(&self, i: usize) -> Option<String> {
        let it = self.items.get(i)?;
        let body = self.text.get(it.range())?;
        let col = it.col as usize;
        let mut s = String::with_capacity(col + body.len());
        s.extend(std::iter::repeat_n(' ', col));
        s.push_str(body);
        Some(s)
    }
}

impl SplitList<'_> {
    /// Parses item `i` on its own into a YAML value (None if it does not
    /// parse alone: the caller then parses the file whole). Used for the
    /// items the strict fast parse declines.
    pub fn value(&self, i: usize) -> Option<Value> {
        self.item(i).and_then(|t| serde_yaml_ng::from_str(&t).ok())
    }
}

/// Leading spaces of a line.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// True for a line holding only spaces and possibly a comment.
fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// True for the `items:` key line with no value on it.
fn is_items_key(line: &str) -> bool {
    let Some(after) = line.strip_prefix("items:") else {
        return false;
    };
    let t = after.trim();
    t.is_empty() || (after.starts_with([' ', '\t']) && t.starts_with('#'))
}

/// Cuts `text` into the document and its items, or None if the file is not
/// a plain one-document block-style List (then parse it whole). One pass
/// over the lines, keeping nothing per line.
pub(crate) fn split(text: &str) -> Option<SplitList<'_>> {
    // Anything that ties lines together other than indentation: declined.
    // Offsets are kept as u32: a larger file is parsed whole.
    if text.bytes().any(|b| matches!(b, b'\t' | b'&' | b'*'))
        || text.starts_with('\u{feff}')
        || u32::try_from(text.len()).is_err()
    {
        return None;
    }
    let mut key: Option<usize> = None;
    let mut after: Option<usize> = None;
    let mut col: Option<usize> = None;
    let mut items: Vec<Item> = Vec::new();
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let here = off;
        off += line.len();
        if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        if key.is_none() {
            if is_items_key(line) {
                key = Some(here);
            }
            continue;
        }
        if after.is_some() {
            // A second `items:` key: not a plain List.
            if line.starts_with("items:") {
                return None;
            }
            continue;
        }
        if is_blank_or_comment(line) {
            if let Some(last) = items.last_mut() {
                last.end = off as u32;
            }
            continue;
        }
        let ind = indent(line);
        let rest = &line[ind..];
        let entry = rest.starts_with("- ") || rest.trim_end() == "-";
        match col {
            None if entry => col = Some(ind),
            // `items:` with no sequence under it (null or a mapping).
            None => return None,
            Some(c) if ind > c => {
                if let Some(last) = items.last_mut() {
                    last.end = off as u32;
                }
                continue;
            }
            Some(c) if ind == c && entry => {}
            Some(c) if ind < c || (ind == c && c == 0) => {
                if line.starts_with("items:") {
                    return None;
                }
                after = Some(here);
                continue;
            }
            // Same column as the entries but not an entry: not a list.
            Some(_) => return None,
        }
        // The item's text starts after `- ` (or after a lone `-`).
        let start = here + ind + if rest.starts_with("- ") { 2 } else { 1 };
        items.push(Item {
            start: start as u32,
            end: off as u32,
            col: (start - here) as u32,
        });
    }
    let key = key?;
    col?;
    let after = after.unwrap_or(text.len());
    let mut rest = String::with_capacity(key + 10 + text.len() - after);
    rest.push_str(&text[..key]);
    rest.push_str("items: []\n");
    rest.push_str(&text[after..]);
    Some(SplitList { text, rest, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<String> {
        let s = split(text).expect("splits");
        (0..s.len()).map(|i| s.item(i).unwrap()).collect()
    }

    #[test]
    fn items_are_cut_at_their_own_indentation() {
        let text =
            "apiVersion: v1\nitems:\n  - a: 1\n    b: [x]\n\n  # c\n  -   d: 2\nkind: List\n";
        let s = split(text).unwrap();
        assert_eq!(s.rest, "apiVersion: v1\nitems: []\nkind: List\n");
        assert_eq!(
            items(text),
            ["    a: 1\n    b: [x]\n\n  # c\n", "      d: 2\n"]
        );
    }

    #[test]
    fn a_lone_dash_starts_an_item_whose_body_is_below_it() {
        let text = "items:\n-\n  a: 1\n- b\n";
        assert_eq!(items(text), [" \n  a: 1\n", "  b\n"]);
    }

    #[test]
    fn the_test_lists_are_cut_so_both_paths_run_in_tests_list_files() {
        for text in [
            include_str!("../tests/data/kubectl-service.yaml"),
            include_str!("../tests/data/list-indented.yaml"),
            include_str!("../tests/data/list-errors.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nitems:\n- a: 1\n",
            "apiVersion: v1\nkind: List\nitems:\n- a: 1\r\n  b: 2\r\n",
        ] {
            assert!(split(text).is_some(), "{text}");
        }
    }

    #[test]
    fn a_document_marker_makes_the_split_decline() {
        assert_eq!(split("---\nitems:\n- a: 1\n"), None);
        assert_eq!(split("items:\n- a: 1\n...\n"), None);
        assert_eq!(split("%YAML 1.2\n---\nitems:\n- a: 1\n"), None);
    }

    #[test]
    fn anchors_tabs_and_inline_items_make_the_split_decline() {
        assert_eq!(split("items:\n- &a {x: 1}\n- *a\n"), None);
        assert_eq!(split("items:\n-\ta: 1\n"), None);
        assert_eq!(split("items: []\nkind: List\n"), None);
        assert_eq!(split("items:\nkind: List\n"), None);
        assert_eq!(split("items:\n  a: 1\n"), None);
        assert_eq!(split("items:\n- a: 1\nitems:\n- b: 2\n"), None);
        assert_eq!(split("kind: List\n"), None);
    }

    #[test]
    fn a_non_entry_line_at_the_entries_column_makes_the_split_decline() {
        assert_eq!(split("items:\n  - a: 1\n  b: 2\n"), None);
    }
}
