//! Lots as people number them, on SQLite and PostgreSQL: a structure's
//! first lot is its "Lot n° 1" on every page, slip, spreadsheet and
//! journal row, whatever other structures issued before; the global
//! number stays the lot's name in the API and in addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;

/// Issues `count` codes of 1 GB through the API; answers the global lot
/// and the first serial.
async fn issue(app: &TestApp, token: &str, count: i64) -> (i64, String) {
    let a = app.issue(token, "data-1gb", count).await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let serial = a.body["vouchers"][0]["serial"].as_str().unwrap().to_owned();
    (a.body["lot"].as_i64().unwrap(), serial)
}

async fn lots_are_numbered_per_structure(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, first) = app.funded_structure("Centre social", 100 * 1024).await;
    let (_, second) = app.funded_structure("Épicerie solidaire", 100 * 1024).await;
    // The first structure's two lots come first in the service.
    issue(&app, &first, 5).await;
    issue(&app, &first, 6).await;
    let (lot, serial) = issue(&app, &second, 3).await;
    assert!(lot > 2, "the global number counts every structure's lots");
    let (later, _) = issue(&app, &second, 4).await;

    let mut desk = Browser::sign_in(&app, &second).await;
    let page = desk.get(&format!("/desk/lots/{lot}")).await;
    page.assert_says(StatusCode::OK, "<title>Lot n° 1 ");
    assert!(
        !page.text.contains(&format!("Lot n° {lot}")),
        "{}",
        page.text
    );
    desk.get(&format!("/desk/lots/{later}"))
        .await
        .assert_says(StatusCode::OK, "<title>Lot n° 2 ");
    let list = desk.get("/desk/lots").await;
    for n in [1, 2] {
        list.assert_says(StatusCode::OK, &format!("Lot n° {n}</a>"));
    }
    desk.get(&format!("/desk/vouchers/{serial}"))
        .await
        .assert_says(StatusCode::OK, "Lot n° 1</a>");
    // On the paper itself, and in the spreadsheet.
    let print = desk.get(&format!("/desk/print?lot={lot}")).await;
    print.assert_says(StatusCode::OK, "Lot n° 1</a>");
    assert_eq!(
        print.text.matches("<dt>Lot</dt><dd>1</dd>").count(),
        3,
        "{}",
        print.text
    );
    let csv = desk.get(&format!("/desk/lots/{lot}/export.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.text.lines().skip(1).all(|l| l.starts_with("1;")),
        "{}",
        csv.text
    );
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("lot-1.csv")
    );

    // The coordinator reads the same numbers, beside the structure's name.
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let mut c = Browser::sign_in_as(&app, &coordinator).await;
    let journal = c.get("/desk/coordination/journal").await;
    for row in [
        "Émission de 3 codes — lot n° 1",
        "Émission de 4 codes — lot n° 2",
        "Émission de 5 codes — lot n° 1",
        "Émission de 6 codes — lot n° 2",
    ] {
        journal.assert_says(StatusCode::OK, row);
    }
    c.get(&format!("/desk/coordination/vouchers/{serial}"))
        .await
        .assert_says(StatusCode::OK, "Lot n° 1");

    // The API keeps the global number.
    let api = app.get(&format!("/v1/lots/{lot}"), &second).await;
    assert_eq!(api.status, StatusCode::OK, "{api:?}");
    assert_eq!(api.body["lot"], lot);
    app.stop().await;
}
both!(lots_are_numbered_per_structure);
