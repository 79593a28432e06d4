//! The dashboard's HTML, rendered on the server with maud (escaped by construction). Every
//! asset is served by Doorstep itself: the pages load nothing from any other host.

use super::session::Viewer;
use super::svg;
use super::view::{Overview, PAGE_ROWS, page_of};
use crate::setup::export::timestamp;
use crate::storage::dashboard::{Figures, Scope};
use doorstep_core::sync::Role;
use maud::{DOCTYPE, Markup, html};

/// The whole page around `body`.
pub fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                title { (title) " · Doorstep" }
                link rel="stylesheet" href="/dashboard/static/dashboard.css";
                script src="/dashboard/static/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/dashboard" { "Doorstep" }
                    @if let Some(v) = viewer {
                        nav aria-label="Account" {
                            span.who { (v.who.user) " · " (role_name(v.who.role)) }
                            form method="post" action="/dashboard/signout" {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "organizer",
        Role::Captain => "field captain",
        Role::Canvasser => "canvasser",
    }
}

/// The sign-in form, with what went wrong last time.
pub fn sign_in(problem: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in to the dashboard" }
            p { "Organizers and field captains sign in with the token their organizer issued ("
                code { "doorstep token issue --user ID" } "). Canvassers use the Doorstep app on their phone." }
            @if let Some(problem) = problem {
                p.problem id="signin-problem" role="alert" { (problem) }
            }
            form.signin method="post" action="/dashboard/signin" {
                label for="token" { "Token" }
                input id="token" name="token" type="password" autocomplete="current-password"
                    required spellcheck="false" autocapitalize="off"
                    aria-describedby=[problem.map(|_| "signin-problem")];
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// A page that explains why it cannot show what was asked.
pub fn problem(title: &str, message: &str, viewer: Option<&Viewer>) -> Markup {
    layout(
        title,
        viewer,
        html! {
            h1 { (title) }
            p.problem { (message) }
            p { a href="/dashboard" { "Back to the dashboard" } }
        },
    )
}

/// An organizer's home: their campaigns and teams.
pub fn home(viewer: &Viewer, campaigns: &[(String, String)], teams: &[(String, String)]) -> Markup {
    layout(
        "Campaigns",
        Some(viewer),
        html! {
            h1 { "Campaigns" }
            @if campaigns.is_empty() {
                p { "No campaign yet: apply a campaign file with " code { "doorstep campaign apply FILE" } "." }
            }
            ul.links {
                @for (id, name) in campaigns {
                    li { a href={"/dashboard/campaigns/" (id)} { (name) } " " span.muted { "(" (id) ")" } }
                }
            }
            @if !teams.is_empty() {
                h2 { "Teams" }
                ul.links {
                    @for (id, name) in teams {
                        li { a href={"/dashboard/teams/" (id)} { (name) } " " span.muted { "(" (id) ")" } }
                    }
                }
            }
        },
    )
}

/// How long ago, for people: "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn ago(ms: i64, now: i64) -> String {
    let s = now.saturating_sub(ms).max(0) / 1000;
    match s {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn when(ms: Option<i64>, now: i64) -> Markup {
    match ms {
        Some(ms) => {
            html! { time datetime=(timestamp(ms)) title=(timestamp(ms)) { (ago(ms, now)) } }
        }
        None => html! { span.muted { "never" } },
    }
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

/// The figure columns' headers, after the first ones.
fn figure_heads(doors: bool) -> Markup {
    html! {
        @if doors { th.num scope="col" { "Doors" } }
        th.num scope="col" { "Knocked" }
        @if doors { th.num scope="col" { "Done" } }
        th.num scope="col" { "Attempts" }
        th.num scope="col" { "Contacts" }
        th.num scope="col" { "Contact rate" }
        @for level in 1..=5 { th.num scope="col" { abbr title={"Support level " (level)} { "S" (level) } } }
    }
}

fn figure_cells(f: &Figures, doors: bool) -> Markup {
    html! {
        @if doors { td.num data-k="doors" { (f.doors) } }
        td.num data-k="knocked" { (f.knocked) }
        @if doors { td.num data-k="done" { (pct(f.done())) } }
        td.num data-k="attempts" { (f.attempts) }
        td.num data-k="contacts" { (f.contacts) }
        td.num data-k="rate" { (pct(f.contact_rate())) }
        @for (i, n) in f.support.iter().enumerate() { td.num data-k={"s" (i + 1)} { (n) } }
    }
}

/// A line's outcomes in words: "Not home 3 · Talked 2", leaving out those with none.
fn outcome_list(f: &Figures, codes: &[(String, String)]) -> Markup {
    let mut shown = codes
        .iter()
        .zip(&f.outcomes)
        .filter(|(_, n)| **n > 0)
        .map(|((code, label), n)| (code.as_str(), label.as_str(), *n))
        .collect::<Vec<_>>();
    if f.other_outcomes() > 0 {
        shown.push(("", "Other", f.other_outcomes()));
    }
    html! {
        @if shown.is_empty() { span.muted { "—" } }
        @for (i, (code, label, n)) in shown.iter().enumerate() {
            @if i > 0 { " · " }
            span.outcome data-outcome=(code) { (label) " " (n) }
        }
    }
}

fn pager(name: &str, page: usize, pages: usize, other: &str) -> Markup {
    html! {
        @if pages > 1 {
            nav.pager aria-label={"Pages of " (name)} {
                @if page > 0 { a href={"?" (name) "=" (page - 1) (other)} rel="prev" { "Previous" } }
                span { "Page " (page + 1) " of " (pages) }
                @if page + 1 < pages { a href={"?" (name) "=" (page + 1) (other)} rel="next" { "Next" } }
            }
        }
    }
}

/// Which page of each table a request asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pages {
    /// Page of the turf table.
    pub turfs: usize,
    /// Page of the people table.
    pub people: usize,
}

/// A campaign's or team's page.
pub fn overview(
    viewer: &Viewer,
    o: &Overview,
    pages: Pages,
    since: Option<u64>,
    behind: Option<std::time::Duration>,
) -> Markup {
    let heading = match &o.scope {
        Scope::Campaign(_) => format!("Campaign: {}", o.title),
        Scope::Team(_) => format!("Team: {}", o.title),
    };
    layout(
        &heading,
        Some(viewer),
        html! {
            h1 { (heading) }
            p #updated.muted role="status" aria-live="polite" { "Live: updates as phones sync." }
            div #live data-since=[since] { (live(o, pages, behind)) }
        },
    )
}

/// The part of a page that live updates replace. `behind`: the figures are older than the
/// latest change, and newer ones may be asked for after that long.
pub fn live(o: &Overview, pages: Pages, behind: Option<std::time::Duration>) -> Markup {
    let t = &o.total;
    let (base, scope_id) = match &o.scope {
        Scope::Campaign(id) => ("campaigns", id),
        Scope::Team(id) => ("teams", id),
    };
    let (turfs, turf_page, turf_pages) = page_of(&o.turfs, pages.turfs);
    let (people, people_page, people_pages) = page_of(&o.people, pages.people);
    html! {
        span #gathered hidden data-behind-ms=[behind.map(|d| d.as_millis())] {}
        section aria-labelledby="totals-h" {
            h2 #totals-h { "Progress" }
            dl.totals {
                div { dt { "Doors" } dd #total-doors { (t.doors) } }
                div { dt { "Doors knocked" } dd #total-knocked { (t.knocked) } }
                div { dt { "Done" } dd #total-done { (pct(t.done())) } }
                div { dt { "Attempts" } dd #total-attempts { (t.attempts) } }
                div { dt { "Contacts" } dd #total-contacts { (t.contacts) } }
                div { dt { "Contact rate" } dd #total-rate { (pct(t.contact_rate())) } }
                div { dt { "Last result" } dd #total-last { (when(t.last_at, o.now)) } }
            }
            h3 { "Outcomes" }
            @if t.attempts == 0 { p.muted { "No attempts yet." } }
            dl.support #total-outcomes {
                // Only the outcomes that happened: a campaign may define twenty.
                @for (i, (code, label)) in o.outcomes.iter().enumerate() {
                    @let n = t.outcomes.get(i).copied().unwrap_or(0);
                    @if n > 0 {
                        div { dt { (label) } dd data-outcome=(code) { (n) } }
                    }
                }
                @if t.other_outcomes() > 0 {
                    div { dt { "Other outcomes" } dd data-outcome="" { (t.other_outcomes()) } }
                }
            }
            h3 { "Support levels (1 strong support … 5 strong opposition)" }
            dl.support {
                @for (i, n) in t.support.iter().enumerate() {
                    div { dt { "Support " (i + 1) } dd id={"total-s" (i + 1)} { (n) } }
                }
            }
        }
        section aria-labelledby="export-h" {
            h2 #export-h { "Export" }
            p.exports {
                a.button href={"/dashboard/" (base) "/" (scope_id) "/attempts.csv"} download { "Attempts (CSV)" }
                a.button href={"/dashboard/" (base) "/" (scope_id) "/voters.csv"} download { "Voters' latest status (CSV)" }
            }
        }
        section aria-labelledby="chart-h" {
            h2 #chart-h { "Attempts over time" }
            (svg::chart(&o.timeline, o.now))
        }
        section aria-labelledby="map-h" {
            h2 #map-h { "Map" }
            (svg::map(&o.map))
        }
        @if matches!(o.scope, Scope::Campaign(_)) {
            section aria-labelledby="teams-h" {
                h2 #teams-h { "Teams" }
                div.scroll tabindex="0" role="region" aria-labelledby="teams-h" {
                    table #teams {
                        caption.visually-hidden { "Progress per team" }
                        thead { tr { th scope="col" { "Team" } th.num scope="col" { "Turfs" } (figure_heads(true)) th scope="col" { "Outcomes" } } }
                        tbody {
                            @for team in &o.teams {
                                tr data-team=(team.id) {
                                    th scope="row" {
                                        @if team.id.is_empty() { (team.name) }
                                        @else { a href={"/dashboard/teams/" (team.id)} { (team.name) } }
                                    }
                                    td.num { (team.turfs) }
                                    (figure_cells(&team.figures, true))
                                    td.outcomes { (outcome_list(&team.figures, &o.outcomes)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="turfs-h" {
            h2 #turfs-h { "Turfs and lists (" (o.turfs.len()) ")" }
            div.scroll tabindex="0" role="region" aria-labelledby="turfs-h" {
                table #turfs {
                    caption.visually-hidden { "Progress per turf and list, with who holds each" }
                    thead { tr {
                        th scope="col" { "Turf" }
                        @if matches!(o.scope, Scope::Campaign(_)) { th scope="col" { "Team" } }
                        th scope="col" { "Assigned to (phone last synced)" }
                        (figure_heads(true))
                        th scope="col" { "Outcomes" }
                        th scope="col" { "Last result" }
                    } }
                    tbody {
                        @for turf in turfs {
                            tr data-turf=(turf.turf) {
                                th scope="row" { (turf.name) br; span.muted { (turf.turf) " · " (turf.kind) } }
                                @if matches!(o.scope, Scope::Campaign(_)) { td.nowrap { (turf.team.as_deref().unwrap_or("—")) } }
                                td {
                                    @if turf.assigned.is_empty() { span.muted { "nobody" } }
                                    @for (i, user) in turf.assigned.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        (user) " (" (when(o.last_sync.get(user).copied(), o.now)) ")"
                                    }
                                }
                                (figure_cells(&turf.figures, true))
                                td.outcomes { (outcome_list(&turf.figures, &o.outcomes)) }
                                td { (when(turf.figures.last_at, o.now)) }
                            }
                        }
                    }
                }
            }
            (pager("turfs", turf_page, turf_pages, &format!("&people={people_page}")))
        }
        section aria-labelledby="people-h" {
            h2 #people-h { "Canvassers and captains (" (o.people.len()) ")" }
            div.scroll tabindex="0" role="region" aria-labelledby="people-h" {
                table #people {
                    caption.visually-hidden { "Progress per person, with their phones' last syncs" }
                    thead { tr {
                        th scope="col" { "Person" }
                        th scope="col" { "Team" }
                        th scope="col" { "Turfs held" }
                        (figure_heads(false))
                        th scope="col" { "Outcomes" }
                        th scope="col" { "Last result" }
                        th scope="col" { "Phones (last sync)" }
                    } }
                    tbody {
                        @for p in people {
                            tr data-person=(p.person.id) {
                                th scope="row" {
                                    (p.person.name) br;
                                    span.muted { (p.person.id) " · " (role_name(p.person.role)) @if p.person.revoked { " · revoked" } }
                                }
                                td.nowrap { (p.person.team.as_deref().unwrap_or("—")) }
                                td { @if p.turfs.is_empty() { span.muted { "none" } } @else { (p.turfs.len()) } }
                                (figure_cells(&p.figures, false))
                                td.outcomes { (outcome_list(&p.figures, &o.outcomes)) }
                                td { (when(p.figures.last_at, o.now)) }
                                td {
                                    @if p.phones.is_empty() { span.muted { "no sync yet" } }
                                    @for (i, phone) in p.phones.iter().enumerate() {
                                        @if i > 0 { br; }
                                        span.device title={"device " (phone.device)} { (phone.device.get(..8).unwrap_or(&phone.device)) }
                                        " " (when(Some(phone.last_sync_at), o.now))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager("people", people_page, people_pages, &format!("&turfs={turf_page}")))
        }
        @if o.turfs.len() > PAGE_ROWS || o.people.len() > PAGE_ROWS {
            p.note { (PAGE_ROWS) " rows per page; the exports hold everything." }
        }
    }
}

/// The dashboard's stylesheet.
pub const CSS: &str = include_str!("static/dashboard.css");

/// The dashboard's one script: live updates.
pub const JS: &str = include_str!("static/dashboard.js");
