//! A minimal YAML emitter: block mappings and sequences, double-quoted strings, integers.
//!
//! The YAML is written by a small emitter here rather than through a serde YAML crate:
//! the documents have a few fixed shapes, and the file must carry comments (why `FAIL_CLOSE`, why
//! a wildcard host got no ServiceEntry, how to fill the secrets), which serde-based emitters
//! cannot write; `serde_yaml` is deprecated besides. Every string is a JSON-style double-quoted
//! scalar and every key taken from user input is quoted too, so no value can turn into a YAML 1.1
//! boolean (`on`, `yes`), a number or a document marker, whatever the policy says.

/// One document of the stream: comment lines after its `---`, then its mapping.
pub(super) struct Doc {
    comments: Vec<String>,
    body: Map,
}

impl Doc {
    pub(super) fn new(comments: Vec<String>, body: Map) -> Self {
        Doc { comments, body }
    }
}

/// A value: a scalar, a block mapping or a block sequence.
pub(super) enum Node {
    Str(String),
    Int(u64),
    Bool(bool),
    Map(Map),
    List(Vec<Node>),
}

impl Node {
    pub(super) fn str(s: &str) -> Node {
        Node::Str(s.to_owned())
    }
}

struct Entry {
    key: String,
    /// Quote the key: it came from user input (labels, secret names).
    quoted: bool,
    value: Node,
    /// Comment lines written above the entry.
    comments: Vec<String>,
}

/// A block mapping whose keys keep the order they were added in.
#[derive(Default)]
pub(super) struct Map {
    entries: Vec<Entry>,
    pending_comments: Vec<String>,
}

impl Map {
    pub(super) fn new() -> Self {
        Map::default()
    }

    /// A schema key (`apiVersion`, `spec`): written plain.
    pub(super) fn entry(mut self, key: &'static str, value: Node) -> Self {
        self.push(key.to_owned(), false, value);
        self
    }

    /// A key from user input: always quoted.
    pub(super) fn quoted_entry(mut self, key: &str, value: Node) -> Self {
        self.push(key.to_owned(), true, value);
        self
    }

    /// Comment lines for the next entry.
    pub(super) fn commented(mut self, lines: &[&str]) -> Self {
        self.pending_comments
            .extend(lines.iter().map(|l| (*l).to_owned()));
        self
    }

    fn push(&mut self, key: String, quoted: bool, value: Node) {
        let comments = std::mem::take(&mut self.pending_comments);
        self.entries.push(Entry {
            key,
            quoted,
            value,
            comments,
        });
    }
}

/// The stream: each document after a `---` line, its comment lines first.
pub(super) fn emit_documents(docs: &[Doc], out: &mut String) {
    for doc in docs {
        out.push_str("---\n");
        for line in &doc.comments {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        emit_map(&doc.body, 0, out);
    }
}

fn emit_map(map: &Map, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for entry in &map.entries {
        for line in &entry.comments {
            out.push_str(&format!("{pad}# {line}\n"));
        }
        let key = if entry.quoted {
            quote(&entry.key)
        } else {
            entry.key.clone()
        };
        match &entry.value {
            Node::Map(m) if m.entries.is_empty() => out.push_str(&format!("{pad}{key}: {{}}\n")),
            Node::List(items) if items.is_empty() => out.push_str(&format!("{pad}{key}: []\n")),
            Node::Map(m) => {
                out.push_str(&format!("{pad}{key}:\n"));
                emit_map(m, indent + 2, out);
            }
            Node::List(items) => {
                out.push_str(&format!("{pad}{key}:\n"));
                emit_list(items, indent + 2, out);
            }
            scalar => out.push_str(&format!("{pad}{key}: {}\n", emit_scalar(scalar))),
        }
    }
}

fn emit_list(items: &[Node], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Node::Map(m) if !m.entries.is_empty() => {
                // The item's mapping is written at indent + 2; its first line then starts with the
                // dash instead of two spaces. Comments inside list items are not supported (they
                // would come before the dash), and nothing here needs them.
                let mut body = String::new();
                emit_map(m, indent + 2, &mut body);
                let first_pad = " ".repeat(indent + 2);
                let body = body.strip_prefix(&first_pad).unwrap_or(&body);
                out.push_str(&format!("{pad}- {body}"));
            }
            Node::Map(_) => out.push_str(&format!("{pad}- {{}}\n")),
            Node::List(inner) => {
                out.push_str(&format!("{pad}-\n"));
                emit_list(inner, indent + 2, out);
            }
            scalar => out.push_str(&format!("{pad}- {}\n", emit_scalar(scalar))),
        }
    }
}

fn emit_scalar(node: &Node) -> String {
    match node {
        Node::Str(s) => quote(s),
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Map(_) | Node::List(_) => String::new(),
    }
}

/// A YAML double-quoted scalar, valid JSON too. Escapes what YAML does not allow raw in a stream
/// (C0 and C1 controls, DEL, the BOM, U+FFFE/U+FFFF), what YAML 1.1 readers take as line breaks
/// (NEL U+0085, U+2028, U+2029: raw in a comment they would end it), and `"` and `\`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// User text inside a comment: quoted, so a line break in a name cannot end the comment.
pub(super) fn quote_comment(s: &str) -> String {
    quote(s)
}
