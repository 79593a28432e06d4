//! The dashboard over plain HTTP against a real `doorstep serve`: who may see what, that the
//! figures equal `doorstep stats` (computed another way, in Rust, from every attempt row), that a
//! sync is announced on the live stream, and that the pages load nothing from anywhere else.
//! The same pages in a real browser: `browser.rs`.

use doorstep_server::demo::{DemoUser, Plan};
use doorstep_server::setup::stats;
use doorstep_server::storage::Dashboard;
use doorstep_server::storage::Organize;
use doorstep_tests::{Backend, Phone, ServerProcess, doorstep, seed};
use std::io::BufRead;
use std::time::{Duration, Instant};

/// A browser-less client that keeps the session cookie.
pub struct Web {
    agent: ureq::Agent,
    /// The server's base URL.
    pub url: String,
    /// The session cookie's value, once signed in.
    pub session: Option<String>,
}

/// One answer.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub csp: Option<String>,
    pub body: String,
}

impl Web {
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Self {
            agent,
            url: url.to_owned(),
            session: None,
        }
    }

    fn page(mut r: ureq::http::Response<ureq::Body>) -> Page {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (location, set_cookie, csp) = (
            header("location"),
            header("set-cookie"),
            header("content-security-policy"),
        );
        Page {
            status: r.status().as_u16(),
            location,
            set_cookie,
            csp,
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// A client signed in with a token.
    pub fn signed_in(url: &str, token: &str) -> Self {
        let mut web = Self::new(url);
        let page = web.sign_in(token);
        assert_eq!(page.status, 303, "sign-in refused: {}", page.body);
        web
    }

    /// Signs in with a token; keeps the session cookie it sets.
    pub fn sign_in(&mut self, token: &str) -> Page {
        let page = Self::page(
            self.agent
                .post(format!("{}/dashboard/signin", self.url))
                .send_form([("token", token)])
                .unwrap(),
        );
        if let Some(c) = &page.set_cookie {
            self.session = c
                .split(';')
                .next()
                .and_then(|kv| kv.strip_prefix("doorstep_session="))
                .map(str::to_owned);
        }
        page
    }

    pub fn get(&self, path: &str) -> Page {
        let mut req = self.agent.get(format!("{}{path}", self.url));
        if let Some(s) = &self.session {
            req = req.header("Cookie", format!("doorstep_session={s}"));
        }
        Self::page(req.call().unwrap())
    }

    pub fn sign_out(&self) -> Page {
        let mut req = self.agent.post(format!("{}/dashboard/signout", self.url));
        if let Some(s) = &self.session {
            req = req.header("Cookie", format!("doorstep_session={s}"));
        }
        Self::page(req.send_empty().unwrap())
    }
}

/// The text of the element with this id (its first text, tags stripped).
pub fn by_id(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let open = rest.find('>')? + 1;
    let close = rest.find("</")?;
    let text = &rest[open..close];
    Some(strip_tags(text))
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in s.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The figure `key` (data-k) in the table row marked `attr="value"`.
pub fn cell(html: &str, attr: &str, value: &str, key: &str) -> Option<u64> {
    let start = html.find(&format!("{attr}=\"{value}\""))?;
    let row = &html[start..start + html[start..].find("</tr>")?];
    let at = row.find(&format!("data-k=\"{key}\""))?;
    let rest = &row[at..];
    let open = rest.find('>')? + 1;
    let close = rest.find('<')?;
    rest[open..close].trim().parse().ok()
}

fn reader_column(csv_text: &str, name: &str) -> usize {
    csv::Reader::from_reader(csv_text.as_bytes())
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap()
}

/// The count shown for outcome `code` in the table row marked `attr="value"` ("Talked 3").
pub fn outcome(html: &str, attr: &str, value: &str, code: &str) -> u64 {
    let Some(start) = html.find(&format!("{attr}=\"{value}\"")) else {
        return 0;
    };
    let row = &html[start..start + html[start..].find("</tr>").unwrap_or(0)];
    let Some(at) = row.find(&format!("data-outcome=\"{code}\"")) else {
        return 0;
    };
    let text = &row[at..];
    let text = &text[text.find('>').unwrap() + 1..text.find('<').unwrap()];
    text.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A server with a demo campaign, and its users.
pub fn field(plan: &Plan) -> (ServerProcess, Vec<DemoUser>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(&db, plan);
    (ServerProcess::start(&db), users, dir)
}

pub fn plan() -> Plan {
    Plan {
        teams: 2,
        canvassers_per_team: 2,
        turfs_per_team: 4,
        doors: 12,
        turfs_per_canvasser: 1,
        seed: 11,
    }
}

pub fn user<'a>(users: &'a [DemoUser], id: &str) -> &'a DemoUser {
    users.iter().find(|u| u.id == id).unwrap()
}

/// Now, by the clock the server uses, in ms.
pub fn now() -> i64 {
    doorstep_server::handlers::sync::now_ms()
}

/// Every canvasser syncs, knocks `knocks` times over the last hours and syncs again.
pub fn canvass(server: &ServerProcess, users: &[DemoUser], knocks: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = now() - 6 * 3_600_000;
    for u in users.iter().filter(|u| u.id.starts_with("canvasser")) {
        let mut phone = Phone::new(u);
        phone.sync(&server.url).unwrap();
        for i in 0..knocks {
            let at = start + rng.i64(0..6 * 3_600_000) + i as i64;
            phone.knock(&mut rng, at);
        }
        phone.sync(&server.url).unwrap();
    }
}

#[test]
fn the_figures_are_the_databases_for_organizers_and_captains() {
    let (server, users, dir) = field(&plan());
    canvass(&server, &users, 9, 3);
    let backend = Backend::Sqlite(dir.path().join("server.db"));
    figures_are_the_databases(&server, &users, &*backend.open());
}

/// On two servers of one PostgreSQL database: phones sync through one, the organizer and the
/// captain look through the other, which sees everything.
#[test]
fn on_postgresql_another_servers_pages_show_the_figures_of_the_database() {
    let cluster = doorstep_tests::postgres::Cluster::start();
    let backend = Backend::Postgres(cluster.database("doorstep"));
    let users = backend.seed(&plan());
    let (phones, pages) = (
        ServerProcess::on(&backend, &[]),
        ServerProcess::on(&backend, &[]),
    );
    canvass(&phones, &users, 9, 3);
    figures_are_the_databases(&pages, &users, &*backend.open());
}

/// Every figure on `server`'s campaign page and on a captain's page equals what `doorstep
/// stats` and the results rows of `storage` say.
fn figures_are_the_databases(server: &ServerProcess, users: &[DemoUser], storage: &dyn Dashboard) {
    let expected = stats::stats(storage).unwrap();
    assert!(expected.total.attempts > 0);

    let mut organizer = Web::new(&server.url);
    let signed = organizer.sign_in(&user(users, "organizer").token.secret);
    assert_eq!(signed.status, 303);
    let home = organizer.get("/dashboard");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("/dashboard/campaigns/demo-2026"));
    let page = organizer.get("/dashboard/campaigns/demo-2026");
    assert_eq!(page.status, 200, "{}", page.body);
    let total = |id: &str| by_id(&page.body, id).unwrap();
    assert_eq!(total("total-doors"), expected.total.doors.to_string());
    assert_eq!(total("total-knocked"), expected.total.knocked.to_string());
    assert_eq!(total("total-attempts"), expected.total.attempts.to_string());
    assert_eq!(total("total-contacts"), expected.total.contacts.to_string());
    for level in 1..=5 {
        assert_eq!(
            total(&format!("total-s{level}")),
            expected.total.support[level - 1].to_string()
        );
    }
    for line in &expected.turfs {
        for (key, want) in [
            ("doors", line.progress.doors),
            ("knocked", line.progress.knocked),
            ("attempts", line.progress.attempts),
            ("contacts", line.progress.contacts),
        ] {
            assert_eq!(
                cell(&page.body, "data-turf", &line.turf, key),
                Some(want),
                "turf {} {key}",
                line.turf
            );
        }
    }
    // Outcomes per turf, as the results rows say.
    let rows = storage.attempt_rows().unwrap();
    for line in &expected.turfs {
        for code in ["talked", "not_home"] {
            let want = rows
                .iter()
                .filter(|r| r.turf == line.turf && r.outcome == code && r.voided_by.is_none())
                .count() as u64;
            assert_eq!(
                outcome(&page.body, "data-turf", &line.turf, code),
                want,
                "turf {} {code}",
                line.turf
            );
        }
    }
    for (team, progress) in &expected.teams {
        assert_eq!(
            cell(&page.body, "data-team", team, "knocked"),
            Some(progress.knocked),
            "team {team}"
        );
        assert_eq!(
            cell(&page.body, "data-team", team, "attempts"),
            Some(progress.attempts)
        );
    }
    // Per canvasser: their attempts, as the results rows say.
    let rows = storage.attempt_rows().unwrap();
    for u in users.iter().filter(|u| u.id.starts_with("canvasser")) {
        let theirs = rows
            .iter()
            .filter(|r| r.canvasser == u.id && r.voided_by.is_none())
            .count() as u64;
        assert_eq!(
            cell(&page.body, "data-person", &u.id, "attempts"),
            Some(theirs),
            "{}",
            u.id
        );
    }
    // Each assigned canvasser's phone shows when it last synced.
    assert!(page.body.contains("just now"));

    // A captain's page is their team's, with the same figures as the team's line.
    let captain = Web::signed_in(&server.url, &user(users, "captain-1").token.secret);
    let home = captain.get("/dashboard");
    assert_eq!(home.status, 303);
    assert_eq!(home.location.as_deref(), Some("/dashboard/teams/team-1"));
    let team = captain.get("/dashboard/teams/team-1");
    assert_eq!(team.status, 200);
    let mine = &expected.teams["team-1"];
    assert_eq!(
        by_id(&team.body, "total-attempts").unwrap(),
        mine.attempts.to_string()
    );
    assert_eq!(
        by_id(&team.body, "total-knocked").unwrap(),
        mine.knocked.to_string()
    );
    assert!(
        !team.body.contains("data-turf=\"t02-"),
        "another team's turf"
    );
}

#[test]
fn a_captain_is_refused_other_teams_and_the_campaign_and_a_canvasser_everything() {
    let (server, users, _dir) = field(&plan());
    canvass(&server, &users, 4, 5);
    let captain = Web::signed_in(&server.url, &user(&users, "captain-1").token.secret);
    for path in [
        "/dashboard/teams/team-2",
        "/dashboard/campaigns/demo-2026",
        "/dashboard/teams/team-2/attempts.csv",
        "/dashboard/campaigns/demo-2026/voters.csv",
        "/dashboard/teams/team-2?part=live",
    ] {
        let page = captain.get(path);
        assert_eq!(page.status, 403, "{path}");
        assert!(!page.body.contains("data-turf"), "{path} leaked figures");
    }
    // Their own team's export holds their team's turfs only, and all of them.
    let csv = captain.get("/dashboard/teams/team-1/attempts.csv");
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let turf_col = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "turf_id")
        .unwrap();
    let turfs: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[turf_col].to_owned())
        .collect();
    assert!(!turfs.is_empty());
    assert!(turfs.iter().all(|t| t.starts_with("t01-")), "{turfs:?}");
    // Every attempt of the team's turfs is in it (a door's result once per voter behind it).
    let attempt_col = reader_column(&csv.body, "attempt_id");
    let exported: std::collections::BTreeSet<String> =
        csv::Reader::from_reader(csv.body.as_bytes())
            .records()
            .map(|r| r.unwrap()[attempt_col].to_owned())
            .collect();
    let expected: std::collections::BTreeSet<String> = server
        .storage()
        .attempt_rows()
        .unwrap()
        .into_iter()
        .filter(|r| r.turf.starts_with("t01-") && r.voided_by.is_none())
        .map(|r| r.attempt)
        .collect();
    assert_eq!(exported, expected);

    // A canvasser's token opens nothing.
    let mut canvasser = Web::new(&server.url);
    let refused = canvasser.sign_in(&user(&users, "canvasser-1-1").token.secret);
    assert_eq!(refused.status, 403);
    assert!(refused.set_cookie.is_none());
    assert!(refused.body.contains("canvasser"));
    assert_eq!(canvasser.get("/dashboard").status, 303);
    assert_eq!(
        canvasser.get("/dashboard/teams/team-1").location.as_deref(),
        Some("/dashboard/signin")
    );

    // An unknown token is told so, with nothing stored.
    let mut stranger = Web::new(&server.url);
    let unknown = stranger.sign_in("dst_not-a-token");
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("unknown or was revoked"));
    assert!(unknown.set_cookie.is_none());
}

#[test]
fn sign_out_and_revocation_end_the_session_and_the_cookie_is_guarded() {
    let (server, users, _dir) = field(&plan());
    let token = &user(&users, "organizer").token;
    let mut web = Web::new(&server.url);
    let signed = web.sign_in(&token.secret);
    let cookie = signed.set_cookie.unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        !cookie.contains(&token.secret),
        "the token is not the cookie"
    );
    assert_eq!(web.get("/dashboard").status, 200);
    let out = web.sign_out();
    assert_eq!(out.status, 303);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let after = web.get("/dashboard");
    assert_eq!(
        after.status, 303,
        "the old cookie still opens the dashboard"
    );
    assert_eq!(after.location.as_deref(), Some("/dashboard/signin"));

    // Behind a TLS proxy the cookie is Secure.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let r = agent
        .post(format!("{}/dashboard/signin", server.url))
        .header("X-Forwarded-Proto", "https")
        .send_form([("token", token.secret.as_str())])
        .unwrap();
    let secure = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(secure.contains("Secure"), "{secure}");

    // Revoking the token ends the sessions it opened.
    web.sign_in(&token.secret);
    assert_eq!(web.get("/dashboard").status, 200);
    doorstep(&server.db, &["token", "revoke", &token.id]);
    assert_eq!(web.get("/dashboard").status, 303);
}

#[test]
fn the_pages_load_nothing_from_elsewhere() {
    let (server, users, _dir) = field(&plan());
    canvass(&server, &users, 2, 9);
    let web = Web::signed_in(&server.url, &user(&users, "organizer").token.secret);
    for path in [
        "/dashboard/signin",
        "/dashboard",
        "/dashboard/campaigns/demo-2026",
        "/dashboard/teams/team-1",
    ] {
        let page = web.get(path);
        assert_eq!(page.status, 200, "{path}");
        let csp = page.csp.unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        for attr in ["src=\"", "href=\"", "action=\"", "url("] {
            for (i, _) in page.body.match_indices(attr) {
                let value = &page.body[i + attr.len()..];
                assert!(
                    value.starts_with('/') && !value.starts_with("//")
                        || value.starts_with('#')
                        || value.starts_with('?'),
                    "{path} refers elsewhere: {}",
                    &value[..value.len().min(60)]
                );
            }
        }
    }
    for asset in [
        "/dashboard/static/dashboard.css",
        "/dashboard/static/dashboard.js",
    ] {
        let page = web.get(asset);
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("http:") && !page.body.contains("https:"));
        assert!(!page.body.contains("@import"));
    }
}

#[test]
fn a_sync_is_announced_on_the_live_stream_within_two_seconds() {
    let (server, users, _dir) = field(&plan());
    let web = Web::signed_in(&server.url, &user(&users, "organizer").token.secret);
    let mut phone = Phone::new(user(&users, "canvasser-1-1"));
    phone.sync(&server.url).unwrap();

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let response = agent
        .get(format!("{}/dashboard/live", server.url))
        .header(
            "Cookie",
            format!("doorstep_session={}", web.session.clone().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    // Quiet: no change, no event.
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        rx.try_iter().all(|(_, l)| !l.starts_with("event: change")),
        "an event with nothing changed"
    );
    phone.knock(&mut fastrand::Rng::with_seed(1), now());
    phone.sync(&server.url).unwrap();
    let synced = Instant::now();
    let (at, _) = loop {
        let (at, line) = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("no change event within 2 s of a sync");
        if line.starts_with("event: change") {
            break (at, line);
        }
    };
    assert!(at.duration_since(synced) < Duration::from_secs(2));
    // And the page's live part now shows it.
    let live = web.get("/dashboard/campaigns/demo-2026?part=live");
    assert_eq!(by_id(&live.body, "total-attempts").as_deref(), Some("1"));
    assert!(!live.body.contains("<html"), "the live part is a fragment");
}

#[test]
fn an_open_live_stream_does_not_hold_up_shutdown() {
    let (mut server, users, _dir) = field(&plan());
    let web = Web::signed_in(&server.url, &user(&users, "organizer").token.secret);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let stream = agent
        .get(format!("{}/dashboard/live", server.url))
        .header(
            "Cookie",
            format!("doorstep_session={}", web.session.clone().unwrap()),
        )
        .call()
        .unwrap();
    assert_eq!(stream.status(), 200);
    let status = server
        .terminate_within(Duration::from_secs(5))
        .expect("the server was still running 5 s after SIGTERM, held up by an open page");
    assert!(status.success(), "{status}");
    drop(stream);
}

#[test]
fn every_turf_is_reachable_page_by_page() {
    // 130 turfs: two pages of the turf table.
    let plan = Plan {
        teams: 2,
        canvassers_per_team: 1,
        turfs_per_team: 65,
        doors: 2,
        turfs_per_canvasser: 1,
        seed: 3,
    };
    let (server, users, _dir) = field(&plan);
    let web = Web::signed_in(&server.url, &user(&users, "organizer").token.secret);
    let mut seen = std::collections::BTreeSet::new();
    let mut page = 0;
    loop {
        let p = web.get(&format!("/dashboard/campaigns/demo-2026?turfs={page}"));
        assert_eq!(p.status, 200, "page {page}: {}", p.body);
        for (i, _) in p.body.match_indices("data-turf=\"") {
            let rest = &p.body[i + 11..];
            seen.insert(rest[..rest.find('"').unwrap()].to_owned());
        }
        if !p.body.contains("rel=\"next\"") {
            break;
        }
        page += 1;
        assert!(page < 5, "more pages than turfs");
    }
    assert_eq!(page, 1, "two pages");
    assert_eq!(seen.len(), 130);
}

#[test]
fn a_quiet_heartbeat_counts_as_the_phones_last_sync() {
    use doorstep_server::storage::{Dashboard, Storage};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let users = seed(&db, &plan());
    // Times are written every 1.5 s, where the stored one is 1.5 s older.
    let server = ServerProcess::start_with(&db, &["--seen-flush-ms", "1500"]);
    let watch = server.storage();
    let last_sync = || {
        watch
            .phones()
            .unwrap()
            .into_iter()
            .find(|p| p.user == "canvasser-1-1")
            .unwrap()
            .last_sync_at
    };
    let mut phone = Phone::new(user(&users, "canvasser-1-1"));
    phone.sync(&server.url).unwrap();
    let first = last_sync();
    std::thread::sleep(Duration::from_millis(1700));
    // Two heartbeats with nothing new: the server stores nothing for them (the database's
    // change counter stays put), the second answered from its cache.
    let before = watch.change_counter().unwrap();
    phone.sync(&server.url).unwrap();
    phone.sync(&server.url).unwrap();
    assert_eq!(
        watch.change_counter().unwrap(),
        before,
        "a heartbeat wrote to the database"
    );
    assert_eq!(last_sync(), first);
    let started = Instant::now();
    while last_sync() < first + 1700 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the heartbeats never reached the phone's last sync time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_form_posted_from_another_site_does_nothing() {
    let (server, users, _dir) = field(&plan());
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let token = user(&users, "organizer").token.secret.clone();
    let post = |path: &str, site: &str| {
        agent
            .post(format!("{}{path}", server.url))
            .header("Sec-Fetch-Site", site)
            .send_form([("token", token.as_str())])
            .unwrap()
    };
    let refused = post("/dashboard/signin", "cross-site");
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("set-cookie").is_none());
    assert_eq!(post("/dashboard/signout", "cross-site").status(), 403);
    let accepted = post("/dashboard/signin", "same-origin");
    assert_eq!(accepted.status(), 303);
    assert!(accepted.headers().get("set-cookie").is_some());
}
