//! The SDK entry point, the embedded bundle's location and the one raw hostcall the SDK wraps with
//! a panicking parser: the filter's only unsafe code.
//!
//! `guardc build` appends the bundle to the module as an active data segment at a 64 KiB page
//! boundary past the module's initial memory, raises the initial memory by as many pages, and
//! patches [`BUNDLE_LOCATION`] (found by its magic words) with the bundle's address and length.
//! The allocator never hands out that memory: Rust's wasm32-unknown-unknown allocator (dlmalloc)
//! takes new memory only from `memory.grow`, whose result starts at the old end of memory, so it
//! never overlaps pages that were part of the initial memory. The bytes are therefore valid, never
//! written, for the whole life of the instance: a `&'static [u8]`.

#![allow(
    unsafe_code,
    reason = "the SDK entry point expands to `#[no_mangle]`, and the embedded bundle and the \
              header-pairs hostcall are raw memory: the filter's only unsafe code"
)]

use std::fmt;

use proxy_wasm::traits::RootContext;

use crate::root::Root;

/// Identifies [`BUNDLE_LOCATION`] among the module's data (the words `guardc build` looks for).
const MAGIC: [u32; 4] = guard_engine::embed::RECORD_MAGIC;

/// `[magic x4, address, length]`, little-endian like all wasm memory. `guardc build` writes the
/// last two words; a module straight from the compiler has length 0, meaning "no bundle".
#[used]
static BUNDLE_LOCATION: [u32; 6] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], 0, 0];

const PAGE: u64 = guard_engine::embed::WASM_PAGE;

proxy_wasm::main! {{
    // A panic aborts the VM; say why in Envoy's log first. Panic messages come from our code and
    // the SDK's, never from request data.
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(proxy_wasm::types::LogLevel::Critical, &format!("guard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> { Box::new(Root::new(context_id)) });
}}

/// Why the module holds no usable bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BundleError {
    /// The module came straight from the compiler, not from `guardc build`.
    NotEmbedded,
    /// The location record points outside memory: the module was altered after `guardc build`.
    OutOfBounds { address: u32, len: u32 },
    /// The heap lies below the end of the bundle: an allocator that does not take its memory
    /// from `memory.grow` could overwrite the bundle, so it is not used.
    HeapOverlap { end: u64, heap: u64 },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotEmbedded => f.write_str(
                "this module carries no policy bundle (use the plugin.wasm that `guardc build` writes, not the bare filter)",
            ),
            BundleError::OutOfBounds { address, len } => write!(
                f,
                "the embedded bundle record ({len} bytes at {address:#x}) lies outside the module's memory; the module is corrupt"
            ),
            BundleError::HeapOverlap { end, heap } => write!(
                f,
                "the heap ({heap:#x}) lies below the end of the embedded bundle ({end:#x}); this filter build cannot hold a bundle"
            ),
        }
    }
}

/// The bundle `guardc build` embedded, in place.
pub(crate) fn embedded_bundle() -> Result<&'static [u8], BundleError> {
    // SAFETY: a read of an initialised, aligned static. Volatile, so that the optimiser cannot
    // fold the compile-time zeros into the code: `guardc build` changes the bytes afterwards.
    let record = unsafe { core::ptr::read_volatile(&raw const BUNDLE_LOCATION) };
    let [_, _, _, _, address, len] = record;
    if len == 0 {
        return Err(BundleError::NotEmbedded);
    }
    let end = u64::from(address) + u64::from(len);
    if address == 0 || u64::from(address) % PAGE != 0 || end > memory_bytes() {
        return Err(BundleError::OutOfBounds { address, len });
    }
    // The bundle's safety rests on the allocator taking memory only past the initial memory
    // (see the module docs); check it on this very build: a fresh allocation must lie above.
    let probe = Box::new(0u8);
    let heap = &*probe as *const u8 as usize as u64;
    if heap < end {
        return Err(BundleError::HeapOverlap { end, heap });
    }
    // SAFETY: the range is non-null, inside linear memory (checked above), was initialised by the
    // module's data segment at instantiation, and is never written or handed out by the allocator
    // (see the module docs), so it is valid for reads for the rest of the instance's life.
    Ok(unsafe { core::slice::from_raw_parts(address as usize as *const u8, len as usize) })
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// Every pair of a header map in Envoy's serialisation, read with one hostcall; `None` if the
/// host refused. One call instead of one per header: each header read is a hostcall plus a call
/// back into the VM to allocate the value (`bench/envoy-load.py --probes` prices five of them).
#[cfg(target_arch = "wasm32")]
pub(crate) fn header_map_bytes(map: proxy_wasm::types::MapType) -> Option<Vec<u8>> {
    let mut data: *mut u8 = core::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer and a length through the two out-pointers, which point to
    // live locals.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    if status != 0 {
        return None;
    }
    if data.is_null() || size == 0 {
        return Some(Vec::new());
    }
    // SAFETY: the host got `data` from the SDK's `proxy_on_memory_allocate(size)`, which leaks a
    // boxed slice of exactly `size` bytes from this module's allocator: ours to take back, once.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Host builds (unit tests) have no host to ask.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn header_map_bytes(_map: proxy_wasm::types::MapType) -> Option<Vec<u8>> {
    None
}

#[cfg(target_arch = "wasm32")]
fn memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * PAGE
}

/// Host builds (unit tests) have no embedded bundle and no linear memory to point into.
#[cfg(not(target_arch = "wasm32"))]
fn memory_bytes() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_straight_from_the_compiler_has_no_bundle() {
        assert_eq!(embedded_bundle(), Err(BundleError::NotEmbedded));
        assert!(BundleError::NotEmbedded
            .to_string()
            .contains("guardc build"));
    }
}
