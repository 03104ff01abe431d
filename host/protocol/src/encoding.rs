//! Ceph's binary encoding: little-endian integers, length-prefixed strings and
//! buffers, counted containers, and versioned structs (`ENCODE_START`: a u8
//! version, a u8 compat version and a u32 length).
//!
//! A [`Decoder`] never trusts a length from the wire beyond the bytes it holds:
//! a count or a length that claims more than what is left is an error before
//! anything is allocated. A versioned struct is decoded inside its own length, so
//! a reader that knows a prefix of a newer version skips the rest safely.

use std::fmt;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being read.
    pub what: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode {}", self.what)
    }
}

impl std::error::Error for DecodeError {}

/// The result of a decode.
pub type DecodeResult<T> = Result<T, DecodeError>;

fn short(what: &str, need: usize, have: usize) -> DecodeError {
    DecodeError {
        what: format!("{what}: needs {need} bytes, {have} left"),
    }
}

/// A cursor over encoded bytes.
#[derive(Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Decode `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &str) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(short(what, n, self.remaining()));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> DecodeResult<[u8; N]> {
        let b = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// A u8.
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>("u8")?[0])
    }

    /// A bool (one byte, non-zero is true).
    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.u8()? != 0)
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_le_bytes(self.array("u16")?))
    }

    /// A little-endian i16.
    pub fn i16(&mut self) -> DecodeResult<i16> {
        Ok(i16::from_le_bytes(self.array("i16")?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array("u32")?))
    }

    /// A little-endian i32.
    pub fn i32(&mut self) -> DecodeResult<i32> {
        Ok(i32::from_le_bytes(self.array("i32")?))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array("u64")?))
    }

    /// A little-endian i64.
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array("i64")?))
    }

    /// A buffer: a u32 length and that many bytes.
    pub fn blob(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n, "buffer")
    }

    /// A string: a u32 length and that many bytes (not always UTF-8 in Ceph; bad
    /// sequences are replaced).
    pub fn string(&mut self) -> DecodeResult<String> {
        let n = self.u32()? as usize;
        let b = self.take(n, "string")?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// A container's u32 element count, checked against the bytes left given
    /// that each element takes at least `min_size` bytes.
    pub fn count(&mut self, min_size: usize) -> DecodeResult<usize> {
        let n = self.u32()? as usize;
        let need = n.saturating_mul(min_size.max(1));
        if need > self.remaining() {
            return Err(DecodeError {
                what: format!(
                    "container of {n} elements: needs at least {need} bytes, {} left",
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// A counted list of elements, each read by `f`.
    pub fn list<T>(
        &mut self,
        min_size: usize,
        mut f: impl FnMut(&mut Decoder<'a>) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let n = self.count(min_size)?;
        // An element in memory can be many times its smallest encoding (a
        // `LogEntry` of 112 bytes for 6 claimed bytes): reserve no more than the
        // bytes left, and let elements actually decoded grow the list.
        let fit = self.remaining().div_ceil(std::mem::size_of::<T>().max(1));
        let mut out = Vec::with_capacity(n.min(fit));
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }

    /// A versioned struct (`DECODE_START`): `f` gets the struct's version and a
    /// decoder over exactly the struct's bytes; what it leaves unread (fields of a
    /// newer version) is skipped. A struct whose compat version is above
    /// `understood` cannot be read and is an error.
    pub fn versioned<T>(
        &mut self,
        what: &str,
        understood: u8,
        f: impl FnOnce(u8, &mut Decoder<'a>) -> DecodeResult<T>,
    ) -> DecodeResult<T> {
        let v = self.u8()?;
        let compat = self.u8()?;
        if compat > understood {
            return Err(DecodeError {
                what: format!(
                    "{what}: version {v} needs a reader of {compat}, we read {understood}"
                ),
            });
        }
        let len = self.u32()? as usize;
        let body = self.take(len, what)?;
        let mut inner = Decoder::new(body);
        f(v, &mut inner).map_err(|e| DecodeError {
            what: format!("{what} (v{v}): {}", e.what),
        })
    }
}

/// Builds encoded bytes.
#[derive(Default, Debug, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Raw bytes.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// A u8.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A bool.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }

    /// A little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A little-endian i16.
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A little-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A little-endian i32.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A little-endian i64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// A buffer with its u32 length.
    pub fn blob(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32).raw(b)
    }

    /// A string with its u32 length.
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.blob(s.as_bytes())
    }

    /// A versioned struct (`ENCODE_START(v, compat)`), its body written by `f`.
    pub fn versioned(&mut self, v: u8, compat: u8, f: impl FnOnce(&mut Encoder)) -> &mut Self {
        self.u8(v).u8(compat);
        let at = self.buf.len();
        self.u32(0);
        f(self);
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versioned_struct_skips_fields_it_does_not_know() {
        let mut e = Encoder::new();
        e.versioned(3, 1, |e| {
            e.u32(7).string("new field").u64(99);
        })
        .u8(0xaa);
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        let first = d.versioned("test", 1, |v, d| {
            assert_eq!(v, 3);
            d.u32()
        });
        assert_eq!(first, Ok(7));
        assert_eq!(d.u8(), Ok(0xaa), "the reader resumes after the struct");
    }

    #[test]
    fn a_struct_too_new_to_read_is_an_error() {
        let mut e = Encoder::new();
        e.versioned(9, 9, |e| {
            e.u32(1);
        });
        let bytes = e.into_bytes();
        let err = Decoder::new(&bytes).versioned("thing", 2, |_, d| d.u32());
        assert!(err.unwrap_err().what.contains("needs a reader of 9"));
    }

    #[test]
    fn counts_beyond_the_bytes_left_are_refused_before_allocating() {
        let mut e = Encoder::new();
        e.u32(u32::MAX).u8(1);
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        assert!(d.list(8, |d| d.u64()).is_err());
        let mut d = Decoder::new(&bytes);
        assert!(d.blob().is_err());
    }
}
