//! Every desk page as each kind of person sees it, in headless Chromium at
//! 1280 and at 375 px wide (a phone), on SQLite and PostgreSQL: each page
//! is checked with axe-core, must not scroll sideways, and is kept as a
//! screenshot under `target/tmp/desk-walk/`. Every form is sent as a
//! person sends it, and the page it comes back to is reloaded: still the
//! same page, saying what was done once, never a problem document. Form
//! addresses opened by hand answer a page too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{BROWSER_TURN, Driver, browser_available, wait_for};
use common::forms::{Form, reload, send_form, walk};
use common::visit::Visit;
use common::{Db, TestApp};
use reqwest::StatusCode;
use serde_json::json;

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
    let serial_at = |i: usize| {
        issued.body["vouchers"][i]["serial"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (serial, spare) = (serial_at(0), serial_at(1));
    let second = app
        .post(
            "/v1/vouchers",
            &member_token,
            json!({ "product": "data-1gb", "count": 2 }),
        )
        .await;
    let lost_lot = second.body["lot"].as_i64().unwrap();
    let need = json!({ "operator_id": 1, "resource": "data_mb", "amount": 2048, "people": 4, "reason": "Familles hébergées" });
    assert_eq!(
        app.post("/v1/needs", &member_token, need.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    // The association asks the coordination in turn.
    let association_token = app.token("structure", Some(association)).await;
    assert_eq!(
        app.post("/v1/needs", &association_token, need).await.status,
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
    let submit = "button[type=submit]";
    send_form(
        &mut v,
        &format!("/desk/vouchers/{spare}/void"),
        "main form[action$='/void']",
        &[],
        submit,
        "voucher-voided",
    )
    .await;
    send_form(
        &mut v,
        &format!("/desk/lots/{lost_lot}"),
        &format!("main form[action='/desk/lots/{lost_lot}/void']"),
        &[("reason", "feuille perdue"), ("confirm", "yes")],
        submit,
        "lot-voided",
    )
    .await;
    send_form(
        &mut v,
        "/desk/needs",
        "main form[action='/desk/needs']",
        &[("amount", "2 Go"), ("people", "3"), ("reason", "Rentrée")],
        submit,
        "need-reported",
    )
    .await;
    // Form addresses opened by hand: a page that changes nothing.
    for path in [
        format!("/desk/lots/{lot}/void"),
        "/desk/members/transfer".to_owned(),
        "/desk/sign-out".to_owned(),
    ] {
        walk(&mut v, "staff-by-hand", &path).await;
    }
    v.open("/desk/", "main h1", "staff-home-again").await;
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
    let member_id = member.to_string();
    send_form(
        &mut v,
        "/desk/needs",
        "main form[action$='/approve']",
        &[],
        submit,
        "need-approved",
    )
    .await;
    send_form(
        &mut v,
        "/desk/members",
        "main form[action='/desk/members/transfer']",
        &[("member", &member_id), ("amount", "1 Go")],
        "button[value=allocation]",
        "transferred",
    )
    .await;
    let accounts = "main form[action='/desk/accounts']";
    let person = [
        ("display_name", "Inès T."),
        ("login", "ines.t"),
        ("role", "structure_staff"),
    ];
    send_form(
        &mut v,
        "/desk/accounts",
        accounts,
        &person,
        submit,
        "account-created",
    )
    .await;
    for action in ["reset", "disable"] {
        let form = format!("main form[action$='/{action}']");
        send_form(&mut v, "/desk/accounts", &form, &[], submit, action).await;
    }
    assert!(
        !v.text("main").await.contains("Code d’activation"),
        "a code is shown once"
    );
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
            coordinator_forms(&mut v, member).await;
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

/// Every form of the coordinator's desk, sent and reloaded.
async fn coordinator_forms(v: &mut Visit<'_>, member: i64) {
    let submit = "button[type=submit]";
    let member = member.to_string();
    let forms: [Form<'_>; 11] = [
        (
            "/desk/coordination/structures",
            "main form[action='/desk/coordination/structures']",
            &[("name", "Maison des solidarités")],
            "structure-registered",
        ),
        (
            "/desk/coordination/structures",
            "main form[action$='/rename']",
            &[("name", "Antenne des Lilas (93)")],
            "structure-renamed",
        ),
        (
            "/desk/coordination/grants",
            "main form[action='/desk/coordination/grants']",
            &[("structure_id", &member), ("amount", "5 Go")],
            "granted",
        ),
        (
            "/desk/coordination/networks",
            "main form[action='/desk/coordination/networks']",
            &[
                ("name", "Réseau solidaire"),
                ("slip_instructions", "*123*PIN#"),
            ],
            "network-added",
        ),
        (
            "/desk/coordination/networks",
            "main form[action$='/slip-instructions']",
            &[("slip_instructions", "*144*PIN#")],
            "dialling-set",
        ),
        (
            "/desk/coordination/products/data-1gb",
            "main form[action='/desk/coordination/products']",
            &[("label_fr", "1 Go de données")],
            "product-saved",
        ),
        (
            "/desk/coordination/networks",
            "main form[action$='/withdraw']",
            &[],
            "product-withdrawn",
        ),
        (
            "/desk/coordination/networks",
            "main form[action$='/offer']",
            &[],
            "product-offered",
        ),
        (
            "/desk/coordination/needs",
            "main form[action$='/approve']",
            &[],
            "need-approved",
        ),
        (
            "/desk/coordination/lines",
            "main form[action='/desk/coordination/lines']",
            &[
                ("msisdn", "+33612345678"),
                ("reason", "vérifié avec la structure"),
            ],
            "unbarred",
        ),
        (
            "/desk/coordination/tokens",
            "main form[action='/desk/coordination/tokens']",
            &[
                ("role", "operator"),
                ("scope", "1"),
                ("label", "plateforme"),
            ],
            "token-created",
        ),
    ];
    for (page, form, fields, name) in forms {
        send_form(v, page, form, fields, submit, name).await;
    }
    // The secret was on the page once; the reload shows it no more.
    assert!(
        !v.client
            .source()
            .await
            .unwrap()
            .contains("class=\"secret\""),
        "a token is shown once"
    );
    let revoke = "main form[action$='/revoke']";
    send_form(
        v,
        "/desk/coordination/tokens",
        revoke,
        &[],
        submit,
        "token-revoked",
    )
    .await;
    for path in [
        "/desk/coordination/tokens/1/revoke".to_owned(),
        format!("/desk/coordination/structures/{member}/rename"),
        "/desk/coordination/products/data-1gb/withdraw".to_owned(),
    ] {
        walk(v, "coordinator-by-hand", &path).await;
    }
    v.open("/desk/coordination", "main h1", "coordinator-home-again")
        .await;
}
