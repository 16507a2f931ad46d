//! A JSON value with the byte span of every string token, for finding text in an event's data
//! and rewriting it in place.
//!
//! serde_json checks the text first (so this walker only ever reads valid JSON, and a body
//! serde_json refuses is refused here too); the walker then records the structure with each
//! string's decoded value and its span (quotes included). Keys are decoded but not located: guard
//! rewrites values only. Duplicate keys are refused, as the request side refuses them
//! (`extract::json`): a reader taking the first and a client taking the last would disagree on
//! what the answer says. Nesting is bounded, so a hostile body cannot exhaust the stack.

use std::ops::Range;

/// How deep arrays and objects may nest.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value; numbers, booleans and null keep their token text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    Str { value: String, span: Range<usize> },
    Other(String),
}

/// Why a data field is not readable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotJson;

impl Node {
    /// Parses `text`, which must be one JSON value.
    pub(crate) fn parse(text: &str) -> Result<Node, NotJson> {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
            return Err(NotJson);
        }
        let mut walker = Walker { text, at: 0 };
        walker.value(0)
    }

    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A short key for a channel name: a number's or string's text.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Node::Str { value, .. } => Some(value),
            Node::Other(token) if token != "null" => Some(token),
            _ => None,
        }
    }

    /// The elements of an array (none for anything else).
    pub(crate) fn items(&self) -> &[Node] {
        match self {
            Node::Array(items) => items,
            _ => &[],
        }
    }
}

struct Walker<'a> {
    text: &'a str,
    at: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, NotJson> {
        if depth > MAX_DEPTH {
            return Err(NotJson);
        }
        self.skip_space();
        match self.peek().ok_or(NotJson)? {
            b'{' => {
                self.at += 1;
                let mut members: Vec<(String, Node)> = Vec::new();
                loop {
                    self.skip_space();
                    match self.peek().ok_or(NotJson)? {
                        b'}' => {
                            self.at += 1;
                            return Ok(Node::Object(members));
                        }
                        b',' => self.at += 1,
                        _ => {
                            let (key, _) = self.string()?;
                            if members.iter().any(|(k, _)| *k == key) {
                                return Err(NotJson);
                            }
                            self.skip_space();
                            if self.peek() != Some(b':') {
                                return Err(NotJson);
                            }
                            self.at += 1;
                            let value = self.value(depth + 1)?;
                            members.push((key, value));
                        }
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    match self.peek().ok_or(NotJson)? {
                        b']' => {
                            self.at += 1;
                            return Ok(Node::Array(items));
                        }
                        b',' => self.at += 1,
                        _ => items.push(self.value(depth + 1)?),
                    }
                }
            }
            b'"' => {
                let (value, span) = self.string()?;
                Ok(Node::Str { value, span })
            }
            _ => {
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                let token = self.text.get(start..self.at).ok_or(NotJson)?;
                Ok(Node::Other(token.to_string()))
            }
        }
    }

    /// A string token at the cursor: its value and span.
    fn string(&mut self) -> Result<(String, Range<usize>), NotJson> {
        let start = self.at;
        if self.peek() != Some(b'"') {
            return Err(NotJson);
        }
        self.at += 1;
        loop {
            match self.peek().ok_or(NotJson)? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    break;
                }
                _ => self.at += 1,
            }
        }
        let token = self.text.get(start..self.at).ok_or(NotJson)?;
        let value = serde_json::from_str::<String>(token).map_err(|_| NotJson)?;
        Ok((value, start..self.at))
    }
}

/// `text` as a JSON string token.
pub(crate) fn quote(text: &str) -> String {
    // Serialising a string cannot fail; an empty string keeps the output valid JSON regardless.
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}
