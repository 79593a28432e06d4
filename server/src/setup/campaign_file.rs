//! Placeholder until the campaign file lands.
use doorstep_core::domain::Campaign;
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CampaignFileError(String);
/// Placeholder.
pub fn parse_campaign(text: &str) -> Result<Campaign, CampaignFileError> {
    toml::from_str(text).map_err(|e| CampaignFileError(e.to_string()))
}
