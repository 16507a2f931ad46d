//! `plugin.wasm`: the guard filter with a compiled bundle placed inside it.
//!
//! guardc carries the filter module (built for wasm32-unknown-unknown by `build.rs`), so a policy
//! author needs only guardc to produce a deployable plugin. [`embed`] places the bundle as follows:
//!
//! 1. The filter has a static location record, `[magic x4, address, length]` (u32 LE words), in
//!    one of its data segments; straight from the compiler its length is 0 ("no bundle").
//! 2. The bundle becomes a new active data segment at the first 64 KiB page boundary past the
//!    module's initial memory, and the initial memory grows by the pages it needs. Page-aligned,
//!    so the DFAs inside (8-aligned within the bundle) are searched in place, with no copy.
//! 3. The record gets the bundle's address and length; the filter reads it (volatile, so the
//!    compiler cannot have folded the zeros in) and loads `Ruleset::from_static` from it.
//!
//! Why memory past the initial size is safe: data segments are written at instantiation, before
//! any code runs, and Rust's wasm32-unknown-unknown allocator (dlmalloc) takes memory only from
//! `memory.grow`, which returns pages after the current end: it never reuses pages that were part
//! of the initial memory, so the bundle is never overwritten. The stack and static data lie below.
//!
//! Why not alternatives: the bundle in the plugin configuration (base64 in Istio's
//! `pluginConfig`) would put megabytes of DFAs into every xDS push and into the secrets'
//! configuration, and would be decoded and copied per VM; a custom section is invisible to the
//! module at run time (proxy-wasm has no hostcall to read one); a bundle file fetched at run time
//! needs a second artefact, which an OCI `WasmPlugin` image cannot carry.

use std::fmt;

use wasm_encoder::{
    ConstExpr, DataCountSection, DataSection, MemorySection, MemoryType, Module, RawSection,
};
use wasmparser::{DataKind, Encoding, Operator, Parser, Payload, Validator, WasmFeatures};

/// The bare filter module, with no bundle (built by `build.rs`, or `GUARD_FILTER_WASM`).
static FILTER_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guard_filter.wasm"));

/// The filter's location record's magic words, as bytes in memory (see `guard_engine::embed`).
const RECORD_MAGIC: [u8; 16] = guard_engine::embed::record_magic_bytes();
const PAGE: u64 = guard_engine::embed::WASM_PAGE;
/// The most pages a 32-bit memory can have (4 GiB).
const MAX_PAGES: u64 = 1 << 16;

/// Why a module could not take (or give back) a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginError {
    /// This guardc was built without the filter (the wasm32 target was missing).
    FilterMissing,
    /// The bytes are not a valid core Wasm module.
    NotAModule(String),
    /// The module has no location record: not the guard filter (or a different build of it).
    NoRecord,
    /// More than one location record: the module cannot say which one the filter reads.
    AmbiguousRecord,
    /// The module's record already points at a bundle.
    AlreadyEmbedded,
    /// The module's memory cannot take a data segment past its initial size.
    UnsupportedMemory(&'static str),
    /// An empty bundle would read as "no bundle".
    EmptyBundle,
    /// The bundle does not fit in the module's memory.
    TooLarge { bundle: usize },
    /// The record points at no data segment that holds the bundle.
    Corrupt(&'static str),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::FilterMissing => f.write_str(
                "this guardc was built without the guard filter (the wasm32-unknown-unknown target was missing); \
                 run scripts/setup and build guardc again",
            ),
            PluginError::NotAModule(err) => write!(f, "not a valid WebAssembly module: {err}"),
            PluginError::NoRecord => {
                f.write_str("the module has no guard bundle record; it is not the guard filter")
            }
            PluginError::AmbiguousRecord => {
                f.write_str("the module has more than one guard bundle record")
            }
            PluginError::AlreadyEmbedded => f.write_str("the module already carries a bundle"),
            PluginError::UnsupportedMemory(why) => {
                write!(f, "the module's memory cannot take the bundle: {why}")
            }
            PluginError::EmptyBundle => f.write_str("the bundle is empty"),
            PluginError::TooLarge { bundle } => write!(
                f,
                "a {bundle}-byte bundle does not fit in a 32-bit Wasm memory"
            ),
            PluginError::Corrupt(why) => {
                write!(f, "the module's bundle record is inconsistent: {why}")
            }
        }
    }
}

impl std::error::Error for PluginError {}

/// The bare filter module guardc carries (for size reports and benchmarks).
pub fn filter_wasm() -> &'static [u8] {
    FILTER_WASM
}

/// The filter module with `bundle` placed inside it: the `plugin.wasm` Envoy loads.
pub fn embed(bundle: &[u8]) -> Result<Vec<u8>, PluginError> {
    if FILTER_WASM.is_empty() {
        return Err(PluginError::FilterMissing);
    }
    embed_into(FILTER_WASM, bundle)
}

/// [`embed`], into any module that has the guard's location record.
pub fn embed_into(module: &[u8], bundle: &[u8]) -> Result<Vec<u8>, PluginError> {
    if bundle.is_empty() {
        return Err(PluginError::EmptyBundle);
    }
    let too_large = || PluginError::TooLarge {
        bundle: bundle.len(),
    };
    let parsed = parse(module)?;
    let memory = parsed.memory;
    let address = memory.initial.checked_mul(PAGE).ok_or_else(too_large)?;
    let bundle_len = u64::try_from(bundle.len()).map_err(|_| too_large())?;
    let pages = bundle_len.div_ceil(PAGE);
    let initial = memory.initial + pages;
    if initial > MAX_PAGES || memory.maximum.is_some_and(|max| initial > max) {
        return Err(too_large());
    }
    let address32 = u32::try_from(address).map_err(|_| too_large())?;
    let len32 = u32::try_from(bundle_len).map_err(|_| too_large())?;
    let Some(record) = parsed.record else {
        return Err(PluginError::NoRecord);
    };
    if record.address != 0 || record.len != 0 {
        return Err(PluginError::AlreadyEmbedded);
    }

    let mut out = Module::new();
    for section in &parsed.sections {
        match section {
            Section::Raw { id, range } => {
                out.section(&RawSection {
                    id: *id,
                    data: module
                        .get(range.clone())
                        .ok_or(PluginError::Corrupt("section range"))?,
                });
            }
            Section::Memory => {
                let mut memories = MemorySection::new();
                memories.memory(MemoryType {
                    minimum: initial,
                    maximum: memory.maximum,
                    memory64: false,
                    shared: false,
                    page_size_log2: None,
                });
                out.section(&memories);
            }
            Section::DataCount(count) => {
                out.section(&DataCountSection { count: count + 1 });
            }
            Section::Data => {
                let mut data = DataSection::new();
                for (index, segment) in parsed.segments.iter().enumerate() {
                    match segment.offset {
                        Some(offset) => {
                            let mut bytes = segment.bytes.to_vec();
                            if index == record.segment {
                                let at = record.at + RECORD_MAGIC.len();
                                let slot = bytes
                                    .get_mut(at..at + 8)
                                    .ok_or(PluginError::Corrupt("record truncated"))?;
                                let location = [address32.to_le_bytes(), len32.to_le_bytes()];
                                slot.copy_from_slice(location.as_flattened());
                            }
                            data.active(0, &ConstExpr::i32_const(offset as i32), bytes);
                        }
                        None => {
                            data.passive(segment.bytes.iter().copied());
                        }
                    }
                }
                data.active(
                    0,
                    &ConstExpr::i32_const(address32 as i32),
                    bundle.iter().copied(),
                );
                out.section(&data);
            }
        }
    }
    let out = out.finish();
    // Whatever we wrote must load: check it as the runtime would, before anyone deploys it.
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(&out)
        .map_err(|e| {
            PluginError::NotAModule(format!("the module with the bundle does not validate: {e}"))
        })?;
    Ok(out)
}

/// The bundle a `plugin.wasm` carries, or `None` for a bare filter module.
pub fn embedded_bundle(module: &[u8]) -> Result<Option<&[u8]>, PluginError> {
    let parsed = parse(module)?;
    let record = parsed.record.ok_or(PluginError::NoRecord)?;
    if record.len == 0 {
        return Ok(None);
    }
    let start = u64::from(record.address);
    let end = start + u64::from(record.len);
    let segment = parsed
        .segments
        .iter()
        .filter_map(|s| s.offset.map(|offset| (u64::from(offset), s.bytes)))
        .find(|(offset, bytes)| *offset <= start && end <= offset + bytes.len() as u64)
        .ok_or(PluginError::Corrupt("no data segment holds the bundle"))?;
    let (offset, bytes) = segment;
    let from =
        usize::try_from(start - offset).map_err(|_| PluginError::Corrupt("bundle offset"))?;
    let to = from + record.len as usize;
    bytes
        .get(from..to)
        .map(Some)
        .ok_or(PluginError::Corrupt("bundle outside its segment"))
}

/// A module, cut into what [`embed_into`] copies and what it rewrites.
struct Parsed<'a> {
    sections: Vec<Section>,
    /// The module's one memory.
    memory: wasmparser::MemoryType,
    segments: Vec<Segment<'a>>,
    record: Option<Record>,
}

enum Section {
    Raw {
        id: u8,
        range: std::ops::Range<usize>,
    },
    Memory,
    DataCount(u32),
    Data,
}

struct Segment<'a> {
    /// `None` for a passive segment.
    offset: Option<u32>,
    bytes: &'a [u8],
}

#[derive(Clone, Copy)]
struct Record {
    segment: usize,
    /// Offset of the magic within the segment.
    at: usize,
    address: u32,
    len: u32,
}

fn parse(module: &[u8]) -> Result<Parsed<'_>, PluginError> {
    let invalid = |e: wasmparser::BinaryReaderError| PluginError::NotAModule(e.to_string());
    Validator::new_with_features(WasmFeatures::default())
        .validate_all(module)
        .map_err(invalid)?;
    let mut sections = Vec::new();
    let mut memory = None;
    let mut segments = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(invalid)?;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } => {}
            Payload::Version { .. } => {
                return Err(PluginError::NotAModule(
                    "a component, not a core module".into(),
                ))
            }
            Payload::ImportSection(reader) => {
                let range = reader.range();
                for import in reader.into_imports() {
                    if matches!(import.map_err(invalid)?.ty, wasmparser::TypeRef::Memory(_)) {
                        return Err(PluginError::UnsupportedMemory(
                            "the module imports its memory",
                        ));
                    }
                }
                sections.push(Section::Raw {
                    id: wasm_encoder::SectionId::Import as u8,
                    range,
                });
            }
            Payload::MemorySection(reader) => {
                let memories = reader
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid)?;
                let [only] = memories.as_slice() else {
                    return Err(PluginError::UnsupportedMemory(
                        "the module does not have exactly one memory",
                    ));
                };
                if only.memory64 || only.shared || only.page_size_log2.is_some_and(|log| log != 16)
                {
                    return Err(PluginError::UnsupportedMemory(
                        "only a 32-bit, unshared memory of 64 KiB pages",
                    ));
                }
                memory = Some(*only);
                sections.push(Section::Memory);
            }
            Payload::DataCountSection { count, .. } => sections.push(Section::DataCount(count)),
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(invalid)?;
                    let offset = match data.kind {
                        DataKind::Passive => None,
                        DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } => {
                            let mut ops = offset_expr.get_operators_reader();
                            match (ops.read(), ops.read()) {
                                (Ok(Operator::I32Const { value }), Ok(Operator::End)) => {
                                    Some(value as u32)
                                }
                                _ => {
                                    return Err(PluginError::UnsupportedMemory(
                                        "a data segment's offset is not a constant",
                                    ))
                                }
                            }
                        }
                        DataKind::Active { .. } => {
                            return Err(PluginError::UnsupportedMemory(
                                "a data segment for another memory",
                            ))
                        }
                    };
                    segments.push(Segment {
                        offset,
                        bytes: data.data,
                    });
                }
                sections.push(Section::Data);
            }
            Payload::CodeSectionEntry(_) => {} // copied with the whole code section
            Payload::End(_) => break,
            other => {
                if let Some((id, range)) = other.as_section() {
                    sections.push(Section::Raw { id, range });
                }
            }
        }
    }
    let memory = memory.ok_or(PluginError::UnsupportedMemory(
        "the module defines no memory",
    ))?;
    if !sections.iter().any(|s| matches!(s, Section::Data)) {
        return Err(PluginError::NoRecord);
    }
    let record = find_record(&segments)?;
    Ok(Parsed {
        sections,
        memory,
        segments,
        record,
    })
}

/// The one location record among the active data segments.
fn find_record(segments: &[Segment<'_>]) -> Result<Option<Record>, PluginError> {
    let mut found = None;
    for (index, segment) in segments.iter().enumerate() {
        if segment.offset.is_none() {
            continue;
        }
        let mut from = 0;
        while let Some(at) =
            find(segment.bytes.get(from..).unwrap_or_default(), &RECORD_MAGIC).map(|at| at + from)
        {
            if found.is_some() {
                return Err(PluginError::AmbiguousRecord);
            }
            let word = |i: usize| {
                segment
                    .bytes
                    .get(at + i..at + i + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_le_bytes)
            };
            let (Some(address), Some(len)) =
                (word(RECORD_MAGIC.len()), word(RECORD_MAGIC.len() + 4))
            else {
                return Err(PluginError::Corrupt("record truncated"));
            };
            found = Some(Record {
                segment: index,
                at,
                address,
                len,
            });
            from = at + 1;
        }
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory and data section of a module, read back.
    fn layout(module: &[u8]) -> (u64, Vec<(u32, Vec<u8>)>) {
        let mut initial = None;
        let mut segments = Vec::new();
        for payload in Parser::new(0).parse_all(module) {
            match payload.unwrap() {
                Payload::MemorySection(reader) => {
                    initial = Some(reader.into_iter().next().unwrap().unwrap().initial)
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        let data = data.unwrap();
                        if let DataKind::Active { offset_expr, .. } = data.kind {
                            let Operator::I32Const { value } =
                                offset_expr.get_operators_reader().read().unwrap()
                            else {
                                panic!("offset is not i32.const");
                            };
                            segments.push((value as u32, data.data.to_vec()));
                        }
                    }
                }
                _ => {}
            }
        }
        (initial.unwrap(), segments)
    }

    /// A minimal module with one memory and the given active data segments.
    fn module_with_data(segments: &[(u32, &[u8])]) -> Vec<u8> {
        let mut module = Module::new();
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut data = DataSection::new();
        for (offset, bytes) in segments {
            data.active(
                0,
                &ConstExpr::i32_const(*offset as i32),
                bytes.iter().copied(),
            );
        }
        module.section(&data);
        module.finish()
    }

    fn empty_record() -> Vec<u8> {
        let mut record = RECORD_MAGIC.to_vec();
        record.extend_from_slice(&[0; 8]);
        record
    }

    #[test]
    fn the_bare_filter_has_an_empty_record() {
        assert_eq!(embedded_bundle(filter_wasm()), Ok(None));
    }

    #[test]
    fn the_bundle_lands_page_aligned_past_the_initial_memory() {
        // Two pages and a bit: the memory must grow by three.
        let bundle: Vec<u8> = (0..2 * PAGE as usize + 10)
            .map(|i| (i % 251) as u8)
            .collect();
        let plugin = embed(&bundle).unwrap();
        let (before_pages, before_segments) = layout(filter_wasm());
        let (after_pages, after_segments) = layout(&plugin);
        assert_eq!(after_pages, before_pages + 3);
        assert_eq!(after_segments.len(), before_segments.len() + 1);

        let address = (before_pages * PAGE) as u32;
        let (offset, bytes) = after_segments.last().unwrap();
        assert_eq!((*offset, bytes), (address, &bundle));
        // No data of the module's own lies in or past the bundle's pages.
        for (offset, bytes) in &before_segments {
            assert!(u64::from(*offset) + bytes.len() as u64 <= u64::from(address));
        }

        // The record, and nothing else, changed in the module's own data.
        let mut record = RECORD_MAGIC.to_vec();
        record.extend_from_slice(&address.to_le_bytes());
        record.extend_from_slice(&(bundle.len() as u32).to_le_bytes());
        let patched: Vec<_> = before_segments
            .iter()
            .zip(&after_segments)
            .filter(|(before, after)| before != after)
            .collect();
        assert_eq!(patched.len(), 1);
        let (_, after) = patched[0];
        assert!(find(&after.1, &record).is_some());

        assert_eq!(embedded_bundle(&plugin), Ok(Some(bundle.as_slice())));
        assert_eq!(
            embed_into(&plugin, &bundle),
            Err(PluginError::AlreadyEmbedded)
        );
    }

    #[test]
    fn a_module_without_the_record_is_refused() {
        let plain = module_with_data(&[(1024, b"hello, world")]);
        assert_eq!(embed_into(&plain, b"bundle"), Err(PluginError::NoRecord));
        let no_data = module_with_data(&[]);
        assert_eq!(embed_into(&no_data, b"bundle"), Err(PluginError::NoRecord));
        assert!(matches!(
            embed_into(b"\0asm junk", b"bundle"),
            Err(PluginError::NotAModule(_))
        ));
    }

    #[test]
    fn two_records_are_refused_and_one_is_enough() {
        let record = empty_record();
        let two = module_with_data(&[(1024, &record), (4096, &record)]);
        assert_eq!(
            embed_into(&two, b"bundle"),
            Err(PluginError::AmbiguousRecord)
        );

        let one = module_with_data(&[(1024, &record)]);
        let plugin = embed_into(&one, b"bundle").unwrap();
        assert_eq!(embedded_bundle(&plugin), Ok(Some(&b"bundle"[..])));
        assert_eq!(layout(&plugin).0, 2);
        assert_eq!(embed_into(&one, b""), Err(PluginError::EmptyBundle));
    }
}
