//! Messenger v2 frames, revision 1 (what Pacific speaks): a 32-byte preamble
//! naming the tag and up to four segments, the segments, and an epilogue; in crc
//! mode each part carries a crc32c, in secure mode the preamble (with the first
//! 48 bytes of the first segment inline), the rest of the first segment, and the
//! other segments with the epilogue are three AES-128-GCM messages.
//!
//! Reading checks every length against [`Limits`] before reading the bytes, and
//! grows buffers only as bytes arrive, so a peer that claims a huge segment and
//! sends nothing costs nothing.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::crypto::ceph_crc32c;
use crate::encoding::Encoder;

/// Frame tags (`ceph::msgr::v2::Tag`).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    Hello = 1,
    AuthRequest,
    AuthBadMethod,
    AuthReplyMore,
    AuthRequestMore,
    AuthDone,
    AuthSignature,
    ClientIdent,
    ServerIdent,
    IdentMissingFeatures,
    SessionReconnect,
    SessionReset,
    SessionRetry,
    SessionRetryGlobal,
    SessionReconnectOk,
    Wait,
    Message,
    Keepalive2,
    Keepalive2Ack,
    Ack,
}

impl Tag {
    fn from_u8(v: u8) -> Option<Tag> {
        use Tag::*;
        Some(match v {
            1 => Hello,
            2 => AuthRequest,
            3 => AuthBadMethod,
            4 => AuthReplyMore,
            5 => AuthRequestMore,
            6 => AuthDone,
            7 => AuthSignature,
            8 => ClientIdent,
            9 => ServerIdent,
            10 => IdentMissingFeatures,
            11 => SessionReconnect,
            12 => SessionReset,
            13 => SessionRetry,
            14 => SessionRetryGlobal,
            15 => SessionReconnectOk,
            16 => Wait,
            17 => Message,
            18 => Keepalive2,
            19 => Keepalive2Ack,
            20 => Ack,
            _ => return None,
        })
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid frame.
    #[error("bad frame: {0}")]
    Bad(String),
    /// A segment is longer than we accept.
    #[error("frame segment of {len} bytes exceeds the limit of {limit}")]
    TooLong {
        /// What the preamble claimed.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// Secure mode: a frame failed authentication (tampered, or wrong key).
    #[error("frame failed authentication (secure mode)")]
    Auth,
}

fn bad(s: impl Into<String>) -> FrameError {
    FrameError::Bad(s.into())
}

/// How much a peer may make us read.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame (all segments together).
    pub max_frame: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        // An OSD map of thousands of OSDs is a few MiB; a `pg dump` of a
        // million PGs is under 512 MiB.
        Limits {
            max_frame: 512 << 20,
        }
    }
}

/// A received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is.
    pub tag: Tag,
    /// Its segments (one to four).
    pub segments: Vec<Vec<u8>>,
}

const PREAMBLE: usize = 32;
const INLINE: usize = 48;
const TAG_LEN: usize = 16;
const MAX_SEGMENTS: usize = 4;
const LATE_STATUS_COMPLETE: u8 = 0xe;
const LATE_STATUS_ABORTED: u8 = 0x1;

/// Alignment of a message frame's segments (header, front, middle, data).
pub const MESSAGE_ALIGNMENTS: [u16; 4] = [8, 8, 8, 4096];

/// One direction of secure mode: the key and the nonce of the next message.
struct Gcm {
    cipher: Aes128Gcm,
    nonce: [u8; 12],
}

impl Gcm {
    /// The nonce to use now; the counter (bytes 4..12) moves for the next.
    fn next_nonce(&mut self) -> [u8; 12] {
        let n = self.nonce;
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&self.nonce[4..]);
        let c = u64::from_le_bytes(counter).wrapping_add(1);
        self.nonce[4..].copy_from_slice(&c.to_le_bytes());
        n
    }

    fn seal(&mut self, plain: &[u8]) -> Vec<u8> {
        let n = self.next_nonce();
        self.cipher
            .encrypt(Nonce::from_slice(&n), plain)
            .expect("AES-GCM encryption of a bounded frame")
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, FrameError> {
        let n = self.next_nonce();
        self.cipher
            .decrypt(Nonce::from_slice(&n), sealed)
            .map_err(|_| FrameError::Auth)
    }
}

/// Frame encoding and decoding for one connection, in crc or secure mode.
#[derive(Default)]
pub struct FrameCodec {
    tx: Option<Gcm>,
    rx: Option<Gcm>,
}

impl FrameCodec {
    /// Crc mode (the handshake's mode, and a session's unless secure).
    pub fn crc() -> FrameCodec {
        FrameCodec::default()
    }

    /// Switch to secure mode with a connection secret (a 16-byte key, then the
    /// receive nonce and the send nonce of the connecting side).
    pub fn secure(secret: &[u8], connecting: bool) -> Result<FrameCodec, FrameError> {
        if secret.len() < 16 + 24 {
            return Err(bad(format!(
                "secure mode needs a 40-byte connection secret, got {}",
                secret.len()
            )));
        }
        let cipher = Aes128Gcm::new_from_slice(&secret[..16]).map_err(|_| bad("key"))?;
        let mut a = [0u8; 12];
        let mut b = [0u8; 12];
        a.copy_from_slice(&secret[16..28]);
        b.copy_from_slice(&secret[28..40]);
        let (rx, tx) = if connecting { (a, b) } else { (b, a) };
        Ok(FrameCodec {
            tx: Some(Gcm {
                cipher: cipher.clone(),
                nonce: tx,
            }),
            rx: Some(Gcm { cipher, nonce: rx }),
        })
    }

    /// Split into a sending half and a receiving half (for a connection's
    /// writer and reader tasks).
    pub fn split(self) -> (FrameCodec, FrameCodec) {
        (
            FrameCodec {
                tx: self.tx,
                rx: None,
            },
            FrameCodec {
                tx: None,
                rx: self.rx,
            },
        )
    }

    /// Whether frames are encrypted.
    pub fn is_secure(&self) -> bool {
        self.tx.is_some()
    }

    /// Encode a frame of `segments` (at most four) with their alignments.
    pub fn encode(&mut self, tag: Tag, segments: &[&[u8]], aligns: &[u16]) -> Vec<u8> {
        assert!(!segments.is_empty() && segments.len() <= MAX_SEGMENTS);
        // Trailing empty segments are not sent.
        let mut n = segments.len();
        while n > 1 && segments[n - 1].is_empty() {
            n -= 1;
        }
        let segs = &segments[..n];
        let mut pre = Encoder::new();
        pre.u8(tag as u8).u8(n as u8);
        for i in 0..MAX_SEGMENTS {
            match segs.get(i) {
                Some(s) => pre
                    .u32(s.len() as u32)
                    .u16(aligns.get(i).copied().unwrap_or(8)),
                None => pre.u32(0).u16(0),
            };
        }
        pre.u8(0).u8(0);
        let crc = ceph_crc32c(0, pre.as_bytes());
        pre.u32(crc);
        let preamble = pre.into_bytes();
        match &mut self.tx {
            None => {
                let mut out = preamble;
                if !segs[0].is_empty() {
                    out.extend_from_slice(segs[0]);
                    out.extend_from_slice(&ceph_crc32c(u32::MAX, segs[0]).to_le_bytes());
                }
                if n > 1 {
                    for s in &segs[1..] {
                        out.extend_from_slice(s);
                    }
                    out.push(LATE_STATUS_COMPLETE);
                    for i in 1..MAX_SEGMENTS {
                        let crc = segs.get(i).map_or(0, |s| ceph_crc32c(u32::MAX, s));
                        out.extend_from_slice(&crc.to_le_bytes());
                    }
                }
                out
            }
            Some(gcm) => {
                let first = pad16(segs[0]);
                let mut block = preamble;
                let inline = first.len().min(INLINE);
                block.extend_from_slice(&first[..inline]);
                block.resize(PREAMBLE + INLINE, 0);
                let mut out = gcm.seal(&block);
                if first.len() > INLINE {
                    out.extend(gcm.seal(&first[INLINE..]));
                }
                if n > 1 {
                    let mut rest = Vec::new();
                    for s in &segs[1..] {
                        rest.extend(pad16(s));
                    }
                    rest.push(LATE_STATUS_COMPLETE);
                    rest.resize(rest.len() + 15, 0);
                    out.extend(gcm.seal(&rest));
                }
                out
            }
        }
    }

    /// Read one frame. `record`, if given, gets every byte read off the wire (the
    /// handshake signs them).
    pub async fn read<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        limits: Limits,
        mut record: Option<&mut Vec<u8>>,
    ) -> Result<Frame, FrameError> {
        let secure = self.rx.is_some();
        let head_len = if secure {
            PREAMBLE + INLINE + TAG_LEN
        } else {
            PREAMBLE
        };
        let mut head = vec![0u8; head_len];
        r.read_exact(&mut head).await?;
        if let Some(rec) = record.as_deref_mut() {
            rec.extend_from_slice(&head);
        }
        let head = match &mut self.rx {
            Some(gcm) => gcm.open(&head)?,
            None => head,
        };
        let pre = &head[..PREAMBLE];
        let crc = u32::from_le_bytes([pre[28], pre[29], pre[30], pre[31]]);
        if ceph_crc32c(0, &pre[..28]) != crc {
            return Err(bad("preamble crc mismatch"));
        }
        let tag = Tag::from_u8(pre[0]).ok_or_else(|| bad(format!("unknown tag {}", pre[0])))?;
        let n = pre[1] as usize;
        if !(1..=MAX_SEGMENTS).contains(&n) {
            return Err(bad(format!("{n} segments")));
        }
        let mut lens = [0usize; MAX_SEGMENTS];
        let mut total = 0u64;
        for (i, len) in lens.iter_mut().enumerate().take(n) {
            let at = 2 + i * 6;
            *len = u32::from_le_bytes([pre[at], pre[at + 1], pre[at + 2], pre[at + 3]]) as usize;
            total += *len as u64;
        }
        if n > 1 && lens[n - 1] == 0 {
            return Err(bad("last segment empty"));
        }
        if total > limits.max_frame {
            return Err(FrameError::TooLong {
                len: total,
                limit: limits.max_frame,
            });
        }
        let mut segments = Vec::with_capacity(n);
        if secure {
            let padded = lens[0].div_ceil(16) * 16;
            let mut first = head[PREAMBLE..PREAMBLE + INLINE].to_vec();
            if padded > INLINE {
                let sealed = read_up_to(r, padded - INLINE + TAG_LEN, &mut record).await?;
                let gcm = self.rx.as_mut().expect("secure");
                first.truncate(INLINE);
                first.extend(gcm.open(&sealed)?);
            }
            first.truncate(lens[0]);
            segments.push(first);
            if n > 1 {
                let padded: usize = lens[1..n].iter().map(|l| l.div_ceil(16) * 16).sum();
                let sealed = read_up_to(r, padded + 16 + TAG_LEN, &mut record).await?;
                let gcm = self.rx.as_mut().expect("secure");
                let plain = gcm.open(&sealed)?;
                let mut at = 0;
                for len in &lens[1..n] {
                    segments.push(plain[at..at + len].to_vec());
                    at += len.div_ceil(16) * 16;
                }
                late_status(plain[at])?;
            }
        } else {
            if lens[0] > 0 {
                let mut first = read_up_to(r, lens[0] + 4, &mut record).await?;
                let crc = u32::from_le_bytes(first[lens[0]..].try_into().expect("4 bytes"));
                first.truncate(lens[0]);
                if ceph_crc32c(u32::MAX, &first) != crc {
                    return Err(bad("first segment crc mismatch"));
                }
                segments.push(first);
            } else {
                segments.push(Vec::new());
            }
            if n > 1 {
                for len in &lens[1..n] {
                    segments.push(read_up_to(r, *len, &mut record).await?);
                }
                let epilogue = read_up_to(r, 1 + 12, &mut record).await?;
                late_status(epilogue[0])?;
                for (i, s) in segments.iter().enumerate().skip(1) {
                    let at = 1 + (i - 1) * 4;
                    let crc = u32::from_le_bytes(epilogue[at..at + 4].try_into().expect("4"));
                    if ceph_crc32c(u32::MAX, s) != crc {
                        return Err(bad(format!("segment {i} crc mismatch")));
                    }
                }
            }
        }
        Ok(Frame { tag, segments })
    }
}

fn late_status(s: u8) -> Result<(), FrameError> {
    match s & 0xf {
        LATE_STATUS_COMPLETE => Ok(()),
        LATE_STATUS_ABORTED => Err(bad("the sender aborted the frame")),
        _ => Err(bad(format!("bad late status {s:#x}"))),
    }
}

fn pad16(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.resize(s.len().div_ceil(16) * 16, 0);
    v
}

/// Read exactly `n` bytes, growing the buffer as they arrive.
async fn read_up_to<R: AsyncRead + Unpin>(
    r: &mut R,
    n: usize,
    record: &mut Option<&mut Vec<u8>>,
) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(n.min(64 << 10));
    let got = r.take(n as u64).read_to_end(&mut out).await?;
    if got != n {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    if let Some(rec) = record.as_deref_mut() {
        rec.extend_from_slice(&out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(secure: bool, segs: &[Vec<u8>]) -> Frame {
        let secret: Vec<u8> = (0..40u8).collect();
        let (mut tx, mut rx) = if secure {
            (
                FrameCodec::secure(&secret, true).unwrap(),
                FrameCodec::secure(&secret, false).unwrap(),
            )
        } else {
            (FrameCodec::crc(), FrameCodec::crc())
        };
        let refs: Vec<&[u8]> = segs.iter().map(|s| s.as_slice()).collect();
        let bytes = tx.encode(Tag::Message, &refs, &MESSAGE_ALIGNMENTS);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(rx.read(&mut bytes.as_slice(), Limits::default(), None))
            .unwrap()
    }

    #[test]
    fn frames_round_trip_in_both_modes() {
        for secure in [false, true] {
            for segs in [
                vec![b"x".to_vec()],
                vec![vec![7u8; 41], b"front".to_vec(), vec![], vec![9u8; 5000]],
                vec![vec![1u8; 100], vec![2u8; 3]],
                vec![vec![], vec![2u8; 3]],
            ] {
                let f = roundtrip(secure, &segs);
                let mut want = segs.clone();
                while want.len() > 1 && want.last().unwrap().is_empty() {
                    want.pop();
                }
                assert_eq!(f.segments, want, "secure={secure}");
            }
        }
    }

    #[test]
    fn a_huge_claimed_segment_is_refused_before_reading() {
        let mut codec = FrameCodec::crc();
        let mut bytes = codec.encode(Tag::Message, &[b"a", b"b"], &MESSAGE_ALIGNMENTS);
        // Claim 4 GiB in segment 1 and fix the preamble crc.
        bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = ceph_crc32c(0, &bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let limits = Limits { max_frame: 1 << 20 };
        let err = rt
            .block_on(FrameCodec::crc().read(&mut bytes.as_slice(), limits, None))
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLong { .. }), "{err}");
    }

    #[test]
    fn a_tampered_secure_frame_fails_authentication() {
        let secret: Vec<u8> = (0..40u8).collect();
        let mut tx = FrameCodec::secure(&secret, true).unwrap();
        let mut bytes = tx.encode(Tag::Message, &[b"hello"], &MESSAGE_ALIGNMENTS);
        bytes[40] ^= 1;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut rx = FrameCodec::secure(&secret, false).unwrap();
        let err = rt
            .block_on(rx.read(&mut bytes.as_slice(), Limits::default(), None))
            .unwrap_err();
        assert!(matches!(err, FrameError::Auth));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Whatever bytes arrive, reading never panics and never reads past the
        /// limit.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), secure: bool) {
            let secret: Vec<u8> = (0..40u8).collect();
            let mut rx = if secure { FrameCodec::secure(&secret, false).unwrap() } else { FrameCodec::crc() };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(rx.read(&mut bytes.as_slice(), Limits { max_frame: 1 << 16 }, None));
        }

        /// A valid frame with one byte flipped or cut short is an error, never a
        /// panic.
        #[test]
        fn damaged_frames_are_errors(
            front in proptest::collection::vec(any::<u8>(), 0..300),
            data in proptest::collection::vec(any::<u8>(), 1..300),
            flip in any::<usize>(), cut in any::<usize>(), secure: bool,
        ) {
            let secret: Vec<u8> = (0..40u8).collect();
            let mut tx = if secure { FrameCodec::secure(&secret, true).unwrap() } else { FrameCodec::crc() };
            let bytes = tx.encode(Tag::Message, &[&[1u8; 41], &front, &[], &data], &MESSAGE_ALIGNMENTS);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut flipped = bytes.clone();
            let at = flip % flipped.len();
            flipped[at] ^= 0x40;
            let mut rx = if secure { FrameCodec::secure(&secret, false).unwrap() } else { FrameCodec::crc() };
            let r = rt.block_on(rx.read(&mut flipped.as_slice(), Limits::default(), None));
            // Damage never reads as different content: secure mode refuses every
            // flip; crc mode may only accept a flip in the epilogue's reserved
            // status bits, with the segments intact.
            if let Ok(f) = r {
                prop_assert!(!secure);
                prop_assert_eq!(f.segments, vec![vec![1u8; 41], front.clone(), vec![], data.clone()]);
            }
            let short = &bytes[..cut % bytes.len()];
            let mut rx = if secure { FrameCodec::secure(&secret, false).unwrap() } else { FrameCodec::crc() };
            prop_assert!(rt.block_on(rx.read(&mut &short[..], Limits::default(), None)).is_err());
        }
    }
}
