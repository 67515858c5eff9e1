//! Finding a voucher from a desk's header, on SQLite and PostgreSQL: a
//! structure finds its own by the reference printed on the slip, by the
//! code or PIN typed from it, or by the reference it gave at issue (one
//! goes straight to its page, several are listed), and never another
//! structure's; the coordinator and auditors find any by reference or code
//! and read its page and history, without its code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;
use serde_json::json;

async fn a_voucher_is_found_by_what_is_on_its_slip(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre A", 10 * 1024).await;
    let (_, other) = app.funded_structure("Centre B", 10 * 1024).await;
    let issue = |token: String, body: serde_json::Value| {
        let app = &app;
        async move {
            let a = app.post("/v1/vouchers", &token, body).await;
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            a.body["vouchers"].as_array().unwrap().clone()
        }
    };
    let mine = issue(
        token.clone(),
        json!({ "product": "data-1gb", "count": 2, "reference": "Dossier 42" }),
    )
    .await;
    let pins = issue(
        token.clone(),
        json!({ "product": "data-1gb", "count": 1, "format": "pin" }),
    )
    .await;
    let theirs = issue(
        other.clone(),
        json!({ "product": "data-1gb", "count": 1, "reference": "Dossier 42" }),
    )
    .await;
    let serial = mine[0]["serial"].as_str().unwrap();
    let code = mine[0]["code"].as_str().unwrap();
    let pin = pins[0]["code"].as_str().unwrap();
    let pin_serial = pins[0]["serial"].as_str().unwrap();
    let their_serial = theirs[0]["serial"].as_str().unwrap();

    let mut desk = Browser::sign_in(&app, &token).await;
    let home = desk.get("/desk/").await;
    assert!(home.text.contains("action=\"/desk/find\""), "{}", home.text);
    let q = |typed: &str| format!("/desk/find?q={}", form_urlencoded_value(typed));
    for (typed, to) in [
        (serial.to_owned(), serial),
        (serial.to_lowercase().replace('-', ""), serial),
        (code.to_owned(), serial),
        (pin.to_owned(), pin_serial),
        (pin.replace(' ', ""), pin_serial),
    ] {
        let found = desk.get(&q(&typed)).await;
        assert_eq!(
            found.status,
            StatusCode::SEE_OTHER,
            "{typed}: {}",
            found.text
        );
        assert_eq!(found.location(), format!("/desk/vouchers/{to}"), "{typed}");
    }
    let several = desk.get(&q("dossier 42")).await;
    several.assert_says(StatusCode::OK, "2 codes portent cette référence");
    assert!(
        !several.text.contains(their_serial),
        "another structure's code listed"
    );
    desk.get(&q(their_serial)).await.assert_says(
        StatusCode::OK,
        "Aucun code de votre structure ne correspond",
    );

    // The coordinator finds any code, and reads its page without the code.
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let mut c = Browser::sign_in_as(&app, &coordinator).await;
    let board = c.get("/desk/coordination").await;
    assert!(board.text.contains("action=\"/desk/coordination/find\""));
    let found = c
        .get(&format!(
            "/desk/coordination/find?q={}",
            form_urlencoded_value(code)
        ))
        .await;
    assert_eq!(found.status, StatusCode::SEE_OTHER, "{}", found.text);
    let page = c.get(found.location()).await;
    page.assert_says(StatusCode::OK, "Centre A");
    assert!(page.text.contains("Émis par"), "{}", page.text);
    assert!(
        !page.text.contains(code),
        "the code is shown to the coordinator"
    );
    let found = c
        .get(&format!("/desk/coordination/find?q={their_serial}"))
        .await;
    assert_eq!(
        found.location(),
        format!("/desk/coordination/vouchers/{their_serial}")
    );
    c.get("/desk/coordination/find?q=ZZZZ")
        .await
        .assert_says(StatusCode::OK, "Aucun code ne correspond");
    // A structure's people do not reach the coordinator's voucher page.
    desk.get(&format!("/desk/coordination/vouchers/{their_serial}"))
        .await
        .assert_says(StatusCode::NOT_FOUND, "introuvable");
    app.stop().await;
}
both!(a_voucher_is_found_by_what_is_on_its_slip);

/// A value for a query string.
fn form_urlencoded_value(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)]).unwrap()[2..].to_owned()
}
