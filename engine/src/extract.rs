//! Placeholder API (the full module is being written): just enough for the crate to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits { pub max_depth: usize, pub max_segments: usize }
impl Default for Limits { fn default() -> Self { Limits { max_depth: 64, max_segments: 100_000 } } }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment { pub path: String, pub text: String }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted { pub format: Format, pub segments: Vec<Segment> }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format { Text }
impl Format { pub fn name(&self) -> &'static str { "text" } }
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError { #[error("invalid utf-8 at byte {offset}")] InvalidUtf8 { offset: usize } }
impl ExtractError { pub fn code(&self) -> &'static str { "guard.invalid_utf8" } }
pub fn extract(body: &[u8], _content_type: Option<&str>, _limits: &Limits) -> Result<Extracted, ExtractError> {
    let text = std::str::from_utf8(body).map_err(|e| ExtractError::InvalidUtf8 { offset: e.valid_up_to() })?;
    Ok(Extracted { format: Format::Text, segments: vec![Segment { path: "body".into(), text: text.into() }] })
}
