//! The cryptography cephx and messenger v2 use: AES-128-CBC with Ceph's fixed IV
//! for tickets and authenticators, HMAC-SHA256 for the handshake signatures, and
//! crc32c the way Ceph seeds it.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::encoding::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::types::UTime;

/// The IV of every cephx AES-CBC encryption.
const CEPH_AES_IV: &[u8; 16] = b"cephsageyudagreg";
/// Marks a correctly decrypted cephx payload.
const AUTH_ENC_MAGIC: u64 = 0xff00_9cad_8826_aa55;
/// `CEPH_CRYPTO_AES`.
const CRYPTO_AES: u16 = 1;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// A cephx secret (`CryptoKey`): an entity's key from its keyring, or a session
/// key handed out by the monitors.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoKey {
    created: UTime,
    secret: [u8; 16],
}

impl std::fmt::Debug for CryptoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CryptoKey(..)")
    }
}

impl CryptoKey {
    /// Parse the base64 form a keyring holds (`key = AQ...==`).
    pub fn from_base64(text: &str) -> Result<CryptoKey, String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the key is not base64: {e}"))?;
        CryptoKey::decode(&mut Decoder::new(&raw)).map_err(|e| format!("the key: {e}"))
    }

    /// Decode the encoded form (type, creation time, length, secret).
    pub fn decode(d: &mut Decoder) -> DecodeResult<CryptoKey> {
        let kind = d.u16()?;
        let created = UTime::decode(d)?;
        let len = d.u16()? as usize;
        let secret = d.take(len, "key secret")?;
        if kind != CRYPTO_AES || secret.len() != 16 {
            return Err(DecodeError {
                what: format!(
                    "key of type {kind} and {} bytes (only AES-128 is used)",
                    len
                ),
            });
        }
        let mut s = [0u8; 16];
        s.copy_from_slice(secret);
        Ok(CryptoKey { created, secret: s })
    }

    /// Encode it.
    pub fn encode(&self, e: &mut Encoder) {
        e.u16(CRYPTO_AES);
        self.created.encode(e);
        e.u16(16).raw(&self.secret);
    }

    /// The raw secret (the messenger's HMAC key).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// AES-128-CBC with Ceph's IV and PKCS#7 padding.
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        Aes128CbcEnc::new(&self.secret.into(), CEPH_AES_IV.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain)
    }

    /// The inverse of [`CryptoKey::encrypt`]; a wrong key shows as bad padding.
    pub fn decrypt(&self, cipher: &[u8]) -> DecodeResult<Vec<u8>> {
        Aes128CbcDec::new(&self.secret.into(), CEPH_AES_IV.into())
            .decrypt_padded_vec_mut::<Pkcs7>(cipher)
            .map_err(|_| DecodeError {
                what: "encrypted block: bad padding (wrong key?)".into(),
            })
    }

    /// HMAC-SHA256 keyed with the secret.
    pub fn hmac_sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Encrypt `payload` as cephx does (`encode_encrypt_enc_bl`: a version byte
    /// and the magic before it), without the outer length.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1).u64(AUTH_ENC_MAGIC).raw(payload);
        self.encrypt(e.as_bytes())
    }

    /// [`CryptoKey::seal`] with the u32 length before it (`encode_encrypt`).
    pub fn seal_blob(&self, payload: &[u8], out: &mut Encoder) {
        out.blob(&self.seal(payload));
    }

    /// Decrypt a sealed block and check its magic; gives the payload.
    pub fn open(&self, sealed: &[u8]) -> DecodeResult<Vec<u8>> {
        let plain = self.decrypt(sealed)?;
        let mut d = Decoder::new(&plain);
        d.u8()?;
        let magic = d.u64()?;
        if magic != AUTH_ENC_MAGIC {
            return Err(DecodeError {
                what: "encrypted block: bad magic (wrong key?)".into(),
            });
        }
        let at = plain.len() - d.remaining();
        Ok(plain[at..].to_vec())
    }

    /// Read a length-prefixed sealed block and open it (`decode_decrypt`).
    pub fn open_blob(&self, d: &mut Decoder) -> DecodeResult<Vec<u8>> {
        let sealed = d.blob()?;
        self.open(sealed)
    }
}

/// `ceph_crc32c(seed, data)`: crc32c without the final inversion, from `seed`.
pub fn ceph_crc32c(seed: u32, data: &[u8]) -> u32 {
    // The crate's function inverts on the way in and out.
    !crc32c::crc32c_append(!seed, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_blocks_open_with_their_key_only() {
        let k = CryptoKey::from_base64("AQBPkGNnAAAAABAAhUdYkO4G0MYMpyVBfH7Tog==").unwrap();
        let other = CryptoKey::from_base64("AQBPkGNnAAAAABAA3XJwDbDGTM4pbe0yo6rR9g==").unwrap();
        let sealed = k.seal(b"hello");
        assert_eq!(k.open(&sealed).unwrap(), b"hello");
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn keys_round_trip_through_their_encoding() {
        let text = "AQBPkGNnAAAAABAAhUdYkO4G0MYMpyVBfH7Tog==";
        let k = CryptoKey::from_base64(text).unwrap();
        let mut e = Encoder::new();
        k.encode(&mut e);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
            text
        );
    }

    #[test]
    fn crc32c_is_seeded_as_ceph_does() {
        // Ceph's crc32c(-1, "123456789") is the standard check value inverted.
        assert_eq!(ceph_crc32c(u32::MAX, b"123456789"), !0xe306_9283);
    }
}
