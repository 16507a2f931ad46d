//! Content-Encoding: a compressed body is decompressed (within a bound) before it is scanned.
//!
//! An encoding guard cannot decode is refused rather than passed on: the upstream would decode
//! it, so text the guard never saw would reach the model.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use crate::codes::Code;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An encoding other than gzip and deflate: its registered name, or `None` for a name that is
    /// not a registered encoding (which the message then does not quote: it is request text).
    #[error("content encoding {} is not supported (gzip, deflate and identity are)", .0.map_or("of this request".to_string(), |name| format!("`{name}`")))]
    Unsupported(Option<&'static str>),
    #[error("the body is not valid `{0}` data")]
    Corrupt(&'static str),
    #[error("the decoded body is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

impl DecodeError {
    /// HTTP status and stable error code of the refusal.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            DecodeError::Unsupported(_) => (415, Code::UnsupportedEncoding.as_str()),
            DecodeError::Corrupt(_) => (400, Code::MalformedEncoding.as_str()),
            DecodeError::TooLarge { .. } => (413, Code::BodyTooLarge.as_str()),
        }
    }
}

/// The IANA-registered content codings guard does not decode, so a refusal can name one without
/// quoting request text.
fn registered(coding: &str) -> Option<&'static str> {
    [
        "br",
        "zstd",
        "compress",
        "x-compress",
        "exi",
        "pack200-gzip",
        "aes128gcm",
        "dcb",
        "dcz",
    ]
    .into_iter()
    .find(|known| *known == coding)
}

/// The body as the upstream would read it, at most `limit` bytes.
pub(crate) fn decode<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    limit: usize,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    let mut out = Cow::Borrowed(body);
    // `Content-Encoding: gzip, br` lists encodings in the order they were applied.
    let codings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    for coding in codings.iter().rev() {
        out = Cow::Owned(match coding.as_str() {
            // Every member: a gzip file may be several members back to back (RFC 1952 §2.2), and
            // common decoders (Go's gzip.Reader, Python's gzip, zcat) read them all. Decoding only
            // the first would let an empty first member hide a second one that holds the prompt.
            // Bytes after a member that are not another member are refused as corrupt.
            "gzip" | "x-gzip" => inflate(MultiGzDecoder::new(out.as_ref()), "gzip", limit)?,
            // RFC 9110's deflate is zlib-wrapped; some clients send raw deflate, so try both.
            "deflate" => inflate(ZlibDecoder::new(out.as_ref()), "deflate", limit)
                .or_else(|_| inflate(DeflateDecoder::new(out.as_ref()), "deflate", limit))?,
            other => return Err(DecodeError::Unsupported(registered(other))),
        });
    }
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

fn inflate(reader: impl Read, name: &'static str, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it" without reading a bomb.
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Corrupt(name))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_round_trip() {
        let text = "my 账号 is 1111111".as_bytes();
        assert_eq!(
            decode(Some("gzip"), &gzip(text), 1 << 20).unwrap().as_ref(),
            text
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(text).unwrap();
        assert_eq!(
            decode(Some("Deflate"), &z.finish().unwrap(), 1 << 20)
                .unwrap()
                .as_ref(),
            text
        );
        assert_eq!(
            decode(Some("gzip, gzip"), &gzip(&gzip(text)), 1 << 20)
                .unwrap()
                .as_ref(),
            text
        );
        assert_eq!(decode(None, text, 1 << 20).unwrap().as_ref(), text);
    }

    #[test]
    fn bombs_unknown_and_corrupt_encodings_are_refused() {
        let bomb = gzip(&vec![b'a'; 10 << 20]);
        assert!(bomb.len() < 20_000);
        assert_eq!(
            decode(Some("gzip"), &bomb, 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
        assert_eq!(
            decode(Some("br"), b"x", 100),
            Err(DecodeError::Unsupported(Some("br")))
        );
        // A made-up coding is request text: the message does not quote it.
        let err = decode(Some("account-number"), b"x", 100).unwrap_err();
        assert_eq!(err, DecodeError::Unsupported(None));
        assert!(!err.to_string().contains("account"), "{err}");
        assert_eq!(
            decode(Some("gzip"), b"not gzip", 100),
            Err(DecodeError::Corrupt("gzip"))
        );
    }

    #[test]
    fn every_gzip_member_is_decoded() {
        // An empty first member must not hide the second: the upstream decodes both.
        let body = [gzip(b""), gzip(b"my \xe8\xb4\xa6\xe5\x8f\xb7")].concat();
        assert_eq!(
            decode(Some("gzip"), &body, 1 << 20).unwrap().as_ref(),
            "my 账号".as_bytes()
        );
        // The bound covers all members together.
        let body = [gzip(&[b' '; 600]), gzip(&[b' '; 600])].concat();
        assert_eq!(
            decode(Some("gzip"), &body, 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        );
        // Trailing bytes that are not a member are refused, not ignored.
        let body = [gzip(b"{}"), b"trailing".to_vec()].concat();
        assert_eq!(
            decode(Some("gzip"), &body, 1 << 20),
            Err(DecodeError::Corrupt("gzip"))
        );
    }
}
