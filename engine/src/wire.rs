//! The bundle: the versioned binary form of a compiled ruleset.
//!
//! ```text
//! offset  size  field
//!      0     8  magic  89 'G' 'R' 'D' '\r' '\n' 1a '\n'   (PNG-style: catches text-mode mangling)
//!      8     4  format version, u32 LE                     (FORMAT_VERSION)
//!     12     4  header size, u32 LE                        (96)
//!     16    32  regex-automata version, ASCII, NUL-padded  (DFAs are only readable by the same one)
//!     48     8  payload size, u64 LE
//!     56     4  CRC-32 of bytes 64.. (the digest, then the payload)
//!     60     4  zero
//!     64    32  SHA-256 of the payload                     (the bundle's digest; never all zero)
//!     96     …  payload: meta size (u32 LE), meta (postcard), zero padding to 8, DFA blobs
//! ```
//!
//! The digest names the bundle in logs, metrics and error bodies (`Ruleset::digest`), so an
//! on-call engineer can tell which compiled policy answered. The compiler computes it (feature
//! `build`: the filter does not link a SHA-256); the loader checks that it is there and, through
//! the CRC-32 that covers it, that it was not damaged, but does not recompute it.
//!
//! Every DFA blob starts at a multiple of 8 from the start of the bundle, so a bundle that is
//! itself 4-aligned in memory can be searched in place (`DFA::from_bytes` needs u32 alignment).
//! The bundle holds secret *names* only, never values. Any change to this layout or to the meta
//! types bumps [`FORMAT_VERSION`] and regenerates `testdata/wire/` deliberately.

use serde::{Deserialize, Serialize};

use crate::ir::Program;

pub(crate) const MAGIC: [u8; 8] = [0x89, b'G', b'R', b'D', b'\r', b'\n', 0x1a, b'\n'];
/// The bundle layout version this engine reads and writes.
pub const FORMAT_VERSION: u32 = 10;
/// The regex-automata release whose DFA serialisation the bundle carries (pinned in Cargo.toml).
pub const REGEX_AUTOMATA_VERSION: &str = "regex-automata 0.4.13";
pub(crate) const HEADER_SIZE: usize = 96;
/// Where the digest starts; the CRC-32 covers the bundle from here.
const DIGEST_AT: usize = 64;
/// The SHA-256 digest's length.
pub(crate) const DIGEST_LEN: usize = 32;
const BLOB_ALIGN: usize = 8;

/// The bundle's structured part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BundleMeta {
    pub program: Program,
    /// One per rule with patterns (a deny rule, an escalation with `when`), in (policy, rule)
    /// order.
    pub matchers: Vec<CompiledMatcher>,
    /// Per policy and text view (normalised or as sent), screens for the regexes of the
    /// policy's rules that search that view: literals found in the keyword pass (one screen per
    /// pattern) and a few unanchored DFAs over weakened forms of the regexes. Each screen
    /// matches wherever one of the patterns it names matches (and maybe elsewhere), so a segment
    /// runs only the DFA groups of patterns whose screens it passed: a number in a prompt runs
    /// the groups of the number-like patterns, not all of them.
    pub screens: Vec<CompiledScreen>,
    /// Where each blob sits, relative to the start of the blob area.
    pub blobs: Vec<BlobSpan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompiledMatcher {
    pub policy: u32,
    pub rule: u32,
    /// Indices into the rule's keywords that the keyword automaton searches.
    pub keywords: Vec<u32>,
    pub regex_groups: Vec<CompiledRegexGroup>,
    /// Indices into the rule's `except.keywords` that the rule's exception automaton searches
    /// (built on load); the others, which need Unicode case folding, are in `except_groups`.
    pub except_keywords: Vec<u32>,
    /// The DFA groups of the rule's exceptions: group patterns index `except.keywords` and
    /// `except.regexes`, not the rule's own patterns. Searched only in the segments where the
    /// rule had a candidate match.
    pub except_groups: Vec<CompiledRegexGroup>,
    /// The longest match any of the rule's patterns can have, in bytes of the text it searches
    /// with each run of separators counted as one byte and removed invisible characters as none
    /// (see [`crate::compile::reach`]); `None` when a pattern's matches are unbounded. A stream
    /// scanner holds back this much of an answer's text.
    pub reach: Option<u32>,
}

/// One group of a rule's patterns and its DFAs; DFA pattern id `i` is `patterns[i]` of the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompiledRegexGroup {
    pub patterns: Vec<PatternRef>,
    pub forward: u32,
    pub search: GroupSearch,
    /// The longest match of the group's patterns in text without marks, in bytes; `None` when
    /// unbounded. Behind literal screens, a group then runs only near the literals it matched
    /// around: every match holds one of its literals and is at most this long.
    pub max_len: Option<u32>,
}

/// A policy's screen for one text view (see [`BundleMeta::screens`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompiledScreen {
    pub policy: u32,
    /// Screens the regexes of rules that search the normalised text (else the text as sent).
    pub normalized: bool,
    /// The patterns it screens: (rule index in the policy, the rule's pattern), each in a DFA
    /// group of its rule. A segment the screen does not match runs no group for them.
    pub screened: Vec<(u32, PatternRef)>,
    pub kind: ScreenKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ScreenKind {
    /// Blob index of an unanchored forward DFA; only whether it matches is used.
    Dfa { forward: u32 },
    /// Byte strings, at least one of which every match of the screened patterns contains; they
    /// join the view's keyword automaton, so they cost no pass of their own.
    Literals(Vec<Vec<u8>>),
}

/// How a group's forward DFA is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GroupSearch {
    /// An unanchored forward DFA finds the end in one pass; the anchored reverse DFA (a blob
    /// index) finds the start.
    Unanchored { reverse: u32 },
    /// An anchored DFA, run from each position whose byte can begin a match. For patterns of
    /// bounded length whose unanchored DFA would pass the size budget (card numbers, keys with
    /// fixed-length bodies): each run stops within the pattern's maximum length.
    AnchoredAtCandidates,
}

/// Which of a rule's patterns a match came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PatternRef {
    Keyword(u32),
    Regex(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobSpan {
    pub offset: u32,
    pub len: u32,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("not a guard bundle (bad magic)")]
    BadMagic,
    #[error("bundle is truncated: need {needed} bytes, have {have}")]
    Truncated { needed: usize, have: usize },
    #[error(
        "bundle format version {found} is not supported (this guard reads version {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("bundle was built with `{found}`, this guard needs `{expected}`")]
    AutomataVersion {
        found: String,
        expected: &'static str,
    },
    #[error("bundle checksum mismatch: the bundle is corrupt")]
    Checksum,
    #[error("bundle has {0} trailing bytes")]
    TrailingBytes(usize),
    #[error("bundle metadata is malformed: {0}")]
    Meta(String),
    #[error("bundle is inconsistent: {0}")]
    Invalid(String),
    #[error("bundle DFA {index} is invalid: {message}")]
    Dfa { index: usize, message: String },
    #[error("bundle keyword automaton could not be built: {0}")]
    Keywords(String),
}

/// Writes a bundle. Only the compiler writes bundles, and only it links SHA-256.
#[cfg(feature = "build")]
pub(crate) fn encode(
    program: &Program,
    matchers: Vec<CompiledMatcher>,
    screens: Vec<CompiledScreen>,
    blobs: &[Vec<u8>],
) -> Vec<u8> {
    let mut spans = Vec::with_capacity(blobs.len());
    let mut area_len = 0usize;
    for blob in blobs {
        spans.push(BlobSpan {
            offset: u32::try_from(area_len).unwrap_or(u32::MAX),
            len: u32::try_from(blob.len()).unwrap_or(u32::MAX),
        });
        area_len = align_up(area_len + blob.len(), BLOB_ALIGN);
    }
    let meta = BundleMeta {
        program: program.clone(),
        matchers,
        screens,
        blobs: spans,
    };
    // Serialising plain data into a Vec cannot fail.
    let meta_bytes = postcard::to_allocvec(&meta).unwrap_or_default();

    let mut payload = Vec::new();
    payload.extend_from_slice(
        &u32::try_from(meta_bytes.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    payload.extend_from_slice(&meta_bytes);
    payload.resize(
        align_up(HEADER_SIZE + payload.len(), BLOB_ALIGN) - HEADER_SIZE,
        0,
    );
    for blob in blobs {
        payload.extend_from_slice(blob);
        payload.resize(
            align_up(HEADER_SIZE + payload.len(), BLOB_ALIGN) - HEADER_SIZE,
            0,
        );
    }

    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    out.extend_from_slice(&automata_stamp());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let digest: [u8; DIGEST_LEN] = {
        use sha2::Digest;
        sha2::Sha256::digest(&payload).into()
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&digest);
    crc.update(&payload);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&digest);
    out.extend_from_slice(&payload);
    out
}

/// The version field as written: the name, NUL-padded to 32 bytes (and compared whole on load).
fn automata_stamp() -> [u8; 32] {
    let mut stamp = [0u8; 32];
    for (slot, byte) in stamp.iter_mut().zip(REGEX_AUTOMATA_VERSION.bytes()) {
        *slot = byte;
    }
    stamp
}

fn align_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// A bundle whose header and checksum are good and whose meta decoded; blobs are still unchecked.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub meta: BundleMeta,
    /// The payload's SHA-256, as the compiler wrote it.
    pub digest: [u8; DIGEST_LEN],
    /// The blob area, with the bundle's own alignment.
    pub blob_area: &'a [u8],
}

impl<'a> Decoded<'a> {
    /// The bytes of blob `index`, with the bundle's lifetime (so a `'static` bundle's DFAs can
    /// be searched in place).
    pub fn blob(&self, index: u32) -> Result<&'a [u8], LoadError> {
        let span = self
            .meta
            .blobs
            .get(index as usize)
            .ok_or_else(|| LoadError::Invalid(format!("blob {index} does not exist")))?;
        let start = span.offset as usize;
        let end = start.saturating_add(span.len as usize);
        self.blob_area
            .get(start..end)
            .ok_or_else(|| LoadError::Invalid(format!("blob {index} lies outside the bundle")))
    }

    /// Whether every blob that lies inside the bundle is 4-aligned in memory, as
    /// `DFA::from_bytes` needs to read it in place: true for a bundle that is itself 4-aligned,
    /// since blobs start at multiples of 8 (a damaged span may not).
    pub fn blobs_aligned(&self) -> bool {
        self.meta.blobs.iter().all(|span| {
            let start = span.offset as usize;
            self.blob_area
                .get(start..start.saturating_add(span.len as usize))
                .is_none_or(|blob| blob.as_ptr().align_offset(4) == 0)
        })
    }
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, LoadError> {
    let header = bytes.get(..HEADER_SIZE).ok_or(LoadError::Truncated {
        needed: HEADER_SIZE,
        have: bytes.len(),
    })?;
    if header.get(..8) != Some(&MAGIC[..]) {
        return Err(LoadError::BadMagic);
    }
    let version = read_u32(header, 8);
    if version != FORMAT_VERSION {
        return Err(LoadError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if read_u32(header, 12) as usize != HEADER_SIZE || read_u32(header, 60) != 0 {
        return Err(LoadError::Invalid("unexpected header size".into()));
    }
    let stamp = header.get(16..48).unwrap_or_default();
    if stamp != automata_stamp() {
        let shown = stamp.split(|&b| b == 0).next().unwrap_or_default();
        return Err(LoadError::AutomataVersion {
            found: String::from_utf8_lossy(shown).into_owned(),
            expected: REGEX_AUTOMATA_VERSION,
        });
    }
    let payload_len = usize::try_from(read_u64(header, 48)).unwrap_or(usize::MAX);
    let needed = HEADER_SIZE.saturating_add(payload_len);
    let payload = bytes.get(HEADER_SIZE..needed).ok_or(LoadError::Truncated {
        needed,
        have: bytes.len(),
    })?;
    if bytes.len() > needed {
        return Err(LoadError::TrailingBytes(bytes.len() - needed));
    }
    let covered = bytes.get(DIGEST_AT..needed).unwrap_or_default();
    if crc32fast::hash(covered) != read_u32(header, 56) {
        return Err(LoadError::Checksum);
    }
    let mut digest = [0u8; DIGEST_LEN];
    if let Some(written) = header.get(DIGEST_AT..DIGEST_AT + DIGEST_LEN) {
        digest.copy_from_slice(written);
    }
    if digest == [0u8; DIGEST_LEN] {
        return Err(LoadError::Invalid("the bundle has no digest".into()));
    }
    let meta_len =
        payload
            .get(..4)
            .map(|b| read_u32(b, 0) as usize)
            .ok_or(LoadError::Truncated {
                needed: HEADER_SIZE + 4,
                have: bytes.len(),
            })?;
    let meta_bytes = payload
        .get(4..4usize.saturating_add(meta_len))
        .ok_or_else(|| LoadError::Meta("meta section runs past the payload".into()))?;
    let meta: BundleMeta =
        postcard::from_bytes(meta_bytes).map_err(|err| LoadError::Meta(err.to_string()))?;
    let area_start = align_up(HEADER_SIZE + 4 + meta_len, BLOB_ALIGN) - HEADER_SIZE;
    let blob_area = payload.get(area_start..).unwrap_or_default();
    Ok(Decoded {
        meta,
        digest,
        blob_area,
    })
}

/// The digest field of a bundle's header as hex (empty when the bundle is too short).
#[cfg(feature = "build")]
pub(crate) fn digest_hex(bundle: &[u8]) -> String {
    hex(bundle
        .get(DIGEST_AT..DIGEST_AT + DIGEST_LEN)
        .unwrap_or_default())
}

/// `bytes` as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}
