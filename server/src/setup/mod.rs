//! Campaign setup: the files an organizer writes to configure a campaign, read into core's
//! domain types and checked before anything is stored.

pub mod campaign_file;
