//! The chart and the map, drawn by the server as SVG: no script, no tiles, nothing fetched.

use crate::storage::dashboard::{DoorMap, DoorStatus, HourCount};
use maud::{Markup, html};

const HOUR: i64 = 3_600_000;

/// Bucket widths the chart may use, in hours: the smallest that keeps it to [`MAX_BARS`].
const BUCKETS: [i64; 10] = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336];

/// The most bars a chart draws.
pub const MAX_BARS: i64 = 48;

/// How far back the chart reaches: attempts recorded earlier (or more than a day ahead of the
/// server's clock) come from phones whose clock is wrong, and would squeeze the campaign into
/// one bar.
pub const CHART_DAYS: i64 = 120;

/// Attempts and contacts per bucket: (bucket start ms, attempts, contacts), the bucket's width
/// in hours, and the attempts left out for being outside the chart's time.
pub fn buckets(hours: &[HourCount], now: i64) -> (Vec<(i64, u64, u64)>, i64, u64) {
    let (from, to) = (
        now.saturating_sub(CHART_DAYS * 24 * HOUR),
        now.saturating_add(24 * HOUR),
    );
    let (inside, outside): (Vec<&HourCount>, Vec<&HourCount>) =
        hours.iter().partition(|h| (from..=to).contains(&h.hour));
    let left_out = outside.iter().map(|h| h.attempts).sum();
    let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
        return (Vec::new(), 1, left_out);
    };
    // Buckets start on a multiple of their width since the epoch (a day's bucket is a UTC
    // day); the width is the smallest that keeps the bars, so aligned, to MAX_BARS.
    let start_for = |w: i64| first.hour.div_euclid(w * HOUR) * w * HOUR;
    let bars_for = |w: i64| ceil_div((last.hour - start_for(w)) / HOUR + 1, w);
    let span = (last.hour - first.hour) / HOUR + 1;
    let width = BUCKETS
        .iter()
        .copied()
        .find(|w| bars_for(*w) <= MAX_BARS)
        .unwrap_or_else(|| {
            let mut w = ceil_div(span, MAX_BARS);
            while bars_for(w) > MAX_BARS {
                w += 1;
            }
            w
        });
    let start = start_for(width);
    let n = bars_for(width) as usize;
    let mut out: Vec<(i64, u64, u64)> = (0..n)
        .map(|i| (start + i as i64 * width * HOUR, 0, 0))
        .collect();
    for h in inside {
        let i = ((h.hour - start) / HOUR / width) as usize;
        if let Some(b) = out.get_mut(i) {
            b.1 += h.attempts;
            b.2 += h.contacts;
        }
    }
    (out, width, left_out)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b.max(1)
}

/// A bucket's label, in UTC: the day, and the hour when buckets are shorter than a day.
pub fn bucket_label(start: i64, width_hours: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(start.div_euclid(1000)) else {
        return String::new();
    };
    let day = format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    if width_hours >= 24 {
        day
    } else {
        format!("{day} {:02}:00", t.hour())
    }
}

/// The attempts-over-time chart: a bar per bucket, its contacts shaded darker.
pub fn chart(hours: &[HourCount], now: i64) -> Markup {
    let (bars, width, left_out) = buckets(hours, now);
    let total: u64 = bars.iter().map(|b| b.1).sum();
    let peak = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (w, h, left, bottom, top) = (720.0, 240.0, 48.0, 28.0, 12.0);
    let plot_h = h - bottom - top;
    let slot = if bars.is_empty() {
        0.0
    } else {
        (w - left - 8.0) / bars.len() as f64
    };
    let unit = if width == 1 {
        "hour".to_owned()
    } else if width % 24 == 0 {
        format!("{} days", width / 24)
    } else {
        format!("{width} hours")
    };
    let label = if bars.is_empty() {
        "No attempts recorded yet.".to_owned()
    } else {
        format!(
            "{total} attempts in {} bars of one {unit} each (UTC), from {} to {}; the busiest had {peak}.",
            bars.len(),
            bucket_label(bars[0].0, width),
            bucket_label(bars[bars.len() - 1].0, width),
        )
        .replace("one 1 ", "one ")
    };
    html! {
        figure.chart {
            svg viewBox={"0 0 " (w) " " (h)} role="img" aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { "Attempts over time" }
                desc id="chart-desc" { (label) }
                line.axis x1=(left) y1=(h - bottom) x2=(w - 4.0) y2=(h - bottom) {}
                line.axis x1=(left) y1=(top) x2=(left) y2=(h - bottom) {}
                text.tick x=(left - 6.0) y=(top + 4.0) text-anchor="end" { (peak) }
                text.tick x=(left - 6.0) y=(h - bottom) text-anchor="end" { "0" }
                @for (i, (start, attempts, contacts)) in bars.iter().enumerate() {
                    @let x = left + i as f64 * slot + slot * 0.1;
                    @let bw = (slot * 0.8).max(1.0);
                    @let ah = plot_h * *attempts as f64 / peak as f64;
                    @let ch = plot_h * *contacts as f64 / peak as f64;
                    g {
                        title { (bucket_label(*start, width)) ": " (attempts) " attempts, " (contacts) " contacts" }
                        rect.bar-attempts x=(fmt(x)) y=(fmt(h - bottom - ah)) width=(fmt(bw)) height=(fmt(ah)) {}
                        rect.bar-contacts x=(fmt(x)) y=(fmt(h - bottom - ch)) width=(fmt(bw)) height=(fmt(ch)) {}
                    }
                }
                @if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
                    text.tick x=(left) y=(h - 8.0) { (bucket_label(first.0, width)) }
                    text.tick x=(w - 4.0) y=(h - 8.0) text-anchor="end" { (bucket_label(last.0, width)) }
                }
            }
            figcaption {
                span.key.key-attempts aria-hidden="true" {} "Attempts "
                span.key.key-contacts aria-hidden="true" {} "of which contacts, per " (unit) " (UTC)"
                @if left_out > 0 {
                    p.note { (left_out) " attempts recorded more than " (CHART_DAYS) " days ago or in the future are not drawn: a phone's clock may be wrong." }
                }
            }
        }
        @if !bars.is_empty() {
            details {
                summary { "Attempts over time as a table" }
                div.scroll tabindex="0" role="region" aria-label="Attempts over time" {
                    table {
                        caption.visually-hidden { "Attempts and contacts over time" }
                        thead { tr { th scope="col" { "From (UTC)" } th.num scope="col" { "Attempts" } th.num scope="col" { "Contacts" } } }
                        tbody {
                            @for (start, attempts, contacts) in &bars {
                                tr { td { (bucket_label(*start, width)) } td.num { (attempts) } td.num { (contacts) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

const STATUS_NAMES: [&str; 3] = ["Not knocked", "Knocked, nobody reached", "Contact made"];
const STATUS_CLASSES: [&str; 3] = ["door-none", "door-knocked", "door-contact"];

/// The map of doors, colored by status: each door a dot, or for a large scope a grid of cells
/// each colored by the status most of its doors have.
pub fn map(map: &DoorMap) -> Markup {
    let located: u64 = map.located.iter().sum();
    let Some((south, west, north, east)) = map.bounds else {
        return html! {
            p.note { "No door here has a map position: import a voter file with coordinates to see the map." }
        };
    };
    // Degrees of longitude shrink with latitude: scale them so the map is not stretched.
    let mid = ((south + north) / 2.0).to_radians().cos().max(0.05);
    let (span_x, span_y) = (((east - west) * mid).max(1e-6), (north - south).max(1e-6));
    let w = 640.0;
    let h = (w * span_y / span_x).clamp(200.0, 640.0);
    let pad = 10.0;
    let x = |lon: f64| pad + (lon - west) * mid / span_x * (w - 2.0 * pad);
    let y = |lat: f64| pad + (north - lat) / span_y * (h - 2.0 * pad);
    // Dots shrink as doors crowd: a few hundred are easy to tell apart, a few thousand still show.
    let radius = (160.0 / (map.points.len().max(1) as f64).sqrt()).clamp(2.0, 6.0);
    let summary = format!(
        "Map of {located} doors: {} not knocked, {} knocked with nobody reached, {} with a contact.",
        map.located[0], map.located[1], map.located[2]
    );
    let cell = |row: u32, col: u32| {
        let g = f64::from(map.grid.max(1));
        let cw = (w - 2.0 * pad) / g;
        let ch = (h - 2.0 * pad) / g;
        (
            pad + f64::from(col) * cw,
            h - pad - f64::from(row + 1) * ch,
            cw,
            ch,
        )
    };
    html! {
        figure.map {
            svg viewBox={"0 0 " (w) " " (fmt(h))} role="img" aria-labelledby="map-title map-desc" {
                title id="map-title" { "Doors by status" }
                desc id="map-desc" { (summary) }
                rect.map-ground x="0" y="0" width=(w) height=(fmt(h)) {}
                @if map.cells.is_empty() {
                    // Contacts drawn last, so they stay visible where doors crowd.
                    @for status in [DoorStatus::NotKnocked, DoorStatus::Knocked, DoorStatus::Contact] {
                        g class=(STATUS_CLASSES[status as usize]) {
                            @for (lat, lon, s) in map.points.iter().filter(|p| p.2 == status) {
                                @let _ = s;
                                circle cx=(fmt(x(*lon))) cy=(fmt(y(*lat))) r=(fmt(radius)) {}
                            }
                        }
                    }
                } @else {
                    @for (row, col, counts) in &map.cells {
                        @let (cx, cy, cw, ch) = cell(*row, *col);
                        // On a tie, the further status (max_by_key keeps the last of equals).
                        @let top = (0..3).max_by_key(|i| counts[*i]).unwrap_or(0);
                        rect class=(STATUS_CLASSES[top]) x=(fmt(cx)) y=(fmt(cy)) width=(fmt(cw)) height=(fmt(ch)) {
                            title { (counts[0]) " not knocked, " (counts[1]) " knocked, " (counts[2]) " contacts" }
                        }
                    }
                }
            }
            figcaption {
                ul.legend {
                    @for i in 0..3 {
                        li { span class={"key " (STATUS_CLASSES[i])} aria-hidden="true" {} (STATUS_NAMES[i]) ": " (map.located[i]) }
                    }
                }
                @if !map.cells.is_empty() {
                    p.note { "Too many doors to draw one by one: each square gathers the doors within it and shows the status most of them have." }
                }
                @if map.unlocated > 0 {
                    p.note { (map.unlocated) " doors have no map position and are not drawn." }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64, attempts: u64) -> HourCount {
        HourCount {
            hour: hour * HOUR,
            attempts,
            contacts: 0,
        }
    }

    #[test]
    fn days_are_utc_days_and_bars_are_few() {
        let now = 20_000 * 24 * HOUR;
        // Thirty days of hours, starting at 14:00.
        let hours: Vec<HourCount> = (0..720).map(|h| at(now / HOUR - 730 + h, 1)).collect();
        let (bars, width, left_out) = buckets(&hours, now);
        assert_eq!(left_out, 0);
        assert!(bars.len() as i64 <= MAX_BARS);
        assert_eq!(width % 24, 0, "{width}");
        assert!(
            bars.iter().all(|b| b.0 % (24 * HOUR) == 0),
            "not on UTC midnight"
        );
        assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), 720);
    }

    #[test]
    fn aligning_never_makes_one_bar_too_many() {
        let now = 20_000 * 24 * HOUR;
        // 48 hours starting at 01:00: aligned to 2-hour buckets they span 25 of them (fine),
        // and 96 hours from 01:00 need 49 two-hour buckets once aligned: the next width.
        for (from, hours) in [(1, 48), (1, 96), (23, 96), (5, 2400)] {
            let first = now / HOUR - 2500 + from;
            let list: Vec<HourCount> = (0..hours).map(|h| at(first + h, 1)).collect();
            let (bars, _, _) = buckets(&list, now);
            assert!(
                bars.len() as i64 <= MAX_BARS,
                "{from} {hours}: {}",
                bars.len()
            );
            assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), hours as u64);
        }
    }

    #[test]
    fn wrong_clocks_are_left_out_not_fatal() {
        let now = 20_000 * 24 * HOUR;
        let hours = [
            HourCount {
                hour: i64::MIN / HOUR * HOUR,
                attempts: 2,
                contacts: 0,
            },
            at(now / HOUR - 3, 5),
            at(now / HOUR, 1),
            HourCount {
                hour: i64::MAX / HOUR * HOUR,
                attempts: 4,
                contacts: 0,
            },
        ];
        let (bars, width, left_out) = buckets(&hours, now);
        assert_eq!(left_out, 6);
        assert_eq!(width, 1);
        assert_eq!(bars.len(), 4);
        assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), 6);
        let (bars, _, left_out) = buckets(&hours, i64::MAX);
        assert_eq!((bars.len(), left_out), (1, 8));
    }
}
