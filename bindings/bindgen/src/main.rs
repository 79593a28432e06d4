//! Generates the Kotlin, Swift and Python bindings from the built library (library mode).
//! `cargo run -p xtask -- bindings` runs it for all three languages.

fn main() {
    uniffi::uniffi_bindgen_main()
}
