//! Cutting walk lists (turfs) of about `size` doors out of an imported voter file.
//!
//! [`cut_walk_lists`] is pure: doors in, turfs out, each turf in walk order. The same doors in any
//! order give the same turfs: the doors are first sorted by a total key (building, unit, household
//! id, then every other field).
//!
//! # Buildings
//! Doors sharing a [`Door::building`] key form one building. A building is never split: its doors
//! end up consecutive in one turf, ordered by unit in natural order ("2" before "10", no unit
//! first), then by household id. A building's precinct, street and house number are those of its
//! first door in that order (the doors of one building are expected to agree). A building with
//! more than `size` doors is a turf of its own.
//!
//! # Which way a building goes
//! A building with at least one geocoded door goes the geographic way, at the mean position of its
//! geocoded doors; a building with none goes the paper way. A location that is not finite or out of
//! range (|latitude| > 90, |longitude| > 180) counts as missing. The output holds the geographic
//! turfs first, then the paper ones; no turf mixes the two.
//!
//! # The paper way (no coordinates)
//! As paper walk lists are made: buildings are grouped by precinct (known precincts in order,
//! unknown last; a turf never spans two precincts), then by street name, then by side (odd house
//! numbers, then even, then buildings without a number), then by house number: up the odd side
//! ascending and back down the even side descending, a loop that never crosses the street back and
//! forth. Buildings without a number are walked last, by building key. A street side is a
//! *segment*. Each precinct is filled on its own, in walk order, into turfs as follows:
//!
//! 1. A building with more than `size` doors becomes its own turf; the open turf goes on past it.
//! 2. Before a segment starts, the open turf is closed if it holds at least two thirds of `size`
//!    (`3·filled ≥ 2·size`) and the whole segment would not fit (`filled + segment > size`): a turf
//!    breaks at a street or side rather than in the middle of one.
//! 3. A building of `k` doors that would take a non-empty open turf of `filled` doors past `size`
//!    goes in only if that lands nearer to `size` (`filled + k − size < size − filled`); otherwise
//!    the open turf is closed first. A turf is closed as soon as it holds `size` doors or more. So a
//!    turf holds at most `size − 1 + k` doors, `k` its last building, and every turf but the last of
//!    a precinct holds at least half of `size`.
//! 4. The precinct's last turf, if it holds fewer than a third of `size` (`3·last < size`) and is
//!    not the only one, joins the one before it when the two together hold at most one and a half
//!    times `size` (`2·(prev + last) ≤ 3·size`). Otherwise the two are cut again at the building
//!    boundary that makes them most even, if both halves then hold at least half of `size`;
//!    otherwise they stay as they are.
//!
//! Turfs of one precinct come out in walk order (by their first building).
//!
//! # The geographic way (coordinates)
//! Precincts are ignored: turfs are compact clusters on the map. Positions are projected with the
//! longitude scaled by the cosine of the mean latitude, so that distances are true. Buildings of
//! more than `size` doors are turfs of their own (after the clusters). The others are cut by
//! recursive bisection into `ceil(doors / size)` turfs: a set meant for `t` turfs is sorted along
//! the longer side of its bounding box and cut into parts meant for `⌊t/2⌋` and `⌈t/2⌉` turfs,
//! neither with more than `size` doors per turf. The first part takes the stops in that order up
//! to its proportional share of the doors, rounded; a building that would overshoot the share is
//! left to the other part while smaller ones just past it are taken, at most [`RAGGED_SKIPS`]
//! times (a slightly ragged cut, so that the share is met exactly when houses allow it). If that
//! fails, the straight cut between two buildings nearest the share is taken among those that
//! qualify; if none does (buildings too coarse), the set is meant for one turf more. So every
//! cluster holds at most `size` doors and clusters are balanced (each near `doors / turfs`, up to
//! the coarseness of buildings).
//!
//! Within a cluster, a building is one stop. The walk starts at the stop nearest the south-west
//! corner of the cluster, goes to the nearest unvisited stop each time, and is then improved by
//! 2-opt on the open path (reversing a stretch whenever that shortens the walk) until no reversal
//! helps or [`MAX_TWO_OPT_PASSES`] passes are done; a walk at a 2-opt optimum never crosses itself.
//! It is finally turned so that it starts at the end nearer the south-west corner. A cluster of more
//! than [`FULL_TOUR_STOPS`] stops (only when `size` is that large) starts from the stops' order
//! along a Hilbert curve instead, and 2-opt only reverses stretches of up to [`TWO_OPT_WINDOW`]
//! stops, to stay near-linear.

use std::cmp::Ordering;
use std::ops::Range;

/// Mean radius of the Earth, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The most stops a geographic turf may have for a full nearest-neighbour tour and 2-opt
/// (quadratic in the number of stops); larger turfs get a Hilbert-curve tour and windowed 2-opt.
pub const FULL_TOUR_STOPS: usize = 300;

/// The most 2-opt passes over a turf's walk.
pub const MAX_TWO_OPT_PASSES: usize = 200;

/// The longest stretch of stops that 2-opt reverses in a turf of more than [`FULL_TOUR_STOPS`]
/// stops.
pub const TWO_OPT_WINDOW: usize = 48;

/// Passes of windowed 2-opt over a turf of more than [`FULL_TOUR_STOPS`] stops.
const WINDOWED_PASSES: usize = 16;

/// The most buildings a geographic cut leaves to the other side while it takes smaller ones just
/// past them to reach its share of doors.
pub const RAGGED_SKIPS: usize = 16;

/// The least shortening, in metres, for which 2-opt reverses a stretch (rounding noise aside).
const MIN_GAIN_M: f64 = 1e-6;

/// One door to place in a turf.
#[derive(Debug, Clone, PartialEq)]
pub struct Door {
    /// Household id (unique).
    pub household: String,
    /// Building key: doors (apartment units) of one building share it; a building's doors always
    /// stay in one turf.
    pub building: String,
    /// Precinct code, if known.
    pub precinct: Option<String>,
    /// Normalized street name without the house number, e.g. "MAIN ST".
    pub street_name: String,
    /// House number, if the address starts with one.
    pub house_number: Option<u32>,
    /// Unit (apartment), if any.
    pub unit: Option<String>,
    /// (latitude, longitude), if geocoded.
    pub location: Option<(f64, f64)>,
}

/// Cuts `doors` into turfs of about `size` doors, each in walk order, as the module documentation
/// describes. A `size` of 0 counts as 1; one above the number of doors as that number.
pub fn cut_walk_lists(doors: Vec<Door>, size: usize) -> Vec<Vec<Door>> {
    // A size beyond the number of doors cuts exactly like the number of doors, and keeps the
    // arithmetic below far from overflow.
    let size = size.clamp(1, doors.len().max(1));
    let (located, unlocated): (Vec<Building>, Vec<Building>) =
        buildings(doors).into_iter().partition(|b| b.at.is_some());
    let mut turfs = geographic(located, size);
    turfs.extend(paper(unlocated, size));
    turfs
}

/// Length of the walk through `turf` in order, in metres (equirectangular approximation per step;
/// doors without a valid location are skipped).
pub fn path_length(turf: &[Door]) -> f64 {
    let points: Vec<(f64, f64)> = turf.iter().filter_map(|d| valid(d.location)).collect();
    points.windows(2).map(|w| metres(w[0], w[1])).sum()
}

/// Number of pairs of non-adjacent steps of the walk through `turf` that properly cross (touching
/// or overlapping on a line does not count; doors without a valid location are skipped).
/// Quadratic in the length of the turf.
pub fn crossings(turf: &[Door]) -> usize {
    let points = project(
        &turf
            .iter()
            .filter_map(|d| valid(d.location))
            .collect::<Vec<_>>(),
    );
    let steps: Vec<((f64, f64), (f64, f64))> = points.windows(2).map(|w| (w[0], w[1])).collect();
    let mut count = 0;
    for (i, &(a, b)) in steps.iter().enumerate() {
        for &(c, d) in steps.iter().skip(i + 2) {
            if properly_cross(a, b, c, d) {
                count += 1;
            }
        }
    }
    count
}

/// Mean distance, in metres, from the geocoded doors of `turf` to their centroid: how compact the
/// turf is (0 if none is geocoded).
pub fn mean_distance_to_centroid(turf: &[Door]) -> f64 {
    let points = project(
        &turf
            .iter()
            .filter_map(|d| valid(d.location))
            .collect::<Vec<_>>(),
    );
    if points.is_empty() {
        return 0.0;
    }
    let n = points.len() as f64;
    let cx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let cy = points.iter().map(|p| p.1).sum::<f64>() / n;
    points
        .iter()
        .map(|p| (p.0 - cx).hypot(p.1 - cy))
        .sum::<f64>()
        / n
}

/// The doors of one building, in unit order; never empty.
struct Building {
    doors: Vec<Door>,
    /// Mean (latitude, longitude) of the doors with a valid location, if any.
    at: Option<(f64, f64)>,
}

impl Building {
    /// The door that speaks for the building (precinct, street, number).
    fn head(&self) -> &Door {
        &self.doors[0]
    }
}

/// Groups doors into buildings, in building-key order.
fn buildings(mut doors: Vec<Door>) -> Vec<Building> {
    doors.sort_unstable_by(door_order);
    let mut out: Vec<Building> = Vec::new();
    for door in doors {
        match out.last_mut() {
            Some(b) if b.head().building == door.building => b.doors.push(door),
            _ => out.push(Building {
                doors: vec![door],
                at: None,
            }),
        }
    }
    for b in &mut out {
        let located: Vec<(f64, f64)> = b.doors.iter().filter_map(|d| valid(d.location)).collect();
        b.at = match located.as_slice() {
            [] => None,
            // The usual case, kept exact: all doors of a building at one point.
            [first, rest @ ..] if rest.iter().all(|p| p == first) => Some(*first),
            _ => {
                let n = located.len() as f64;
                Some((
                    located.iter().map(|p| p.0).sum::<f64>() / n,
                    located.iter().map(|p| p.1).sum::<f64>() / n,
                ))
            }
        };
    }
    out
}

/// A total order on doors: building, unit (natural), household, then every other field.
fn door_order(a: &Door, b: &Door) -> Ordering {
    a.building
        .cmp(&b.building)
        .then_with(|| unit_order(&a.unit, &b.unit))
        .then_with(|| a.household.cmp(&b.household))
        .then_with(|| a.precinct.cmp(&b.precinct))
        .then_with(|| a.street_name.cmp(&b.street_name))
        .then_with(|| a.house_number.cmp(&b.house_number))
        .then_with(|| match (a.location, b.location) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(p), Some(q)) => p.0.total_cmp(&q.0).then(p.1.total_cmp(&q.1)),
        })
}

/// No unit first, then units in natural order.
fn unit_order(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => natural_cmp(a, b),
    }
}

/// Natural order: runs of digits compare as numbers and before letters ("2" < "10" < "A"); ties
/// (such as "02" and "2") fall back to plain string order, so the order is total.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return a.cmp(b),
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let (cx, rx, x_digits) = chunk(x);
        let (cy, ry, y_digits) = chunk(y);
        let order = match (x_digits, y_digits) {
            (true, true) => {
                let (tx, ty) = (cx.trim_start_matches('0'), cy.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => cx.cmp(cy),
        };
        if order != Ordering::Equal {
            return order;
        }
        (x, y) = (rx, ry);
    }
}

/// Splits a non-empty string after its leading run of digits or of non-digits.
fn chunk(s: &str) -> (&str, &str, bool) {
    let digits = s.bytes().next().is_some_and(|c| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    let (head, rest) = s.split_at(end);
    (head, rest, digits)
}

/// A location if it is one.
fn valid(location: Option<(f64, f64)>) -> Option<(f64, f64)> {
    location.filter(|&(lat, lon)| {
        lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
    })
}

/// Distance in metres between two (latitude, longitude), equirectangular.
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let mut dlon = b.1 - a.1;
    if dlon > 180.0 {
        dlon -= 360.0;
    } else if dlon < -180.0 {
        dlon += 360.0;
    }
    let x = dlon.to_radians() * ((a.0 + b.0) / 2.0).to_radians().cos();
    let y = (b.0 - a.0).to_radians();
    EARTH_RADIUS_M * x.hypot(y)
}

/// (latitude, longitude) to planar metres (x east, y north), scaled at the points' mean latitude.
fn project(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.is_empty() {
        return Vec::new();
    }
    let lat0 = points.iter().map(|p| p.0).sum::<f64>() / points.len() as f64;
    let scale = lat0.to_radians().cos();
    points
        .iter()
        .map(|&(lat, lon)| {
            (
                EARTH_RADIUS_M * lon.to_radians() * scale,
                EARTH_RADIUS_M * lat.to_radians(),
            )
        })
        .collect()
}

/// Twice the signed area of the triangle a, b, c.
fn orient(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

/// Whether the segments a–b and c–d cross at a point inside both.
fn properly_cross(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> bool {
    let opposite = |p: f64, q: f64| (p > 0.0 && q < 0.0) || (p < 0.0 && q > 0.0);
    opposite(orient(a, b, c), orient(a, b, d)) && opposite(orient(c, d, a), orient(c, d, b))
}

// ---------------------------------------------------------------------------------------------
// The paper way.

/// Street side: odd numbers, even numbers, no number.
fn side(door: &Door) -> u8 {
    match door.house_number {
        Some(n) if n % 2 == 1 => 0,
        Some(_) => 1,
        None => 2,
    }
}

/// Paper walk order of buildings, by their head doors: precinct (unknown last), street, side,
/// number (up the odd side, down the even side), building key.
fn walk_order(a: &Door, b: &Door) -> Ordering {
    let precinct = match (&a.precinct, &b.precinct) {
        (Some(p), Some(q)) => p.cmp(q),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    precinct
        .then_with(|| a.street_name.cmp(&b.street_name))
        .then_with(|| side(a).cmp(&side(b)))
        .then_with(|| match side(a) {
            0 => a.house_number.cmp(&b.house_number),
            1 => b.house_number.cmp(&a.house_number),
            _ => Ordering::Equal,
        })
        .then_with(|| a.building.cmp(&b.building))
}

/// Turfs of buildings without coordinates.
fn paper(mut buildings: Vec<Building>, size: usize) -> Vec<Vec<Door>> {
    buildings.sort_by(|a, b| walk_order(a.head(), b.head()));
    let mut turf_of = vec![0; buildings.len()];
    let mut turfs = 0;
    let mut start = 0;
    while start < buildings.len() {
        let precinct = &buildings[start].head().precinct;
        let len = buildings[start..]
            .iter()
            .position(|b| &b.head().precinct != precinct)
            .unwrap_or(buildings.len() - start);
        let precinct = &buildings[start..start + len];
        let counts: Vec<usize> = precinct.iter().map(|b| b.doors.len()).collect();
        let mut segments: Vec<Range<usize>> = Vec::new();
        for (i, b) in precinct.iter().enumerate() {
            match segments.last_mut() {
                Some(s)
                    if precinct[s.start].head().street_name == b.head().street_name
                        && side(precinct[s.start].head()) == side(b.head()) =>
                {
                    s.end = i + 1;
                }
                _ => segments.push(i..i + 1),
            }
        }
        let cut = fill(&counts, &segments, size);
        for (t, members) in cut.iter().enumerate() {
            for &i in members {
                turf_of[start + i] = turfs + t;
            }
        }
        turfs += cut.len();
        start += len;
    }
    let mut out: Vec<Vec<Door>> = (0..turfs).map(|_| Vec::new()).collect();
    for (b, t) in buildings.into_iter().zip(turf_of) {
        out[t].extend(b.doors);
    }
    out
}

/// Cuts one precinct's buildings (`counts[i]` doors each, in walk order, `segments` its street
/// sides) into turfs of building indices, by the rules of the module documentation; the turfs come
/// in order of their first building.
fn fill(counts: &[usize], segments: &[Range<usize>], size: usize) -> Vec<Vec<usize>> {
    let mut turfs: Vec<Vec<usize>> = Vec::new();
    let mut alone: Vec<Vec<usize>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut filled = 0;
    for segment in segments {
        let ahead: usize = counts[segment.clone()].iter().filter(|&&k| k <= size).sum();
        if filled * 3 >= size * 2 && filled + ahead > size {
            turfs.push(std::mem::take(&mut open));
            filled = 0;
        }
        for i in segment.clone() {
            let k = counts[i];
            if k > size {
                alone.push(vec![i]);
                continue;
            }
            if filled > 0 && filled + k > size && filled + k - size >= size - filled {
                turfs.push(std::mem::take(&mut open));
                filled = 0;
            }
            open.push(i);
            filled += k;
            if filled >= size {
                turfs.push(std::mem::take(&mut open));
                filled = 0;
            }
        }
    }
    if !open.is_empty() {
        turfs.push(open);
    }
    settle_last(&mut turfs, counts, size);
    turfs.extend(alone);
    turfs.sort_by_key(|t| t.first().copied());
    turfs
}

/// Rule 4: a last turf under a third of `size` joins the one before, or the two are evened out.
fn settle_last(turfs: &mut Vec<Vec<usize>>, counts: &[usize], size: usize) {
    let doors = |t: &[usize]| t.iter().map(|&i| counts[i]).sum::<usize>();
    let n = turfs.len();
    if n < 2 {
        return;
    }
    let (prev, tail) = (doors(&turfs[n - 2]), doors(&turfs[n - 1]));
    if tail * 3 >= size {
        return;
    }
    if (prev + tail) * 2 <= size * 3 {
        if let Some(last) = turfs.pop()
            && let Some(before) = turfs.last_mut()
        {
            before.extend(last);
        }
        return;
    }
    let both: Vec<usize> = turfs[n - 2].iter().chain(&turfs[n - 1]).copied().collect();
    let total = prev + tail;
    let mut best: Option<(usize, usize, usize)> = None; // (|a − b|, cut, smaller half)
    let mut a = 0;
    for (j, &i) in both.iter().enumerate().take(both.len() - 1) {
        a += counts[i];
        let b = total - a;
        if best.is_none_or(|(miss, _, _)| a.abs_diff(b) < miss) {
            best = Some((a.abs_diff(b), j + 1, a.min(b)));
        }
    }
    if let Some((_, cut, smaller)) = best
        && smaller * 2 >= size
    {
        turfs[n - 2] = both[..cut].to_vec();
        turfs[n - 1] = both[cut..].to_vec();
    }
}

// ---------------------------------------------------------------------------------------------
// The geographic way.

/// A building as a point to cluster.
#[derive(Clone, Copy)]
struct Stop {
    /// Planar position (longitude scaled by the cosine of the mean latitude, latitude).
    x: f64,
    y: f64,
    /// (latitude, longitude).
    at: (f64, f64),
    doors: usize,
    building: usize,
}

/// Turfs of geocoded buildings (every one has `at`).
fn geographic(buildings: Vec<Building>, size: usize) -> Vec<Vec<Door>> {
    let positions: Vec<(f64, f64)> = buildings.iter().filter_map(|b| b.at).collect();
    if positions.is_empty() {
        return Vec::new();
    }
    let lat0 = positions.iter().map(|p| p.0).sum::<f64>() / positions.len() as f64;
    let scale = lat0.to_radians().cos();
    let mut stops: Vec<Stop> = Vec::new();
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut alone: Vec<Vec<usize>> = Vec::new();
    for (i, b) in buildings.iter().enumerate() {
        let Some(at) = b.at else { continue };
        if b.doors.len() > size {
            alone.push(vec![i]);
        } else {
            stops.push(Stop {
                x: at.1 * scale,
                y: at.0,
                at,
                doors: b.doors.len(),
                building: i,
            });
        }
    }
    for range in bisect(&mut stops, size) {
        clusters.push(tour(&stops[range]));
    }
    clusters.extend(alone);
    let mut slots: Vec<Option<Building>> = buildings.into_iter().map(Some).collect();
    clusters
        .into_iter()
        .map(|c| {
            c.into_iter()
                .filter_map(|i| slots[i].take())
                .flat_map(|b| b.doors)
                .collect()
        })
        .collect()
}

/// Cuts `stops` (reordered in place) into clusters of at most `size` doors, returned as ranges of
/// `stops` in bisection order.
fn bisect(stops: &mut [Stop], size: usize) -> Vec<Range<usize>> {
    let total: usize = stops.iter().map(|s| s.doors).sum();
    let mut leaves = Vec::new();
    let mut work = vec![(0..stops.len(), total.div_ceil(size))];
    while let Some((range, mut turfs)) = work.pop() {
        let part = &mut stops[range.clone()];
        if part.is_empty() {
            continue;
        }
        if turfs <= 1 || part.len() == 1 {
            leaves.push(range);
            continue;
        }
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for s in part.iter() {
            (x0, x1, y0, y1) = (x0.min(s.x), x1.max(s.x), y0.min(s.y), y1.max(s.y));
        }
        if x1 - x0 >= y1 - y0 {
            part.sort_unstable_by(|a, b| {
                a.x.total_cmp(&b.x)
                    .then(a.y.total_cmp(&b.y))
                    .then(a.building.cmp(&b.building))
            });
        } else {
            part.sort_unstable_by(|a, b| {
                a.y.total_cmp(&b.y)
                    .then(a.x.total_cmp(&b.x))
                    .then(a.building.cmp(&b.building))
            });
        }
        let doors: usize = part.iter().map(|s| s.doors).sum();
        // Terminates: once both halves are meant for `doors / size` turfs or more, every
        // contiguous cut qualifies.
        let cut = loop {
            let (left, right) = (turfs / 2, turfs - turfs / 2);
            if let Some(cut) = ragged_cut(part, doors, left, right, size) {
                break cut;
            }
            if let Some(cut) = best_cut(part, doors, left, right, size) {
                break cut;
            }
            turfs += 1;
        };
        // Pushed right first so that the left half comes out first.
        work.push((range.start + cut..range.end, turfs - turfs / 2));
        work.push((range.start..range.start + cut, turfs / 2));
    }
    leaves
}

/// Cuts `part` (sorted along the axis) to give the first `left` turfs the proportional share of
/// `doors`, with no more than `size` doors per turf on either side: takes stops in order, skipping
/// (leaving to the other side) a building that would overshoot to take smaller ones just past it,
/// at most [`RAGGED_SKIPS`] of them. Reorders `part` so that the taken stops come first (each side
/// in axis order) and returns how many were taken; `None`, with `part` untouched, if the share
/// cannot be reached that way.
fn ragged_cut(
    part: &mut [Stop],
    doors: usize,
    left: usize,
    right: usize,
    size: usize,
) -> Option<usize> {
    let lo = doors.saturating_sub(right.saturating_mul(size)).max(1);
    let hi = left.saturating_mul(size);
    let turfs = (left + right) as u128;
    let share = (2 * doors as u128 * left as u128 + turfs) / (2 * turfs);
    let target = usize::try_from(share).ok()?.clamp(lo, hi.max(lo));
    let mut taken = Vec::new();
    let mut skipped = 0;
    let mut a = 0;
    for (i, s) in part.iter().enumerate() {
        if a >= target {
            break;
        }
        let k = s.doors;
        if a + k <= hi && (a + k <= target || a + k - target < target - a) {
            taken.push(i);
            a += k;
        } else {
            skipped += 1;
            if skipped > RAGGED_SKIPS {
                break;
            }
        }
    }
    if a < lo || a > hi || taken.is_empty() || taken.len() == part.len() {
        return None;
    }
    let mut is_taken = vec![false; part.len()];
    for &i in &taken {
        is_taken[i] = true;
    }
    let reordered: Vec<Stop> = taken
        .iter()
        .map(|&i| part[i])
        .chain(part.iter().zip(&is_taken).filter(|p| !*p.1).map(|p| *p.0))
        .collect();
    part.copy_from_slice(&reordered);
    Some(taken.len())
}

/// The cut (a number of leading stops, never 0 nor all) that leaves at most `size` doors per turf
/// on both sides, nearest to the proportional split of `doors`; `None` if none qualifies.
fn best_cut(part: &[Stop], doors: usize, left: usize, right: usize, size: usize) -> Option<usize> {
    let lo = doors.saturating_sub(right.saturating_mul(size));
    let hi = left.saturating_mul(size);
    let turfs = (left + right) as u128;
    let target = doors as u128 * left as u128;
    let mut best: Option<(u128, usize)> = None;
    let mut a = 0;
    for (j, s) in part.iter().enumerate().take(part.len() - 1) {
        a += s.doors;
        if a < lo {
            continue;
        }
        if a > hi {
            break;
        }
        let miss = (a as u128 * turfs).abs_diff(target);
        if best.is_none_or(|(m, _)| miss < m) {
            best = Some((miss, j + 1));
        }
    }
    best.map(|(_, cut)| cut)
}

/// The walk through one cluster: its buildings in order.
fn tour(stops: &[Stop]) -> Vec<usize> {
    let points = project(&stops.iter().map(|s| s.at).collect::<Vec<_>>());
    let m = points.len();
    let corner = points
        .iter()
        .fold((f64::MAX, f64::MAX), |c, p| (c.0.min(p.0), c.1.min(p.1)));
    let dist = |i: usize, j: usize| {
        let (p, q) = (points[i], points[j]);
        (p.0 - q.0).hypot(p.1 - q.1)
    };
    let to_corner = |i: usize| (points[i].0 - corner.0).hypot(points[i].1 - corner.1);
    let mut order: Vec<usize>;
    if m <= FULL_TOUR_STOPS {
        let mut matrix = vec![0.0; m * m];
        for i in 0..m {
            for j in i + 1..m {
                let d = dist(i, j);
                matrix[i * m + j] = d;
                matrix[j * m + i] = d;
            }
        }
        let d = |i: usize, j: usize| matrix[i * m + j];
        let start = (0..m)
            .min_by(|&i, &j| to_corner(i).total_cmp(&to_corner(j)))
            .unwrap_or(0);
        order = nearest_neighbour(m, start, d);
        two_opt(&mut order, d, m, MAX_TWO_OPT_PASSES);
    } else {
        order = (0..m).collect();
        let (x1, y1) = points
            .iter()
            .fold((f64::MIN, f64::MIN), |c, p| (c.0.max(p.0), c.1.max(p.1)));
        let span = (x1 - corner.0).max(y1 - corner.1).max(f64::MIN_POSITIVE);
        let cell = |v: f64, lo: f64| (((v - lo) / span) * 65_535.0) as u32;
        let keys: Vec<u64> = points
            .iter()
            .map(|p| hilbert(cell(p.0, corner.0), cell(p.1, corner.1)))
            .collect();
        order.sort_by_key(|&i| (keys[i], i));
        two_opt(&mut order, dist, TWO_OPT_WINDOW, WINDOWED_PASSES);
    }
    if let (Some(&first), Some(&last)) = (order.first(), order.last())
        && to_corner(last) < to_corner(first)
    {
        order.reverse();
    }
    order.into_iter().map(|i| stops[i].building).collect()
}

/// A walk through `m` stops from `start`, always to the nearest unvisited stop.
fn nearest_neighbour(m: usize, start: usize, dist: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    let mut visited = vec![false; m];
    let mut order = Vec::with_capacity(m);
    let mut at = start;
    visited[at] = true;
    order.push(at);
    for _ in 1..m {
        let mut best: Option<(f64, usize)> = None;
        for (j, &seen) in visited.iter().enumerate() {
            if !seen {
                let d = dist(at, j);
                if best.is_none_or(|(b, _)| d < b) {
                    best = Some((d, j));
                }
            }
        }
        let Some((_, next)) = best else { break };
        visited[next] = true;
        order.push(next);
        at = next;
    }
    order
}

/// 2-opt on an open path: reverses `order[i..=j]` (`j − i < window`) whenever that shortens the
/// walk, for at most `passes` passes or until a pass changes nothing.
fn two_opt(order: &mut [usize], dist: impl Fn(usize, usize) -> f64, window: usize, passes: usize) {
    let m = order.len();
    if m < 3 {
        return;
    }
    for _ in 0..passes {
        let mut improved = false;
        for i in 0..m - 1 {
            for j in i + 1..(i + window).min(m) {
                if i == 0 && j == m - 1 {
                    continue;
                }
                let (first, last) = (order[i], order[j]);
                let mut gain = 0.0;
                if i > 0 {
                    let before = order[i - 1];
                    gain += dist(before, first) - dist(before, last);
                }
                if j + 1 < m {
                    let after = order[j + 1];
                    gain += dist(last, after) - dist(first, after);
                }
                if gain > MIN_GAIN_M {
                    order[i..=j].reverse();
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Position of the cell (x, y) of a 65,536 × 65,536 grid along a Hilbert curve.
fn hilbert(mut x: u32, mut y: u32) -> u64 {
    const N: u32 = 1 << 16;
    let mut d = 0u64;
    let mut s = N / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = N - 1 - x;
                y = N - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};
    use std::collections::{HashMap, HashSet};

    /// A seed from `DOORSTEP_SEED`, or a fresh one; printed so a failure can be replayed.
    fn seed(test: &str) -> u64 {
        let seed = std::env::var("DOORSTEP_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        eprintln!("{test}: seed {seed} (replay with DOORSTEP_SEED={seed})");
        seed
    }

    /// A door without coordinates.
    fn door(
        household: &str,
        building: &str,
        precinct: Option<&str>,
        street: &str,
        number: Option<u32>,
        unit: Option<&str>,
    ) -> Door {
        Door {
            household: household.into(),
            building: building.into(),
            precinct: precinct.map(Into::into),
            street_name: street.into(),
            house_number: number,
            unit: unit.map(Into::into),
            location: None,
        }
    }

    /// One single-door house per number on a street of a precinct, households "STREET-n".
    fn houses(precinct: &str, street: &str, numbers: impl IntoIterator<Item = u32>) -> Vec<Door> {
        numbers
            .into_iter()
            .map(|n| {
                let id = format!("{street}-{n}");
                door(&id, &id, Some(precinct), street, Some(n), None)
            })
            .collect()
    }

    /// An apartment house of `units` doors, households "STREET-n-u".
    fn apartments(precinct: &str, street: &str, number: u32, units: u32) -> Vec<Door> {
        (1..=units)
            .map(|u| {
                door(
                    &format!("{street}-{number}-{u}"),
                    &format!("{street}-{number}"),
                    Some(precinct),
                    street,
                    Some(number),
                    Some(&u.to_string()),
                )
            })
            .collect()
    }

    fn households(turfs: &[Vec<Door>]) -> Vec<Vec<&str>> {
        turfs
            .iter()
            .map(|t| t.iter().map(|d| d.household.as_str()).collect())
            .collect()
    }

    fn sizes(turfs: &[Vec<Door>]) -> Vec<usize> {
        turfs.iter().map(Vec::len).collect()
    }

    /// Asserts what every cut must give: each door once, buildings whole and consecutive in unit
    /// order, no turf mixing the two ways, paper turfs within one precinct, and the size bounds of
    /// the module documentation.
    fn check(input: &[Door], turfs: &[Vec<Door>], size: usize) {
        let size = size.clamp(1, input.len().max(1));
        let by_household: HashMap<&str, &Door> =
            input.iter().map(|d| (d.household.as_str(), d)).collect();
        let mut seen = HashSet::new();
        for d in turfs.iter().flatten() {
            assert_eq!(
                by_household.get(d.household.as_str()),
                Some(&d),
                "door changed"
            );
            assert!(seen.insert(d.household.as_str()), "{} twice", d.household);
        }
        assert_eq!(seen.len(), input.len(), "doors lost");

        let mut building_doors: HashMap<&str, usize> = HashMap::new();
        for d in input {
            *building_doors.entry(d.building.as_str()).or_default() += 1;
        }
        let located: HashSet<&str> = input
            .iter()
            .filter(|d| valid(d.location).is_some())
            .map(|d| d.building.as_str())
            .collect();
        let mut placed = HashSet::new();
        // (precinct, sizes of its multi-building or small turfs) in output order, paper way only.
        let mut precincts: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for t in turfs {
            assert!(!t.is_empty(), "empty turf");
            let runs: Vec<&[Door]> = t.chunk_by(|a, b| a.building == b.building).collect();
            for run in &runs {
                let b = run[0].building.as_str();
                assert!(placed.insert(b), "building {b} split");
                assert_eq!(run.len(), building_doors[b], "building {b} split");
                assert!(
                    run.windows(2).all(|w| unit_order(&w[0].unit, &w[1].unit)
                        .then(w[0].household.cmp(&w[1].household))
                        == Ordering::Less),
                    "building {b} out of unit order"
                );
            }
            let geo = located.contains(t[0].building.as_str());
            assert!(
                t.iter()
                    .all(|d| located.contains(d.building.as_str()) == geo),
                "a turf mixes geocoded and other buildings"
            );
            let biggest = runs.iter().map(|r| r.len()).max().unwrap_or(0);
            if biggest > size {
                assert_eq!(runs.len(), 1, "a building over size shares its turf");
            } else if geo {
                assert!(t.len() <= size, "geographic turf of {} > {size}", t.len());
            } else {
                assert!(
                    t.len() <= (size - 1 + biggest).max(size * 3 / 2),
                    "paper turf of {} (biggest building {biggest}, size {size})",
                    t.len()
                );
            }
            if !geo {
                // On one street: odd side up, then even side down, then no numbers.
                for w in runs.windows(2) {
                    let (a, b) = (&w[0][0], &w[1][0]);
                    if a.street_name == b.street_name {
                        let rank = |d: &Door| match d.house_number {
                            Some(n) if n % 2 == 1 => (0, i64::from(n)),
                            Some(n) => (1, -i64::from(n)),
                            None => (2, 0),
                        };
                        assert!(rank(a) <= rank(b), "{} before {}", a.household, b.household);
                    }
                }
                let precinct = t[0].precinct.as_deref();
                assert!(
                    t.iter().all(|d| d.precinct.as_deref() == precinct),
                    "a turf spans precincts"
                );
                match precincts.last_mut() {
                    Some((p, list)) if *p == precinct => list.push(t.len()),
                    _ => {
                        assert!(
                            precincts.iter().all(|(p, _)| *p != precinct),
                            "a precinct's turfs are not together"
                        );
                        precincts.push((precinct, vec![t.len()]));
                    }
                }
                if biggest > size
                    && let Some((_, list)) = precincts.last_mut()
                {
                    list.pop();
                }
            }
        }
        for (precinct, list) in &precincts {
            let [all_but_last @ .., last] = list.as_slice() else {
                continue;
            };
            for &n in all_but_last {
                assert!(n * 2 >= size, "{precinct:?}: turf of {n} < size {size} / 2");
            }
            if let [.., prev] = all_but_last
                && last * 3 < size
            {
                assert!(
                    (prev + last) * 2 > size * 3,
                    "{precinct:?}: tiny last turf {last} not joined to {prev}"
                );
            }
        }
    }

    /// A grid-ish town of about `n` doors: streets every 120 m both ways, on each side a house every
    /// 12 m (jittered), one in twenty an apartment house of 2 to 12 units; four precincts by
    /// quadrant; each building geocoded with probability `geocoded`. Shuffled.
    fn town(rng: &mut fastrand::Rng, n: usize, geocoded: f64) -> Vec<Door> {
        const BLOCK: f64 = 120.0;
        const LOT: f64 = 12.0;
        let streets = ((n as f64 / 10.0).sqrt().ceil() as usize).max(2);
        let blocks = streets.div_ceil(2);
        let length = BLOCK * blocks as f64;
        let lat0: f64 = 40.0;
        let to_geo = |x: f64, y: f64| {
            (
                lat0 + (y / EARTH_RADIUS_M).to_degrees(),
                -75.0 + (x / (EARTH_RADIUS_M * lat0.to_radians().cos())).to_degrees(),
            )
        };
        let mut doors = Vec::new();
        let mut building = 0;
        'streets: for s in 0..streets {
            let horizontal = s % 2 == 0;
            let at = BLOCK * (s / 2) as f64;
            let name = if horizontal {
                format!("{} ST", s / 2 + 1)
            } else {
                format!("AVE {}", s / 2 + 1)
            };
            for lot in 0..(length / LOT) as u32 {
                for odd in [true, false] {
                    if doors.len() >= n {
                        break 'streets;
                    }
                    let along = LOT * (f64::from(lot) + 0.5) + rng.f64() * 2.0 - 1.0;
                    let across = if odd { 8.0 } else { -8.0 } + rng.f64() * 2.0 - 1.0;
                    let (x, y) = if horizontal {
                        (along, at + across)
                    } else {
                        (at + across, along)
                    };
                    let precinct = format!(
                        "P{}{}",
                        u8::from(x > length / 2.0),
                        u8::from(y > length / 2.0)
                    );
                    let units = if rng.u8(..20) == 0 {
                        rng.u32(2..=12)
                    } else {
                        1
                    };
                    let location = (rng.f64() < geocoded).then(|| to_geo(x, y));
                    building += 1;
                    for u in 1..=units {
                        doors.push(Door {
                            household: format!("H{:07}", doors.len()),
                            building: format!("B{building:07}"),
                            precinct: Some(precinct.clone()),
                            street_name: name.clone(),
                            house_number: Some(2 * lot + if odd { 1 } else { 2 }),
                            unit: (units > 1).then(|| u.to_string()),
                            location,
                        });
                    }
                }
            }
        }
        rng.shuffle(&mut doors);
        doors
    }

    #[test]
    fn units_sort_naturally() {
        let mut units = vec!["10", "B", "2", "1B", "A", "02", "2A", "1"];
        units.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(units, ["1", "1B", "02", "2", "2A", "10", "A", "B"]);
    }

    #[test]
    fn a_street_is_walked_up_the_odd_side_and_back_down_the_even_side() {
        let p = Some("P1");
        let doors = vec![
            door("oak-2", "oak-2", p, "OAK ST", Some(2), None),
            door("main-4", "main-4", p, "MAIN ST", Some(4), None),
            door("main-7-10", "main-7", p, "MAIN ST", Some(7), Some("10")),
            door("main-rear", "main-rear", p, "MAIN ST", None, None),
            door("main-1", "main-1", p, "MAIN ST", Some(1), None),
            door("main-7-2", "main-7", p, "MAIN ST", Some(7), Some("2")),
            door("main-6", "main-6", p, "MAIN ST", Some(6), None),
            door("oak-1", "oak-1", p, "OAK ST", Some(1), None),
            door("main-3", "main-3", p, "MAIN ST", Some(3), None),
            door("main-7-1", "main-7", p, "MAIN ST", Some(7), Some("1")),
            door("main-2", "main-2", p, "MAIN ST", Some(2), None),
            door("main-5", "main-5", p, "MAIN ST", Some(5), None),
        ];
        let turfs = cut_walk_lists(doors.clone(), 100);
        check(&doors, &turfs, 100);
        assert_eq!(
            households(&turfs),
            [[
                "main-1",
                "main-3",
                "main-5",
                "main-7-1",
                "main-7-2",
                "main-7-10",
                "main-6",
                "main-4",
                "main-2",
                "main-rear",
                "oak-1",
                "oak-2"
            ]]
        );
    }

    #[test]
    fn a_turf_two_thirds_full_breaks_at_the_street_rather_than_in_it() {
        // 8 doors on A ST and 6 on B ST with size 10: not 10 + 4 across the corner.
        let mut doors = houses("P1", "A ST", (1..=15).step_by(2));
        doors.extend(houses("P1", "B ST", (1..=11).step_by(2)));
        let turfs = cut_walk_lists(doors.clone(), 10);
        check(&doors, &turfs, 10);
        assert_eq!(sizes(&turfs), [8, 6]);
        assert!(turfs[0].iter().all(|d| d.street_name == "A ST"));
        assert!(turfs[1].iter().all(|d| d.street_name == "B ST"));
    }

    #[test]
    fn a_turf_less_than_two_thirds_full_goes_on_round_the_corner() {
        // 5 doors on A ST, 9 on B ST, size 10: 5 alone would be a thin walk list.
        let mut doors = houses("P1", "A ST", (1..=9).step_by(2));
        doors.extend(houses("P1", "B ST", (1..=17).step_by(2)));
        let turfs = cut_walk_lists(doors.clone(), 10);
        check(&doors, &turfs, 10);
        assert_eq!(sizes(&turfs), [10, 4]);
    }

    #[test]
    fn a_tiny_remainder_joins_the_turf_before() {
        // 12 doors, size 10: one turf of 12, not 10 + 2.
        let doors = houses("P1", "A ST", (1..=23).step_by(2));
        let turfs = cut_walk_lists(doors.clone(), 10);
        check(&doors, &turfs, 10);
        assert_eq!(sizes(&turfs), [12]);
    }

    #[test]
    fn a_tiny_remainder_too_big_to_join_is_evened_out() {
        // Five houses, a 9-unit building, two houses; size 10. Filling gives 14 + 2, and 16 is
        // over 15, so the two are cut again at the most even building boundary: 5 + 11.
        let mut doors = houses("P1", "A ST", [1, 3, 5, 7, 9]);
        doors.extend(apartments("P1", "A ST", 11, 9));
        doors.extend(houses("P1", "A ST", [13, 15]));
        let turfs = cut_walk_lists(doors.clone(), 10);
        check(&doors, &turfs, 10);
        assert_eq!(sizes(&turfs), [5, 11]);
        assert_eq!(turfs[1][0].household, "A ST-11-1");
    }

    #[test]
    fn a_building_over_size_is_its_own_turf_and_the_walk_goes_on_past_it() {
        let mut doors = houses("P1", "A ST", [1, 3, 7, 9, 11]);
        doors.extend(apartments("P1", "A ST", 5, 8));
        let turfs = cut_walk_lists(doors.clone(), 5);
        check(&doors, &turfs, 5);
        assert_eq!(
            households(&turfs)[0],
            ["A ST-1", "A ST-3", "A ST-7", "A ST-9", "A ST-11"]
        );
        assert_eq!(sizes(&turfs), [5, 8]);
    }

    #[test]
    fn precincts_never_share_a_turf_and_unknown_precincts_come_last() {
        let mut doors = houses("P2", "A ST", [1, 3, 5]);
        doors.extend(houses("P1", "A ST", [7, 9]));
        doors.push(door("nowhere", "nowhere", None, "A ST", Some(11), None));
        let turfs = cut_walk_lists(doors.clone(), 10);
        check(&doors, &turfs, 10);
        assert_eq!(
            households(&turfs),
            [
                vec!["A ST-7", "A ST-9"],
                vec!["A ST-1", "A ST-3", "A ST-5"],
                vec!["nowhere"]
            ]
        );
    }

    #[test]
    fn helpers_measure_known_walks() {
        let at = |lat: f64, lon: f64| Door {
            location: Some((lat, lon)),
            ..door("h", "b", None, "S", None, None)
        };
        // A thousandth of a degree is 111.2 m north, 55.6 m east at latitude 60.
        let walk = [at(60.0, 10.0), at(60.001, 10.0), at(60.001, 10.001)];
        assert!((path_length(&walk) - (111.195 + 55.596)).abs() < 0.01);
        assert!((mean_distance_to_centroid(&walk[..2]) - 111.195 / 2.0).abs() < 0.01);
        let d = 0.001;
        let bowtie = [at(0.0, 0.0), at(d, d), at(0.0, d), at(d, 0.0)];
        assert_eq!(crossings(&bowtie), 1);
        let square = [at(0.0, 0.0), at(d, 0.0), at(d, d), at(0.0, d)];
        assert_eq!(crossings(&square), 0);
        let back_on_itself = [at(0.0, 0.0), at(2.0 * d, 0.0), at(d, 0.0), at(d, d)];
        assert_eq!(crossings(&back_on_itself), 0, "overlap is not a crossing");
        let mut unlocated = bowtie.to_vec();
        unlocated.insert(2, door("x", "x", None, "S", None, None));
        assert_eq!(crossings(&unlocated), 1);
        assert_eq!(path_length(&unlocated), path_length(&bowtie));
    }

    #[test]
    fn a_geocoded_town_is_cut_into_compact_balanced_walks_that_never_cross() {
        let seed = seed("geocoded town");
        let mut rng = fastrand::Rng::with_seed(seed);
        let doors = town(&mut rng, 2000, 1.0);
        let size = 50;
        let turfs = cut_walk_lists(doors.clone(), size);
        check(&doors, &turfs, size);

        let needed = doors.len().div_ceil(size);
        let (min, max) = (
            sizes(&turfs).into_iter().min(),
            sizes(&turfs).into_iter().max(),
        );
        eprintln!(
            "{} turfs (at least {needed}), {min:?}..{max:?} doors",
            turfs.len()
        );
        assert!(turfs.len() <= needed + needed / 10, "too many turfs");
        assert!(min.unwrap_or(0) * 2 >= size, "unbalanced turfs");

        for t in &turfs {
            assert_eq!(crossings(t), 0, "a walk crosses itself");
        }
        let walked: f64 = turfs.iter().map(|t| path_length(t)).sum();
        let shuffled: f64 = turfs
            .iter()
            .map(|t| {
                let mut t = t.clone();
                rng.shuffle(&mut t);
                path_length(&t)
            })
            .sum();
        eprintln!("walks {walked:.0} m, the same doors in random order {shuffled:.0} m");
        assert!(walked < 0.5 * shuffled);

        // Compactness against a random partition into turfs of the same sizes.
        let spread = |turfs: &[Vec<Door>]| {
            turfs
                .iter()
                .map(|t| mean_distance_to_centroid(t) * t.len() as f64)
                .sum::<f64>()
                / doors.len() as f64
        };
        let mut pool = doors.clone();
        rng.shuffle(&mut pool);
        let mut random = Vec::new();
        for t in &turfs {
            random.push(pool.split_off(pool.len() - t.len()));
        }
        let (ours, theirs) = (spread(&turfs), spread(&random));
        eprintln!("mean distance to the turf's centroid {ours:.0} m, random {theirs:.0} m");
        assert!(ours < 0.25 * theirs);
    }

    #[test]
    fn a_town_without_coordinates_is_cut_by_precinct_and_street() {
        let seed = seed("paper town");
        let mut rng = fastrand::Rng::with_seed(seed);
        let doors = town(&mut rng, 2000, 0.0);
        let size = 50;
        let turfs = cut_walk_lists(doors.clone(), size);
        check(&doors, &turfs, size);
        let needed = doors.len().div_ceil(size);
        eprintln!(
            "{} turfs (at least {needed}): {:?}",
            turfs.len(),
            sizes(&turfs)
        );
        // Four precincts can each leave one short turf.
        assert!(turfs.len() <= needed + 4);
    }

    #[test]
    fn a_large_turf_gets_a_walk_in_near_linear_time() {
        let seed = seed("large turf");
        let mut rng = fastrand::Rng::with_seed(seed);
        let doors = town(&mut rng, 3000, 1.0);
        let size = 1000;
        let turfs = cut_walk_lists(doors.clone(), size);
        check(&doors, &turfs, size);
        assert!(turfs.iter().any(|t| t.len() > FULL_TOUR_STOPS * 2));
        let walked: f64 = turfs.iter().map(|t| path_length(t)).sum();
        let shuffled: f64 = turfs
            .iter()
            .map(|t| {
                let mut t = t.clone();
                rng.shuffle(&mut t);
                path_length(&t)
            })
            .sum();
        let crossed: usize = turfs.iter().map(|t| crossings(t)).sum();
        eprintln!("walks {walked:.0} m, random order {shuffled:.0} m, {crossed} crossings");
        assert!(walked < 0.1 * shuffled);
    }

    #[test]
    fn the_same_doors_in_any_order_give_the_same_turfs() {
        let seed = seed("shuffled town");
        let mut rng = fastrand::Rng::with_seed(seed);
        let doors = town(&mut rng, 1500, 0.5);
        let turfs = cut_walk_lists(doors.clone(), 40);
        check(&doors, &turfs, 40);
        for _ in 0..3 {
            let mut shuffled = doors.clone();
            rng.shuffle(&mut shuffled);
            assert_eq!(cut_walk_lists(shuffled, 40), turfs);
        }
    }

    fn config() -> Config {
        Config {
            rng_seed: RngSeed::Fixed(seed("proptest")),
            ..Config::default()
        }
    }

    /// Small messy inputs: up to 20 buildings in 3 precincts (or none) on 3 streets, numbered or
    /// not, geocoded on a coarse grid (many ties and collinear points) or not, with a door now and
    /// then missing its location; units repeat; any size from 1 to 30. Plus a seed to shuffle with.
    fn arb_input() -> impl Strategy<Value = (Vec<Door>, usize, u64)> {
        let building = (
            proptest::option::of(0..3u8),
            0..3u8,
            proptest::option::of(1..30u32),
            proptest::option::of((0..20u32, 0..20u32)),
        );
        let door = (
            any::<proptest::sample::Index>(),
            proptest::option::of(0..12u8),
            proptest::bool::weighted(0.1),
        );
        (
            proptest::collection::vec(building, 1..20),
            proptest::collection::vec(door, 0..150),
            1..30usize,
            any::<u64>(),
        )
            .prop_map(|(buildings, doors, size, shuffle)| {
                let doors = doors
                    .into_iter()
                    .enumerate()
                    .map(|(n, (b, unit, unlocated))| {
                        let b = b.index(buildings.len());
                        let (precinct, street, number, at) = buildings[b];
                        Door {
                            household: format!("h{n}"),
                            building: format!("b{b}"),
                            precinct: precinct.map(|p| format!("P{p}")),
                            street_name: format!("S{street} ST"),
                            house_number: number,
                            unit: unit.map(|u| u.to_string()),
                            location: at.filter(|_| !unlocated).map(|(y, x)| {
                                (40.0 + f64::from(y) * 1e-4, -75.0 + f64::from(x) * 1e-4)
                            }),
                        }
                    })
                    .collect();
                (doors, size, shuffle)
            })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_input_is_cut_by_the_rules((doors, size, shuffle) in arb_input()) {
            let turfs = cut_walk_lists(doors.clone(), size);
            check(&doors, &turfs, size);
            for t in &turfs {
                prop_assert_eq!(crossings(t), 0);
            }
            let mut shuffled = doors.clone();
            fastrand::Rng::with_seed(shuffle).shuffle(&mut shuffled);
            prop_assert_eq!(cut_walk_lists(shuffled, size), turfs);
        }
    }
}
