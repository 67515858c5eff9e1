//! Slips read as a person reads them: printed to PDF by headless Chromium
//! on the paper each layout's `@page` names (A4 sheets, 3 × 8 labels, the
//! 80 mm receipt), then the text drawn on the paper read back with
//! `pdftotext`, which only finds glyphs that were drawn: a group of a PIN
//! cut off by the page or hidden by its box is missing. Every slip must
//! carry its whole code or PIN, its serial, its validity date with the
//! year, its network and the structure's name at the length limit, in
//! French and in French with Arabic (right to left). The QR codes are read
//! back from the same paper.
//!
//! The pages are checked with axe-core; screenshots, PDFs and their pages
//! as PNG are kept under `target/tmp/slips-on-paper/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{
    BROWSER_TURN, Driver, browser_available, paper, pdf_text, scan_pdf, wait_for,
};
use common::visit::Visit;
use common::{Db, TestApp, test_limits};
use relay_topup::clock::ManualClock;
use serde_json::json;

/// 2 July 2027, 10:00 UTC: codes valid 90 days expire on 30 September
/// 2027, one of the longest dates in words.
const ISSUED_AT_SECS: i64 = 1_814_522_400;

/// A structure name at the limit (200 characters), as long real names run.
fn longest_name() -> String {
    let mut name = "Centre communal d’action sociale de Saint-Rémy-de-Provence — \
        Point d’accueil et d’orientation des personnes sans domicile stable, \
        antenne des Alpilles et du pays d’Arles, "
        .to_owned();
    while name.chars().count() < 200 {
        name.push('x');
    }
    assert_eq!(name.chars().count(), 200);
    name
}

/// The text with every kind of white space removed: what was drawn in
/// order, wherever the lines broke.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

struct Issued {
    format: &'static str,
    lot: i64,
    /// (serial, code as printed: groups separated by '-' or ' ').
    vouchers: Vec<(String, String)>,
}

async fn issue(app: &TestApp, token: &str, format: &'static str) -> Issued {
    let body = json!({ "product": "voice-30d", "count": 3, "format": format });
    let issued = app.post("/v1/vouchers", token, body).await;
    assert_eq!(issued.status, 201, "{issued:?}");
    let lot = issued.body["lot"].as_i64().unwrap();
    let vouchers = issued.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["serial"].as_str().unwrap().to_owned(),
                v["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Issued {
        format,
        lot,
        vouchers,
    }
}

/// Everything a slip must show, in what was drawn on the paper.
fn assert_on_paper(text: &str, issued: &Issued, name: &str, what: &str) {
    let drawn = squeezed(text);
    for (serial, code) in &issued.vouchers {
        for group in code.split(['-', ' ']) {
            assert!(
                text.contains(group),
                "{what}: group {group} of {code} missing:\n{text}"
            );
        }
        let whole: String = code.split(['-', ' ']).collect();
        assert!(
            drawn.contains(&whole),
            "{what}: {code} not drawn whole:\n{text}"
        );
        assert!(
            drawn.contains(serial.as_str()),
            "{what}: serial {serial} missing:\n{text}"
        );
    }
    let count = |needle: &str| drawn.matches(needle).count();
    assert!(
        count("30septembre2027") >= 3,
        "{what}: the date with its year:\n{text}"
    );
    assert!(count("SFR") >= 3, "{what}: the network:\n{text}");
    assert!(
        count(&squeezed(name)) >= 3,
        "{what}: the structure's whole name:\n{text}"
    );
    if issued.format == "pin" && !what.contains("labels") {
        assert!(count("*144*") >= 3, "{what}: what to dial:\n{text}");
    }
}

async fn slips_print_whole_on_paper(db: Db) {
    if !browser_available() {
        return;
    }
    let clock = ManualClock::new(ISSUED_AT_SECS);
    let Some(app) = TestApp::spawn_with(db, test_limits(), Some(clock)).await else {
        return;
    };
    let _turn = BROWSER_TURN.lock().await;
    let name = longest_name();
    let sid = app.structure(&name).await;
    app.grant(sid, "voice", 600).await;
    let token = app.token("structure", Some(sid)).await;
    let person = app.person(&token, "structure_staff", None).await;
    let lots = [
        issue(&app, &token, "code").await,
        issue(&app, &token, "pin").await,
    ];

    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let mut v = Visit::start(&app, &driver, profile.path(), "slips-on-paper", db).await;
    v.sign_in(&person.login, "table.balances", "home").await;
    for issued in &lots {
        let mut codes: Vec<String> = issued
            .vouchers
            .iter()
            .map(|(_, code)| code.replace(['-', ' '], ""))
            .collect();
        codes.sort();
        for layout in ["a4", "labels", "receipt"] {
            for second in ["", "ar"] {
                let what = format!(
                    "{}-{layout}-{}",
                    issued.format,
                    if second.is_empty() { "fr" } else { second }
                );
                let path = format!(
                    "/desk/print?lot={}&layout={layout}&lang2={second}",
                    issued.lot
                );
                v.open(&path, ".slips .slip", &format!("{what}-preview"))
                    .await;
                v.click("form.record-print button").await;
                wait_for(&v.client, ".notice-done").await;
                v.check(&what).await;
                let pdf = v.client.print(paper(layout)).await.unwrap();
                let pdf_path = v.dir.join(format!("{what}.pdf"));
                std::fs::write(&pdf_path, pdf).unwrap();
                let text = pdf_text(&pdf_path);
                assert_on_paper(&text, issued, &name, &what);
                if second == "ar" {
                    let arabic = text
                        .chars()
                        .filter(|c| {
                            ('\u{0600}'..='\u{06FF}').contains(c)
                                || ('\u{FE70}'..='\u{FEFF}').contains(c)
                        })
                        .count();
                    assert!(
                        arabic > 3 * 40,
                        "{what}: the Arabic instructions are not drawn:\n{text}"
                    );
                }
                let mut read = scan_pdf(&pdf_path, 150);
                read.sort();
                assert_eq!(read, codes, "{what}: every printed QR code reads back");
            }
        }
    }
    eprintln!(
        "slips on paper: {} pages checked, kept in {}",
        v.pages,
        v.dir.display()
    );
    v.client.close().await.unwrap();
    app.stop().await;
}
both!(slips_print_whole_on_paper);
