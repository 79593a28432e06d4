//! Replays every input in `tests/fuzz_regressions/` through the sync wire and bundle decoders.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use doorstep_core::bundle::Bundle;
use doorstep_core::sync::wire::{decode_request, decode_response, encode_request, encode_response};
use std::path::{Path, PathBuf};

/// The inputs made by hand before any fuzzing; every one of them must be refused.
const HAND_MADE: &[&str] = &[
    "empty",
    "magic_only",
    "request_huge_length",
    "response_huge_length",
    "deflate_garbage",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions")
}

/// The same checks as `fuzz/fuzz_targets/decode.rs` and `bundle.rs`: keep them in step.
fn check(data: &[u8]) {
    if let Ok(bundle) = Bundle::decode(data) {
        let once = bundle.encode().unwrap();
        assert_eq!(Bundle::decode(&once).unwrap().encode().unwrap(), once);
    }
    if let Ok(request) = decode_request(data) {
        let again = encode_request(&request);
        assert_eq!(decode_request(&again), Ok(request));
    }
    if let Ok(response) = decode_response(data) {
        // NaN coordinates in a roster make values unequal to themselves: compare bytes.
        let once = encode_response(&response);
        let decoded = decode_response(&once).expect("an encoded response decodes");
        assert_eq!(encode_response(&decoded), once);
    }
}

#[test]
fn every_saved_input_decodes_without_panicking() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "README.md" || !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("input {name} panicked (the panic's message is printed above)");
        }
        names.push(name);
    }
    // An emptied directory would make this test pass without checking anything.
    for name in HAND_MADE {
        assert!(names.iter().any(|n| n == name), "{name} is missing");
    }
}

#[test]
fn the_hand_made_inputs_are_refused() {
    for name in HAND_MADE {
        let data = std::fs::read(dir().join(name)).unwrap();
        assert!(
            decode_request(&data).is_err(),
            "{name} decoded as a request"
        );
        assert!(
            decode_response(&data).is_err(),
            "{name} decoded as a response"
        );
    }
}
