//! Every desk page as each kind of person sees it, in headless Chromium at
//! 1280 and at 375 px wide (a phone), on SQLite and PostgreSQL: each page
//! is checked with axe-core, must not scroll sideways, and is kept as a
//! screenshot under `target/tmp/desk-walk/`. After each form that comes
//! back by post/redirect/get, the page is reloaded and must still be the
//! same page, never a problem document.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{BROWSER_TURN, Driver, browser_available, wait_for};
use common::visit::Visit;
use common::{Db, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const WIDTHS: [u32; 2] = [1280, 375];

/// Opens `path` at each width: axe-clean, no sideways scroll, a page (its
/// `h1`), kept as a screenshot.
async fn walk(v: &mut Visit<'_>, who: &str, path: &str) {
    for width in WIDTHS {
        v.client.set_window_size(width, 900).await.unwrap();
        let name = format!(
            "{who}-{}-{width}",
            path.trim_matches('/').replace(['/', '?', '=', '&'], "_")
        );
        v.open(path, "main h1", &name).await;
        let sizes = v
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap());
        assert!(inner <= i64::from(width), "{name}: window {inner} px wide");
        assert!(
            scroll <= inner,
            "{name}: {scroll} px wide in a {inner} px window"
        );
    }
}

/// Reloads the page a form came back to: still the same page.
async fn reload(v: &mut Visit<'_>, name: &str) {
    let before = v.client.current_url().await.unwrap();
    v.client.refresh().await.unwrap();
    wait_for(&v.client, "main h1").await;
    assert_eq!(v.client.current_url().await.unwrap(), before, "{name}");
    let body = v.text("body").await;
    assert!(!body.contains("/problems/"), "{name}: {body}");
    v.check(&format!("{name}-reloaded")).await;
}

async fn sign_in(v: &mut Visit<'_>, app: &TestApp, token: &str, role: &str, sid: Option<i64>) {
    let person = app.person(token, role, sid).await;
    v.client.set_window_size(1280, 900).await.unwrap();
    v.sign_in(&person.login, "main h1", &format!("{role}-signed-in"))
        .await;
}

async fn every_page_fits_every_screen(db: Db) {
    if !browser_available() {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    // An association with a member, quota, a lot and a need.
    let made = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": "Secours populaire du Val-de-Marne, antenne de Créteil" }),
        )
        .await;
    let association = made.body["id"].as_i64().unwrap();
    let made = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": "Antenne des Lilas", "parent_id": association }),
        )
        .await;
    let member = made.body["id"].as_i64().unwrap();
    app.grant(association, "data_mb", 50 * 1024).await;
    app.grant(member, "data_mb", 10 * 1024).await;
    let member_token = app.token("structure", Some(member)).await;
    let issued = app
        .post(
            "/v1/vouchers",
            &member_token,
            json!({ "product": "data-1gb", "count": 3, "format": "pin" }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let lot = issued.body["lot"].as_i64().unwrap();
    let serial = issued.body["vouchers"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let need = json!({ "operator_id": 1, "resource": "data_mb", "amount": 2048, "people": 4, "reason": "Familles hébergées" });
    assert_eq!(
        app.post("/v1/needs", &member_token, need).await.status,
        StatusCode::CREATED
    );

    let _turn = BROWSER_TURN.lock().await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let mut v = Visit::start(&app, &driver, profile.path(), "desk-walk", db).await;

    // A member's staff: every page of the structure's desk.
    sign_in(&mut v, &app, &member_token, "structure_staff", None).await;
    for path in [
        "/desk/".to_owned(),
        "/desk/issue".to_owned(),
        "/desk/vouchers".to_owned(),
        format!("/desk/vouchers/{serial}"),
        format!("/desk/vouchers/{serial}/void"),
        "/desk/lots".to_owned(),
        format!("/desk/lots/{lot}"),
        format!("/desk/print?lot={lot}&layout=a4"),
        format!("/desk/print?lot={lot}&layout=labels&lang2=ar"),
        format!("/desk/print?lot={lot}&layout=receipt"),
        "/desk/needs".to_owned(),
        format!("/desk/find?q={serial}"),
        "/desk/find?q=inconnu".to_owned(),
    ] {
        walk(&mut v, "staff", &path).await;
    }
    // Forms that come back by post/redirect/get, reloaded.
    v.open("/desk/issue", "#product", "issue-form").await;
    v.fill("#count", "2").await;
    v.click("main form button[type=submit]").await;
    wait_for(&v.client, ".slips .slip").await;
    reload(&mut v, "issued").await;
    v.click("form.record-print button").await;
    wait_for(&v.client, ".notice-done").await;
    reload(&mut v, "printed").await;
    v.sign_out().await;

    // The association's manager: its members and its accounts too.
    sign_in(
        &mut v,
        &app,
        &app.admin.clone(),
        "structure_manager",
        Some(association),
    )
    .await;
    for path in [
        "/desk/",
        "/desk/members",
        "/desk/needs",
        "/desk/accounts",
        "/desk/lots",
    ] {
        walk(&mut v, "manager", path).await;
    }
    v.sign_out().await;

    // The coordinator and an auditor: every page of the coordinator's desk.
    for role in ["coordinator", "auditor"] {
        sign_in(&mut v, &app, &app.admin.clone(), role, None).await;
        for path in [
            "/desk/coordination".to_owned(),
            "/desk/coordination/needs".to_owned(),
            "/desk/coordination/structures".to_owned(),
            "/desk/coordination/grants".to_owned(),
            "/desk/coordination/networks".to_owned(),
            "/desk/coordination/products/data-1gb".to_owned(),
            "/desk/accounts".to_owned(),
            "/desk/coordination/tokens".to_owned(),
            "/desk/coordination/donor".to_owned(),
            "/desk/coordination/journal".to_owned(),
            "/desk/coordination/lines".to_owned(),
            "/desk/coordination/integrity".to_owned(),
            format!("/desk/coordination/vouchers/{serial}"),
        ] {
            walk(&mut v, role, &path).await;
        }
        if role == "coordinator" {
            v.open("/desk/coordination/lines", "#msisdn", "lines-form")
                .await;
            v.fill("#msisdn", "+33612345678").await;
            v.fill("#reason", "vérifié avec la structure").await;
            v.click("main form button[type=submit]").await;
            wait_for(&v.client, ".notice").await;
            reload(&mut v, "unbarred").await;
        }
        v.sign_out().await;
    }
    eprintln!(
        "desk walk: {} pages checked with axe-core at 1280 and 375 px, screenshots in {}",
        v.pages,
        v.dir.display()
    );
    v.client.close().await.unwrap();
    app.stop().await;
}
both!(every_page_fits_every_screen);
