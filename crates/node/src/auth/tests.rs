use super::*;
use outpost_api::protocol::{UserAddArgs, UserNameArgs, UserPasswdArgs, UserRoleArgs};
use outpost_api::{Db, Op};

fn secret(s: &str) -> Secret {
    Secret(s.into())
}

async fn office() -> (tempfile::TempDir, Arc<Auth>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(store, dir.path());
    assert!(
        !auth.required(),
        "an office without users asks nobody to sign in"
    );
    assert!(auth.check(None, &Need::Delete("Party")).is_ok());
    let add = Op::UsersAdd(UserAddArgs {
        name: "Amina".into(),
        role: "Manager".into(),
        password: secret("correct horse"),
    });
    auth.people_call(None, &add).await.unwrap();
    assert!(auth.required());
    (dir, auth)
}

#[tokio::test]
async fn people_sign_in_resume_and_sign_out_and_roles_are_enforced() {
    let (_dir, auth) = office().await;
    let e = auth.check(None, &Need::SignedIn).unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    let (amina, answer) = auth
        .sign_in("dev1", "amina", &secret("correct horse"))
        .await
        .unwrap();
    assert_eq!(
        (amina.user.as_str(), amina.role.as_str()),
        ("Amina", "Manager")
    );
    assert!(answer
        .rights
        .admin
        .contains(&outpost_api::roles::AdminRight::Users));
    // The token resumes the sign-in from its own device only.
    let token = secret(&answer.token);
    assert_eq!(auth.resume("dev1", &token).await.unwrap().0, amina);
    assert!(auth.resume("dev2", &token).await.is_err());

    let add = Op::UsersAdd(UserAddArgs {
        name: "Bilal".into(),
        role: "Clerk".into(),
        password: secret("clerk's password"),
    });
    auth.check(Some(&amina), &Need::of(&add).unwrap()).unwrap();
    auth.people_call(Some(&amina), &add).await.unwrap();
    let short = Op::UsersAdd(UserAddArgs {
        name: "Chen".into(),
        role: "Clerk".into(),
        password: secret("short"),
    });
    let e = auth.people_call(Some(&amina), &short).await.unwrap_err();
    assert!(e.message.contains("at least 8"), "{e}");
    let (bilal, _) = auth
        .sign_in("dev2", "Bilal", &secret("clerk's password"))
        .await
        .unwrap();
    let e = auth
        .check(Some(&bilal), &Need::Delete("Party"))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(auth.check(Some(&bilal), &Need::Create("Sale")).is_ok());
    assert!(auth.can_read(Some(&bilal), "Party"));
    let e = auth
        .check(Some(&bilal), &Need::of(&Op::UsersList).unwrap())
        .unwrap_err();
    assert!(e.message.contains("administer users"), "{e}");

    // Bilal sets his own password with the current one only.
    let own = |current: Option<&str>| {
        Op::UsersPasswd(UserPasswdArgs {
            name: "bilal".into(),
            password: secret("a new password"),
            current: current.map(secret),
        })
    };
    assert!(auth.people_call(Some(&bilal), &own(None)).await.is_err());
    assert!(auth
        .people_call(Some(&bilal), &own(Some("wrong one")))
        .await
        .is_err());
    let (bilal_elsewhere, _) = auth
        .sign_in("dev3", "Bilal", &secret("clerk's password"))
        .await
        .unwrap();
    auth.people_call(Some(&bilal), &own(Some("clerk's password")))
        .await
        .unwrap();
    // ... which ended his other sign-ins, not the one he did it from.
    assert_eq!(auth.still_valid(&bilal_elsewhere), None);
    assert_eq!(auth.still_valid(&bilal).as_deref(), Some("Clerk"));
    assert_eq!(auth.still_valid(&amina).as_deref(), Some("Manager"));
    // The master's check of every open channel at once says the same.
    assert_eq!(
        auth.still_valid_all(&[&bilal_elsewhere, &bilal, &amina]),
        vec![None, Some("Clerk".to_string()), Some("Manager".to_string())]
    );
    // A password set by an administrator ends them all.
    auth.people_call(
        Some(&amina),
        &Op::UsersPasswd(UserPasswdArgs {
            name: "Bilal".into(),
            password: secret("a new password"),
            current: None,
        }),
    )
    .await
    .unwrap();
    assert_eq!(auth.still_valid(&bilal), None);
    assert_eq!(auth.still_valid_all(&[&bilal, &amina])[0], None);

    // The last user administrator can be neither disabled nor demoted.
    let e = auth
        .people_call(
            Some(&amina),
            &Op::UsersDisable(UserNameArgs {
                name: "Amina".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("last user"), "{e}");
    let e = auth
        .people_call(
            Some(&amina),
            &Op::UsersRole(UserRoleArgs {
                name: "Amina".into(),
                role: "Viewer".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("last user"), "{e}");
    auth.people_call(
        Some(&amina),
        &Op::UsersDisable(UserNameArgs {
            name: "Bilal".into(),
        }),
    )
    .await
    .unwrap();
    let e = auth
        .sign_in("dev2", "Bilal", &secret("a new password"))
        .await
        .unwrap_err();
    assert!(e.message.contains("disabled"), "{e}");

    auth.sign_out(&amina).await;
    assert_eq!(auth.still_valid(&amina), None);
    assert!(auth.resume("dev1", &token).await.is_err());
}

#[tokio::test]
async fn wrong_passwords_slow_the_device_and_name_nobody() {
    let (_dir, auth) = office().await;
    let mut slowed = None;
    for _ in 0..6 {
        match auth
            .sign_in("attacker", "Amina", &secret("guess guess"))
            .await
        {
            Err(e) if e.message.contains("try again in") => {
                slowed = Some(e);
                break;
            }
            Err(e) => assert_eq!(e.message, "wrong user name or password"),
            Ok(_) => panic!("a wrong password was taken"),
        }
    }
    assert!(slowed.is_some(), "the device was never slowed");
    // An unknown name gets the same words as a wrong password.
    let e = auth
        .sign_in("other", "Nobody", &secret("guess guess"))
        .await
        .unwrap_err();
    assert_eq!(e.message, "wrong user name or password");
    // Another device signs the same person in.
    assert!(auth
        .sign_in("front desk", "Amina", &secret("correct horse"))
        .await
        .is_ok());
}

#[test]
fn a_bad_roles_file_leaves_the_built_ins_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    std::fs::write(
        dir.path().join(ROLES_FILE),
        "{\"roles\": {\"Manager\": {}}}",
    )
    .unwrap();
    let auth = Auth::new(store, dir.path());
    auth.with_roles(|roles, problem| {
        assert_eq!(roles.len(), 3);
        assert!(problem.unwrap().contains("built-in"));
    });
    let s = format!(
        "{:?}",
        Op::SignIn(outpost_api::protocol::SignInArgs {
            user: "Amina".into(),
            password: secret("correct horse")
        })
    );
    assert!(!s.contains("correct horse"), "{s}");
}

#[tokio::test]
async fn queries_to_head_office_are_counted_against_the_role_s_daily_budget() {
    let (_dir, auth) = office().await;
    let (amina, _) = auth
        .sign_in("dev1", "Amina", &secret("correct horse"))
        .await
        .unwrap();
    let budget = auth.with_roles(|r, _| r["Manager"].upstream_queries_per_day);
    for _ in 0..budget {
        auth.spend_upstream(Some(&amina)).unwrap();
    }
    let e = auth.spend_upstream(Some(&amina)).unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(e.message.contains("until tomorrow"), "{e}");
}

#[tokio::test]
async fn a_role_limited_to_its_own_records_changes_only_those() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(ROLES_FILE),
        r#"{"roles": {"Seller": {"doctypes": {"Party": {"read": true, "create": true, "write": true, "delete": true, "own_only": true}}}}}"#,
    )
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let auth = Auth::new(store.clone(), dir.path());
    for (name, pw) in [("Eve", "eve's password"), ("Fay", "fay's password")] {
        auth.owner_call(&Op::UsersAdd(UserAddArgs {
            name: name.into(),
            role: "Seller".into(),
            password: secret(pw),
        }))
        .await
        .unwrap();
    }
    let (eve, _) = auth
        .sign_in("d1", "Eve", &secret("eve's password"))
        .await
        .unwrap();
    let (fay, _) = auth
        .sign_in("d2", "Fay", &secret("fay's password"))
        .await
        .unwrap();
    let db = outpost_api::LocalDb::new(store.clone(), "d1").as_user(Some("Eve".into()));
    let made = db
        .run(Op::Insert(outpost_api::protocol::InsertArgs {
            doctype: "Party".into(),
            record: serde_json::json!({"party_name": "Eve's"})
                .as_object()
                .cloned()
                .unwrap(),
        }))
        .await
        .unwrap();
    let name = made["name"].as_str().unwrap();
    let write = Need::Write("Party");
    auth.check_owner(Some(&eve), &write, name).await.unwrap();
    let e = auth
        .check_owner(Some(&fay), &write, name)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(e.message.contains("was made by Eve"), "{e}");
    // Creating and reading are not narrowed.
    auth.check_owner(Some(&fay), &Need::Create("Party"), name)
        .await
        .unwrap();
    auth.check_owner(Some(&fay), &Need::Read("Party"), name)
        .await
        .unwrap();
}

#[tokio::test]
async fn idle_lock_is_a_site_setting_a_manager_sets_and_every_sign_in_carries() {
    use outpost_api::protocol::IdleLockArgs;
    let (_dir, auth) = office().await;
    let (amina, answer) = auth
        .sign_in("dev1", "amina", &secret("correct horse"))
        .await
        .unwrap();
    assert_eq!(answer.idle_lock_minutes, 0, "never locks until set");
    auth.people_call(
        Some(&amina),
        &Op::UsersAdd(UserAddArgs {
            name: "bilal".into(),
            role: "Clerk".into(),
            password: secret("clerk password"),
        }),
    )
    .await
    .unwrap();
    let set = Op::IdleLock(IdleLockArgs { minutes: 5 });
    // A clerk lacks the master right: the gate refuses before it runs.
    let (bilal, _) = auth
        .sign_in("dev2", "bilal", &secret("clerk password"))
        .await
        .unwrap();
    let e = auth
        .check(Some(&bilal), &Need::of(&set).unwrap())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    auth.check(Some(&amina), &Need::of(&set).unwrap()).unwrap();
    auth.people_call(Some(&amina), &set).await.unwrap();
    let (_, again) = auth
        .sign_in("dev2", "bilal", &secret("clerk password"))
        .await
        .unwrap();
    assert_eq!(again.idle_lock_minutes, 5);
    let (_, resumed) = auth.resume("dev1", &secret(&answer.token)).await.unwrap();
    assert_eq!(resumed.idle_lock_minutes, 5);
    let too_long = Op::IdleLock(IdleLockArgs { minutes: 100_000 });
    let e = auth.people_call(Some(&amina), &too_long).await.unwrap_err();
    assert!(e.message.contains("at most"), "{e}");
}

#[tokio::test]
async fn an_expired_sign_in_resumes_nothing_and_its_channel_ends() {
    let (_dir, auth) = office().await;
    let (amina, answer) = auth
        .sign_in("dev1", "amina", &secret("correct horse"))
        .await
        .unwrap();
    let token = secret(&answer.token);
    assert!(answer.expires > unix_now(), "a new sign-in lasts a while");
    assert!(auth.resume("dev1", &token).await.is_ok());
    // Its time runs out (the office database keeps when it ends).
    auth.store
        .add_signin(
            &amina.token_hash,
            &SignIn {
                user: "Amina".into(),
                device: "dev1".into(),
                expires: unix_now() - 1,
            },
        )
        .unwrap();
    let e = auth.resume("dev1", &token).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    assert_eq!(
        e.details.as_ref().and_then(|d| d["reason"].as_str()),
        Some("sign_in_ended"),
        "{e}"
    );
    // The master's watch ends the channel of a sign-in that is no longer
    // valid, as it does for a disabled person.
    assert_eq!(auth.still_valid(&amina), None);
    // A new sign-in is a new token.
    let (_, again) = auth
        .sign_in("dev1", "amina", &secret("correct horse"))
        .await
        .unwrap();
    assert_ne!(again.token, answer.token);
}

/// The check in reused memory agrees with argon2's own, for the hashes
/// this program makes and for other parameters (a smaller memory cost
/// after a bigger one: the memory is cut to size, not read past).
#[test]
fn a_password_check_in_reused_memory_agrees_with_argon2s_own() {
    use argon2::password_hash::PasswordVerifier;
    let made = hash_password("the right password").unwrap();
    let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
    let small = argon2::Params::new(4096, 3, 1, Some(24)).unwrap();
    let other = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, small)
        .hash_password(b"the right password", &salt)
        .map(|h| PasswordHash(h.to_string()))
        .unwrap();
    for hash in [&made, &other, &made] {
        let parsed = argon2::PasswordHash::new(&hash.0).unwrap();
        for (password, right) in [("the right password", true), ("the wrong password", false)] {
            let theirs = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            assert_eq!(theirs, right);
            assert_eq!(
                verify(password, hash),
                right,
                "{password} against {}",
                hash.0
            );
        }
    }
    assert!(!verify(
        "the right password",
        &PasswordHash("$argon2id$v=19$garbage".into())
    ));
}
