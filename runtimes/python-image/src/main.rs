//! `python-image IN OUT`: makes every object the shared Python runtime's image
//! lists immortal, in place in the component's data segments.
//!
//! componentize-py snapshots CPython's memory after the runtime's imports; every
//! module's instance maps that image copy-on-write. CPython still writes each
//! object's reference count whenever an instance merely uses the object (a
//! function it calls, a name it looks up), so each instance dirtied, and held a
//! private copy of, pages of the image it never changed. CPython (3.12 and later)
//! neither counts nor frees an object whose count is immortal, and Python code
//! cannot write a count: so the runtime's last step at build time leaves a list
//! of its objects' addresses behind a marker (see `runtimes/python/runtime.py`),
//! and this tool writes the immortal count into each object's header.

use std::ops::Range;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wasmparser::{DataKind, Operator, Parser, Payload};

/// What the runtime's list starts with: SHA-256 of this text, computed by the
/// runtime at build time so that no constant in the image spells it.
const MARKER_TEXT: &[u8] = b"wasm-mgr: the Python runtime's image objects";
/// A reference count at or above this is immortal on 32-bit CPython 3.12+.
const IMMORTAL_MINIMUM: u32 = 1 << 30;
/// The count CPython gives objects it makes immortal at run time on 32-bit
/// (`_Py_IMMORTAL_INITIAL_REFCNT`): below the statically allocated ones' range,
/// so that CPython does not take them for its own static objects.
const IMMORTAL_INITIAL: u32 = 5 << 28;

/// One active data segment of the memory: where it lands and where its bytes are
/// in the file.
struct Segment {
    address: u32,
    file: Range<usize>,
}

/// The memory image as the file holds it: active segments at constant offsets.
struct Image {
    segments: Vec<Segment>,
}

impl Image {
    /// The segment holding `len` bytes at `address`, and the bytes' place in the file.
    fn locate(&self, address: u32, len: usize) -> Option<Range<usize>> {
        let i = self
            .segments
            .partition_point(|s| s.address <= address)
            .checked_sub(1)?;
        let s = &self.segments[i];
        let start = (address - s.address) as usize;
        (start + len <= s.file.len()).then(|| s.file.start + start..s.file.start + start + len)
    }

    /// A little-endian u32 at `address`, from the bytes of the file.
    fn read_u32(&self, bytes: &[u8], address: u32) -> Option<u32> {
        let at = self.locate(address, 4)?;
        Some(u32::from_le_bytes(bytes[at].try_into().ok()?))
    }
}

/// The data segments of every core module in the component that has any.
fn images(bytes: &[u8]) -> Result<Vec<Image>> {
    let mut images = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::DataSection(reader) = payload.context("reading the component")? else {
            continue;
        };
        let mut segments = Vec::new();
        for data in reader {
            let data = data.context("reading a data segment")?;
            let DataKind::Active {
                memory_index: 0,
                offset_expr,
            } = data.kind
            else {
                continue;
            };
            let mut ops = offset_expr.get_operators_reader();
            let Ok(Operator::I32Const { value }) = ops.read() else {
                continue; // relocatable (a dynamic library's), not part of the snapshot
            };
            let start = data.data.as_ptr() as usize - bytes.as_ptr() as usize;
            segments.push(Segment {
                address: value as u32,
                file: start..start + data.data.len(),
            });
        }
        segments.sort_by_key(|s| s.address);
        images.push(Image { segments });
    }
    Ok(images)
}

/// Where the runtime's list is: its image, and the file offsets of the marker and
/// of the addresses. The list is the content of a bytes object, whose header ends
/// with its length and a hash (4 bytes each on 32-bit); copies of the marker left
/// in freed memory by the build are told from it by that length.
fn find_list(
    bytes: &[u8],
    images: &[Image],
    marker: &[u8],
) -> Result<(usize, usize, Range<usize>)> {
    let mut found = Vec::new();
    for (i, image) in images.iter().enumerate() {
        for s in &image.segments {
            let data = &bytes[s.file.clone()];
            let mut from = 0;
            while let Some(at) = data[from..].windows(marker.len()).position(|w| w == marker) {
                let offset = from + at;
                from = offset + 1;
                // Read as memory, so that nothing outside the image is taken for it.
                let address = s.address + offset as u32;
                let size = address
                    .checked_sub(8)
                    .and_then(|header| image.read_u32(bytes, header));
                let Some(count) = image.read_u32(bytes, address + marker.len() as u32) else {
                    continue;
                };
                let count = count as usize;
                let list = image.locate(address + marker.len() as u32 + 4, count * 4);
                if let (Some(size), Some(list)) = (size, list)
                    && size as usize == marker.len() + 4 + count * 4
                {
                    found.push((i, s.file.start + offset, list));
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no list of image objects in the component: it was not built from \
             runtimes/python/runtime.py, or was already processed"
        ),
        n => bail!("{n} lists of image objects in the component"),
    }
}

/// What [`immortalize`] did.
#[derive(Debug, PartialEq)]
struct Made {
    /// Objects given the immortal count.
    immortal: usize,
    /// Objects that were immortal already (CPython's static ones).
    already: usize,
    /// Addresses outside the image's segments, or with no count there.
    outside: usize,
}

/// Makes every object on the runtime's list immortal, in `bytes` (a component).
fn immortalize(bytes: &mut [u8]) -> Result<Made> {
    let images = images(bytes)?;
    let marker = Sha256::digest(MARKER_TEXT);
    let (which, at, list) = find_list(bytes, &images, &marker)?;
    let image = &images[which];
    let addresses: Vec<u32> = bytes[list]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut made = Made {
        immortal: 0,
        already: 0,
        outside: 0,
    };
    for address in addresses {
        match image.read_u32(bytes, address) {
            // The first word of a 32-bit PyObject is its reference count.
            Some(count) if count >= IMMORTAL_MINIMUM => made.already += 1,
            Some(0) | None => made.outside += 1,
            Some(_) => {
                let at = image.locate(address, 4).expect("located above");
                bytes[at].copy_from_slice(&IMMORTAL_INITIAL.to_le_bytes());
                made.immortal += 1;
            }
        }
    }
    // The marker goes, so that the output is never processed twice.
    bytes[at..at + marker.len()].fill(0);
    if made.immortal == 0 {
        bail!("no object of the list was found in the image");
    }
    Ok(made)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        bail!("usage: python-image IN.wasm OUT.wasm");
    };
    let mut bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let made = immortalize(&mut bytes).with_context(|| format!("processing {input}"))?;
    std::fs::write(output, &bytes).with_context(|| format!("writing {output}"))?;
    println!(
        "{output}: {} objects of the image made immortal ({} already were, {} not in the image)",
        made.immortal, made.already, made.outside
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with one memory and one active segment at `base`.
    fn module(base: u32, data: &[u8]) -> Vec<u8> {
        use wasm_encoder::{ConstExpr, DataSection, MemorySection, MemoryType};
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut segments = DataSection::new();
        segments.active(0, &ConstExpr::i32_const(base as i32), data.iter().copied());
        let mut module = wasm_encoder::Module::new();
        module.section(&memories).section(&segments);
        module.finish()
    }

    /// An image at 0x1000: three objects (counts 3, 1, and a static one), a
    /// stray copy of the marker in freed memory, and the list naming the three
    /// and an address outside the image.
    fn image() -> (Vec<u8>, u32) {
        let base = 0x1000u32;
        let mut data = vec![0u8; 64];
        data[0..4].copy_from_slice(&3u32.to_le_bytes());
        data[16..20].copy_from_slice(&1u32.to_le_bytes());
        data[32..36].copy_from_slice(&(7u32 << 28).to_le_bytes());
        let marker = Sha256::digest(MARKER_TEXT);
        // freed: the marker with a length that does not fit
        data.extend(0u32.to_le_bytes());
        data.extend(0u32.to_le_bytes());
        data.extend(32u32.to_le_bytes());
        data.extend(0u32.to_le_bytes());
        data.extend(marker);
        let addresses = [base, base + 16, base + 32, 0x9_0000];
        data.extend(0u32.to_le_bytes()); // refcount
        data.extend(0u32.to_le_bytes()); // type
        data.extend(((32 + 4 + 4 * addresses.len()) as u32).to_le_bytes());
        data.extend(0u32.to_le_bytes()); // hash
        data.extend(marker);
        data.extend((addresses.len() as u32).to_le_bytes());
        for a in addresses {
            data.extend(a.to_le_bytes());
        }
        (module(base, &data), base)
    }

    #[test]
    fn listed_objects_become_immortal_and_nothing_else_changes() {
        let (mut bytes, _) = image();
        let before = bytes.clone();
        let made = immortalize(&mut bytes).unwrap();
        assert_eq!(
            made,
            Made {
                immortal: 2,
                already: 1,
                outside: 1
            }
        );
        let images = images(&bytes).unwrap();
        let image = &images[0];
        assert_eq!(image.read_u32(&bytes, 0x1000), Some(IMMORTAL_INITIAL));
        assert_eq!(image.read_u32(&bytes, 0x1010), Some(IMMORTAL_INITIAL));
        assert_eq!(image.read_u32(&bytes, 0x1020), Some(7 << 28));
        let changed = before.iter().zip(&bytes).filter(|(a, b)| a != b).count();
        // two counts of four bytes, and the marker (32 bytes, some may match)
        assert!(changed <= 8 + 32, "{changed} bytes changed");
    }

    #[test]
    fn a_processed_component_is_refused() {
        let (mut bytes, _) = image();
        immortalize(&mut bytes).unwrap();
        let err = immortalize(&mut bytes).unwrap_err().to_string();
        assert!(err.contains("already processed"), "{err}");
    }

    #[test]
    fn a_component_without_a_list_is_refused() {
        let mut bytes = module(0x1000, &[1, 2, 3, 4]);
        let err = immortalize(&mut bytes).unwrap_err().to_string();
        assert!(err.contains("no list of image objects"), "{err}");
    }
}
