//! Signing in from a slave (issue 14). A person signs in on the channel
//! (`auth.sign_in`); the master answers with a token bound to this device,
//! which this slave keeps in memory only and uses to resume the sign-in on
//! each reconnect (`auth.resume`), before any other call goes out. A CLI
//! slave given a user and password signs in by itself on each connect; a
//! window signs in through ordinary calls, whose answers are noted here.

use std::sync::Mutex;

use outpost_api::protocol::{ResumeArgs, Secret, SignInArgs};
use outpost_api::{ApiError, ErrorCode, Op};
use outpost_link::{ChannelReceiver, ChannelSender};
use serde_json::Value;

use super::resolve::ask;

/// Who signs in, for a slave that signs in by itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// This slave's sign-in.
#[derive(Default)]
pub(super) struct Person {
    credentials: Option<Credentials>,
    token: Option<Secret>,
}

impl Person {
    pub(super) fn new(credentials: Option<Credentials>) -> Person {
        Person {
            credentials,
            token: None,
        }
    }
}

/// Notes what an answer says about the sign-in: a new token, a sign-out,
/// or a sign-in the master ended.
pub(super) fn note(person: &Mutex<Person>, op: &Op, result: &Result<Value, ApiError>) {
    let mut p = person.lock().unwrap_or_else(|e| e.into_inner());
    match (op, result) {
        (Op::SignIn(_) | Op::Resume(_), Ok(v)) => {
            p.token = v["token"].as_str().map(|t| Secret(t.to_string()));
        }
        (Op::SignOut, _) => p.token = None,
        (_, Err(e)) if reason(e) == Some("sign_in_ended") => p.token = None,
        _ => {}
    }
}

fn reason(e: &ApiError) -> Option<&str> {
    e.details.as_ref()?.get("reason")?.as_str()
}

/// On a new channel, after the hello: resumes the sign-in this slave has,
/// or signs in with its credentials. `Err`: the credentials were refused
/// (nothing else can go out as that person).
pub(super) async fn after_hello(
    person: &Mutex<Person>,
    tx: &ChannelSender,
    rx: &mut ChannelReceiver,
) -> Result<(), ApiError> {
    let (token, credentials) = {
        let p = person.lock().unwrap_or_else(|e| e.into_inner());
        (p.token.clone(), p.credentials.clone())
    };
    let lost = |why: String| ApiError::new(ErrorCode::Unavailable, why);
    if let Some(token) = token {
        let op = Op::Resume(ResumeArgs { token });
        let result = ask(tx, rx, op.clone()).await.map_err(lost)?;
        note(person, &op, &result);
        if result.is_ok() {
            return Ok(());
        }
    }
    let Some(c) = credentials else {
        return Ok(());
    };
    let op = Op::SignIn(SignInArgs {
        user: c.user,
        password: c.password,
    });
    let result = ask(tx, rx, op.clone()).await.map_err(lost)?;
    note(person, &op, &result);
    result.map(|_| ())
}
