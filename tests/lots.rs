//! Lots, on SQLite and PostgreSQL: every issue request is one; a structure
//! reads it (JSON or CSV, never the codes), voids its unused codes at once
//! with a reason, races that void against a redemption (exactly one wins
//! for each code), and does all of it at the desk, where each voucher
//! says who issued and voided it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::Browser;
use common::{Db, TestApp, assert_books_clean, busy_limits};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Issues `count` codes of 1 GB; answers the lot and (serial, code) pairs.
async fn issue_lot(app: &TestApp, token: &str, count: i64) -> (i64, Vec<(String, String)>) {
    let a = app
        .post(
            "/v1/vouchers",
            token,
            json!({"product": "data-1gb", "count": count}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let lot = a.body["lot"].as_i64().unwrap();
    let pairs = a.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["lot"], lot);
            (
                v["serial"].as_str().unwrap().to_owned(),
                v["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (lot, pairs)
}

async fn void_lot(app: &TestApp, token: &str, lot: i64, reason: &str) -> common::Answer {
    app.post(
        &format!("/v1/lots/{lot}/void"),
        token,
        json!({ "reason": reason }),
    )
    .await
}

async fn a_lot_is_read_exported_and_voided(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let (_, other) = app.funded_structure("Autre centre", 1024).await;
    let operator = app.token("operator", None).await;
    let (lot, pairs) = issue_lot(&app, &token, 5).await;
    let (second, _) = issue_lot(&app, &token, 1).await;
    assert_ne!(lot, second, "each request is a lot of its own");
    let r = app.redeem(&operator, &pairs[0].1, "+33612345678").await;
    assert!(r.status.is_success(), "{r:?}");

    let read = app.get(&format!("/v1/lots/{lot}"), &token).await;
    assert_eq!(read.status, StatusCode::OK, "{read:?}");
    let states: Vec<(&str, &str)> = read.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["serial"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states.len(), 5);
    for (serial, state) in &states {
        let expected = if *serial == pairs[0].0 {
            "redeemed"
        } else {
            "issued"
        };
        assert_eq!(*state, expected, "{serial}");
    }
    let csv = app
        .request_with(
            Method::GET,
            &format!("/v1/lots/{lot}"),
            Some(&token),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "lot,serial,product,state,reference,issued_at,expires_at,state_changed_at"
    );
    assert_eq!(lines.len(), 6, "{}", csv.text);
    for (serial, code) in &pairs {
        assert!(csv.text.contains(serial.as_str()));
        assert!(
            !csv.text.contains(code.as_str()),
            "a code leaked into the CSV"
        );
        assert!(
            !read.text.contains(code.as_str()),
            "a code leaked into the lot"
        );
    }

    // Another structure reaches nothing; a lot that is not there is 404.
    for (t, l) in [(&other, lot), (&token, 999_999)] {
        let a = app.get(&format!("/v1/lots/{l}"), t).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{a:?}"
        );
        let a = void_lot(&app, t, l, "feuille perdue").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{a:?}");
    }
    // A reason is required and bounded; refused, nothing changes.
    let before = app.balance(&token, "data_mb").await;
    for reason in ["", "   ", &"x".repeat(201)] {
        let a = void_lot(&app, &token, lot, reason).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{a:?}");
        assert_eq!(a.body["field"], "reason");
    }
    assert_eq!(app.balance(&token, "data_mb").await, before);

    let done = void_lot(&app, &token, lot, "feuille perdue").await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    assert_eq!(
        (done.body["voided"].as_i64(), done.body["expired"].as_i64()),
        (Some(4), Some(0))
    );
    let after = app.balance(&token, "data_mb").await;
    assert_eq!(
        after["available"].as_i64().unwrap() - before["available"].as_i64().unwrap(),
        4 * 1024
    );
    // Every voided code is refused by the operator; the redeemed one stays.
    for (_, code) in &pairs[1..] {
        let r = app.redeem(&operator, code, "+33612345679").await;
        assert_eq!(r.code(), Some("voided"), "{r:?}");
    }
    let again = void_lot(&app, &token, lot, "feuille perdue").await;
    assert_eq!(again.body["voided"], 0);
    let snapshot = app.running().state.store.audit_snapshot().await.unwrap();
    let voids: Vec<serde_json::Value> = snapshot
        .events
        .iter()
        .filter(|e| e.kind == "void")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(voids.len(), 4);
    assert!(
        voids
            .iter()
            .all(|d| d["reason"] == "feuille perdue" && d["lot"] == lot)
    );
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_lot_is_read_exported_and_voided);

/// A lot's void and a redemption of one of its codes, at the same time:
/// exactly one wins for that code, the quota given back is exactly the
/// voided codes', and the books balance.
async fn a_lot_void_races_a_redemption(db: Db) {
    let Some(app) = TestApp::spawn_with(db, busy_limits(), None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 200 * 1024).await;
    let operator = app.token("operator", None).await;
    let mut redeemed_wins = 0;
    for round in 0..12 {
        let (lot, pairs) = issue_lot(&app, &token, 8).await;
        let before = app.balance(&token, "data_mb").await["available"]
            .as_i64()
            .unwrap();
        let raced = &pairs[round % pairs.len()].1;
        let (voided, redeemed) = tokio::join!(
            void_lot(&app, &token, lot, "feuille perdue"),
            app.redeem(&operator, raced, "+33612345678"),
        );
        assert_eq!(voided.status, StatusCode::OK, "{voided:?}");
        let n = voided.body["voided"].as_i64().unwrap();
        if redeemed.status.is_success() {
            redeemed_wins += 1;
            assert_eq!(n, 7, "{voided:?}");
        } else {
            assert_eq!(redeemed.code(), Some("voided"), "{redeemed:?}");
            assert_eq!(n, 8, "{voided:?}");
        }
        let after = app.balance(&token, "data_mb").await["available"]
            .as_i64()
            .unwrap();
        assert_eq!(after - before, n * 1024, "round {round}");
    }
    eprintln!("redemption won {redeemed_wins} of 12 races");
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_lot_void_races_a_redemption);

/// At the desk: the lot page, printing it again in each layout, its CSV,
/// voiding it with a reason and one confirmation, and each voucher's
/// history naming who did what.
async fn a_lot_at_the_desk(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let issued = desk.issue("data-1gb", "3", "").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    let print = desk.get(issued.location()).await;
    print.assert_says(StatusCode::OK, "Lot n° ");
    let lot: i64 = print
        .text
        .split("/desk/lots/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let page = desk.get(&format!("/desk/lots/{lot}")).await;
    page.assert_says(StatusCode::OK, "Ce lot compte 3 codes émis en une fois.");
    for layout in ["a4", "labels", "receipt"] {
        let again = desk
            .get(&format!("/desk/print?lot={lot}&layout={layout}"))
            .await;
        again.assert_says(StatusCode::OK, &format!("slips layout-{layout}"));
        assert_eq!(again.text.matches("class=\"slip\"").count(), 3, "{layout}");
    }
    desk.get(&format!("/desk/print?lot={lot}&layout=poster"))
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "");
    // Four previews recorded nothing; one print records one event per
    // slip, and the page it comes back to records nothing more.
    let listed = app.get(&format!("/v1/lots/{lot}"), &token).await;
    let serials: Vec<String> = listed.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_str().unwrap().to_owned())
        .collect();
    let prints = |text: &str| text.matches("Imprimé — Amina B., le ").count();
    for serial in &serials {
        let detail = desk.get(&format!("/desk/vouchers/{serial}")).await;
        assert_eq!(prints(&detail.text), 0, "{}", detail.text);
    }
    let csrf = desk.csrf().await;
    let refused = desk
        .post(&format!("/desk/print?lot={lot}"), &[("csrf", "forged")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let printed = desk
        .post(
            "/desk/print",
            &[
                ("csrf", &csrf),
                ("lot", &lot.to_string()),
                ("layout", "receipt"),
                ("lang2", "ar"),
            ],
        )
        .await;
    assert_eq!(printed.status, StatusCode::SEE_OTHER, "{}", printed.text);
    assert!(
        printed.location().contains("printed=3"),
        "{}",
        printed.location()
    );
    for _ in 0..2 {
        let back = desk.get(printed.location()).await;
        back.assert_says(StatusCode::OK, "3 bons notés comme imprimés");
        assert!(
            back.text.contains("lang=\"ar\" dir=\"rtl\""),
            "{}",
            back.text
        );
    }
    for serial in &serials {
        let detail = desk.get(&format!("/desk/vouchers/{serial}")).await;
        assert_eq!(prints(&detail.text), 1, "{}", detail.text);
    }
    let csv = desk.get(&format!("/desk/lots/{lot}/export.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("lot-")
    );
    assert_eq!(csv.text.lines().count(), 4);
    // For a French spreadsheet: a byte-order mark, ';', French words and
    // dates as JJ/MM/AAAA.
    let header = csv.text.lines().next().unwrap();
    assert!(
        header.starts_with("\u{feff}Lot;Référence du bon;Recharge;État;"),
        "{header}"
    );
    let first = csv.text.lines().nth(1).unwrap();
    // The product and the state in words, not their ids.
    assert!(
        first.contains(";1 Go de données internet;valide;"),
        "{first}"
    );
    let date = first.split(';').nth(5).unwrap();
    assert!(
        date.len() == 10 && date.as_bytes()[2] == b'/' && date.as_bytes()[5] == b'/',
        "{first}"
    );

    // Without the confirmation, nothing is voided.
    let csrf = desk.csrf().await;
    let before = app.balance(&token, "data_mb").await;
    desk.post(
        &format!("/desk/lots/{lot}/void"),
        &[("csrf", &csrf), ("reason", "feuille perdue")],
    )
    .await
    .assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "cochez la case de confirmation",
    );
    assert_eq!(app.balance(&token, "data_mb").await, before);
    let done = desk
        .post(
            &format!("/desk/lots/{lot}/void"),
            &[
                ("csrf", &csrf),
                ("reason", "feuille perdue"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    desk.get(done.location())
        .await
        .assert_says(StatusCode::OK, "3 codes annulés.");
    let listed = app.get(&format!("/v1/lots/{lot}"), &token).await;
    let serial = listed.body["vouchers"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = desk.get(&format!("/desk/vouchers/{serial}")).await;
    detail.assert_says(StatusCode::OK, "Émis par Amina B., le ");
    assert!(
        detail.text.contains("Annulé par Amina B., le "),
        "{}",
        detail.text
    );
    assert!(
        detail.text.contains("Motif : feuille perdue"),
        "{}",
        detail.text
    );
    // Printed once, on record once.
    assert_eq!(prints(&detail.text), 1, "{}", detail.text);
    // The list of lots, newest first, says what is left of each.
    let (newer, _) = issue_lot(&app, &token, 2).await;
    let lots = desk.get("/desk/lots").await;
    lots.assert_says(StatusCode::OK, "Encore utilisables");
    let at = |lot: i64| lots.text.find(&format!("/desk/lots/{lot}\"")).unwrap();
    assert!(at(newer) < at(lot), "{}", lots.text);
    let figures = |codes: i64, open: i64| {
        format!(
            "<td class=\"num\">{codes}</td><td class=\"num\">{open}</td><td class=\"num\">0</td>"
        )
    };
    assert!(lots.text.contains(&figures(2, 2)), "{}", lots.text);
    assert!(lots.text.contains(&figures(3, 0)), "{}", lots.text);
    let older = desk.get(&format!("/desk/lots?before={newer}")).await;
    assert!(!older.text.contains(&format!("/desk/lots/{newer}\"")));
    assert!(older.text.contains(&format!("/desk/lots/{lot}\"")));
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_lot_at_the_desk);
