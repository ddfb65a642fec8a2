//! `src/auth/rsa.rs` against the `rsa` crate it replaced in the builds: the same keys read
//! (DER, SPKI and PKCS#1, and JWK numbers), the same ones refused, and the same signatures
//! valid, over valid, mutated and random inputs.

use clerk_edge_guard::auth::rsa::{Hash, RsaKey, RsaKeyError};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

#[path = "support/demo_key.rs"]
mod demo_key;

/// A deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the `rsa` crate makes of DER: the (n, e) of a usable key, or refused as weak or
/// malformed (jwt-compact's `StrongKey` took 2048, 3072 and 4096 bits).
fn oracle_der(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), RsaKeyError> {
    let key = RsaPublicKey::from_public_key_der(der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(der))
        .map_err(|_| RsaKeyError::Malformed)?;
    strong(&key)
}

fn oracle_components(n: &[u8], e: &[u8]) -> Result<(Vec<u8>, Vec<u8>), RsaKeyError> {
    let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        .map_err(|_| RsaKeyError::Malformed)?;
    strong(&key)
}

fn strong(key: &RsaPublicKey) -> Result<(Vec<u8>, Vec<u8>), RsaKeyError> {
    let bits = key.n().bits();
    if !matches!(bits, 2048 | 3072 | 4096) {
        return Err(RsaKeyError::Weak { bits });
    }
    Ok((key.n().to_bytes_be(), key.e().to_bytes_be()))
}

fn ours(result: Result<RsaKey, RsaKeyError>) -> Result<(Vec<u8>, Vec<u8>), RsaKeyError> {
    result.map(|key| (key.modulus().to_vec(), key.exponent().to_vec()))
}

/// One random edit: a byte changed, inserted or removed, a cut, or a length byte nudged.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        return vec![rng.next() as u8];
    }
    let at = rng.below(out.len());
    match rng.below(6) {
        0 => out[at] = rng.next() as u8,
        1 => out[at] ^= 1 << rng.below(8),
        2 => out.insert(at, rng.next() as u8),
        3 => {
            out.remove(at);
        }
        4 => out.truncate(at),
        _ => {
            // The header bytes (tags and lengths) sit in the first 40 bytes and at the
            // exponent's end: nudge one of them.
            let at = if rng.below(2) == 0 {
                rng.below(40.min(out.len()))
            } else {
                out.len().saturating_sub(1 + rng.below(6))
            };
            out[at] = out[at].wrapping_add(if rng.below(2) == 0 { 1 } else { 0xff });
        }
    }
    out
}

#[test]
fn der_keys_read_as_the_rsa_crate_reads_them() {
    let (private, _) = demo_key::demo_key_pair();
    let public = private.to_public_key();
    let spki = public.to_public_key_der().unwrap().as_bytes().to_vec();
    let pkcs1 = public.to_pkcs1_der().unwrap().as_bytes().to_vec();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut accepted, mut refused) = (0, 0);
    for original in [&spki, &pkcs1] {
        assert_eq!(ours(RsaKey::from_der(original)), oracle_der(original));
        for round in 0..4000 {
            let mut input = mutate(&mut rng, original);
            if round % 3 == 0 {
                input = mutate(&mut rng, &input);
            }
            let expected = oracle_der(&input);
            assert_eq!(
                ours(RsaKey::from_der(&input)),
                expected,
                "input {input:02x?}"
            );
            if expected.is_ok() {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    // Both kinds of answer were exercised.
    assert!(
        accepted > 500 && refused > 500,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn numbers_read_as_the_rsa_crate_reads_them() {
    let (private, _) = demo_key::demo_key_pair();
    let n = private.n().to_bytes_be();
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let mut exponents: Vec<Vec<u8>> = [
        0u64,
        1,
        2,
        3,
        4,
        65537,
        65536,
        (1 << 33) - 1,
        1 << 33,
        (1 << 33) + 1,
        u64::MAX,
    ]
    .iter()
    .map(|e| e.to_be_bytes().to_vec())
    .collect();
    exponents.push(vec![1; 9]);
    exponents.push(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
    exponents.push(Vec::new());
    let mut moduli = vec![
        n.clone(),
        [vec![0, 0], n.clone()].concat(),
        Vec::new(),
        vec![1],
    ];
    for bits in [1024usize, 2040, 2047, 2048, 2049, 3072, 4096, 4097, 4104] {
        let mut m = rng.bytes(bits.div_ceil(8));
        m[0] &= 0xff >> (8 * m.len() - bits);
        m[0] |= 0x80 >> (8 * m.len() - bits);
        *m.last_mut().unwrap() |= 1;
        moduli.push(m.clone());
        *m.last_mut().unwrap() &= 0xfe;
        moduli.push(m);
    }
    for n in &moduli {
        for e in &exponents {
            assert_eq!(
                ours(RsaKey::from_components(n, e)),
                oracle_components(n, e),
                "n {} bytes, e {e:02x?}",
                n.len()
            );
        }
    }
    // An exponent as large as the modulus.
    let e = n.clone();
    assert_eq!(
        ours(RsaKey::from_components(&n, &e)),
        oracle_components(&n, &e)
    );
}

fn digest(hash: Hash, message: &[u8]) -> (Pkcs1v15Sign, Vec<u8>) {
    match hash {
        Hash::Sha256 => (
            Pkcs1v15Sign::new::<Sha256>(),
            Sha256::digest(message).to_vec(),
        ),
        Hash::Sha384 => (
            Pkcs1v15Sign::new::<Sha384>(),
            Sha384::digest(message).to_vec(),
        ),
        Hash::Sha512 => (
            Pkcs1v15Sign::new::<Sha512>(),
            Sha512::digest(message).to_vec(),
        ),
    }
}

#[test]
fn signatures_verify_as_the_rsa_crate_verifies_them() {
    let (private, _) = demo_key::demo_key_pair();
    let public = private.to_public_key();
    let key = RsaKey::from_der(public.to_public_key_der().unwrap().as_bytes()).unwrap();
    let n = public.n().to_bytes_be();
    let mut rng = Rng(0x5eed_1234_abcd_0003);
    let (mut valid, mut invalid) = (0, 0);
    for round in 0..150 {
        let hash = [Hash::Sha256, Hash::Sha384, Hash::Sha512][round % 3];
        let len = rng.below(300);
        let message = rng.bytes(len);
        let (scheme, hashed) = digest(hash, &message);
        let good = private.sign(scheme.clone(), &hashed).unwrap();
        let mut candidates = vec![
            good.clone(),
            mutate(&mut rng, &good),
            n.clone(),
            rng.bytes(n.len()),
        ];
        let mut above = n.clone();
        *above.last_mut().unwrap() = above.last().unwrap().wrapping_add(1);
        candidates.push(above);
        candidates.push([vec![0], good.clone()].concat());
        for signature in candidates {
            let expected = public.verify(scheme.clone(), &hashed, &signature).is_ok();
            assert_eq!(
                key.verify_pkcs1v15(hash, &message, &signature),
                expected,
                "round {round}"
            );
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        // The right signature for another message, or another digest.
        let other = [Hash::Sha256, Hash::Sha384, Hash::Sha512][(round + 1) % 3];
        assert!(!key.verify_pkcs1v15(other, &message, &good));
        assert!(!key.verify_pkcs1v15(hash, b"another message", &good));
    }
    assert!(
        valid >= 150 && invalid > 600,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn larger_keys_verify() {
    let mut rng = rand_core::OsRng;
    let private = RsaPrivateKey::new(&mut rng, 3072).expect("3072-bit key generation");
    let public = private.to_public_key();
    let key =
        RsaKey::from_components(&public.n().to_bytes_be(), &public.e().to_bytes_be()).unwrap();
    for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
        let (scheme, hashed) = digest(hash, b"header.payload");
        let signature = private.sign(scheme, &hashed).unwrap();
        assert!(key.verify_pkcs1v15(hash, b"header.payload", &signature));
        assert!(!key.verify_pkcs1v15(hash, b"header.payloae", &signature));
    }
}
