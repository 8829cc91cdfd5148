//! Fuzzes the Standard Webhooks header parsers and verifier with arbitrary header values:
//! none may panic, and nothing but the real signature may verify.
#![no_main]

use cdhooks_core::standard::{self, SignatureEntries, StandardVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = standard::parse_timestamp(text);
    let _ = SignatureEntries::new(text).count();
    let verifier = StandardVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let real = verifier.sign_header("msg", 1, b"payload");
    let accepted = verifier.verify("msg", "1", text, b"payload", 1, 300).is_ok();
    assert_eq!(accepted, text.split(' ').any(|entry| entry == real.as_str()));
});
