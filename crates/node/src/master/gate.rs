//! The gate every slave's call passes (issue 14): signing in on the
//! channel, the people's administration, and, when the office has users,
//! the caller's role checked against the op before it runs. Change events
//! go only to a channel whose person may read their doctype; a person
//! disabled, signed out elsewhere, or whose password changed loses the
//! channel within a second.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use outpost_api::roles::Need;
use outpost_api::{Op, Request, Response};
use tokio::sync::watch;

use super::Shared;
use crate::auth::SignedIn;

/// The person signed in on one channel.
pub(crate) type Seat = Arc<RwLock<Option<Arc<SignedIn>>>>;

/// How often sign-ins are checked against the users.
const USERS_POLL: Duration = Duration::from_millis(500);

/// Who sits on `seat` now.
pub(super) fn seated(seat: &Seat) -> Option<Arc<SignedIn>> {
    seat.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn sit(seat: &Seat, who: Option<SignedIn>) {
    *seat.write().unwrap_or_else(|e| e.into_inner()) = who.map(Arc::new);
}

/// Answers `req` here when it is a sign-in, a people's op, or refused;
/// `None`: it runs on the office database as before, for the person seated.
pub(super) async fn gate(
    shared: &Shared,
    device: &str,
    seat: &Seat,
    req: &Request,
) -> Option<Response> {
    let auth = &shared.auth;
    let answer = |result| {
        Some(Response {
            id: Some(req.id.clone()),
            result,
        })
    };
    match &req.op {
        Op::SignIn(a) => {
            let r = auth.sign_in(device, &a.user, &a.password).await;
            return answer(r.map(|(signed, ans)| {
                sit(seat, Some(signed));
                serde_json::json!(ans)
            }));
        }
        Op::Resume(a) => {
            let r = auth.resume(device, &a.token).await;
            return answer(r.map(|(signed, ans)| {
                sit(seat, Some(signed));
                serde_json::json!(ans)
            }));
        }
        Op::SignOut => {
            if let Some(s) = seated(seat) {
                auth.sign_out(&s).await;
            }
            sit(seat, None);
            return answer(Ok(serde_json::json!({"signed_out": true})));
        }
        _ => {}
    }
    let who = seated(seat);
    if let Some(need) = Need::of(&req.op) {
        let checked = auth.check(who.as_deref(), &need).and_then(|()| match need {
            Need::Upstream(_) => auth.spend_upstream(who.as_deref()),
            _ => Ok(()),
        });
        let checked = match (checked, &req.op) {
            (Ok(()), Op::Update(a)) => auth.check_owner(who.as_deref(), &need, &a.name).await,
            (Ok(()), Op::Delete(a)) => auth.check_owner(who.as_deref(), &need, &a.name).await,
            // A report also reads the parent it joins and the titles of
            // the records it groups by.
            (Ok(()), Op::Report(a)) => {
                outpost_store::report::report_doctypes(&shared.db.store().schema(), a)
                    .iter()
                    .try_for_each(|d| auth.check(who.as_deref(), &Need::Read(d)))
            }
            // Lines go into many records at once: a role limited to its
            // own records imports none (no record is named, none is owned).
            (Ok(()), Op::Import(a)) if a.table.is_some() => {
                auth.check_owner(who.as_deref(), &need, "").await
            }
            (other, _) => other,
        };
        if let Err(e) = checked {
            tracing::info!(
                op = req.op.name(),
                user = who.as_ref().map(|w| w.user.as_str()).unwrap_or("-"),
                "refused: {e}"
            );
            return answer(Err(e));
        }
    }
    if req.op.is_people() {
        return answer(auth.people_call(who.as_deref(), &req.op).await);
    }
    None
}

impl Shared {
    /// Closes session `id`'s channel (revoked device, ended sign-in);
    /// whether it was still open.
    pub(super) async fn end_session(&self, id: u64) -> bool {
        let entry = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        match entry {
            Some(s) => {
                s.tx.close().await;
                true
            }
            None => false,
        }
    }
}

/// Whether the person on `seat` may see a change to `doctype`.
pub(super) fn may_see(shared: &Shared, seat: &Seat, doctype: &str) -> bool {
    shared.auth.can_read(seated(seat).as_deref(), doctype)
}

/// Ends the channels whose person may no longer be signed in, and follows
/// role changes; notices the office's first user.
pub(super) async fn users_watch(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(USERS_POLL) => {}
            _ = stop.changed() => return,
        }
        let seated_now: Vec<(u64, Seat, Arc<SignedIn>)> = shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(id, s)| seated(&s.seat).map(|who| (*id, s.seat.clone(), who)))
            .collect();
        let auth = shared.auth.clone();
        let checked = tokio::task::spawn_blocking(move || {
            auth.refresh();
            let who: Vec<&SignedIn> = seated_now.iter().map(|(_, _, w)| w.as_ref()).collect();
            let now = auth.still_valid_all(&who);
            seated_now
                .into_iter()
                .zip(now)
                .map(|((id, seat, who), now)| (id, seat, who, now))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (id, seat, who, now) in checked {
            match now {
                Some(role) if role == who.role => {}
                Some(role) => {
                    tracing::info!(user = %who.user, %role, "the user's role changed");
                    sit(
                        &seat,
                        Some(SignedIn {
                            role,
                            ..(*who).clone()
                        }),
                    );
                }
                None => {
                    if shared.end_session(id).await {
                        tracing::info!(user = %who.user, "the sign-in ended (disabled, new password, signed out, or expired): its channel closed");
                    }
                }
            }
        }
    }
}

/// The master PC's own window (the desktop app in master mode), which signs
/// in like any slave: its calls pass the same gate, under its own label.
pub struct LocalSession {
    shared: Arc<Shared>,
    seat: Seat,
    db: outpost_api::LocalDb,
    /// When the seated person was last checked against the users.
    checked: std::sync::Mutex<std::time::Instant>,
}

impl super::Master {
    /// A session for a window on this PC, acting as `label` (e.g.
    /// `master-window`): nobody signed in yet.
    pub fn local_session(&self, label: &str) -> LocalSession {
        LocalSession {
            shared: self.shared.clone(),
            seat: Seat::default(),
            db: self.shared.db.for_device(label),
            checked: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }
}

impl LocalSession {
    /// Runs `req` as the window's person (or answers the sign-in, or
    /// refuses, as the master would to a slave).
    pub async fn call(&self, req: Request) -> Response {
        use outpost_api::Db;
        self.recheck().await;
        if let Some(answer) = gate(&self.shared, self.db.device(), &self.seat, &req).await {
            return answer;
        }
        self.db
            .as_user(seated(&self.seat).map(|s| s.user.clone()))
            .call(req)
            .await
    }

    /// A person disabled, signed out elsewhere or given a new password is
    /// no longer seated here (checked at most every [`USERS_POLL`]).
    async fn recheck(&self) {
        let Some(who) = seated(&self.seat) else {
            return;
        };
        {
            let mut at = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if at.elapsed() < USERS_POLL {
                return;
            }
            *at = std::time::Instant::now();
        }
        let auth = self.shared.auth.clone();
        let still = tokio::task::spawn_blocking(move || auth.still_valid(&who))
            .await
            .ok()
            .flatten();
        match still {
            None => {
                tracing::info!("the window's sign-in ended");
                sit(&self.seat, None);
            }
            Some(role) => {
                if let Some(w) = seated(&self.seat).filter(|w| w.role != role) {
                    sit(
                        &self.seat,
                        Some(SignedIn {
                            role,
                            ..(*w).clone()
                        }),
                    );
                }
            }
        }
    }

    /// Who is signed in on this window.
    pub fn signed_in(&self) -> Option<Arc<SignedIn>> {
        seated(&self.seat)
    }

    /// Whether the window's person may see changes to `doctype`.
    pub fn may_see(&self, doctype: &str) -> bool {
        may_see(&self.shared, &self.seat, doctype)
    }

    /// Whether the window's person holds the administration right `right`
    /// (anyone may, in an office without users): the master PC's own
    /// screens (devices, backups, head office) ask before they act.
    pub fn check_admin(
        &self,
        right: outpost_api::roles::AdminRight,
    ) -> Result<(), outpost_api::ApiError> {
        self.shared
            .auth
            .check(seated(&self.seat).as_deref(), &Need::Admin(right))
    }

    /// Whether everyone signs in on this master (it has users).
    pub fn sign_in_required(&self) -> bool {
        self.shared.auth.required()
    }
}
