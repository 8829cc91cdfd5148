//! The `cdhooks` npm package's wasm: a thin wasm-bindgen layer over `cdhooks-core`.
//!
//! It holds no logic; it moves bytes and maps errors. To keep a verification free of
//! allocations and copies, JavaScript writes its inputs straight into a [`Scratch`] buffer in
//! wasm memory and passes only lengths; keyed verifiers ([`LegacyKey`], [`StandardKey`]) are
//! objects JavaScript keeps, so a secret is keyed once, not per call.
//!
//! Scratch layout for a call: the inputs one after the other, in the order the call's
//! parameters name them.
//!
//! On wasm the crate is `no_std` with a small allocator and a panic handler that traps:
//! panics cannot happen for inputs the JavaScript layer sends, and leaving out the standard
//! library's panic formatting keeps the module small.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;

use cdhooks_core::legacy::{LegacyVerifier, SIGNATURE_HEX_LEN};
use cdhooks_core::standard::{self, StandardError, StandardVerifier};
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The module's memory, so JavaScript can write into a [`Scratch`] buffer.
#[wasm_bindgen]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
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
}

/// The number JavaScript gets for an error: its position in [`StandardError::ALL`] plus one
/// (0 is success). JavaScript names it from [`error_codes`], so the core is the one list.
fn code(error: StandardError) -> u32 {
    error.index() as u32 + 1
}

/// The core's error codes, space-separated, in the order of the numbers [`StandardKey::verify`]
/// returns (1 is the first).
#[wasm_bindgen]
pub fn error_codes() -> alloc::string::String {
    let mut codes = alloc::string::String::new();
    for error in StandardError::ALL {
        if !codes.is_empty() {
            codes.push(' ');
        }
        codes.push_str(error.code());
    }
    codes
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
        let Some([id, ts, sig, payload]) =
            fields(&scratch.0, [id_len, ts_len, sig_len, payload_len])
        else {
            return code(StandardError::MissingHeader);
        };
        let (Ok(id), Ok(ts), Ok(sig)) = (
            core::str::from_utf8(id),
            core::str::from_utf8(ts),
            core::str::from_utf8(sig),
        ) else {
            return code(StandardError::MalformedSignature);
        };
        match self
            .0
            .verify(id, ts, sig, payload, now as u64, tolerance as u64)
        {
            Ok(_) => 0,
            Err(e) => code(e),
        }
    }

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
