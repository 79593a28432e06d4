//! Signing in to the dashboard: a token (the same one the organizer issues for a phone) is
//! exchanged once for a session cookie, so the token never travels again. The cookie is
//! HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it, which is what
//! keeps forms like sign-out safe from forgery), and Secure when the page was served over TLS.

use super::PageError;
use crate::AppState;
use crate::auth::token_hash;
use crate::storage::{Dashboard, Principal};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use cookie::{Cookie, SameSite};
use doorstep_core::sync::Role;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "doorstep_session";

/// How long a sign-in lasts: a long day in the field office.
pub const SESSION_HOURS: i64 = 14;

/// Who is looking at a page: an organizer or a captain with a live session.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The user.
    pub who: Principal,
}

impl Viewer {
    /// Whether they may see a team's page: an organizer any, a captain their own.
    pub fn may_see_team(&self, team: &str) -> bool {
        match self.who.role {
            Role::Admin => true,
            Role::Captain => self.who.team.as_deref() == Some(team),
            Role::Canvasser => false,
        }
    }

    /// Whether they may see a whole campaign.
    pub fn may_see_campaign(&self) -> bool {
        self.who.role == Role::Admin
    }
}

/// The session secret in a request's cookies, hashed as stored.
pub fn session_hash(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| Sha256::digest(c.value().as_bytes()).into())
}

/// A new session secret (the cookie's value) and the hash stored for it.
pub fn new_secret() -> Result<(String, [u8; 32]), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = hex::encode(bytes);
    let hash = Sha256::digest(secret.as_bytes()).into();
    Ok((secret, hash))
}

/// Whether the request reached us over TLS (directly, or through a proxy that says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .any(|p| p.trim().eq_ignore_ascii_case("proto=https"))
        });
    forwarded_proto || forwarded
}

/// Whether a form was sent by a page of this server. Browsers say where a request comes from
/// (`Sec-Fetch-Site`, or else `Origin`); a form another site posts here (to sign a visitor in
/// to someone else's session, or out of theirs) is refused. A request saying neither (not from
/// a browser) is let through: it carries no victim's cookie.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN) else {
        return true;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    // The host the browser asked for: this server's, or the one a proxy in front says it was.
    let forwarded = text(header::HeaderName::from_static("x-forwarded-host"))
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    [text(header::HOST), forwarded]
        .into_iter()
        .flatten()
        .any(|host| authority.eq_ignore_ascii_case(host))
}

/// The `Set-Cookie` value that starts a session.
pub fn start_cookie(secret: String, tls: bool) -> String {
    Cookie::build((COOKIE, secret))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(tls)
        .path("/")
        .max_age(cookie::time::Duration::hours(SESSION_HOURS))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that ends one.
pub fn end_cookie(tls: bool) -> String {
    Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(tls)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The token a sign-in form carries, hashed as stored.
pub fn token_of(form_token: &str) -> Option<[u8; 32]> {
    let token = form_token.trim();
    (!token.is_empty()).then(|| token_hash(token))
}

impl<S: Dashboard> FromRequestParts<AppState<S>> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<Self, Self::Rejection> {
        let hash = session_hash(&parts.headers).ok_or(PageError::SignIn)?;
        let engine = state.engine.clone();
        let now = crate::handlers::sync::now_ms();
        let who = tokio::task::spawn_blocking(move || engine.storage().session(&hash, now))
            .await
            .map_err(|e| PageError::internal(&e))?
            .map_err(PageError::from)?
            .ok_or(PageError::SignIn)?;
        if who.role == Role::Canvasser {
            return Err(PageError::CanvasserToken);
        }
        Ok(Viewer { who })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_httponly_strict_and_secure_only_over_tls() {
        let plain = start_cookie("abc".into(), false);
        assert!(plain.contains("HttpOnly"), "{plain}");
        assert!(plain.contains("SameSite=Strict"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(start_cookie("abc".into(), true).contains("Secure"));
        assert!(end_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn tls_is_read_from_the_proxy_headers() {
        let mut h = HeaderMap::new();
        assert!(!over_tls(&h));
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(over_tls(&h));
        let mut h = HeaderMap::new();
        h.insert(
            header::FORWARDED,
            "for=1.2.3.4;proto=https".parse().unwrap(),
        );
        assert!(over_tls(&h));
    }

    #[test]
    fn forms_from_other_sites_are_told_apart() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&h(&[])));
        assert!(same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&h(&[("sec-fetch-site", "none")])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&h(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&h(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        // Behind a proxy that rewrites Host and says which it was.
        assert!(same_origin(&h(&[
            ("origin", "https://field.example.org"),
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "field.example.org")
        ])));
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; doorstep_session=xyz; b=2".parse().unwrap(),
        );
        let expected: [u8; 32] = Sha256::digest(b"xyz").into();
        assert_eq!(session_hash(&h), Some(expected));
        assert_eq!(session_hash(&HeaderMap::new()), None);
    }
}
