//! People's accounts, on SQLite and PostgreSQL, through the real server:
//! creation by the coordinator and by a manager, activation codes that
//! work once and expire, sign-in limits per login, sessions that end when
//! an account is disabled or reset, who may manage whom, and the audit
//! trail naming the person who acted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::Browser;
use common::{Db, PERSON_PASSWORD, TestApp, assert_books_clean, cli, test_limits};
use relay_topup::clock::{Clock, ManualClock, SystemClock};
use reqwest::StatusCode;
use serde_json::json;

/// The events of kind `kind`, as (actor, data) pairs.
async fn events_of(app: &TestApp, kind: &str) -> Vec<(String, serde_json::Value)> {
    let snapshot = app.running().state.store.audit_snapshot().await.unwrap();
    snapshot
        .events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.actor.clone(), serde_json::from_str(&e.data).unwrap()))
        .collect()
}

/// Every one-time message the desk's sessions hold, as stored.
async fn stored_flashes(app: &TestApp) -> Vec<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT flash FROM web_sessions WHERE flash IS NOT NULL")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<String, _>("flash")).collect()
}

/// The desk's account form for Inès T., as the coordinator fills it.
fn account_form<'a>(csrf: &'a str, role: &'a str, structure: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("csrf", csrf),
        ("display_name", "Inès T."),
        ("login", "ines.t"),
        ("role", role),
        ("structure_id", structure),
    ]
}

/// From creation to disabling, through the API and the desk: the code
/// works once, a manager creates staff, staff issue, and every change
/// names its person in the audit trail.
async fn an_account_lives_from_creation_to_disabling(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (sid, _) = app.funded_structure("Centre social", 10 * 1024).await;
    let created = app
        .create_account(&app.admin, "structure_manager", Some(sid))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let manager_id = created.body["id"].as_i64().unwrap();
    let code = created.body["activation_code"].as_str().unwrap().to_owned();
    let login = created.body["login"].as_str().unwrap().to_owned();
    assert_eq!(created.body["structure_id"], sid);
    let listed = app.get("/v1/accounts", &app.admin).await;
    let row = listed.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == manager_id)
        .unwrap();
    assert_eq!(
        (row["id"].as_i64(), &row["active"]),
        (Some(manager_id), &json!(false))
    );
    assert!(!listed.text.contains(&code), "the code is shown once only");

    // A weak password, or two that differ, change nothing.
    for weak in [
        "Q1W2E3R4T5Y6",
        "motdepasse123",
        "azertyuiop12",
        "soleil123456",
        "123412341234",
        "abcdabcdabcd",
        // The structure's name and a year.
        "CentreSocial2026",
    ] {
        app.activate(&code, weak)
            .await
            .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "phrase de passe");
    }
    app.activate(&code, "short")
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "trop court");
    let done = app.activate(&code.to_lowercase(), PERSON_PASSWORD).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.location(), "/desk/sign-in?activated=1");
    // Used once, the code is spent.
    app.activate(&code, "another long passphrase")
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "a déjà servi");

    // The manager creates a staff member at the desk.
    let mut manager = Browser::new(&app);
    let signed = manager.try_sign_in(&login, PERSON_PASSWORD).await;
    assert_eq!(signed.location(), "/desk/");
    let csrf = manager.csrf().await;
    let page = manager.get("/desk/accounts").await;
    page.assert_says(StatusCode::OK, "Les comptes des membres de votre structure");
    assert!(
        !page.text.contains("structure_manager\""),
        "managers create staff only"
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("display_name", "Amina B."),
        ("login", "amina.b"),
        ("role", "structure_staff"),
    ];
    // Done, the form sends the browser back to the page (post/redirect/
    // get), which shows the code once: a reload shows it no more.
    let done = manager.post("/desk/accounts", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert!(!done.text.contains("remettre à la personne"));
    // Until the page takes it, the code waits sealed in the session.
    let waiting = stored_flashes(&app).await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let answer = manager.get(done.location()).await;
    answer.assert_says(
        StatusCode::OK,
        "Code d’activation à remettre à la personne : ",
    );
    let staff_code = answer
        .text
        .split("remettre à la personne : ")
        .nth(1)
        .unwrap()
        .chars()
        .take(19)
        .collect::<String>();
    // Sealed at rest: neither the code nor whose it is can be read.
    let stored = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&waiting[0])
            .unwrap()
    };
    for plain in [staff_code.as_str(), "amina.b", "Amina B."] {
        assert!(
            !stored.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} readable in the stored message"
        );
    }
    assert!(stored_flashes(&app).await.is_empty(), "taken once, cleared");
    let reloaded = manager.get(done.location()).await;
    reloaded.assert_says(StatusCode::OK, "Amina B.");
    assert!(
        !reloaded.text.contains("remettre à la personne"),
        "{}",
        reloaded.text
    );
    assert_eq!(
        app.activate(&staff_code, PERSON_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // A login is unique.
    manager
        .post(
            "/desk/accounts",
            &[
                ("csrf", &csrf),
                ("display_name", "Autre"),
                ("login", "Amina.B"),
                ("role", "structure_staff"),
            ],
        )
        .await
        .assert_says(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cet identifiant est déjà pris",
        );
    let taken = app
        .post(
            "/v1/accounts",
            &app.admin,
            json!({"role": "auditor", "login": "AMINA.B", "display_name": "X"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{taken:?}"
    );

    // Staff issue and void; they cannot manage accounts.
    let mut staff = Browser::new(&app);
    assert_eq!(
        staff
            .try_sign_in("amina.b", PERSON_PASSWORD)
            .await
            .location(),
        "/desk/"
    );
    let issued = staff.issue("data-1gb", "2", "").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    staff
        .get("/desk/accounts")
        .await
        .assert_says(StatusCode::NOT_FOUND, "introuvable");
    let staff_csrf = staff.csrf().await;
    staff
        .post(
            "/desk/accounts",
            &[
                ("csrf", &staff_csrf),
                ("display_name", "X"),
                ("login", "xx.yy"),
                ("role", "structure_staff"),
            ],
        )
        .await
        .assert_says(StatusCode::NOT_FOUND, "introuvable");
    let staff_id = app.get("/v1/accounts", &app.admin).await.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["login"] == "amina.b")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // The trail names who did what.
    let issues = events_of(&app, "issue").await;
    assert!(
        issues
            .iter()
            .any(|(actor, _)| *actor == format!("account:{staff_id}")),
        "{issues:?}"
    );
    let created = events_of(&app, "account_created").await;
    let by = |login: &str| {
        created
            .iter()
            .find(|(_, d)| d["login"] == login)
            .unwrap()
            .0
            .clone()
    };
    assert_eq!(by(&login), "admin:1");
    assert_eq!(by("amina.b"), format!("account:{manager_id}"));
    // The first start's coordinator, made by the service itself.
    assert_eq!(by("coordination"), "system");
    let activated = events_of(&app, "account_activated").await;
    assert_eq!(activated.len(), 2);
    assert_eq!(activated[0].0, format!("account:{manager_id}"));

    // A reset ends the staff member's session and password; the new code
    // works. Disabling ends the session again, for good.
    let answer = manager
        .post_follow(
            &format!("/desk/accounts/{staff_id}/reset"),
            &[("csrf", &csrf)],
        )
        .await;
    answer.assert_says(StatusCode::OK, "Code d’activation à remettre");
    assert_eq!(
        staff.get("/desk/").await.location(),
        "/desk/sign-in?expired=1"
    );
    assert_eq!(
        staff.try_sign_in("amina.b", PERSON_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let new_code: String = answer
        .text
        .split("remettre à la personne : ")
        .nth(1)
        .unwrap()
        .chars()
        .take(19)
        .collect();
    assert_eq!(
        app.activate(&new_code, "un tout autre secret").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        staff
            .try_sign_in("amina.b", "un tout autre secret")
            .await
            .location(),
        "/desk/"
    );
    manager
        .post_follow(
            &format!("/desk/accounts/{staff_id}/disable"),
            &[("csrf", &csrf)],
        )
        .await
        .assert_says(StatusCode::OK, "Le compte est désactivé");
    assert_eq!(
        staff.get("/desk/").await.location(),
        "/desk/sign-in?expired=1"
    );
    assert_eq!(
        staff
            .try_sign_in("amina.b", "un tout autre secret")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let disabled = events_of(&app, "account_disabled").await;
    assert_eq!(
        disabled,
        vec![(format!("account:{manager_id}"), disabled[0].1.clone())]
    );
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(an_account_lives_from_creation_to_disabling);

/// An activation code dies at its expiry; a reset gives one that works.
async fn activation_codes_expire(db: Db) {
    let clock = ManualClock::new(SystemClock.now_secs());
    let mut limits = test_limits();
    limits.desk.activation_ttl_secs = 3600;
    let Some(app) = TestApp::spawn_with(db, limits, Some(clock.clone())).await else {
        return;
    };
    let a = app.create_account(&app.admin, "auditor", None).await;
    let code = a.body["activation_code"].as_str().unwrap().to_owned();
    clock.advance(3600);
    app.activate(&code, PERSON_PASSWORD)
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "a expiré");
    let id = a.body["id"].as_i64().unwrap();
    let reset = app
        .post(&format!("/v1/accounts/{id}/reset"), &app.admin, json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    let fresh = reset.body["activation_code"].as_str().unwrap();
    assert_ne!(fresh, code);
    app.activate(&code, PERSON_PASSWORD)
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "a expiré");
    assert_eq!(
        app.activate(fresh, PERSON_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(activation_codes_expire);

/// Two people typing the same code at once: one password is set.
async fn an_activation_code_works_once_under_races(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let a = app.create_account(&app.admin, "auditor", None).await;
    let code = a.body["activation_code"].as_str().unwrap().to_owned();
    let passwords: Vec<String> = (0..8).map(|i| format!("mot de passe numero {i}")).collect();
    let tries = passwords.iter().map(|p| app.activate(&code, p));
    let pages = futures::future::join_all(tries).await;
    let won: Vec<usize> = pages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.status == StatusCode::SEE_OTHER)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        pages.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    let login = a.body["login"].as_str().unwrap();
    let winner = Browser::new(&app)
        .try_sign_in(login, &passwords[won[0]])
        .await;
    assert_eq!(winner.status, StatusCode::SEE_OTHER, "{}", winner.text);
    // Two of the others (below the lock): their passwords were never set.
    for loser in (0..passwords.len()).filter(|i| *i != won[0]).take(2) {
        let page = Browser::new(&app)
            .try_sign_in(login, &passwords[loser])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{loser}");
    }
    assert_eq!(events_of(&app, "account_activated").await.len(), 1);
    app.stop().await;
}
both!(an_activation_code_works_once_under_races);

/// Failed sign-ins lock a login, known or not, with the same words; the
/// right password is not even tried while locked; the lock ends.
async fn a_login_is_locked_after_repeated_failures(db: Db) {
    let clock = ManualClock::new(SystemClock.now_secs());
    let mut limits = test_limits();
    limits.desk.sign_in_failures_before_lock = 3;
    limits.desk.sign_in_lock_secs = 600;
    let Some(app) = TestApp::spawn_with(db, limits, Some(clock.clone())).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 1024).await;
    let person = app.person(&token, "structure_staff", None).await;
    let mut stranger = Browser::new(&app);
    for login in [person.login.as_str(), "nobody.here"] {
        for _ in 0..2 {
            let page = stranger
                .try_sign_in(login, "wrong password, long enough")
                .await;
            page.assert_says(
                StatusCode::UNAUTHORIZED,
                "Identifiant ou mot de passe incorrect",
            );
        }
        let third = stranger
            .try_sign_in(login, "wrong password, long enough")
            .await;
        third.assert_says(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de tentatives pour cet identifiant. Par sécurité, réessayez dans 10 minutes.",
        );
        assert_eq!(third.headers["retry-after"], "600");
    }
    // Locked, the right password is refused the same way.
    let mut desk = Browser::new(&app);
    let locked = desk.try_sign_in(&person.login, &person.password).await;
    locked.assert_says(
        StatusCode::TOO_MANY_REQUESTS,
        "Trop de tentatives pour cet identifiant",
    );
    assert!(!desk.cookies.contains_key("relay_desk"));
    // Another login is not locked with it.
    let other = app.person(&token, "structure_staff", None).await;
    Browser::sign_in_as(&app, &other).await;
    clock.advance(600);
    let page = desk.try_sign_in(&person.login, &person.password).await;
    assert_eq!(page.location(), "/desk/", "{}", page.text);
    app.stop().await;
}
both!(a_login_is_locked_after_repeated_failures);

/// Failing on purpose does not keep a login's owner out: a browser the
/// login signed in from before counts its failures apart, so a lock
/// earned by a stranger does not stop it; its own failures lock it as
/// anyone's would, and a forged or borrowed token is nobody's.
async fn a_known_browser_is_not_locked_out_by_strangers(db: Db) {
    let mut limits = test_limits();
    limits.desk.sign_in_failures_before_lock = 3;
    limits.desk.sign_in_lock_secs = 600;
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 1024).await;
    let person = app.person(&token, "structure_staff", None).await;
    let colleague = app.person(&token, "structure_staff", None).await;
    let mut own = Browser::sign_in_as(&app, &person).await;
    let known = own.cookies.get("relay_topup_device").cloned();
    assert!(known.is_some(), "{:?}", own.cookies);
    let mut stranger = Browser::new(&app);
    for _ in 0..3 {
        stranger
            .try_sign_in(&person.login, "wrong password, long enough")
            .await;
    }
    stranger
        .try_sign_in(&person.login, &person.password)
        .await
        .assert_says(StatusCode::TOO_MANY_REQUESTS, "Trop de tentatives");
    // The owner's browser still signs in.
    let back = own.try_sign_in(&person.login, &person.password).await;
    assert_eq!(back.location(), "/desk/", "{}", back.text);
    // Another login's token, or a forged one, is nobody's: locked.
    let mut borrowed = Browser::sign_in_as(&app, &colleague).await;
    let mut forged = Browser::new(&app);
    forged
        .cookies
        .insert("relay_topup_device".into(), "AAAA.BBBB".into());
    for browser in [&mut borrowed, &mut forged] {
        browser
            .try_sign_in(&person.login, &person.password)
            .await
            .assert_says(StatusCode::TOO_MANY_REQUESTS, "Trop de tentatives");
    }
    // The known browser's own failures lock it too.
    for _ in 0..3 {
        own.try_sign_in(&person.login, "wrong password, long enough")
            .await;
    }
    own.try_sign_in(&person.login, &person.password)
        .await
        .assert_says(StatusCode::TOO_MANY_REQUESTS, "Trop de tentatives");
    app.stop().await;
}
both!(a_known_browser_is_not_locked_out_by_strangers);

/// Who may manage whom, over the API: the coordinator everyone, a
/// structure its own staff only; others are 403, other structures' 404.
async fn accounts_are_managed_only_within_reach(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (a_id, a_token) = app.funded_structure("Centre A", 1024).await;
    let (b_id, b_token) = app.funded_structure("Centre B", 1024).await;
    let post = |token: &str, body: serde_json::Value| {
        let token = token.to_owned();
        let app = &app;
        async move { app.post("/v1/accounts", &token, body).await }
    };
    // A structure creates staff for itself only.
    for body in [
        json!({"role": "structure_manager", "login": "m.a", "display_name": "M"}),
        json!({"role": "coordinator", "login": "c.a", "display_name": "C"}),
        json!({"role": "structure_staff", "login": "s.b", "display_name": "S", "structure_id": b_id}),
    ] {
        let a = post(&a_token, body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {a:?}");
    }
    // Structure roles need a structure, others none; logins are checked.
    for body in [
        json!({"role": "structure_manager", "login": "m.x", "display_name": "M"}),
        json!({"role": "auditor", "login": "a.x", "display_name": "A", "structure_id": a_id}),
        json!({"role": "auditor", "login": "é", "display_name": "A"}),
        json!({"role": "auditor", "login": "a.y", "display_name": ""}),
        json!({"role": "admin", "login": "a.z", "display_name": "A"}),
    ] {
        let a = post(&app.admin, body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {a:?}");
    }
    let unknown = post(
        &app.admin,
        json!({"role": "structure_manager", "login": "m.y", "display_name": "M", "structure_id": 9999}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{unknown:?}");
    for role in ["coordinator", "auditor"] {
        let a = app.create_account(&app.admin, role, None).await;
        assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    }
    let b_staff = app.create_account(&b_token, "structure_staff", None).await;
    assert_eq!(b_staff.body["structure_id"], b_id);
    let b_staff_id = b_staff.body["id"].as_i64().unwrap();
    let b_manager = app
        .create_account(&app.admin, "structure_manager", Some(b_id))
        .await;
    let b_manager_id = b_manager.body["id"].as_i64().unwrap();
    // A reaches nothing of B's; B does not reach its own manager.
    for (token, id) in [
        (&a_token, b_staff_id),
        (&a_token, b_manager_id),
        (&b_token, b_manager_id),
    ] {
        for action in ["disable", "reset"] {
            let a = app
                .post(&format!("/v1/accounts/{id}/{action}"), token, json!({}))
                .await;
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{a:?}"
            );
        }
    }
    let a_list = app.get("/v1/accounts", &a_token).await;
    assert_eq!(a_list.body["accounts"], json!([]), "{a_list:?}");
    let b_list = app.get("/v1/accounts", &b_token).await;
    assert_eq!(b_list.body["accounts"].as_array().unwrap().len(), 2);
    // An auditor reads every account and changes none; an operator token
    // is refused outright.
    let auditor = app.token("auditor", None).await;
    let all = app.get("/v1/accounts", &auditor).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(all.body, app.get("/v1/accounts", &app.admin).await.body);
    let refused = app
        .post(
            &format!("/v1/accounts/{b_staff_id}/disable"),
            &auditor,
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let operator = app.token("operator", None).await;
    assert_eq!(
        app.get("/v1/accounts", &operator).await.status,
        StatusCode::FORBIDDEN
    );
    // B disables its staff member; doing it again changes nothing.
    for _ in 0..2 {
        let a = app
            .post(
                &format!("/v1/accounts/{b_staff_id}/disable"),
                &b_token,
                json!({}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{a:?}");
        assert!(a.body["disabled_at"].is_string());
    }
    let reset = app
        .post(
            &format!("/v1/accounts/{b_staff_id}/reset"),
            &b_token,
            json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::UNPROCESSABLE_ENTITY, "{reset:?}");
    assert_eq!(events_of(&app, "account_disabled").await.len(), 1);
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(accounts_are_managed_only_within_reach);

/// `account add` prints the activation code on its last line; the
/// coordinator it makes signs in to the accounts page and creates a
/// manager there.
async fn the_command_line_creates_the_first_coordinator(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let sid = app.structure("Centre social").await;
    let keys = app.dir.path().join("test.keys");
    let run = cli(
        &app.database_url,
        &keys,
        &[
            "account",
            "add",
            "--role",
            "coordinator",
            "--login",
            "Coord.Nat",
            "--name",
            "Claire D.",
        ],
    );
    assert!(run.ok(), "{run:?}");
    let code = run.last_line().to_owned();
    assert_eq!(code.len(), 19, "{run:?}");
    assert_eq!(
        app.activate(&code, PERSON_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let mut coordinator = Browser::new(&app);
    let page = coordinator.try_sign_in("coord.nat", PERSON_PASSWORD).await;
    assert_eq!(page.location(), "/desk/coordination");
    // The structure desk is not theirs: they are sent to their own.
    assert_eq!(
        coordinator.get("/desk/").await.location(),
        "/desk/coordination"
    );
    let accounts = coordinator.get("/desk/accounts").await;
    accounts.assert_says(StatusCode::OK, "Claire D.");
    let csrf = accounts.field("csrf");
    let sid_text = sid.to_string();
    let made = coordinator
        .post_follow(
            "/desk/accounts",
            &[
                ("csrf", &csrf),
                ("display_name", "Marc R."),
                ("login", "marc.r"),
                ("role", "structure_manager"),
                ("structure_id", &sid_text),
            ],
        )
        .await;
    made.assert_says(StatusCode::OK, "Code d’activation à remettre à la personne");
    // The coordinator creates a structure's staff too, choosing the
    // structure by name; a refused form says which field and keeps what
    // was typed.
    let structure_option = format!("<option value=\"{sid}\">");
    assert!(made.text.contains(&structure_option), "{}", made.text);
    let refused = coordinator
        .post(
            "/desk/accounts",
            &account_form(&csrf, "structure_staff", ""),
        )
        .await;
    refused.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Choisissez la structure de la personne",
    );
    for kept in [
        "value=\"Inès T.\"",
        "value=\"ines.t\"",
        "value=\"structure_staff\" selected",
    ] {
        assert!(refused.text.contains(kept), "{kept}: {}", refused.text);
    }
    coordinator
        .post("/desk/accounts", &account_form(&csrf, "auditor", &sid_text))
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "n’appartient à aucune");
    coordinator
        .post_follow(
            "/desk/accounts",
            &account_form(&csrf, "structure_staff", &sid_text),
        )
        .await
        .assert_says(StatusCode::OK, "Code d’activation à remettre à la personne");
    let listed = cli(&app.database_url, &keys, &["account", "list"]);
    assert!(
        listed.stdout.contains("ines.t\tstructure_staff"),
        "{listed:?}"
    );
    assert!(
        listed.stdout.contains("marc.r\tstructure_manager"),
        "{listed:?}"
    );
    assert!(
        listed
            .stdout
            .contains("coord.nat\tcoordinator\t\tactive\tClaire D."),
        "{listed:?}"
    );
    let created = events_of(&app, "account_created").await;
    let by = |login: &str| {
        created
            .iter()
            .find(|(_, d)| d["login"] == login)
            .unwrap()
            .0
            .clone()
    };
    assert_eq!(by("coord.nat"), "cli");
    assert!(by("marc.r").starts_with("account:"));
    // `audit verify` names the people who acted, from the chain alone.
    let verify = cli(&app.database_url, &keys, &["audit", "verify"]);
    assert!(verify.ok(), "{verify:?}");
    let coordinator_id = by("marc.r").trim_start_matches("account:").to_owned();
    assert!(
        verify.stdout.contains(&format!(
            "Claire D. (account {coordinator_id}, coord.nat): account_activated 1, account_created 2"
        )),
        "{verify:?}"
    );
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_command_line_creates_the_first_coordinator);

/// An auditor's session reads the accounts page and changes nothing.
async fn an_auditor_reads_accounts_and_changes_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let auditor = app.person(&app.admin, "auditor", None).await;
    let mut desk = Browser::sign_in_as(&app, &auditor).await;
    let page = desk.get("/desk/accounts").await;
    page.assert_says(StatusCode::OK, "lecture seule");
    assert!(!page.text.contains("/desk/accounts/"), "no action forms");
    let csrf = page.field("csrf");
    let before = app.get("/v1/accounts", &app.admin).await.body;
    desk.post(
        "/desk/accounts",
        &[
            ("csrf", &csrf),
            ("display_name", "X"),
            ("login", "x.y"),
            ("role", "coordinator"),
        ],
    )
    .await
    .assert_says(StatusCode::NOT_FOUND, "introuvable");
    desk.post(
        &format!("/desk/accounts/{}/disable", auditor.id),
        &[("csrf", &csrf)],
    )
    .await
    .assert_says(StatusCode::NOT_FOUND, "introuvable");
    assert_eq!(app.get("/v1/accounts", &app.admin).await.body, before);
    app.stop().await;
}
both!(an_auditor_reads_accounts_and_changes_nothing);
