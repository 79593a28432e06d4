//! Placeholder until the cutting algorithms land.

/// One door to place in a turf.
#[derive(Debug, Clone, PartialEq)]
pub struct Door {
    /// Household id (unique).
    pub household: String,
    /// Building key.
    pub building: String,
    /// Precinct code, if known.
    pub precinct: Option<String>,
    /// Normalized street name without the house number.
    pub street_name: String,
    /// House number.
    pub house_number: Option<u32>,
    /// Unit.
    pub unit: Option<String>,
    /// (latitude, longitude).
    pub location: Option<(f64, f64)>,
}

/// Cuts walk lists.
pub fn cut_walk_lists(doors: Vec<Door>, size: usize) -> Vec<Vec<Door>> {
    doors.chunks(size.max(1)).map(<[Door]>::to_vec).collect()
}
