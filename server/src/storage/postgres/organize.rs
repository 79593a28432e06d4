//! [`crate::storage::Organize`] on PostgreSQL.
