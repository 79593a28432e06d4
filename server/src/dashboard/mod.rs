//! The dashboard: pages for organizers and field captains, served by `doorstep serve`.
//!
//! - `GET /dashboard/signin`, `POST /dashboard/signin` (a token), `POST /dashboard/signout`;
//! - `GET /dashboard`: an organizer's campaigns and teams (a captain goes to their team);
//! - `GET /dashboard/campaigns/{id}` (organizers) and `GET /dashboard/teams/{id}` (organizers,
//!   and that team's captain): progress, chart, map, turfs, people, exports;
//!   `?part=live` answers only the part that live updates replace;
//! - `GET /dashboard/{campaigns|teams}/{id}/{attempts|voters}.csv`: the exports, for that scope;
//! - `GET /dashboard/live`: Server-Sent Events announcing every stored change.

pub mod cache;
pub mod live;
pub mod pages;
pub mod session;
pub mod svg;
pub mod view;

use crate::AppState;
use crate::handlers::sync::now_ms;
use crate::setup::export;
use crate::storage::dashboard::Scope;
use crate::storage::{Dashboard, Principal};
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use doorstep_core::sync::Role;
use maud::Markup;
use session::Viewer;
use std::collections::HashSet;

/// Where the pages' resources may come from: this server only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes.
pub fn routes<S: Dashboard>() -> Router<AppState<S>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(home::<S>))
        .route("/dashboard/signin", get(sign_in_form).post(sign_in::<S>))
        .route("/dashboard/signout", post(sign_out::<S>))
        .route("/dashboard/campaigns/{id}", get(campaign::<S>))
        .route("/dashboard/teams/{id}", get(team::<S>))
        .route("/dashboard/{kind}/{id}/{file}", get(export_csv::<S>))
        .route("/dashboard/live", get(live::live::<S>))
        .route("/dashboard/static/dashboard.css", get(css))
        .route("/dashboard/static/dashboard.js", get(js))
}

/// Why a page cannot be shown. Renders as a page that says so; never carries personal data.
#[derive(Debug)]
pub enum PageError {
    /// No session, or it ended: go and sign in.
    SignIn,
    /// A canvasser's token: the dashboard is not for canvassers.
    CanvasserToken,
    /// Signed in, but this page is not theirs.
    Forbidden(String, Viewer),
    /// No such campaign or team.
    NotFound(String),
    /// The request itself is wrong.
    BadRequest(String),
    /// A form posted here by another site.
    CrossSite,
    /// The server failed; the cause is logged.
    Internal,
    /// The database cannot be reached just now; the cause is logged.
    Unavailable,
}

impl PageError {
    /// A server failure, logged with its cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dashboard: internal error");
        Self::Internal
    }
}

const CANVASSER_MESSAGE: &str = "This token belongs to a canvasser. The dashboard is for \
     organizers and field captains; canvassers record and sync with the Doorstep app on their \
     phone. Ask your organizer if you need to see your team's progress.";

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::SignIn => return Redirect::to("/dashboard/signin").into_response(),
            Self::CanvasserToken => (
                StatusCode::FORBIDDEN,
                "Not for canvassers",
                CANVASSER_MESSAGE.to_owned(),
            ),
            Self::Forbidden(m, viewer) => {
                return html(
                    StatusCode::FORBIDDEN,
                    pages::problem("Not your page", &m, Some(&viewer)),
                );
            }
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "Sent from another site",
                "This form was sent from a page of another site, so nothing was done. Sign in and \
                 out from the dashboard's own pages."
                    .to_owned(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unreachable",
                "The server cannot reach its database just now (a restart, a failover), or \
                 it is too busy. Reload in a few seconds; if you had sent a form, check then \
                 whether it took effect."
                    .to_owned(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something failed",
                "The server failed to show this page. Nothing was changed; reload to try again."
                    .to_owned(),
            ),
        };
        html(status, pages::problem(title, &message, None))
    }
}

/// An HTML response with the dashboard's headers: nothing from other hosts, no caching of
/// figures, no framing.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, markup).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

async fn blocking<S: Dashboard, T: Send + 'static>(
    state: &AppState<S>,
    f: impl FnOnce(&S) -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || f(engine.storage()))
        .await
        .map_err(|e| PageError::internal(&e))?
}

async fn home<S: Dashboard>(
    State(state): State<AppState<S>>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    match (viewer.who.role, viewer.who.team.clone()) {
        (Role::Admin, _) => {
            let (campaigns, teams) = blocking(&state, |s| Ok((s.campaigns()?, s.teams()?))).await?;
            Ok(html(
                StatusCode::OK,
                pages::home(&viewer, &campaigns, &teams),
            ))
        }
        (_, Some(team)) => Ok(Redirect::to(&format!("/dashboard/teams/{team}")).into_response()),
        _ => Err(PageError::Forbidden(
            "You are a field captain without a team: ask your organizer to add you to one.".into(),
            viewer,
        )),
    }
}

async fn sign_in_form() -> Response {
    html(StatusCode::OK, pages::sign_in(None))
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct SignIn {
    /// The token.
    pub token: String,
}

async fn sign_in<S: Dashboard>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers) {
        return Err(PageError::CrossSite);
    }
    let unknown = || {
        html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(Some(
                "That token is unknown or was revoked. Check that it was copied whole \
                 (it starts with dst_), or ask your organizer for a new one.",
            )),
        )
    };
    let Some(token) = form.ok().and_then(|f| session::token_of(&f.token)) else {
        return Ok(unknown());
    };
    let (secret, hash) = session::new_secret().map_err(|e| PageError::internal(&e))?;
    let now = now_ms();
    let expires = now + session::SESSION_HOURS * 3_600_000;
    let opened = blocking(&state, move |s| {
        // A canvasser's token opens no session at all.
        match s.authenticate(&token)? {
            Some(Principal {
                role: Role::Canvasser,
                ..
            }) => Ok(Some(Role::Canvasser)),
            Some(_) => Ok(s.open_session(&hash, &token, now, expires)?.map(|p| p.role)),
            None => Ok(None),
        }
    })
    .await?;
    match opened {
        None => Ok(unknown()),
        Some(Role::Canvasser) => Err(PageError::CanvasserToken),
        Some(_) => {
            let mut res = Redirect::to("/dashboard").into_response();
            let cookie =
                session::start_cookie(secret, state.secure_cookies || session::over_tls(&headers));
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).map_err(|e| PageError::internal(&e))?,
            );
            Ok(res)
        }
    }
}

async fn sign_out<S: Dashboard>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if !session::same_origin(&headers) {
        return Err(PageError::CrossSite);
    }
    if let Some(hash) = session::session_hash(&headers) {
        blocking(&state, move |s| Ok(s.close_session(&hash)?)).await?;
    }
    let mut res = Redirect::to("/dashboard/signin").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::end_cookie(
            state.secure_cookies || session::over_tls(&headers),
        ))
        .map_err(|e| PageError::internal(&e))?,
    );
    Ok(res)
}

/// A page's query: which page of each table, and whether only the live part is wanted.
/// (Flat fields: serde's `flatten` cannot read numbers from a query string.)
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    /// Page of the turf table.
    #[serde(default)]
    turfs: usize,
    /// Page of the people table.
    #[serde(default)]
    people: usize,
    part: Option<String>,
}

impl PageQuery {
    fn pages(&self) -> pages::Pages {
        pages::Pages {
            turfs: self.turfs,
            people: self.people,
        }
    }
}

async fn campaign<S: Dashboard>(
    state: State<AppState<S>>,
    viewer: Viewer,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if !viewer.may_see_campaign() {
        let message = match &viewer.who.team {
            Some(team) => format!(
                "Field captains see their own team's page, not the whole campaign: go to /dashboard/teams/{team}."
            ),
            None => "Only organizers see a whole campaign.".to_owned(),
        };
        return Err(PageError::Forbidden(message, viewer));
    }
    overview_page(state, viewer, Scope::Campaign(id), query).await
}

async fn team<S: Dashboard>(
    state: State<AppState<S>>,
    viewer: Viewer,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if !viewer.may_see_team(&id) {
        return Err(PageError::Forbidden(
            "This is another team's page: a field captain sees only their own team.".to_owned(),
            viewer,
        ));
    }
    overview_page(state, viewer, Scope::Team(id), query).await
}

async fn overview_page<S: Dashboard>(
    State(state): State<AppState<S>>,
    viewer: Viewer,
    scope: Scope,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    // Read before the figures: a change stored while they are gathered is announced again.
    let since = live::counter(&state).await;
    let (overview, behind) = state.dashboard.gather(&state, scope, since).await?;
    if query.part.as_deref() == Some("live") {
        return Ok(html(
            StatusCode::OK,
            pages::live(&overview, query.pages(), behind),
        ));
    }
    Ok(html(
        StatusCode::OK,
        pages::overview(&viewer, &overview, query.pages(), since, behind),
    ))
}

/// The turfs of a scope.
fn scope_turfs(storage: &impl Dashboard, scope: &Scope) -> Result<HashSet<String>, PageError> {
    let who = match scope {
        Scope::Campaign(_) => Principal {
            user: "dashboard".into(),
            role: Role::Admin,
            team: None,
        },
        Scope::Team(team) => Principal {
            user: "dashboard".into(),
            role: Role::Captain,
            team: Some(team.clone()),
        },
    };
    let grants = storage.grants(&who)?;
    Ok(grants
        .turfs
        .into_iter()
        .filter(|(_, campaign)| match scope {
            Scope::Campaign(c) => campaign == c,
            Scope::Team(_) => true,
        })
        .map(|(turf, _)| turf)
        .collect())
}

async fn export_csv<S: Dashboard>(
    State(state): State<AppState<S>>,
    viewer: Viewer,
    Path((kind, id, file)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let scope = match kind.as_str() {
        "campaigns" if viewer.may_see_campaign() => Scope::Campaign(id.clone()),
        "teams" if viewer.may_see_team(&id) => Scope::Team(id.clone()),
        "campaigns" | "teams" => {
            return Err(PageError::Forbidden(
                "These results are not yours to export: a field captain exports only their own team's."
                    .to_owned(),
                viewer,
            ));
        }
        _ => return Err(PageError::NotFound(format!("There is no page '{kind}'."))),
    };
    let voters = match file.as_str() {
        "attempts.csv" => false,
        "voters.csv" => true,
        _ => {
            return Err(PageError::NotFound(format!(
                "There is no export '{file}': try attempts.csv or voters.csv."
            )));
        }
    };
    let body = blocking(&state, move |s| {
        let turfs = scope_turfs(s, &scope)?;
        let mut out = Vec::new();
        let written = if voters {
            export::export_voters_of(s, &mut out, Some(&turfs))
        } else {
            export::export_attempts_of(s, &mut out, false, Some(&turfs))
        };
        written.map_err(|e| PageError::internal(&e))?;
        Ok(out)
    })
    .await?;
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!(
        "doorstep-{}-{safe}-{}",
        kind.trim_end_matches('s'),
        file.as_str()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        pages::CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        pages::JS,
    )
        .into_response()
}
