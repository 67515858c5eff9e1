//! A need's journey through the desks, in headless Chromium, on SQLite and
//! PostgreSQL: a member of an association reports a need; the
//! association's manager sees it among the members' needs and gives part
//! of it; the member reads the answer and issues codes from the quota it
//! received. Every page on the way is checked with axe-core and kept as a
//! screenshot under `target/tmp/needs-journey/`; the books are clean at
//! the end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{BROWSER_TURN, Driver, browser_available, wait_for};
use common::visit::Visit;
use common::{Db, FIRST_NETWORK, TestApp, assert_books_clean};
use reqwest::StatusCode;
use serde_json::json;

/// A structure made through the API, under `parent` if given.
async fn structure(app: &TestApp, name: &str, parent: Option<i64>) -> i64 {
    let a = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": name, "parent_id": parent }),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    a.body["id"].as_i64().unwrap()
}

/// A manager account of `structure`: its login and activation code.
async fn manager(app: &TestApp, structure: i64) -> (String, String) {
    let a = app
        .create_account(&app.admin, "structure_manager", Some(structure))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    (
        a.body["login"].as_str().unwrap().to_owned(),
        a.body["activation_code"].as_str().unwrap().to_owned(),
    )
}

async fn a_member_asks_its_association_gives_part_and_the_member_issues(db: Db) {
    if !browser_available() {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let association = structure(&app, "Secours de quartier", None).await;
    let member = structure(&app, "Antenne des Lilas", Some(association)).await;
    app.grant(association, "data_mb", 10 * 1024).await;
    let (association_login, association_code) = manager(&app, association).await;
    let (member_login, member_code) = manager(&app, member).await;

    let _turn = BROWSER_TURN.lock().await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let mut v = Visit::start(&app, &driver, profile.path(), "needs-journey", db).await;

    // The member reports a need of 5 Go for twelve people.
    v.activate(&member_code, "activate-member").await;
    v.sign_in(&member_login, "main h1", "home-member").await;
    v.open("/desk/needs", "#reason", "needs-member").await;
    wait_for(&v.client, "#need-resource")
        .await
        .select_by_value("data_mb")
        .await
        .unwrap();
    v.fill("#need-amount", "5").await;
    v.fill("#people", "12").await;
    v.fill("#reason", "Démarches en ligne des familles hébergées")
        .await;
    v.click("form[action='/desk/needs'] button[type=submit]")
        .await;
    let sent = v.text(".notice-done").await;
    assert!(sent.contains("Votre besoin est envoyé"), "{sent}");
    assert!(v.text("main").await.contains("En attente de réponse"));
    v.check("need-reported").await;
    v.sign_out().await;

    // The association's manager gives 2 Go of the 5 asked for.
    v.activate(&association_code, "activate-association").await;
    v.sign_in(&association_login, "table.balances", "home-association")
        .await;
    v.open("/desk/needs", "input[id^='give-']", "needs-association")
        .await;
    let waiting = v.text("main").await;
    assert!(waiting.contains("Antenne des Lilas"), "{waiting}");
    assert!(waiting.contains("5 Go"), "{waiting}");
    v.fill("input[id^='give-']", "2").await;
    v.click("form[action$='/approve'] button[type=submit]")
        .await;
    let given = v.text(".notice-done").await;
    assert!(given.contains("Besoin accordé"), "{given}");
    v.check("need-given").await;
    v.open("/desk/members", "table", "members").await;
    let members = v.text("main").await;
    assert!(members.contains("2 Go"), "{members}");
    assert!(members.contains("8 Go"), "{members}");
    v.sign_out().await;

    // The member reads the answer and issues two codes of 1 Go from it.
    v.sign_in(&member_login, "table.balances", "home-member-after")
        .await;
    v.open("/desk/needs", "#reason", "needs-answered").await;
    assert!(v.text("main").await.contains("Accordé : 2 Go"));
    v.open("/desk/issue", "#product", "issue").await;
    wait_for(&v.client, "#product")
        .await
        .select_by_value("data-1gb")
        .await
        .unwrap();
    v.fill("#count", "2").await;
    v.click("main form button[type=submit]").await;
    wait_for(&v.client, ".slips .slip").await;
    v.check("issued").await;
    v.client.close().await.unwrap();

    let token = app.token("structure", Some(member)).await;
    let balance = app.balance(&token, "data_mb").await;
    assert_eq!(balance["operator_id"], FIRST_NETWORK);
    assert_eq!(
        (
            balance["received"].as_i64(),
            balance["issued"].as_i64(),
            balance["available"].as_i64()
        ),
        (Some(2048), Some(2048), Some(0)),
        "{balance}"
    );
    assert_books_clean(&app).await;
    eprintln!("needs journey: {} pages checked", v.pages);
}
both!(a_member_asks_its_association_gives_part_and_the_member_issues);
