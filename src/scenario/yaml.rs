//! A located YAML tree, built from saphyr-parser's event stream with hard budgets.
//!
//! We build our own tree instead of deserializing with serde because serde stops at the
//! first problem, and the scenario loader must report every problem at once, each with its
//! line and column. The tree keeps the span of every node, key and value.
//!
//! Budgets keep hostile input bounded: nesting depth is capped (so nothing recurses
//! deeply, not even `Drop`), and aliases are shared (`Rc`), not copied, while the size
//! they would expand to is counted against a node budget, so a "billion laughs" file is
//! rejected after a few kilobytes of work.

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// Largest nesting depth of sequences and mappings a scenario may use.
pub const MAX_DEPTH: usize = 64;
/// Largest number of nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 2_000_000;

/// A position in the source: 1-based line and column, and the length in characters of
/// what it points at (at least 1, for the caret underline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Pos {
    fn from_span(span: Span) -> Pos {
        let len = if span.end.line() == span.start.line() {
            span.end.col().saturating_sub(span.start.col())
        } else {
            1
        };
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
            len: len.max(1),
        }
    }
}

/// One node of the tree.
#[derive(Debug)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// Number of nodes in this subtree, as if every alias below were expanded.
    pub expanded_size: usize,
}

/// The three YAML node kinds. Scalars keep their text; typing (number, bool, null) is
/// decided by the decoder, which knows what each key expects.
#[derive(Debug)]
pub enum Value {
    Scalar { text: String, quoted: bool },
    Seq(Vec<Rc<Node>>),
    Map(Vec<(Rc<Node>, Rc<Node>)>),
}

impl Node {
    /// What a user would call this kind of node, for messages such as
    /// "expected a mapping, found a sequence".
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, quoted } => {
                if !quoted && is_null(text) {
                    "null"
                } else {
                    "a scalar"
                }
            }
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True when this is a mapping with the plain key `key`.
    pub fn has_key(&self, key: &str) -> bool {
        match &self.value {
            Value::Map(entries) => entries.iter().any(|(k, _)| k.scalar() == Some(key)),
            _ => false,
        }
    }

    /// The value of the plain key `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, value)| value.as_ref()),
            _ => None,
        }
    }

    /// True for an absent value: `~`, `null` or nothing at all (`key:`).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if is_null(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Why a file could not be turned into a tree. Each is reported as one located line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// The YAML is malformed.
    Syntax {
        pos: Pos,
        message: String,
    },
    /// The file holds no document, or only comments.
    Empty,
    /// More than one `---` document.
    MultipleDocuments {
        pos: Pos,
    },
    Depth {
        pos: Pos,
    },
    TooManyNodes {
        pos: Pos,
        /// The document used aliases: their expansion counts, and may be what grew.
        aliased: bool,
    },
    UnknownAnchor {
        pos: Pos,
    },
}

impl std::fmt::Display for TreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeError::Syntax { message, .. } => write!(f, "not valid YAML: {message}"),
            TreeError::Empty => write!(
                f,
                "the file is empty: a scenario needs at least `name` and `services`"
            ),
            TreeError::MultipleDocuments { .. } => {
                write!(
                    f,
                    "more than one YAML document (`---`): put one scenario in each file"
                )
            }
            TreeError::Depth { .. } => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            TreeError::TooManyNodes { aliased: true, .. } => write!(
                f,
                "the document expands to more than {MAX_NODES} nodes (a YAML alias bomb?); refusing to load it"
            ),
            TreeError::TooManyNodes { aliased: false, .. } => write!(
                f,
                "the document has more than {MAX_NODES} nodes, more than any scenario needs; refusing to load it"
            ),
            TreeError::UnknownAnchor { .. } => write!(f, "alias to an anchor that is not defined"),
        }
    }
}

impl TreeError {
    /// Where the problem is, when it has a place.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            TreeError::Syntax { pos, .. }
            | TreeError::MultipleDocuments { pos }
            | TreeError::Depth { pos }
            | TreeError::TooManyNodes { pos, .. }
            | TreeError::UnknownAnchor { pos } => Some(*pos),
            TreeError::Empty => None,
        }
    }
}

impl From<ScanError> for TreeError {
    fn from(err: ScanError) -> Self {
        let mark = err.marker();
        TreeError::Syntax {
            pos: Pos {
                line: mark.line(),
                col: mark.col() + 1,
                len: 1,
            },
            message: err.info().to_string(),
        }
    }
}

/// A collection being built: its start position, anchor, and the children so far.
enum Open {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Rc<Node>>,
        size: usize,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Rc<Node>, Rc<Node>)>,
        pending_key: Option<Rc<Node>>,
        size: usize,
    },
}

/// Parses `text` into a single located document.
pub fn parse(text: &str) -> Result<Rc<Node>, TreeError> {
    let mut documents = parse_documents(text, Documents::One)?;
    match documents.pop() {
        Some(node) if !node.is_null() => Ok(node),
        _ => Err(TreeError::Empty),
    }
}

/// Parses every document of a stream (`---` between them, as Kubernetes manifests
/// come), each a located tree, with the same budgets over the whole stream. Empty
/// documents are left out.
pub fn parse_stream(text: &str) -> Result<Vec<Rc<Node>>, TreeError> {
    parse_documents(text, Documents::Stream)
}

/// How many documents a text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Documents {
    /// A scenario: one.
    #[default]
    One,
    /// A stream of manifests: any number, `---` between them.
    Stream,
}

fn parse_documents(text: &str, documents: Documents) -> Result<Vec<Rc<Node>>, TreeError> {
    let mut builder = Builder {
        allowed: documents,
        ..Builder::default()
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item?;
        let pos = Pos::from_span(span);
        if let Some((node, anchor)) = builder.event(event, pos)? {
            builder.attach(node, anchor, pos)?;
        }
    }
    Ok(builder.roots)
}

/// The tree being built from the parser's events: the collections still open, the
/// anchors seen, the documents finished, and the budget spent.
#[derive(Default)]
struct Builder {
    /// How many documents the text may hold.
    allowed: Documents,
    stack: Vec<Open>,
    anchors: HashMap<usize, Rc<Node>>,
    roots: Vec<Rc<Node>>,
    documents: usize,
    /// Nodes so far, aliases counted at their whole expansion.
    total_nodes: usize,
    /// An alias was met.
    aliased: bool,
}

impl Builder {
    /// What one event finishes: a node (a scalar, an alias, a closed collection) with its
    /// anchor (0 for none), or nothing (a collection opened, a document started).
    fn event(
        &mut self,
        event: Event<'_>,
        pos: Pos,
    ) -> Result<Option<(Rc<Node>, usize)>, TreeError> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(None),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 && self.allowed == Documents::One {
                    return Err(TreeError::MultipleDocuments { pos });
                }
                Ok(None)
            }
            Event::Alias(id) => {
                self.aliased = true;
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or(TreeError::UnknownAnchor { pos })?;
                Ok(Some((node, 0)))
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let node = Rc::new(Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    },
                    pos,
                    expanded_size: 1,
                });
                Ok(Some((node, anchor)))
            }
            Event::SequenceStart(anchor, _tag) => self.open(
                Open::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                },
                pos,
            ),
            Event::MappingStart(anchor, _tag) => self.open(
                Open::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                    size: 1,
                },
                pos,
            ),
            Event::SequenceEnd | Event::MappingEnd => self.close(pos).map(Some),
        }
    }

    fn open(&mut self, open: Open, pos: Pos) -> Result<Option<(Rc<Node>, usize)>, TreeError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(TreeError::Depth { pos });
        }
        self.stack.push(open);
        Ok(None)
    }

    /// The collection that ends here, as a node with its anchor.
    fn close(&mut self, pos: Pos) -> Result<(Rc<Node>, usize), TreeError> {
        let (value, pos, anchor, size) = match self.stack.pop() {
            Some(Open::Seq {
                pos,
                anchor,
                items,
                size,
            }) => (Value::Seq(items), pos, anchor, size),
            Some(Open::Map {
                pos,
                anchor,
                entries,
                size,
                ..
            }) => (Value::Map(entries), pos, anchor, size),
            // The parser only emits balanced events; an unbalanced end is treated as
            // malformed input rather than trusted.
            None => {
                return Err(TreeError::Syntax {
                    pos,
                    message: "unbalanced end of collection".into(),
                });
            }
        };
        let node = Rc::new(Node {
            value,
            pos,
            expanded_size: size,
        });
        Ok((node, anchor))
    }

    /// Puts a finished node where it belongs: a document's root, a list's next item, or a
    /// mapping's next key or value.
    fn attach(&mut self, node: Rc<Node>, anchor: usize, pos: Pos) -> Result<(), TreeError> {
        // Aliases count their whole expansion, so a file that would expand to billions of
        // nodes stops here although it shares them in memory.
        self.total_nodes = self.total_nodes.saturating_add(node.expanded_size);
        if self.total_nodes > MAX_NODES {
            return Err(TreeError::TooManyNodes {
                pos,
                aliased: self.aliased,
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, Rc::clone(&node));
        }
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.roots.push(node);
                }
            }
            Some(Open::Seq { items, size, .. }) => {
                *size = size.saturating_add(node.expanded_size);
                items.push(node);
            }
            Some(Open::Map {
                entries,
                pending_key,
                size,
                ..
            }) => {
                *size = size.saturating_add(node.expanded_size);
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_line_and_column_of_values() {
        let root = parse("name: shop\nservices:\n  web: {replicas: 2}\n").expect("valid");
        let Value::Map(entries) = &root.value else {
            panic!("root is a map")
        };
        let (key, _) = &entries[1];
        assert_eq!(key.scalar(), Some("services"));
        assert_eq!((key.pos.line, key.pos.col), (2, 1));
        let Value::Map(services) = &entries[1].1.value else {
            panic!("services is a map")
        };
        let Value::Map(web) = &services[0].1.value else {
            panic!("web is a map")
        };
        assert_eq!((web[0].1.pos.line, web[0].1.pos.col), (3, 19));
    }

    #[test]
    fn quoted_scalars_are_marked() {
        let root = parse("a: '5'\nb: 5\n").expect("valid");
        let Value::Map(entries) = &root.value else {
            panic!("map")
        };
        assert!(matches!(
            entries[0].1.value,
            Value::Scalar { quoted: true, .. }
        ));
        assert!(matches!(
            entries[1].1.value,
            Value::Scalar { quoted: false, .. }
        ));
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let prev = (b'a' + level - 1) as char;
            let this = (b'a' + level) as char;
            text.push_str(&format!("{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(matches!(parse(&text), Err(TreeError::TooManyNodes { .. })));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let just_over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(parse(&just_over), Err(TreeError::Depth { .. })));
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&at_limit).is_ok());
        // Far deeper input meets saphyr's own scanner limit first; either way it is a
        // located error, not a stack overflow.
        let very_deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(&very_deep),
            Err(TreeError::Depth { .. } | TreeError::Syntax { .. })
        ));
    }

    #[test]
    fn empty_and_comment_only_files_are_empty() {
        assert_eq!(parse("").unwrap_err(), TreeError::Empty);
        assert_eq!(parse("# just a comment\n").unwrap_err(), TreeError::Empty);
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("name: shop\nservices: [a, b\n").unwrap_err();
        let pos = err.pos().expect("syntax errors have a place");
        assert!(pos.line >= 2, "{err:?}");
    }

    #[test]
    fn two_documents_are_refused() {
        assert!(matches!(
            parse("a: 1\n---\nb: 2\n"),
            Err(TreeError::MultipleDocuments { .. })
        ));
    }
}
