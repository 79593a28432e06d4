//! [`crate::storage::Dashboard`] on PostgreSQL.
