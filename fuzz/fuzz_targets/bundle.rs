//! Untrusted bytes through the bundle decoder: it may refuse, never panic, and a bundle it
//! accepts must encode and decode again to the same bytes.
//!
//! `core/tests/wire_regressions.rs` replays every input saved in `core/tests/fuzz_regressions/`
//! through the same checks.

#![no_main]

use doorstep_core::bundle::Bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::decode(data) {
        let once = bundle.encode().expect("a decoded bundle encodes");
        let again = Bundle::decode(&once).expect("an encoded bundle decodes");
        assert_eq!(again.encode().expect("encodes"), once);
    }
});
