//! RSA public keys and RSASSA-PKCS1-v1_5 signature checks, small enough for the wasm builds.
//!
//! The adapters check signatures on the runtime's own crypto; this crate is what is left of
//! RSA in Rust: reading a public key (DER, SPKI or PKCS#1; the numbers of a JWK) with the
//! checks the `rsa` crate applies, and verifying a signature for the synchronous paths and
//! native code. It replaces the `rsa`/`jwt-compact` crates in clerk-edge-guard's builds, whose
//! general bignum code was a tenth of the wasm. Verification only: public data, so no
//! constant-time arithmetic is needed.
//!
//! A crate of its own so that it can be compiled for speed while the rest is compiled for
//! size (the workspace's `[profile.release.package.clerk-edge-guard-rsa]`): at `opt-level =
//! "z"` the multiplication loop ran five times slower in wasm (1.9 ms a check, 0.34 ms at 3).
//!
//! The numbers are little-endian `u32` limbs (wasm32 multiplies `u64` natively), multiplied
//! in Montgomery form: one RS256 check with `e = 65537` is 17 multiplications plus two
//! conversions. clerk-edge-guard's `tests/rsa_differential.rs` holds parsing and verification
//! to the `rsa` crate over valid, mutated and random inputs.

use std::sync::OnceLock;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// RSA's smallest and largest public exponents (the `rsa` crate's bounds).
const MIN_EXPONENT: u64 = 2;
const MAX_EXPONENT: u64 = (1 << 33) - 1;
/// The largest modulus read at all; larger ones are malformed, not weak (the `rsa` crate).
const MAX_BITS: usize = 4096;

/// Why a key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKeyError {
    /// Not an RSA public key: bad DER, or numbers out of range (an even modulus, an exponent
    /// outside 2..2^33, an exponent not below the modulus, a modulus above 4096 bits).
    Malformed,
    /// A modulus other than 2048, 3072 or 4096 bits (RFC 7518 asks at least 2048).
    Weak { bits: usize },
}

/// An RSA public key, checked and ready to verify signatures.
#[derive(Debug)]
pub struct RsaKey {
    /// The modulus, big-endian, no leading zero bytes.
    n_bytes: Vec<u8>,
    /// The public exponent, big-endian, no leading zero bytes.
    e_bytes: Vec<u8>,
    e: u64,
    /// The modulus as little-endian limbs.
    n: Vec<u32>,
    /// `-n^-1 mod 2^32`, for Montgomery reduction.
    n0_inv: u32,
    /// `R^2 mod n` with `R = 2^(32 * limbs)`, computed on the first Rust verification only
    /// (the adapters' WebCrypto path never needs it).
    r_squared: OnceLock<Vec<u32>>,
}

impl RsaKey {
    /// A key from its big-endian modulus and exponent (leading zero bytes allowed), with the
    /// checks of the `rsa` crate's `RsaPublicKey::new` then the 2048/3072/4096-bit rule.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, RsaKeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(n);
        if bits > MAX_BITS || e.len() > 8 {
            return Err(RsaKeyError::Malformed);
        }
        let e_value = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let n_odd = n.last().is_some_and(|b| b & 1 == 1);
        let e_below_n = e.len() < n.len() || (e.len() == n.len() && e < n);
        if !n_odd
            || !e_below_n
            || e_value & 1 == 0
            || !(MIN_EXPONENT..=MAX_EXPONENT).contains(&e_value)
        {
            return Err(RsaKeyError::Malformed);
        }
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(RsaKeyError::Weak { bits });
        }
        let limbs = limbs_from_be(n, n.len().div_ceil(4));
        Ok(Self {
            n_bytes: n.to_vec(),
            e_bytes: e.to_vec(),
            e: e_value,
            n0_inv: neg_inverse(limbs[0]),
            n: limbs,
            r_squared: OnceLock::new(),
        })
    }

    /// A key from DER: an SPKI `SubjectPublicKeyInfo` (PEM `BEGIN PUBLIC KEY`) or a PKCS#1
    /// `RSAPublicKey` (PEM `BEGIN RSA PUBLIC KEY`), read as strictly as the `rsa` crate does.
    pub fn from_der(der: &[u8]) -> Result<Self, RsaKeyError> {
        let (n, e) = der::spki(der)
            .or_else(|| der::pkcs1(der))
            .ok_or(RsaKeyError::Malformed)?;
        Self::from_components(n, e)
    }

    /// The modulus, big-endian, no leading zeros (a JWK's `n`, WebCrypto's import).
    pub fn modulus(&self) -> &[u8] {
        &self.n_bytes
    }

    /// The public exponent, big-endian, no leading zeros.
    pub fn exponent(&self) -> &[u8] {
        &self.e_bytes
    }

    /// Checks an RSASSA-PKCS1-v1_5 signature of `message` hashed with `hash`, as the `rsa`
    /// crate and WebCrypto do: the signature is exactly as long as the modulus, below it, and
    /// its public-key power is the one valid encoding of the digest.
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let k = self.n_bytes.len();
        if signature.len() != k || signature >= self.n_bytes.as_slice() {
            return false;
        }
        let Some(expected) = encoded_digest(hash, message, k) else {
            return false;
        };
        let s = limbs_from_be(signature, self.n.len());
        let m = self.power(&s);
        be_from_limbs(&m, k) == expected
    }

    /// `s^e mod n`, for `s < n`.
    fn power(&self, s: &[u32]) -> Vec<u32> {
        let r_squared = self.r_squared.get_or_init(|| r_squared(&self.n));
        let base = self.mont_mul(s, r_squared);
        let mut acc = base.clone();
        let top = 63 - self.e.leading_zeros();
        for bit in (0..top).rev() {
            acc = self.mont_mul(&acc, &acc);
            if self.e >> bit & 1 == 1 {
                acc = self.mont_mul(&acc, &base);
            }
        }
        let mut one = vec![0u32; self.n.len()];
        one[0] = 1;
        self.mont_mul(&acc, &one)
    }

    /// Montgomery product `a * b / R mod n` (CIOS), for `a, b < n`.
    fn mont_mul(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let n = &self.n;
        let k = n.len();
        let mut t = vec![0u32; k + 2];
        for &ai in a {
            let mut carry = 0u64;
            for j in 0..k {
                let sum = u64::from(t[j]) + u64::from(ai) * u64::from(b[j]) + carry;
                t[j] = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(t[k]) + carry;
            t[k] = sum as u32;
            t[k + 1] = (sum >> 32) as u32;

            let m = t[0].wrapping_mul(self.n0_inv);
            let mut carry = (u64::from(t[0]) + u64::from(m) * u64::from(n[0])) >> 32;
            for j in 1..k {
                let sum = u64::from(t[j]) + u64::from(m) * u64::from(n[j]) + carry;
                t[j - 1] = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(t[k]) + carry;
            t[k - 1] = sum as u32;
            t[k] = t[k + 1] + (sum >> 32) as u32;
            t[k + 1] = 0;
        }
        if t[k] != 0 || !less_than(&t[..k], n) {
            subtract_in_place(&mut t[..k], n);
        }
        t.truncate(k);
        t
    }
}

/// The digest algorithm of an RS256/RS384/RS512 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// EMSA-PKCS1-v1_5 (RFC 8017, 9.2): `00 01 FF.. 00 DigestInfo`, `k` bytes, or `None` when
/// the modulus is too short for it.
fn encoded_digest(hash: Hash, message: &[u8], k: usize) -> Option<Vec<u8>> {
    // DER of DigestInfo up to the digest (RFC 8017, 9.2, note 1).
    const SHA256: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    const SHA384: &[u8] = &[
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
    const SHA512: &[u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
    let (prefix, digest) = match hash {
        Hash::Sha256 => (SHA256, Sha256::digest(message).to_vec()),
        Hash::Sha384 => (SHA384, Sha384::digest(message).to_vec()),
        Hash::Sha512 => (SHA512, Sha512::digest(message).to_vec()),
    };
    let t_len = prefix.len() + digest.len();
    let padding = k.checked_sub(t_len + 3).filter(|p| *p >= 8)?;
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(2 + padding, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(&digest);
    Some(em)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Bits of a big-endian number without leading zero bytes.
fn bit_length(be: &[u8]) -> usize {
    match be.first() {
        Some(top) => be.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// Little-endian limbs of a big-endian number, `count` limbs long (it must fit).
fn limbs_from_be(be: &[u8], count: usize) -> Vec<u32> {
    let mut limbs = vec![0u32; count];
    for (i, byte) in be.iter().rev().enumerate() {
        if let Some(limb) = limbs.get_mut(i / 4) {
            *limb |= u32::from(*byte) << (8 * (i % 4));
        }
    }
    limbs
}

/// The big-endian bytes of little-endian limbs, `len` bytes long (high bytes dropped).
fn be_from_limbs(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut be = vec![0u8; len];
    for (i, out) in be.iter_mut().rev().enumerate() {
        *out = limbs.get(i / 4).map_or(0, |l| (l >> (8 * (i % 4))) as u8);
    }
    be
}

/// `-x^-1 mod 2^32` for odd `x` (Newton's iteration doubles the correct bits each step).
fn neg_inverse(x: u32) -> u32 {
    let mut inverse = 1u32;
    for _ in 0..5 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(inverse)));
    }
    inverse.wrapping_neg()
}

/// `a < b` for equal-length little-endian numbers.
fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` (mod 2^(32 len)), equal lengths.
fn subtract_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let diff = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *x = diff as u32;
        borrow = (diff >> 63) & 1;
    }
}

/// `R^2 mod n`: 1 doubled `2 * 32 * limbs` times modulo `n`.
fn r_squared(n: &[u32]) -> Vec<u32> {
    let mut x = vec![0u32; n.len()];
    x[0] = 1;
    for _ in 0..64 * n.len() {
        let mut carry = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry == 1 || !less_than(&x, n) {
            subtract_in_place(&mut x, n);
        }
    }
    x
}

/// The two DER shapes of an RSA public key, read as strictly as the `der` crate reads them:
/// definite minimal lengths, minimal non-negative INTEGERs, nothing left over.
mod der {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const NULL: u8 = 0x05;
    const OID: u8 = 0x06;
    /// 1.2.840.113549.1.1.1 (rsaEncryption).
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// `SubjectPublicKeyInfo { AlgorithmIdentifier { rsaEncryption, NULL }, BIT STRING }`.
    pub(super) fn spki(der: &[u8]) -> Option<(&[u8], &[u8])> {
        let (info, rest) = element(der, SEQUENCE)?;
        if !rest.is_empty() {
            return None;
        }
        let (algorithm, info) = element(info, SEQUENCE)?;
        let (oid, algorithm) = element(algorithm, OID)?;
        let (null, algorithm) = element(algorithm, NULL)?;
        if oid != RSA_ENCRYPTION || !null.is_empty() || !algorithm.is_empty() {
            return None;
        }
        let (bits, info) = element(info, BIT_STRING)?;
        if !info.is_empty() {
            return None;
        }
        match bits.split_first() {
            Some((0, key)) => pkcs1(key),
            _ => None,
        }
    }

    /// `RSAPublicKey { modulus INTEGER, publicExponent INTEGER }`.
    pub(super) fn pkcs1(der: &[u8]) -> Option<(&[u8], &[u8])> {
        let (key, rest) = element(der, SEQUENCE)?;
        let (n, key) = element(key, INTEGER)?;
        let (e, key) = element(key, INTEGER)?;
        if !rest.is_empty() || !key.is_empty() {
            return None;
        }
        Some((unsigned(n)?, unsigned(e)?))
    }

    /// One element with this tag: its contents and what follows it.
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&found, input) = input.split_first()?;
        if found != tag {
            return None;
        }
        let (&first, mut input) = input.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: 1 to 4 length bytes, no leading zero, only for lengths above 127.
            let count = usize::from(first & 0x7f);
            if !(1..=4).contains(&count) || input.len() < count || input[0] == 0 {
                return None;
            }
            let (bytes, rest) = input.split_at(count);
            input = rest;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 {
                return None;
            }
            len
        };
        (input.len() >= len).then(|| input.split_at(len))
    }

    /// The magnitude of a minimal, non-negative DER INTEGER.
    fn unsigned(value: &[u8]) -> Option<&[u8]> {
        match value {
            [] => None,
            [0] => Some(value),
            [0, next, ..] if *next < 0x80 => None,
            [0, rest @ ..] => Some(rest),
            [first, ..] if *first >= 0x80 => None,
            _ => Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montgomery_inverse() {
        for x in [1u32, 3, 0xffff_ffff, 0x1234_5679] {
            assert_eq!(x.wrapping_mul(neg_inverse(x)), u32::MAX);
        }
    }

    #[test]
    fn limbs_round_trip() {
        let be = [0x01, 0x02, 0x03, 0x04, 0x05];
        let limbs = limbs_from_be(&be, 2);
        assert_eq!(limbs, vec![0x0203_0405, 0x01]);
        assert_eq!(be_from_limbs(&limbs, 5), be);
    }

    #[test]
    fn der_lengths_are_minimal() {
        assert_eq!(
            der::pkcs1(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]),
            Some((&[5u8][..], &[3u8][..]))
        );
        // A long-form length for a short element, and an indefinite length.
        assert_eq!(
            der::pkcs1(&[0x30, 0x81, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]),
            None
        );
        assert_eq!(
            der::pkcs1(&[0x30, 0x80, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03, 0, 0]),
            None
        );
        // A needless leading zero, a negative number.
        assert_eq!(
            der::pkcs1(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x03]),
            None
        );
        assert_eq!(
            der::pkcs1(&[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x03]),
            None
        );
    }

    #[test]
    fn small_keys_are_weak_and_bad_numbers_malformed() {
        let mut n = vec![0xffu8; 128];
        n[127] = 0xfd;
        assert_eq!(
            RsaKey::from_components(&n, &[1, 0, 1]).unwrap_err(),
            RsaKeyError::Weak { bits: 1024 }
        );
        let mut even = vec![0xffu8; 256];
        even[255] = 0xfe;
        for (n, e) in [
            (&even[..], &[1u8, 0, 1][..]),
            (&n[..], &[2][..]),
            (&n[..], &[1][..]),
        ] {
            assert_eq!(
                RsaKey::from_components(n, e).unwrap_err(),
                RsaKeyError::Malformed
            );
        }
    }
}
