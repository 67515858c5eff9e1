//! The people's journey through both desks, in headless Chromium, on
//! SQLite and PostgreSQL: the coordinator signs in, registers a structure,
//! grants it quota and creates its manager; the manager activates the
//! account and creates a staff member; the staff member issues a lot,
//! prints it in each layout (every QR code read back by zbarimg), and
//! voids it; the coordinator's dashboard then shows those figures.
//!
//! Every page on the way is checked with axe-core (no violation of impact
//! "serious" or "critical") and kept as a screenshot under
//! `target/tmp/desk-journey/`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{BROWSER_TURN, Driver, browser_available, paper, scan, scan_pdf, wait_for};
use common::visit::Visit;
use common::{Db, TestApp};
use fantoccini::Locator;

async fn the_journey_through_both_desks(db: Db) {
    if !browser_available() {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let _turn = BROWSER_TURN.lock().await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let mut v = Visit::start(&app, &driver, profile.path(), "desk-journey", db).await;

    // The coordinator: activation, the dashboard, a structure, its quota,
    // its manager; every page of the coordinator's desk.
    let coordinator = app.create_account(&app.admin, "coordinator", None).await;
    let code = coordinator.body["activation_code"]
        .as_str()
        .unwrap()
        .to_owned();
    v.activate(&code, "activate").await;
    let login = coordinator.body["login"].as_str().unwrap().to_owned();
    v.sign_in(&login, "figure.chart", "dashboard").await;
    v.open("/desk/coordination/structures", "#name", "structures")
        .await;
    v.fill("#name", "Centre social Émile-Zola").await;
    v.click("main form.stack button[type=submit]").await;
    let made = v.text(".notice-done").await;
    let sid: String = made
        .rsplit("numéro ")
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(!sid.is_empty(), "{made}");
    v.check("structure-registered").await;
    v.open("/desk/coordination/grants", "#amount", "grants")
        .await;
    wait_for(&v.client, "#structure_id")
        .await
        .select_by_value(&sid)
        .await
        .unwrap();
    v.fill("#amount", "10").await;
    v.click("main form.stack button[type=submit]").await;
    assert!(
        v.text(".notice-done")
            .await
            .contains("Le quota est attribué")
    );
    let manager_code = v
        .create_account("Marc R.", "marc.r", "structure_manager", Some(&sid))
        .await;
    for (path, name) in [
        ("/desk/nope?lang=fr", "not-found"),
        ("/desk/coordination/networks", "networks"),
        ("/desk/coordination/tokens", "tokens"),
        ("/desk/coordination/donor", "donor-report"),
        ("/desk/coordination/integrity", "integrity"),
        ("/desk/coordination?lang=en", "dashboard-en"),
        ("/desk/coordination?lang=fr", "dashboard-fr"),
    ] {
        v.open(path, "main h1", name).await;
    }
    v.sign_out().await;

    // The manager activates, signs in, creates a staff member.
    v.activate(&manager_code, "activate-manager").await;
    v.sign_in("marc.r", "table.balances", "home-manager").await;
    let staff_code = v
        .create_account("Amina B.", "amina.b", "structure_staff", None)
        .await;
    v.sign_out().await;

    // The staff member issues a lot of three and prints it in each layout.
    v.activate(&staff_code, "activate-staff").await;
    v.sign_in("amina.b", "table.balances", "home-staff").await;
    v.open("/desk/issue", "#product", "issue").await;
    wait_for(&v.client, "#product")
        .await
        .select_by_value("data-1gb")
        .await
        .unwrap();
    v.fill("#count", "3").await;
    v.click("main form button[type=submit]").await;
    wait_for(&v.client, ".slips .slip").await;
    v.check("print").await;
    let lot_href = wait_for(&v.client, "a[href^='/desk/lots/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let lot: i64 = lot_href.rsplit('/').next().unwrap().parse().unwrap();
    let codes: Vec<String> = {
        let token = app.token("structure", Some(sid.parse().unwrap())).await;
        let lot_json = app.get(&format!("/v1/lots/{lot}"), &token).await;
        let mut codes = Vec::new();
        for voucher in lot_json.body["vouchers"].as_array().unwrap() {
            let serial = voucher["serial"].as_str().unwrap();
            let one = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
            codes.push(one.body["code"].as_str().unwrap().replace('-', ""));
        }
        codes.sort();
        codes
    };
    assert_eq!(codes.len(), 3);
    for layout in ["a4", "labels", "receipt"] {
        v.open(
            &format!("/desk/print?lot={lot}&layout={layout}"),
            ".slips .slip",
            &format!("print-{layout}"),
        )
        .await;
        let slips = v.client.find_all(Locator::Css(".slip")).await.unwrap();
        assert_eq!(slips.len(), 3, "{layout}");
        let mut read = Vec::new();
        for (i, slip) in slips.iter().enumerate() {
            let qr = slip.find(Locator::Css(".qr svg")).await.unwrap();
            let arg = serde_json::to_value(&qr).unwrap();
            v.client
                .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
                .await
                .unwrap();
            let png = qr.screenshot().await.unwrap();
            let path = v.dir.join(format!("qr-{layout}-{i}.png"));
            std::fs::write(&path, png).unwrap();
            read.push(scan(&path));
        }
        read.sort();
        assert_eq!(
            read, codes,
            "{layout}: every slip's QR code reads back as its code"
        );
        // Recorded as printed, then printed on its paper at its real size
        // (the labels' QR codes are the smallest), then read back from the
        // page as a printer at 150 dpi would put it on paper.
        v.click("form.record-print button").await;
        wait_for(&v.client, ".notice-done").await;
        let pdf = v.client.print(paper(layout)).await.unwrap();
        let pdf_path = v.dir.join(format!("print-{layout}.pdf"));
        std::fs::write(&pdf_path, pdf).unwrap();
        let mut printed = scan_pdf(&pdf_path, 150);
        printed.sort();
        assert_eq!(
            printed, codes,
            "{layout}: every printed slip's QR code reads back as its code"
        );
    }

    // One code's page and its void confirmation, then the lot page and
    // its void with a reason and one confirmation.
    v.open("/desk/vouchers", "main h1", "vouchers").await;
    let first = wait_for(&v.client, "main table a[href^='/desk/vouchers/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    v.open(&first, "ul.history", "voucher").await;
    v.open(
        &format!("{first}/void"),
        "main form button.danger",
        "void-confirm",
    )
    .await;
    v.open(&lot_href, "#reason", "lot").await;
    v.fill("#reason", "feuille perdue").await;
    v.click("#confirm").await;
    v.click("main form button.danger").await;
    let voided = v.text(".notice-done").await;
    assert!(voided.contains("3 codes annulés"), "{voided}");
    v.check("lot-voided").await;
    v.open("/desk/vouchers?state=voided", "main h1", "vouchers-voided")
        .await;
    v.open("/desk/lots", "main table", "lots").await;
    v.open(&first, "ul.history", "voucher-voided").await;
    let history = v.text("ul.history").await;
    assert!(
        history.contains("Émis par Amina B.") && history.contains("Annulé par Amina B."),
        "{history}"
    );
    v.open(&format!("{first}/void"), "main h1", "void-refused")
        .await;
    v.sign_out().await;

    // The coordinator's dashboard counts the lot: three issued, three voided.
    v.sign_in(&login, "figure.chart", "dashboard-after").await;
    let month = v.text("main table").await;
    assert!(month.contains("SFR 3 0 0 3 10 Go"), "{month}");
    // The journal says who did it, in words.
    v.open("/desk/coordination/journal", "main table", "journal")
        .await;
    let journal = v.text("main table").await;
    for line in [
        "Annulation de 3 codes — lot n° ",
        "Émission de 3 codes — lot n° ",
        "Impression de 3 bons Amina B.",
        "Compte créé Marc R.",
    ] {
        assert!(journal.contains(line), "{line}: {journal}");
    }
    // Deactivating is asked once more; the question is a page too.
    v.open(
        "/desk/coordination/structures",
        "main table",
        "structures-after",
    )
    .await;
    v.click("form[action$='/deactivate'] button").await;
    wait_for(&v.client, "main form button.danger").await;
    v.check("deactivate-confirm").await;
    v.sign_out().await;

    // An auditor reads the same pages, without their forms.
    let made = app.create_account(&app.admin, "auditor", None).await;
    let auditor_login = made.body["login"].as_str().unwrap().to_owned();
    v.activate(
        made.body["activation_code"].as_str().unwrap(),
        "activate-auditor",
    )
    .await;
    v.sign_in(&auditor_login, "figure.chart", "auditor-dashboard")
        .await;
    for (path, name) in [
        ("/desk/coordination/structures", "auditor-structures"),
        ("/desk/coordination/grants", "auditor-grants"),
        ("/desk/coordination/networks", "auditor-networks"),
        ("/desk/coordination/products/data-1gb", "auditor-product"),
        ("/desk/accounts", "auditor-accounts"),
        ("/desk/coordination/tokens", "auditor-tokens"),
        ("/desk/coordination/donor", "auditor-donor-report"),
        ("/desk/coordination/journal", "auditor-journal"),
        ("/desk/coordination/integrity", "auditor-integrity"),
    ] {
        v.open(path, "main h1", name).await;
    }
    eprintln!(
        "desk journey: {} pages checked with axe-core, screenshots in {}",
        v.pages,
        v.dir.display()
    );
    v.client.close().await.unwrap();
    app.stop().await;
}
both!(the_journey_through_both_desks);
