//! Who uses this phone and which server it syncs with: the canvasser signed in, their role as
//! the server last reported it, the server's address and the token.

use super::{Store, storage_tx};
use crate::domain::CanvasserId;
use crate::error::{Error, Result};
use rusqlite::OptionalExtension;

impl Store {
    /// Records who uses this phone; their id goes on every attempt.
    pub fn sign_in(&mut self, canvasser: &CanvasserId) -> Result<()> {
        if canvasser.0.is_empty() {
            return Err(Error::Empty {
                field: "canvasser id",
            });
        }
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('canvasser', ?1)",
            [canvasser.as_str()],
        )?;
        self.canvasser = Some(canvasser.clone());
        Ok(())
    }

    /// The canvasser signed in, if any.
    pub fn signed_in(&self) -> Result<Option<CanvasserId>> {
        Ok(self.canvasser.clone())
    }

    /// The user's role as the server last reported it (`canvasser`, `captain`, `admin`), if
    /// this phone has synced.
    pub fn role(&self) -> Result<Option<String>> {
        self.meta_text("role")
    }

    pub(super) fn read_canvasser(&self) -> Result<Option<CanvasserId>> {
        Ok(self.meta_text("canvasser")?.map(CanvasserId))
    }

    fn meta_text(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Remembers the server this phone syncs with and the token it signs in with. The token
    /// stays in this phone's database (inside the app's private storage), so the app can sync
    /// after a restart without asking again.
    pub fn set_server(&mut self, url: &str, token: &str) -> Result<()> {
        let (url, token) = Self::check_server(url, token)?;
        let tx = storage_tx(&mut self.conn)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_url', ?1)",
            [&url],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_token', ?1)",
            [&token],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Checks a server address and token before they are used, and returns them trimmed.
    pub fn check_server(url: &str, token: &str) -> Result<(String, String)> {
        let url = url.trim().trim_end_matches('/');
        if let Some(rest) = url.strip_prefix("http://") {
            // The token and the walk lists (names, addresses) must not cross a network in clear.
            let host = rest.split('/').next().unwrap_or_default();
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            if !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
                return Err(Error::InvalidServer {
                    reason: "use an https:// address; plain http:// is only for a server on this \
                             device",
                });
            }
        } else if !url.starts_with("https://") {
            return Err(Error::InvalidServer {
                reason: "the server address must start with https://",
            });
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::Empty { field: "token" });
        }
        Ok((url.to_owned(), token.to_owned()))
    }

    /// The server address and token set by [`Store::set_server`], if any.
    pub fn server(&self) -> Result<Option<(String, String)>> {
        Ok(self
            .meta_text("server_url")?
            .zip(self.meta_text("server_token")?))
    }

    /// Forgets the server, the token and who is signed in. Refused while results wait to be
    /// synced: signing out must never discard a knock.
    pub fn sign_out(&mut self) -> Result<()> {
        let waiting = self.outbox_count()?;
        if waiting > 0 {
            return Err(Error::UnsyncedResults { count: waiting });
        }
        let tx = storage_tx(&mut self.conn)?;
        // The role stays until the next sign-in replaces it: the phone still holds that user's
        // turfs, and a bundle imported meanwhile is judged as it would have been before.
        tx.execute(
            "DELETE FROM meta WHERE key IN ('server_url', 'server_token', 'canvasser')",
            [],
        )?;
        tx.commit()?;
        self.canvasser = None;
        Ok(())
    }
}
