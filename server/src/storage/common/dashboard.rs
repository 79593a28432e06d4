//! What every backend's [`Dashboard`](crate::storage::Dashboard) does the same way with the
//! rows its GROUP BYs return: figures put together per turf and per person, and doors placed
//! on a map.

use crate::storage::dashboard::{DoorMap, DoorStatus, Figures};
use std::collections::HashMap;

/// Counts `n` voters whose latest support answer is `level` under `key`.
pub(crate) fn add_support(out: &mut HashMap<String, [u64; 5]>, key: String, level: i64, n: i64) {
    if let Some(slot) = out
        .entry(key)
        .or_default()
        .get_mut((level - 1).clamp(0, 4) as usize)
    {
        *slot += n as u64;
    }
}

/// A turf's figures, out of those counted per turf (a turf with no attempt has none).
pub(crate) fn turf_figures(
    turf: &str,
    doors: u64,
    figures: &mut HashMap<String, Figures>,
    support: &mut HashMap<String, [u64; 5]>,
    outcomes: usize,
) -> Figures {
    Figures {
        doors,
        support: support.remove(turf).unwrap_or_default(),
        ..figures.remove(turf).unwrap_or_else(|| Figures {
            outcomes: vec![0; outcomes],
            ..Figures::default()
        })
    }
}

/// Figures per person, by user id, out of those counted per person.
pub(crate) fn person_figures(
    figures: HashMap<String, Figures>,
    mut support: HashMap<String, [u64; 5]>,
) -> Vec<(String, Figures)> {
    let mut out: Vec<(String, Figures)> = figures
        .into_iter()
        .map(|(user, f)| {
            let support = support.remove(&user).unwrap_or_default();
            (user, Figures { support, ..f })
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A [`DoorMap`] put together from the scope's results (each door's status), then its doors.
#[derive(Default)]
pub(crate) struct DoorMapping {
    status: HashMap<String, DoorStatus>,
    map: DoorMap,
    doors: Vec<(f64, f64, DoorStatus)>,
}

impl DoorMapping {
    /// An attempt not voided at a door (`unit`), and whether it reached somebody.
    pub(crate) fn result(&mut self, unit: &str, contact: bool) {
        let st = if contact {
            DoorStatus::Contact
        } else {
            DoorStatus::Knocked
        };
        match self.status.get_mut(unit) {
            Some(seen) => *seen = (*seen).max(st),
            None => {
                self.status.insert(unit.to_owned(), st);
            }
        }
    }

    /// A door of the scope, once every result is in.
    pub(crate) fn door(&mut self, unit: &str, lat: Option<f64>, lon: Option<f64>) {
        let (Some(lat), Some(lon)) = (lat, lon) else {
            self.map.unlocated += 1;
            return;
        };
        let st = self
            .status
            .get(unit)
            .copied()
            .unwrap_or(DoorStatus::NotKnocked);
        self.map.located[st as usize] += 1;
        self.map.bounds = Some(match self.map.bounds {
            None => (lat, lon, lat, lon),
            Some((s, w, n, e)) => (s.min(lat), w.min(lon), n.max(lat), e.max(lon)),
        });
        self.doors.push((lat, lon, st));
    }

    /// The map: the doors one by one up to `max_points`, else in `grid` × `grid` cells.
    pub(crate) fn finish(self, max_points: u64, grid: u32) -> DoorMap {
        let Self { mut map, doors, .. } = self;
        let grid = grid.max(1);
        let Some((s, w, n, e)) = map.bounds else {
            return map;
        };
        if doors.len() as u64 <= max_points {
            map.points = doors;
            return map;
        }
        // Too many to draw one by one: gathered into grid × grid cells.
        map.grid = grid;
        let g = f64::from(grid);
        let (dlat, dlon) = ((n - s).max(1e-9), (e - w).max(1e-9));
        let cell = |v: f64, from: f64, span: f64| (((v - from) / span * g) as u32).min(grid - 1);
        let mut cells: HashMap<(u32, u32), [u64; 3]> = HashMap::new();
        for (lat, lon, st) in doors {
            cells
                .entry((cell(lat, s, dlat), cell(lon, w, dlon)))
                .or_default()[st as usize] += 1;
        }
        map.cells = cells.into_iter().map(|((r, c), n)| (r, c, n)).collect();
        map.cells.sort_unstable_by_key(|(r, c, _)| (*r, *c));
        map
    }
}
