//! Untrusted bytes through the sync wire decoders: they may refuse, never panic, and a request
//! they accept must survive a round trip unchanged.
//!
//! Keep `core/tests/wire_regressions.rs` doing the same checks: it replays every input saved in
//! `core/tests/fuzz_regressions/`.

#![no_main]

use doorstep_core::sync::wire::{decode_request, decode_response, encode_request, encode_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode_request(data) {
        let again = encode_request(&request);
        assert_eq!(decode_request(&again), Ok(request));
    }
    if let Ok(response) = decode_response(data) {
        // A roster may hold NaN coordinates, and NaN != NaN: compare the bytes of two encodings
        // instead of the values.
        let once = encode_response(&response);
        let decoded = decode_response(&once).expect("an encoded response decodes");
        assert_eq!(encode_response(&decoded), once);
    }
});
