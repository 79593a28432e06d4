//! uniffi bindings over doorstep-core for Kotlin, Swift and Python. The `Phone` object lands with
//! the bindings issue; this crate already builds against core so the workspace stays whole.

pub use doorstep_core::Store;
