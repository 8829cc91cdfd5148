//! The `cdhooks` npm package's wasm: a thin wasm-bindgen layer over `cdhooks-core`.
//!
//! It holds no logic; it moves bytes and maps errors. To keep a verification free of
//! allocations and copies, JavaScript writes its inputs straight into a [`Scratch`] buffer in
//! wasm memory and passes only lengths; keyed verifiers ([`LegacyKey`], [`StandardKey`]) are
//! objects JavaScript keeps, so a secret is keyed once, not per call.
//!
//! It is built twice: the verification module (no features), which every receiver loads and
//! which stays under 20 KB, and the full module (feature `full`: signing, Ed25519 `v1a`), which
//! JavaScript loads only when a call needs it.
//!
//! Scratch layout for a call: the inputs one after the other, in the order the call's
//! parameters name them.
//!
//! JavaScript reaches the memory through the instance's `memory` export (the entry points
//! hand it to the API), not through an export of ours: returning a JavaScript value would
//! pull wasm-bindgen's externref table into the module.
//!
//! On wasm the crate is `no_std` with a small allocator and a panic handler that traps:
//! panics cannot happen for inputs the JavaScript layer sends, and leaving out the standard
//! library's panic formatting keeps the module small.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;

use cdhooks_core::legacy::{LegacyVerifier, SIGNATURE_HEX_LEN};
#[cfg(feature = "full")]
use cdhooks_core::standard;
use cdhooks_core::standard::{StandardError, StandardVerifier};
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// Safety: wasm32-unknown-unknown without the atomics feature runs on one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// A growable buffer in wasm memory that JavaScript writes call inputs into.
#[wasm_bindgen]
pub struct Scratch(Vec<u8>);

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Scratch {
    /// An empty buffer.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Scratch {
        Scratch(Vec::new())
    }

    /// Makes the buffer hold at least `capacity` bytes and returns its address, valid until
    /// the next call that grows it.
    pub fn reserve(&mut self, capacity: usize) -> *const u8 {
        if self.0.len() < capacity {
            self.0.resize(capacity, 0);
        }
        self.0.as_ptr()
    }
}

impl Scratch {
    /// The first `len` bytes (all of them if the buffer is shorter).
    fn get(&self, len: usize) -> &[u8] {
        &self.0[..len.min(self.0.len())]
    }

    /// Copies `bytes` to offset `at`, growing the buffer if needed (never shrinking it: the
    /// length is what JavaScript may write into).
    fn put(&mut self, at: usize, bytes: &[u8]) {
        let end = at + bytes.len();
        if self.0.len() < end {
            self.0.resize(end, 0);
        }
        self.0[at..end].copy_from_slice(bytes);
    }
}

/// The number JavaScript gets for an error: its position in [`StandardError::ALL`] plus one
/// (0 is success). JavaScript names it from [`error_codes`], so the core is the one list.
fn code(error: StandardError) -> u32 {
    error.index() as u32 + 1
}

/// Writes the core's error codes into `scratch`, space-separated, in the order of the numbers
/// [`StandardKey::verify`] returns (1 is the first); returns their length.
///
/// (Written into scratch rather than returned as a string: returning a string would pull
/// wasm-bindgen's string and allocation glue into the module for one call at start-up.)
#[wasm_bindgen]
pub fn error_codes(scratch: &mut Scratch) -> usize {
    let codes = StandardError::CODES.as_bytes();
    scratch.put(0, codes);
    codes.len()
}

/// Splits `lens.len()` consecutive fields off the start of `bytes`.
fn fields<const N: usize>(bytes: &[u8], lens: [usize; N]) -> Option<[&[u8]; N]> {
    let mut rest = bytes;
    let mut out = [&[][..]; N];
    for (slot, len) in out.iter_mut().zip(lens) {
        if rest.len() < len {
            return None;
        }
        let (field, tail) = rest.split_at(len);
        *slot = field;
        rest = tail;
    }
    Some(out)
}

/// The number JavaScript gets for a verification: 0 when it verified, else the error's code.
fn answer(result: Result<u64, StandardError>) -> u32 {
    result.map_or_else(code, |_| 0)
}

/// A delivery's id, timestamp and signature header (UTF-8) and payload, of the given lengths,
/// from the start of scratch.
fn delivery(
    scratch: &Scratch,
    lens: [usize; 4],
) -> Result<(&str, &str, &str, &[u8]), StandardError> {
    let [id, ts, sig, payload] = fields(&scratch.0, lens).ok_or(StandardError::MissingHeader)?;
    match (
        core::str::from_utf8(id),
        core::str::from_utf8(ts),
        core::str::from_utf8(sig),
    ) {
        (Ok(id), Ok(ts), Ok(sig)) => Ok((id, ts, sig, payload)),
        _ => Err(StandardError::MalformedSignature),
    }
}

/// The docs' scheme, keyed once with a secret's bytes.
#[wasm_bindgen]
pub struct LegacyKey(LegacyVerifier);

#[wasm_bindgen]
impl LegacyKey {
    /// Keys with the first `len` scratch bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(scratch: &Scratch, len: usize) -> LegacyKey {
        LegacyKey(LegacyVerifier::new(scratch.get(len)))
    }

    /// Scratch holds `payload_len` payload bytes, then the 64 signature bytes.
    ///
    /// (The signature comes last so that JavaScript can write a string payload and the
    /// signature with one `encodeInto` of their concatenation.)
    pub fn verify(&self, scratch: &Scratch, payload_len: usize) -> bool {
        match fields(&scratch.0, [payload_len, SIGNATURE_HEX_LEN]) {
            Some([payload, signature]) => self.0.verify(payload, signature).is_ok(),
            None => false,
        }
    }
}

/// Standard Webhooks v1, keyed once with a secret (`whsec_…` or raw).
#[wasm_bindgen]
pub struct StandardKey(StandardVerifier);

#[wasm_bindgen]
impl StandardKey {
    /// Keys with the secret in the first `len` scratch bytes (UTF-8); `None` if it is invalid.
    pub fn create(scratch: &Scratch, len: usize) -> Option<StandardKey> {
        let secret = core::str::from_utf8(scratch.get(len)).ok()?;
        StandardVerifier::new(secret).ok().map(StandardKey)
    }

    /// Keys with the raw key bytes in the first `len` scratch bytes; `None` if empty.
    pub fn from_key(scratch: &Scratch, len: usize) -> Option<StandardKey> {
        StandardVerifier::from_key(scratch.get(len))
            .ok()
            .map(StandardKey)
    }

    /// Scratch holds id, timestamp, signature header and payload, of the given lengths.
    /// Returns 0 when verified, or an error code.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        scratch: &Scratch,
        id_len: usize,
        ts_len: usize,
        sig_len: usize,
        payload_len: usize,
        now: f64,
        tolerance: f64,
    ) -> u32 {
        let (id, ts, sig, payload) = match delivery(scratch, [id_len, ts_len, sig_len, payload_len])
        {
            Ok(fields) => fields,
            Err(e) => return code(e),
        };
        answer(
            self.0
                .verify(id, ts, sig, payload, now as u64, tolerance as u64),
        )
    }
}

/// Signing, in the full module only: receivers verify, and the module they load stays small.
#[cfg(feature = "full")]
#[wasm_bindgen]
impl LegacyKey {
    /// Scratch holds `payload_len` payload bytes; the hex signature is written after them.
    pub fn sign(&self, scratch: &mut Scratch, payload_len: usize) -> bool {
        let end = payload_len + SIGNATURE_HEX_LEN;
        if scratch.0.len() < end {
            return false;
        }
        let signature = self.0.sign_hex(&scratch.0[..payload_len]);
        scratch.0[payload_len..end].copy_from_slice(signature.as_str().as_bytes());
        true
    }
}

/// Signing, in the full module only.
#[cfg(feature = "full")]
#[wasm_bindgen]
impl StandardKey {
    /// Scratch holds id and payload; the `v1,<base64>` entry is written after them.
    /// Returns the entry's length, or 0 if the inputs do not fit.
    pub fn sign(
        &self,
        scratch: &mut Scratch,
        id_len: usize,
        timestamp: f64,
        payload_len: usize,
    ) -> u32 {
        let out = id_len + payload_len;
        let end = out + standard::SIGNATURE_HEADER_LEN;
        if scratch.0.len() < end {
            return 0;
        }
        let Ok(id) = core::str::from_utf8(&scratch.0[..id_len]) else {
            return 0;
        };
        let header = self
            .0
            .sign_header(id, timestamp as u64, &scratch.0[id_len..out]);
        scratch.0[out..end].copy_from_slice(header.as_str().as_bytes());
        standard::SIGNATURE_HEADER_LEN as u32
    }
}

#[cfg(feature = "full")]
pub use asymmetric::PublicKey;

/// Standard Webhooks `v1a` (Ed25519), in the full module only.
#[cfg(feature = "full")]
mod asymmetric {
    use cdhooks_core::asymmetric::WebhookPublicKey;
    use wasm_bindgen::prelude::*;

    use alloc::vec::Vec;

    use super::{answer, code, delivery, Scratch, StandardError};

    /// A receiver's Ed25519 public key (`whpk_…`): verifies `v1a` entries.
    #[wasm_bindgen]
    pub struct PublicKey(WebhookPublicKey);

    #[wasm_bindgen]
    impl PublicKey {
        /// Reads the `whpk_…` key in the first `len` scratch bytes; `None` if it is not a
        /// valid, canonical, full-order key.
        pub fn create(scratch: &Scratch, len: usize) -> Option<PublicKey> {
            let text = core::str::from_utf8(scratch.get(len)).ok()?;
            WebhookPublicKey::parse(text).ok().map(PublicKey)
        }

        /// As [`super::StandardKey::verify`], for the `v1a` entries.
        #[allow(clippy::too_many_arguments)]
        pub fn verify(
            &self,
            scratch: &Scratch,
            id_len: usize,
            ts_len: usize,
            sig_len: usize,
            payload_len: usize,
            now: f64,
            tolerance: f64,
        ) -> u32 {
            let (id, ts, sig, payload) =
                match delivery(scratch, [id_len, ts_len, sig_len, payload_len]) {
                    Ok(fields) => fields,
                    Err(e) => return code(e),
                };
            answer(
                self.0
                    .verify(id, ts, sig, payload, now as u64, tolerance as u64),
            )
        }

        /// For a runtime with a native Ed25519: scratch holds id, timestamp and signature
        /// header; checks them as [`PublicKey::verify`] does, and writes after them each `v1a`
        /// signature (64 bytes) that passes the strict checks, for the native verifier to
        /// check the equation of over `{id}.{timestamp}.{payload}`. Returns `count << 4 |
        /// code`: `code` is the answer when none of the `count` signatures verifies.
        pub fn prepare(
            &self,
            scratch: &mut Scratch,
            id_len: usize,
            ts_len: usize,
            sig_len: usize,
            now: f64,
            tolerance: f64,
        ) -> u32 {
            let mut candidates: Vec<[u8; 64]> = Vec::new();
            let answer = {
                let (id, ts, sig, _) = match delivery(scratch, [id_len, ts_len, sig_len, 0]) {
                    Ok(fields) => fields,
                    Err(e) => return code(e),
                };
                self.0
                    .verify_with(id, ts, sig, now as u64, tolerance as u64, |_, signature| {
                        candidates.push(*signature);
                        false
                    })
            };
            let fallback = match answer {
                Ok(_) => StandardError::SignatureMismatch,
                Err(e) => e,
            };
            let start = id_len + ts_len + sig_len;
            for (i, candidate) in candidates.iter().enumerate() {
                scratch.put(start + 64 * i, candidate);
            }
            (candidates.len() as u32) << 4 | code(fallback)
        }

        /// The key's 32 bytes are written to the start of scratch (for a native verifier).
        pub fn write_bytes(&self, scratch: &mut Scratch) {
            scratch.put(0, &self.0.to_bytes());
        }
    }
}
