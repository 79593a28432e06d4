//! One module per resource.

pub mod health;
pub mod metrics;
pub mod sync;
