//! `team add`, `canvasser add`, `assign`, `revoke`. Every storage operation they call brings
//! the documents of the teams it touches in step in its own transaction (members, who holds
//! which turf), so the teams' phones learn of it at their next sync, through a running server
//! too.

use super::SetupError;
use crate::auth::{IssuedToken, issue_token};
use crate::storage::{NewUser, Organize};
use doorstep_core::sync::Role;

/// An id from a display name: lower case letters, digits and dashes (`Team Durham 1` becomes
/// `team-durham-1`).
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn check_id(id: &str, what: &str) -> Result<(), SetupError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(SetupError::Refused(format!(
            "'{id}' cannot be a {what} id: use 1 to 64 letters, digits, '-', '_' or '.' (pass --id)"
        )));
    }
    Ok(())
}

/// Creates a team; returns its id.
pub fn add_team(
    storage: &impl Organize,
    name: &str,
    id: Option<&str>,
) -> Result<String, SetupError> {
    let id = id.map_or_else(|| slug(name), str::to_owned);
    check_id(&id, "team")?;
    if storage.team_exists(&id)? {
        return Err(SetupError::Refused(format!(
            "team '{id}' already exists; pick another name or --id"
        )));
    }
    storage.add_team(&id, name.trim())?;
    Ok(id)
}

/// A canvasser (or captain) created, with their sign-in token.
#[derive(Debug, Clone)]
pub struct NewCanvasser {
    /// Their id.
    pub id: String,
    /// Their token: shown once.
    pub token: IssuedToken,
}

/// Creates a canvasser (or a captain) on a team and issues their first token.
pub fn add_canvasser(
    storage: &impl Organize,
    name: &str,
    team: &str,
    captain: bool,
    id: Option<&str>,
    now: i64,
) -> Result<NewCanvasser, SetupError> {
    if !storage.team_exists(team)? {
        return Err(SetupError::Refused(format!(
            "there is no team '{team}'; create it with `doorstep team add NAME`"
        )));
    }
    let id = match id {
        Some(id) => {
            if storage.user(id)?.is_some() {
                return Err(SetupError::Refused(format!(
                    "user '{id}' already exists; pick another --id"
                )));
            }
            id.to_owned()
        }
        None => {
            // Opaque, not made from the name: the id shows up in logs, exports and stats.
            loop {
                let mut bytes = [0u8; 4];
                getrandom::fill(&mut bytes).map_err(|e| {
                    SetupError::Refused(format!("no randomness for an id: {e}; pass --id"))
                })?;
                let id = format!("cv-{}", hex::encode(bytes));
                if storage.user(&id)?.is_none() {
                    break id;
                }
            }
        }
    };
    check_id(&id, "canvasser")?;
    storage.add_user(&NewUser {
        id: id.clone(),
        name: name.trim().to_owned(),
        role: if captain {
            Role::Captain
        } else {
            Role::Canvasser
        },
        team: Some(team.to_owned()),
    })?;
    let token = issue_token(storage, &id, now)?;
    Ok(NewCanvasser { id, token })
}

/// Assigns a turf (or call list) to a canvasser. A turf no team holds goes to the canvasser's
/// team; one held by another team moves only with `move_team`. The team documents involved
/// follow in the same transactions, so the team's phones learn it at their next sync.
pub fn assign(
    storage: &impl Organize,
    turf: &str,
    user: &str,
    move_team: bool,
) -> Result<(), SetupError> {
    let Some(t) = storage.turf(turf)? else {
        return Err(SetupError::Refused(format!(
            "there is no turf '{turf}'; `doorstep stats` lists them"
        )));
    };
    let Some(u) = storage.user(user)? else {
        return Err(SetupError::Refused(format!(
            "there is no canvasser '{user}'; add one with `doorstep canvasser add NAME --team T`"
        )));
    };
    if u.revoked {
        return Err(SetupError::Refused(format!(
            "'{user}' was revoked; to bring them back, issue them a token first (`doorstep token issue --user {user}`)"
        )));
    }
    match (&t.team, &u.team) {
        (_, None) => {
            return Err(SetupError::Refused(format!(
                "'{user}' is on no team; turfs go to canvassers on a team"
            )));
        }
        (None, Some(team)) => storage.set_turf_team(turf, team)?,
        (Some(a), Some(b)) if a == b => {}
        (Some(a), Some(b)) => {
            if !move_team {
                return Err(SetupError::Refused(format!(
                    "turf '{turf}' belongs to team '{a}' and '{user}' is on team '{b}'; pass --move to hand the turf to team '{b}'"
                )));
            }
            storage.set_turf_team(turf, b)?;
        }
    }
    storage.assign(turf, user)?;
    Ok(())
}

/// Revokes every token of a user, takes them off their team's document and withdraws their
/// turfs. Their phone keeps what it recorded and is told at its next sync; what they recorded
/// before may still reach the server through a teammate.
pub fn revoke(storage: &impl Organize, user: &str, now: i64) -> Result<(u64, u64), SetupError> {
    if storage.user(user)?.is_none() {
        return Err(SetupError::Refused(format!("there is no user '{user}'")));
    }
    Ok(storage.revoke_user(user, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ids() {
        assert_eq!(slug("Team Durham 1"), "team-durham-1");
        assert_eq!(slug("  José  Martí "), "jos-mart");
        assert_eq!(slug("--"), "");
    }
}
