//! The dashboard in a real browser: headless Chromium (Debian's, installed by
//! `cargo run -p xtask -- setup`) against a real `doorstep serve`. An organizer signs in with
//! the form, reads figures that equal the database's, watches one change without a reload when
//! a phone syncs, and moves by keyboard; a captain is refused another team's page; the pages fit
//! a phone's screen. A screenshot of each page is saved under `target/artifacts/dashboard/`.

use crate::dashboard::{canvass, field, plan, user};
use doorstep_server::setup::stats;
use doorstep_tests::Phone;
use headless_chrome::protocol::cdp::{Emulation, Page};
use headless_chrome::{Browser, LaunchOptions, Tab};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Chromium, with the flags that work on these machines and a profile of its own.
struct Chromium {
    browser: Browser,
    _profile: tempfile::TempDir,
}

fn chromium_binary() -> PathBuf {
    let path = std::env::var_os("DOORSTEP_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "Chromium is not installed at {}: run `cargo run -p xtask -- setup` (it installs \
         Debian's chromium), or point DOORSTEP_CHROMIUM at a Chromium binary",
        path.display()
    );
    path
}

impl Chromium {
    fn launch(width: u32, height: u32) -> Self {
        let profile = tempfile::tempdir().unwrap();
        // headless_chrome passes --headless, --disable-gpu, --no-first-run,
        // --disable-background-networking and --disable-sync itself; sandbox(false) passes
        // --no-sandbox.
        let options = LaunchOptions::default_builder()
            .path(Some(chromium_binary()))
            .headless(true)
            .sandbox(false)
            .user_data_dir(Some(profile.path().to_path_buf()))
            .window_size(Some((width, height)))
            .idle_browser_timeout(Duration::from_secs(300))
            .ignore_certificate_errors(false)
            .args(vec![
                OsStr::new("--disable-component-update"),
                OsStr::new("--disable-quic"),
            ])
            .build()
            .unwrap();
        Self {
            browser: Browser::new(options).expect("launch Chromium"),
            _profile: profile,
        }
    }

    fn tab(&self) -> Arc<Tab> {
        let tab = self.browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(15));
        tab
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the whole page (not only the window) as a test artifact.
fn screenshot(tab: &Tab, name: &str) {
    let m = tab.call_method(Page::GetLayoutMetrics(None)).unwrap();
    let (w, h) = (m.css_content_size.width, m.css_content_size.height);
    let data = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(Page::CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width: w,
                height: h,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .unwrap()
        .data;
    let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap();
    assert!(png.len() > 1000, "an empty screenshot of {name}");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// A JavaScript expression's value as a string ("" for null).
fn js(tab: &Tab, expr: &str) -> String {
    match tab.evaluate(expr, false).unwrap().value {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn text(tab: &Tab, id: &str) -> String {
    js(
        tab,
        &format!("(document.getElementById('{id}') || {{}}).textContent || ''"),
    )
    .trim()
    .to_owned()
}

/// Waits until `f` says yes.
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn path_of(tab: &Tab) -> String {
    js(tab, "location.pathname")
}

/// The HTTP status of the page shown.
fn status(tab: &Tab) -> String {
    js(
        tab,
        "String(performance.getEntriesByType('navigation')[0].responseStatus)",
    )
}

/// Signs in through the form, as a person does.
fn sign_in(tab: &Tab, base: &str, token: &str) {
    tab.navigate_to(&format!("{base}/dashboard/signin"))
        .unwrap();
    tab.wait_for_element("#token").unwrap().click().unwrap();
    // Typing 52 characters one key at a time takes seconds over the protocol; the field is
    // filled as a password manager would, and the button is pressed.
    js(
        tab,
        &format!("document.getElementById('token').value = '{token}'; window.formPage = 'yes'"),
    );
    tab.wait_for_element("form.signin button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
    // The answer is a new document (the form's page had the marker), fully loaded.
    wait_until("the sign-in's answer", Duration::from_secs(10), || {
        js(tab, "String(window.formPage || '') + document.readyState") == "complete"
    });
}

/// Presses the header's "Sign out" button.
fn sign_out(tab: &Tab) {
    tab.wait_for_element("header form button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
    wait_until("signed out", Duration::from_secs(10), || {
        path_of(tab) == "/dashboard/signin"
    });
}

/// The database's own figures, read with SQL from the server's file.
fn database_figures(db: &std::path::Path) -> (u64, u64) {
    let c = rusqlite::Connection::open(db).unwrap();
    let attempts: i64 = c
        .query_row(
            "SELECT count(*) FROM results WHERE voided_by IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let knocked: i64 = c
        .query_row(
            "SELECT count(DISTINCT household_id) FROM results WHERE voided_by IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (attempts as u64, knocked as u64)
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let (server, users, _dir) = field(&plan());
    canvass(&server, &users, 5, 21);
    let chrome = Chromium::launch(1280, 900);
    let tab = chrome.tab();

    // An organizer signs in and opens the campaign.
    sign_in(&tab, &server.url, &user(&users, "organizer").token.secret);
    assert_eq!(path_of(&tab), "/dashboard");
    screenshot(&tab, "01-organizer-home");
    tab.wait_for_element("a[href='/dashboard/campaigns/demo-2026']")
        .unwrap()
        .click()
        .unwrap();
    wait_until("the campaign page", Duration::from_secs(10), || {
        !text(&tab, "total-attempts").is_empty()
    });
    assert_eq!(
        js(&tab, "document.cookie"),
        "",
        "a script can read the session"
    );

    // Its figures are the database's.
    let (attempts, knocked) = database_figures(&server.db);
    assert!(attempts > 0);
    assert_eq!(text(&tab, "total-attempts"), attempts.to_string());
    assert_eq!(text(&tab, "total-knocked"), knocked.to_string());
    let expected = stats::stats(&server.storage()).unwrap();
    assert_eq!(
        text(&tab, "total-contacts"),
        expected.total.contacts.to_string()
    );
    assert_eq!(text(&tab, "total-doors"), expected.total.doors.to_string());
    // The chart and the map are drawn, with words for those who cannot see them.
    assert!(
        js(&tab, "document.getElementById('chart-desc').textContent")
            .starts_with(&format!("{attempts} attempts in ")),
        "{}",
        js(&tab, "document.getElementById('chart-desc').textContent")
    );
    assert_ne!(
        js(
            &tab,
            "String(document.querySelectorAll('.chart rect.bar-attempts').length)"
        ),
        "0"
    );
    assert!(js(&tab, "document.getElementById('map-desc').textContent").contains("doors"));
    assert_eq!(
        js(
            &tab,
            "String(document.querySelectorAll('.map circle').length)"
        ),
        expected.total.doors.to_string(),
        "every door of the demo has a map position"
    );
    screenshot(&tab, "02-campaign");

    // A phone syncs; the page shows it within two seconds, without a reload.
    wait_until("the live stream to open", Duration::from_secs(5), || {
        js(&tab, "document.documentElement.dataset.live || ''") == "open"
    });
    js(&tab, "window.stillHere = 'yes'");
    // A reader tabbed to the second export button: the update leaves them there.
    js(&tab, "document.querySelectorAll('a.button')[1].focus()");
    assert_eq!(
        js(&tab, "document.activeElement.textContent"),
        "Voters' latest status (CSV)"
    );
    let mut phone = Phone::new(user(&users, "canvasser-2-1"));
    phone.sync(&server.url).unwrap();
    let mut rng = fastrand::Rng::with_seed(4);
    phone.knock(&mut rng, crate::dashboard::now() - 60_000);
    phone.knock(&mut rng, crate::dashboard::now());
    phone.sync(&server.url).unwrap();
    let synced = Instant::now();
    let (attempts_now, _) = database_figures(&server.db);
    assert_eq!(attempts_now, attempts + 2);
    wait_until(
        "the new attempts on the page",
        Duration::from_secs(10),
        || text(&tab, "total-attempts") == attempts_now.to_string(),
    );
    let took = synced.elapsed();
    assert!(took < Duration::from_secs(2), "the page took {took:?}");
    assert_eq!(js(&tab, "window.stillHere"), "yes", "the page was reloaded");
    assert_eq!(
        js(&tab, "document.activeElement.textContent"),
        "Voters' latest status (CSV)",
        "the update moved the keyboard focus"
    );
    assert!(text(&tab, "updated").starts_with("Updated at"));
    eprintln!("a sync reached the open page in {took:?}");
    screenshot(&tab, "03-campaign-after-sync");

    // The keyboard: from the top, the first Tab reaches the skip link, which leads to the
    // content.
    tab.navigate_to(&format!("{}/dashboard/campaigns/demo-2026", server.url))
        .unwrap();
    wait_until("the campaign page again", Duration::from_secs(10), || {
        js(&tab, "window.stillHere || ''").is_empty() && !text(&tab, "total-attempts").is_empty()
    });
    tab.press_key("Tab").unwrap();
    assert_eq!(
        js(&tab, "document.activeElement.textContent"),
        "Skip to content"
    );
    tab.press_key("Enter").unwrap();
    wait_until("focus on the content", Duration::from_secs(5), || {
        js(&tab, "document.activeElement.id") == "main"
    });
    // Every form field has a label.
    assert_eq!(
        js(
            &tab,
            "String([...document.querySelectorAll('input, select, textarea')].filter(e => e.labels.length === 0).length)"
        ),
        "0"
    );

    // A team's page, then sign out.
    tab.navigate_to(&format!("{}/dashboard/teams/team-1", server.url))
        .unwrap();
    wait_until("the team page", Duration::from_secs(10), || {
        !text(&tab, "total-attempts").is_empty()
    });
    screenshot(&tab, "04-team-as-organizer");
    sign_out(&tab);

    // A captain lands on their team and is refused the other team's page.
    sign_in(&tab, &server.url, &user(&users, "captain-1").token.secret);
    assert_eq!(path_of(&tab), "/dashboard/teams/team-1");
    tab.navigate_to(&format!("{}/dashboard/teams/team-2", server.url))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    wait_until("the refusal", Duration::from_secs(10), || {
        path_of(&tab) == "/dashboard/teams/team-2" && status(&tab) == "403"
    });
    assert!(js(&tab, "document.body.textContent").contains("another team's page"));
    assert_eq!(text(&tab, "total-attempts"), "", "figures leaked");
    screenshot(&tab, "05-captain-refused-other-team");

    // A canvasser's token opens nothing.
    sign_out(&tab);
    sign_in(
        &tab,
        &server.url,
        &user(&users, "canvasser-1-1").token.secret,
    );
    wait_until("the canvasser's refusal", Duration::from_secs(10), || {
        status(&tab) == "403"
    });
    assert!(js(&tab, "document.body.textContent").contains("belongs to a canvasser"));
    screenshot(&tab, "06-canvasser-refused");
}

#[test]
fn the_pages_fit_a_phone_screen() {
    let (server, users, _dir) = field(&plan());
    canvass(&server, &users, 3, 8);
    let chrome = Chromium::launch(1280, 900);
    let tab = chrome.tab();
    // A phone's screen: 390 x 844 CSS pixels at 3x, as a mid-size phone has (a headless
    // window cannot be made narrower than 500 pixels).
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width: 390,
        height: 844,
        device_scale_factor: 3.0,
        mobile: true,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .unwrap();
    sign_in(&tab, &server.url, &user(&users, "captain-2").token.secret);
    assert_eq!(path_of(&tab), "/dashboard/teams/team-2");
    wait_until("the team page", Duration::from_secs(10), || {
        !text(&tab, "total-attempts").is_empty()
    });
    assert_eq!(js(&tab, "String(window.innerWidth)"), "390");
    // Nothing but the tables' own scroll areas is wider than the screen.
    assert_eq!(
        js(
            &tab,
            "String(document.documentElement.scrollWidth <= window.innerWidth)"
        ),
        "true",
        "the page scrolls sideways on a phone"
    );
    // The buttons are big enough for a thumb.
    let small = js(
        &tab,
        "String([...document.querySelectorAll('button, a.button')].filter(b => b.getBoundingClientRect().height < 44).length)",
    );
    assert_eq!(small, "0", "buttons under 44 px");
    screenshot(&tab, "07-team-on-a-phone");
    tab.navigate_to(&format!("{}/dashboard/signin", server.url))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    screenshot(&tab, "08-sign-in-on-a-phone");
}
