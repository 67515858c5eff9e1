//! The structures' web desk, on SQLite and PostgreSQL: over plain HTTP
//! (sessions, CSRF, escaping, languages, every error message, isolation
//! between structures, security headers), and end to end in headless
//! Chromium driven through WebDriver (sign in, issue, print, scan the QR
//! code back with zbarimg, void, sign out).
//!
//! The browser tests need Debian's `chromium`, `chromium-driver` and
//! `zbar-tools`. Without them they print "skipped: chromium not installed"
//! and pass, unless RELAY_TOPUP_REQUIRE_BROWSER=1 (as in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::chromium::{BROWSER_TURN, Driver, browser_available, is_png, scan, wait_for};
use common::desk::{Browser, Page};
use common::{Db, PERSON_PASSWORD, TestApp, test_limits};
use fantoccini::Locator;
use relay_topup::clock::{Clock, ManualClock, SystemClock};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The serials a print address names.
fn serials_in(location: &str) -> Vec<String> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "serial")
        .map(|(_, v)| v.into_owned())
        .collect()
}

async fn voucher_state(app: &TestApp, token: &str, serial: &str) -> String {
    let a = app.get(&format!("/v1/vouchers/{serial}"), token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["state"].as_str().unwrap().to_owned()
}

async fn voucher_count(app: &TestApp, token: &str) -> usize {
    let a = app.get("/v1/vouchers?limit=500", token).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    a.body["vouchers"].as_array().unwrap().len()
}

// ---------------------------------------------------------------------------
// HTTP-level tests
// ---------------------------------------------------------------------------

/// The whole round over HTTP: sign in, issue, print, void, sign out.
async fn desk_round_trip_over_http(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let root = Browser::new(&app).get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.location(), "/desk/");
    let mut desk = Browser::sign_in(&app, &token).await;
    let home = desk.get("/desk/").await;
    home.assert_says(StatusCode::OK, "Données internet");
    assert!(home.text.contains("<html lang=\"fr\">"));
    assert!(home.text.contains("10 Go"), "{}", home.text);
    assert!(
        home.text.contains("10 codes de 1 Go ou 2 codes de 5 Go"),
        "{}",
        home.text
    );

    let issued = desk.issue("data-1gb", "3", "atelier du mardi").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    let serials = serials_in(issued.location());
    assert_eq!(serials.len(), 3);
    assert_eq!(app.balance(&token, "data_mb").await["available"], 7 * 1024);

    let print = desk.get(issued.location()).await;
    print.assert_says(StatusCode::OK, "3 codes ont été émis");
    assert_eq!(print.text.matches("class=\"slip\"").count(), 3);
    assert!(print.text.contains("1 Go de données internet"));
    assert!(print.text.contains("Centre social"));
    assert!(print.text.contains("à utiliser avant le"));
    let code = app
        .get(&format!("/v1/vouchers/{}", serials[0]), &token)
        .await
        .body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let groups: String = code
        .split('-')
        .map(|g| format!("<span class=\"group\">{g}</span> "))
        .collect();
    assert!(print.text.contains(&groups), "code not in groups of four");

    let list = desk.get("/desk/vouchers").await;
    list.assert_says(StatusCode::OK, "atelier du mardi");
    assert!(list.text.contains(&serials[0]));

    let confirm = desk
        .get(&format!("/desk/vouchers/{}/void", serials[0]))
        .await;
    confirm.assert_says(StatusCode::OK, "Oui, annuler ce code");
    assert_eq!(voucher_state(&app, &token, &serials[0]).await, "issued");
    let csrf = confirm.field("csrf");
    let voided = desk
        .post(
            &format!("/desk/vouchers/{}/void", serials[0]),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(voided.status, StatusCode::SEE_OTHER, "{}", voided.text);
    let detail = desk.get(voided.location()).await;
    detail.assert_says(StatusCode::OK, "Le code a été annulé");
    assert_eq!(voucher_state(&app, &token, &serials[0]).await, "voided");
    assert_eq!(app.balance(&token, "data_mb").await["available"], 8 * 1024);

    // A voided code is listed by the filter, and not printed any more.
    let filtered = desk.get("/desk/vouchers?state=voided").await;
    assert!(filtered.text.contains(&serials[0]));
    assert!(!filtered.text.contains(&serials[1]));
    let reprint = desk
        .get(&format!("/desk/print?serial={}", serials[0]))
        .await;
    reprint.assert_says(StatusCode::OK, "n’est pas imprimé : il est annulé");
    assert!(!reprint.text.contains("class=\"slip\""));

    let old = desk.cookies.clone();
    let csrf = desk.csrf().await;
    let out = desk.post("/desk/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/desk/sign-in?signed_out=1");
    assert!(!desk.cookies.contains_key("relay_desk"));
    let mut replay = Browser::new(&app);
    replay.cookies = old;
    let a = replay.get("/desk/").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/desk/sign-in?expired=1");
    app.stop().await;
}
both!(desk_round_trip_over_http);

/// PINs from the desk: the form offers the choice, the slips show five
/// groups of digits with the PIN's instructions, and the details say what
/// kind of code it is.
async fn the_desk_issues_pins_for_basic_phones(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Accueil de jour", 10 * 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let form = desk.get("/desk/issue").await;
    form.assert_says(StatusCode::OK, "Pour quel téléphone ?");
    assert!(form.text.contains("Téléphone simple"), "{}", form.text);

    let issued = desk.issue_as("data-1gb", "2", "", "pin").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    let serials = serials_in(issued.location());
    assert_eq!(serials.len(), 2);
    let print = desk.get(issued.location()).await;
    // The seeded network's keys, set apart so they read left to right.
    print.assert_says(
        StatusCode::OK,
        "tapez <bdi dir=\"ltr\" class=\"keys\">*144*</bdi> puis les 20 chiffres du code, puis",
    );
    for serial in &serials {
        let api = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
        assert_eq!(api.body["format"], "pin", "{api:?}");
        let pin = api.body["code"].as_str().unwrap();
        let groups: String = pin
            .split(' ')
            .map(|g| format!("<span class=\"group\">{g}</span> "))
            .collect();
        assert!(print.text.contains(&groups), "{pin} not in five groups");
        let details = desk.get(&format!("/desk/vouchers/{serial}")).await;
        details.assert_says(StatusCode::OK, "20 chiffres (téléphone simple)");
    }
    assert!(print.text.contains("slip-code pin"));
    // The product's format by default: a code.
    let issued = desk.issue_as("data-1gb", "1", "", "").await;
    let serial = &serials_in(issued.location())[0];
    let api = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
    assert_eq!(api.body["format"], "code", "{api:?}");
    // A choice the form never offers is refused, and issues nothing.
    let before = voucher_count(&app, &token).await;
    let odd = desk.issue_as("data-1gb", "1", "", "ussd").await;
    assert!(odd.status.is_client_error(), "{}", odd.text);
    assert_eq!(voucher_count(&app, &token).await, before);
    app.stop().await;
}
both!(the_desk_issues_pins_for_basic_phones);

/// The desk names networks: balances per network, products grouped by
/// network, and a slip saying which network its top-up works on, with the
/// operator's own instructions when it gave them.
async fn the_desk_names_each_network(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let made = app
        .post(
            "/v1/operators",
            &app.admin,
            json!({ "name": "Réseau Solidaire", "instructions_fr": "Appelez le 555 et dictez le code." }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let network = made.body["id"].as_i64().unwrap();
    let product = json!({
        "id": "solidaire-data-1gb", "operator_id": network, "family": "data",
        "resource": "data_mb", "amount": 1024, "validity_days": 30, "code_validity_days": 90,
        "label_fr": "1 Go", "label_en": "1 GB"
    });
    assert_eq!(
        app.post("/v1/products", &app.admin, product).await.status,
        StatusCode::CREATED
    );
    let (id, token) = app
        .funded_structure("Maison des solidarités", 2 * 1024)
        .await;
    let granted = app
        .post(
            &format!("/v1/structures/{id}/grants"),
            &app.admin,
            json!({ "operator_id": network, "resource": "data_mb", "amount": 1024 }),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{granted:?}");
    let mut desk = Browser::sign_in(&app, &token).await;
    let home = desk.get("/desk/").await;
    home.assert_says(StatusCode::OK, "Réseau");
    assert!(home.text.contains("<td>SFR</td>"), "{}", home.text);
    assert!(
        home.text.contains("<td>Réseau Solidaire</td>"),
        "{}",
        home.text
    );
    let form = desk.get("/desk/issue").await;
    assert!(
        form.text.contains("<optgroup label=\"SFR\">"),
        "{}",
        form.text
    );
    assert!(
        form.text.contains("<optgroup label=\"Réseau Solidaire\">"),
        "{}",
        form.text
    );
    // A slip of each network: the operator's words, or the default.
    let ours = desk.issue_as("solidaire-data-1gb", "1", "", "").await;
    let print = desk.get(ours.location()).await;
    print.assert_says(StatusCode::OK, "Fonctionne sur le réseau");
    assert!(print.text.contains("Réseau Solidaire"), "{}", print.text);
    assert!(
        print.text.contains("Appelez le 555 et dictez le code."),
        "{}",
        print.text
    );
    let theirs = desk.issue_as("data-1gb", "1", "", "").await;
    let print = desk.get(theirs.location()).await;
    assert!(
        print.text.contains("<dd class=\"network\">SFR</dd>"),
        "{}",
        print.text
    );
    assert!(!print.text.contains("Appelez le 555"), "{}", print.text);
    app.stop().await;
}
both!(the_desk_names_each_network);

/// Pages listing many codes come a page at a time.
async fn the_list_has_pages(db: Db) {
    let mut limits = test_limits();
    limits.desk.desk_page_size = 2;
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    app.issue_pairs(&token, "data-1gb", 5).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let mut seen = 0;
    let mut path = "/desk/vouchers".to_owned();
    for _ in 0..3 {
        let page = desk.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen += page
            .text
            .matches("<th scope=\"row\" class=\"serial\">")
            .count();
        match page.text.find("rel=\"next\" href=\"") {
            Some(at) => {
                let start = at + "rel=\"next\" href=\"".len();
                let end = page.text[start..].find('"').unwrap() + start;
                path = page.text[start..end].replace("&amp;", "&");
            }
            None => break,
        }
    }
    assert_eq!(seen, 5);
    app.stop().await;
}
both!(the_list_has_pages);

/// Every form refuses a missing or wrong CSRF token with a French 403, and
/// nothing changes.
async fn forms_refuse_a_missing_or_wrong_csrf_token(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let codes = app.issue_pairs(&token, "data-1gb", 1).await;
    let serial = &codes[0].0;
    let before = app.balance(&token, "data_mb").await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let form = desk.get("/desk/issue").await;
    let nonce = form.field("nonce");
    let refusal = "Ce formulaire n’est plus valide";

    for csrf in [None, Some("wrong"), Some("")] {
        let mut fields = vec![
            ("nonce", nonce.as_str()),
            ("product", "data-1gb"),
            ("count", "2"),
        ];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        desk.post("/desk/issue", &fields)
            .await
            .assert_says(StatusCode::FORBIDDEN, refusal);
        let void_fields: Vec<(&str, &str)> = csrf.map(|c| ("csrf", c)).into_iter().collect();
        desk.post(&format!("/desk/vouchers/{serial}/void"), &void_fields)
            .await
            .assert_says(StatusCode::FORBIDDEN, refusal);
        desk.post("/desk/sign-out", &void_fields)
            .await
            .assert_says(StatusCode::FORBIDDEN, refusal);
    }
    // Another session's token is no better.
    let mut other = Browser::sign_in(&app, &token).await;
    let foreign = other.csrf().await;
    desk.post(
        &format!("/desk/vouchers/{serial}/void"),
        &[("csrf", &foreign)],
    )
    .await
    .assert_says(StatusCode::FORBIDDEN, refusal);

    // The sign-in form's token must match its cookie.
    let mut stranger = Browser::new(&app);
    stranger
        .post(
            "/desk/sign-in",
            &[
                ("csrf", "forged"),
                ("login", "x"),
                ("password", PERSON_PASSWORD),
            ],
        )
        .await
        .assert_says(StatusCode::FORBIDDEN, refusal);
    assert!(!stranger.cookies.contains_key("relay_desk"));

    // Nothing changed, and the session still works.
    assert_eq!(app.balance(&token, "data_mb").await, before);
    assert_eq!(voucher_count(&app, &token).await, 1);
    assert_eq!(voucher_state(&app, &token, serial).await, "issued");
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);
    app.stop().await;
}
both!(forms_refuse_a_missing_or_wrong_csrf_token);

/// What people type and what the coordinator named a structure is shown
/// as text, never as markup.
async fn references_and_names_are_escaped(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let name = "<script>alert('nom')</script> & Cie";
    let id = app.structure(name).await;
    app.grant(id, "data_mb", 10 * 1024).await;
    let token = app.token("structure", Some(id)).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let reference = "<script>alert(1)</script>\"'";
    let issued = desk.issue("data-1gb", "1", reference).await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    let serial = serials_in(issued.location()).remove(0);
    let print = desk.get(issued.location()).await;
    let list = desk.get("/desk/vouchers").await;
    let detail = desk.get(&format!("/desk/vouchers/{serial}")).await;
    for page in [&print, &list, &detail] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("<script"), "{}", page.text);
        assert!(
            page.text
                .contains("&lt;script&gt;alert('nom')&lt;/script&gt; &amp; Cie")
        );
    }
    assert!(
        list.text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'")
    );
    assert!(
        detail
            .text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;'")
    );
    app.stop().await;
}
both!(references_and_names_are_escaped);

/// A session ends at its expiry, and as soon as its account is disabled.
async fn sessions_expire_and_die_with_their_account(db: Db) {
    let clock = ManualClock::new(SystemClock.now_secs());
    let mut limits = test_limits();
    limits.desk.desk_session_ttl_secs = 3600;
    let Some(app) = TestApp::spawn_with(db, limits, Some(clock.clone())).await else {
        return;
    };
    let id = app.structure("Centre social").await;
    let token = app.token("structure", Some(id)).await;
    let person = app.person(&token, "structure_staff", None).await;
    let mut desk = Browser::sign_in_as(&app, &person).await;
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);
    clock.advance(3599);
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);
    clock.advance(1);
    let expired = desk.get("/desk/").await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.location(), "/desk/sign-in?expired=1");
    desk.get(expired.location())
        .await
        .assert_says(StatusCode::OK, "Votre session a expiré");

    let mut desk = Browser::sign_in_as(&app, &person).await;
    assert_eq!(desk.get("/desk/issue").await.status, StatusCode::OK);
    let a = app
        .post(
            &format!("/v1/accounts/{}/disable", person.id),
            &token,
            json!({}),
        )
        .await;
    assert!(a.status.is_success(), "{a:?}");
    for path in [
        "/desk/",
        "/desk/issue",
        "/desk/vouchers",
        "/desk/print?serial=AAAA-AAAA",
    ] {
        let page = desk.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/desk/sign-in?expired=1");
    }
    // A disabled account cannot open a new session either.
    Browser::new(&app)
        .try_sign_in(&person.login, &person.password)
        .await
        .assert_says(
            StatusCode::UNAUTHORIZED,
            "Identifiant ou mot de passe incorrect",
        );
    app.stop().await;
}
both!(sessions_expire_and_die_with_their_account);

/// French by default; `?lang=en` switches, and a cookie remembers it.
async fn english_on_request(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (id, token) = app.funded_structure("Centre social", 10 * 1024).await;
    app.grant(id, "voice", 30).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let fr = desk.get("/desk/issue").await;
    fr.assert_says(StatusCode::OK, "Émettre les codes");
    assert!(fr.text.contains("<html lang=\"fr\">"));
    assert!(fr.text.contains("aucune donnée personnelle"));
    assert!(fr.text.contains("href=\"/desk/issue?lang=en\""));

    let en = desk.get("/desk/issue?lang=en").await;
    en.assert_says(StatusCode::OK, "Issue the codes");
    assert!(en.text.contains("<html lang=\"en\">"));
    assert!(en.text.contains("do not write any personal data"));
    assert!(en.text.contains("1 GB of mobile data"));
    assert_eq!(desk.cookies.get("lang").map(String::as_str), Some("en"));
    let home = desk.get("/desk/").await;
    home.assert_says(StatusCode::OK, "Mobile data");
    assert!(home.text.contains("10 GB"), "{}", home.text);
    let issued = desk.issue("voice-7d", "1", "").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    let print = desk.get(issued.location()).await;
    print.assert_says(StatusCode::OK, "Unlimited calls and texts for 7 days");
    assert!(print.text.contains("use before"));
    desk.post("/desk/issue", &[("csrf", "wrong")])
        .await
        .assert_says(StatusCode::FORBIDDEN, "This form is no longer valid");

    let back = desk.get("/desk/?lang=fr").await;
    back.assert_says(StatusCode::OK, "Données internet");
    assert_eq!(desk.cookies.get("lang").map(String::as_str), Some("fr"));
    app.stop().await;
}
both!(english_on_request);

/// Every refusal the desk can meet reads as a clear French sentence, with
/// the status the API gives the same refusal.
async fn every_error_has_a_french_message(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 2 * 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;

    desk.issue("data-1gb", "3", "")
        .await
        .assert_says(StatusCode::CONFLICT, "Quota épuisé");
    for count in ["0", "101", "-1", "abc", ""] {
        desk.issue("data-1gb", count, "").await.assert_says(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Le nombre de codes doit être",
        );
    }
    desk.issue("nope", "1", "").await.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Cette recharge n’existe pas",
    );
    desk.issue("data-1gb", "1", &"x".repeat(65))
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "La référence doit faire");
    desk.issue("data-1gb", "1", "a\u{202e}b")
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "La référence doit faire");
    assert_eq!(voucher_count(&app, &token).await, 0);

    // A form sent twice issues once and shows the same slips; its nonce
    // with other values is refused.
    let form = desk.get("/desk/issue").await;
    let (csrf, nonce) = (form.field("csrf"), form.field("nonce"));
    let send = |count: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("nonce", nonce.clone()),
            ("product", "data-1gb".to_owned()),
            ("count", count.to_owned()),
        ]
    };
    let fields = send("1");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = desk.post("/desk/issue", &fields).await;
    let again = desk.post("/desk/issue", &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text);
    assert_eq!(first.location(), again.location());
    assert_eq!(voucher_count(&app, &token).await, 1);
    assert_eq!(app.balance(&token, "data_mb").await["available"], 1024);
    let other = send("2");
    let other: Vec<(&str, &str)> = other.iter().map(|(k, v)| (*k, v.as_str())).collect();
    desk.post("/desk/issue", &other).await.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Ce formulaire a déjà servi",
    );
    let no_nonce = [
        ("csrf", csrf.as_str()),
        ("product", "data-1gb"),
        ("count", "1"),
    ];
    desk.post("/desk/issue", &no_nonce).await.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Le formulaire envoyé est incomplet",
    );

    // Voiding: twice, and a redeemed code.
    let serial = serials_in(first.location()).remove(0);
    let void = format!("/desk/vouchers/{serial}/void");
    let csrf_field = [("csrf", csrf.as_str())];
    assert_eq!(
        desk.post(&void, &csrf_field).await.status,
        StatusCode::SEE_OTHER
    );
    desk.post(&void, &csrf_field)
        .await
        .assert_says(StatusCode::GONE, "Ce code est déjà annulé");
    desk.get(&void).await.assert_says(
        StatusCode::OK,
        "Ce code ne peut pas être annulé : Ce code est déjà annulé",
    );
    let (serial, code) = app.issue_pairs(&token, "data-1gb", 1).await.remove(0);
    let operator = app.token("operator", None).await;
    let a = app.redeem(&operator, &code, "+33612345678").await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    desk.post(&format!("/desk/vouchers/{serial}/void"), &csrf_field)
        .await
        .assert_says(StatusCode::CONFLICT, "Ce code a déjà été utilisé");
    assert_eq!(voucher_state(&app, &token, &serial).await, "redeemed");

    // Addresses that name nothing.
    for path in [
        "/desk/vouchers/ZZZZ-ZZZZ",
        "/desk/vouchers/not-a-serial/void",
        "/desk/print?serial=ZZZZ-ZZZZ",
        "/desk/nope",
    ] {
        desk.get(path)
            .await
            .assert_says(StatusCode::NOT_FOUND, "Page ou code introuvable");
    }
    desk.get("/desk/vouchers?state=lost").await.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Ce filtre ou cette page n’existe pas",
    );
    desk.get("/desk/vouchers?cursor=%%%").await.assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Ce filtre ou cette page n’existe pas",
    );
    let many: String = (0..101).map(|i| format!("serial=A{i:03}&")).collect();
    desk.get(&format!("/desk/print?{many}"))
        .await
        .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "Au plus 100 bons");

    // Sign-in refusals: an unknown login, and a token for a password.
    let mut stranger = Browser::new(&app);
    for (login, password) in [("nobody", PERSON_PASSWORD), ("nobody", operator.as_str())] {
        stranger.try_sign_in(login, password).await.assert_says(
            StatusCode::UNAUTHORIZED,
            "Identifiant ou mot de passe incorrect",
        );
    }
    assert!(!stranger.cookies.contains_key("relay_desk"));
    let signed_out = stranger.get("/desk/vouchers").await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    app.stop().await;
}
both!(every_error_has_a_french_message);

/// The issuing rate limit is the API's: the desk draws on the same bucket.
async fn the_desk_shares_the_issuing_rate_limit(db: Db) {
    let mut limits = test_limits();
    limits.issue_rate_codes_per_hour = 1;
    limits.issue_burst_codes = 3;
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    app.issue_pairs(&token, "data-1gb", 2).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    assert_eq!(
        desk.issue("data-1gb", "1", "").await.status,
        StatusCode::SEE_OTHER
    );
    desk.issue("data-1gb", "1", "").await.assert_says(
        StatusCode::TOO_MANY_REQUESTS,
        "Trop de codes émis en peu de temps",
    );
    assert_eq!(voucher_count(&app, &token).await, 3);
    let metrics = app.request(Method::GET, "/metrics", None, None).await.text;
    let rate_limited = metrics
        .lines()
        .find(|l| l.starts_with("relay_topup_rate_limited") && !l.starts_with('#'));
    assert!(
        rate_limited.is_some_and(|l| !l.ends_with(" 0")),
        "{metrics}"
    );
    app.stop().await;
}
both!(the_desk_shares_the_issuing_rate_limit);

/// A refused issue at the desk costs no issuing rate either: once quota is
/// granted, the structure issues at once.
async fn refused_desk_issues_do_not_spend_the_rate_limit(db: Db) {
    let mut limits = test_limits();
    limits.issue_rate_codes_per_hour = 1000;
    limits.issue_burst_codes = 200;
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (id, token) = app.funded_structure("Centre social", 50 * 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    // Three forms of 100 codes: more than the burst of 200 codes.
    for _ in 0..3 {
        desk.issue("data-1gb", "100", "")
            .await
            .assert_says(StatusCode::CONFLICT, "Quota épuisé");
    }
    app.grant(id, "data_mb", 100 * 1024).await;
    let issued = desk.issue("data-1gb", "100", "").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    assert_eq!(voucher_count(&app, &token).await, 100);
    app.stop().await;
}
both!(refused_desk_issues_do_not_spend_the_rate_limit);

/// A sign-in page as compared between refusals: its status and its text
/// without the form token, which every rendering draws afresh.
fn refusal_as_shown(page: &Page) -> (StatusCode, String) {
    let token = page.field("csrf");
    (page.status, page.text.replace(&token, "FORM-TOKEN"))
}

/// Sign-in attempts are limited per client address, good ones included;
/// past the limit the answer is 429 with Retry-After, in French (or
/// English), the same whatever the token, and nobody is signed in.
async fn sign_in_attempts_are_limited_per_client(db: Db) {
    let mut limits = test_limits();
    // The activation below is the first attempt from this address.
    limits.desk.desk_sign_in_attempts_per_min = 4;
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 1024).await;
    let person = app.person(&token, "structure_staff", None).await;
    let mut stranger = Browser::new(&app);
    let refused = stranger.try_sign_in("nobody", PERSON_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    // Below the limit a good password still opens the desk.
    let mut desk = Browser::sign_in_as(&app, &person).await;
    let refused = stranger.try_sign_in("nobody", PERSON_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    let over = stranger.try_sign_in("nobody", PERSON_PASSWORD).await;
    over.assert_says(
        StatusCode::TOO_MANY_REQUESTS,
        "Trop de tentatives de connexion",
    );
    let retry: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=21).contains(&retry), "{retry}");
    assert!(!over.text.contains("Identifiant ou mot de passe incorrect"));
    // A good password past the limit is answered the same, and signs
    // nobody in.
    let mut late = Browser::new(&app);
    let good = late.try_sign_in(&person.login, &person.password).await;
    good.assert_says(
        StatusCode::TOO_MANY_REQUESTS,
        "Trop de tentatives de connexion depuis ce réseau",
    );
    assert!(good.headers.contains_key("retry-after"));
    assert!(!late.cookies.contains_key("relay_desk"));
    assert_eq!(late.get("/desk/").await.status, StatusCode::SEE_OTHER);
    late.get("/desk/sign-in?lang=en").await;
    late.try_sign_in("nobody", PERSON_PASSWORD)
        .await
        .assert_says(StatusCode::TOO_MANY_REQUESTS, "Too many sign-in attempts");
    // The limit is on signing in only: the open session carries on.
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);
    app.stop().await;
}
both!(sign_in_attempts_are_limited_per_client);

/// Every sign-in that cannot open the desk gets the same answer, so the
/// page never tells whether a login exists, is disabled or waits for its
/// activation.
async fn every_sign_in_refusal_reads_the_same(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let id = app.structure("Centre social").await;
    let token = app.token("structure", Some(id)).await;
    let person = app.person(&token, "structure_staff", None).await;
    let disabled = app.person(&token, "structure_staff", None).await;
    let a = app
        .post(
            &format!("/v1/accounts/{}/disable", disabled.id),
            &token,
            json!({}),
        )
        .await;
    assert!(a.status.is_success(), "{a:?}");
    let pending = app.create_account(&token, "structure_staff", None).await;
    let pending = pending.body["login"].as_str().unwrap().to_owned();
    let long = "x".repeat(300);
    let refused: [(&str, &str); 7] = [
        ("nobody", PERSON_PASSWORD),
        (&person.login, "wrong password, long enough"),
        (&disabled.login, PERSON_PASSWORD),
        (&pending, PERSON_PASSWORD),
        (&person.login, &token),
        (&person.login, &long),
        ("", ""),
    ];
    let mut stranger = Browser::new(&app);
    let first = refusal_as_shown(&stranger.try_sign_in(refused[0].0, refused[0].1).await);
    for (login, password) in &refused[1..] {
        let page = stranger.try_sign_in(login, password).await;
        assert_eq!(refusal_as_shown(&page), first, "{login}");
    }
    assert_eq!(first.0, StatusCode::UNAUTHORIZED);
    assert!(first.1.contains("Identifiant ou mot de passe incorrect."));
    assert!(!stranger.cookies.contains_key("relay_desk"));
    app.stop().await;
}
both!(every_sign_in_refusal_reads_the_same);

/// A structure never reaches another's codes through the desk: 404, as in
/// the API, and nothing changes.
async fn structures_cannot_reach_each_other(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token_a) = app.funded_structure("Centre A", 10 * 1024).await;
    let (_, token_b) = app.funded_structure("Centre B", 10 * 1024).await;
    let (serial, code) = app.issue_pairs(&token_a, "data-1gb", 1).await.remove(0);
    let mut b = Browser::sign_in(&app, &token_b).await;
    let csrf = b.csrf().await;
    for path in [
        format!("/desk/vouchers/{serial}"),
        format!("/desk/vouchers/{serial}/void"),
        format!("/desk/print?serial={serial}"),
    ] {
        let page = b.get(&path).await;
        page.assert_says(StatusCode::NOT_FOUND, "Page ou code introuvable");
        assert!(!page.text.contains(&code));
    }
    b.post(&format!("/desk/vouchers/{serial}/void"), &[("csrf", &csrf)])
        .await
        .assert_says(StatusCode::NOT_FOUND, "Page ou code introuvable");
    assert!(!b.get("/desk/vouchers").await.text.contains(&serial));
    assert_eq!(voucher_state(&app, &token_a, &serial).await, "issued");
    app.stop().await;
}
both!(structures_cannot_reach_each_other);

/// Desk pages refuse framing, scripts and referrers, and are not cached.
async fn desk_pages_send_security_headers(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 10 * 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let issued = desk.issue("data-1gb", "1", "").await;
    let print_path = issued.location().to_owned();
    for path in [
        "/desk/",
        "/desk/issue",
        "/desk/vouchers",
        &print_path,
        "/desk/nope",
    ] {
        let page = desk.get(path).await;
        let header = |name: &str| page.headers.get(name).map_or("", |v| v.to_str().unwrap());
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert!(header("content-type").starts_with("text/html"), "{path}");
        assert!(!page.text.contains("<script"), "{path}");
        assert!(!page.text.contains("style=\""), "{path}");
    }
    let css = desk.get("/desk/static/desk.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.text.contains("@page { size: A4"));
    assert!(css.text.contains(":focus-visible"));
    // Served over plain HTTP here: no Secure cookies.
    let form = Browser::new(&app).get("/desk/sign-in").await;
    let cookie = form.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    app.stop().await;
}
both!(desk_pages_send_security_headers);

/// Behind TLS (`--public-url https://…`) cookies are Secure and
/// `__Host-` prefixed, and pages ask for HTTPS only.
async fn cookies_are_secure_behind_tls(db: Db) {
    let mut limits = test_limits();
    limits.desk.public_url = Some("https://desk.example.org".into());
    let Some(app) = TestApp::spawn_with(db, limits, None).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre social", 1024).await;
    let person = app.person(&token, "structure_staff", None).await;
    let mut desk = Browser::new(&app);
    let form = desk.get("/desk/sign-in").await;
    assert!(form.headers.contains_key("strict-transport-security"));
    let csrf = form.field("csrf");
    let signed_in = desk
        .post(
            "/desk/sign-in",
            &[
                ("csrf", &csrf),
                ("login", &person.login),
                ("password", &person.password),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    let session = signed_in
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("__Host-relay_desk="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");
    assert!(session.contains("HttpOnly; SameSite=Strict"), "{session}");
    assert_eq!(desk.get("/desk/").await.status, StatusCode::OK);
    app.stop().await;
}
both!(cookies_are_secure_behind_tls);

// ---------------------------------------------------------------------------
// In a real browser
// ---------------------------------------------------------------------------

/// Signs in, in the browser, as a new staff member of `token`'s structure.
async fn sign_in_in_browser(client: &fantoccini::Client, app: &TestApp, token: &str) {
    let person = app.person(token, "structure_staff", None).await;
    client
        .goto(&format!("{}/desk/sign-in", app.base))
        .await
        .unwrap();
    wait_for(client, "#login")
        .await
        .send_keys(&person.login)
        .await
        .unwrap();
    wait_for(client, "#password")
        .await
        .send_keys(&person.password)
        .await
        .unwrap();
    client
        .find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(client, "table.balances").await;
}

/// Fills the issue form for `data-1gb` as a person would (the format by
/// its label) and sends it; waits for the slips.
async fn issue_in_browser(
    client: &fantoccini::Client,
    base: &str,
    count: &str,
    reference: Option<&str>,
    format: Option<&str>,
) {
    client.goto(&format!("{base}/desk/issue")).await.unwrap();
    wait_for(client, "#product")
        .await
        .select_by_value("data-1gb")
        .await
        .unwrap();
    let field = client.find(Locator::Css("#count")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(count).await.unwrap();
    if let Some(reference) = reference {
        let field = client.find(Locator::Css("#reference")).await.unwrap();
        field.send_keys(reference).await.unwrap();
    }
    if let Some(format) = format {
        let label = format!("label[for=format-{format}]");
        client
            .find(Locator::Css(&label))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(client, ".slips .slip").await;
}

/// Sign in, issue 3 codes, print them (screenshot, QR scanned back), void
/// one after confirming, sign out, and find the old cookie dead; another
/// structure then cannot open the first one's code.
async fn desk_in_a_real_browser(db: Db) {
    if !browser_available() {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let _turn = BROWSER_TURN.lock().await;
    let (_, token) = app
        .funded_structure("Centre social Émile-Zola", 10 * 1024)
        .await;
    let (_, token_b) = app.funded_structure("Centre B", 1024).await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let client = driver.browser(profile.path()).await;
    let base = app.base.clone();

    sign_in_in_browser(&client, &app, &token).await;
    let h1 = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Accueil");

    // Issue three codes through the form, by keyboard-reachable controls.
    issue_in_browser(&client, &base, "3", Some("atelier"), None).await;
    let slips = client.find_all(Locator::Css(".slip")).await.unwrap();
    assert_eq!(slips.len(), 3);
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/desk/print")
    );

    // The print page, as a PNG.
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_desk");
    std::fs::create_dir_all(&out_dir).unwrap();
    let db_name = format!("{db:?}").to_lowercase();
    let page_png = client.screenshot().await.unwrap();
    assert!(is_png(&page_png), "the screenshot is not a PNG");
    let page_path = out_dir.join(format!("print-{db_name}.png"));
    std::fs::write(&page_path, &page_png).unwrap();
    assert!(std::fs::metadata(&page_path).unwrap().len() > 0);

    // The first slip's QR code scans back to exactly the slip's code.
    let slip = &slips[0];
    let groups = slip
        .find_all(Locator::Css(".slip-code .group"))
        .await
        .unwrap();
    let mut parts = Vec::new();
    for g in &groups {
        parts.push(g.text().await.unwrap());
    }
    let code = parts.join("-");
    assert_eq!(parts.len(), 5, "{code}");
    assert!(parts.iter().all(|p| p.len() == 4), "{code}");
    let serial = slip
        .find(Locator::Css("dd.serial"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let api = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
    assert_eq!(api.body["code"], code.as_str());
    let qr_png = slip
        .find(Locator::Css(".qr svg"))
        .await
        .unwrap()
        .screenshot()
        .await
        .unwrap();
    assert!(is_png(&qr_png));
    let qr_path = out_dir.join(format!("qr-{db_name}.png"));
    std::fs::write(&qr_path, &qr_png).unwrap();
    assert_eq!(scan(&qr_path), code.replace('-', ""));
    assert_eq!(
        scan(&page_path).lines().count(),
        3,
        "every QR on the page scans"
    );

    // Void that code, through its details and the confirmation step.
    client
        .goto(&format!("{base}/desk/vouchers/{serial}"))
        .await
        .unwrap();
    wait_for(&client, &format!("a[href='/desk/vouchers/{serial}/void']"))
        .await
        .click()
        .await
        .unwrap();
    wait_for(&client, "button.danger").await;
    assert_eq!(voucher_state(&app, &token, &serial).await, "issued");
    client
        .find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let done = wait_for(&client, ".notice-done")
        .await
        .text()
        .await
        .unwrap();
    assert!(done.contains("Le code a été annulé"), "{done}");
    assert_eq!(voucher_state(&app, &token, &serial).await, "voided");

    // Sign out; the cookie the browser had no longer opens anything.
    let old = client.get_named_cookie("relay_desk").await.unwrap();
    let old = old.value().to_owned();
    client
        .find(Locator::Css("form.sign-out button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The page before had a notice too: wait for the sign-in form first.
    wait_for(&client, "#login").await;
    let notice = wait_for(&client, ".notice-done")
        .await
        .text()
        .await
        .unwrap();
    assert!(notice.contains("Vous êtes déconnecté"), "{notice}");
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/desk/"))
        .header("cookie", format!("relay_desk={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        replay.headers().get(LOCATION).unwrap(),
        "/desk/sign-in?expired=1"
    );

    // Another structure, signed in, cannot open the first one's code.
    sign_in_in_browser(&client, &app, &token_b).await;
    for path in [
        format!("/desk/vouchers/{serial}"),
        format!("/desk/print?serial={serial}"),
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        let text = wait_for(&client, ".notice-error")
            .await
            .text()
            .await
            .unwrap();
        assert!(text.contains("Page ou code introuvable"), "{path}: {text}");
        assert!(!client.source().await.unwrap().contains(&code));
    }
    client.close().await.unwrap();
    drop(driver);
    app.stop().await;
}
both!(desk_in_a_real_browser);

/// PIN slips in a real browser: the choice clicked on the form, each
/// slip's QR code read back by zbarimg to its PIN's twenty digits.
async fn pin_slips_in_a_real_browser(db: Db) {
    if !browser_available() {
        return;
    }
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let _turn = BROWSER_TURN.lock().await;
    let (_, token) = app.funded_structure("Point d'accueil", 10 * 1024).await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let client = driver.browser(profile.path()).await;
    let base = app.base.clone();
    sign_in_in_browser(&client, &app, &token).await;

    issue_in_browser(&client, &base, "3", None, Some("pin")).await;
    let slips = client.find_all(Locator::Css(".slip")).await.unwrap();
    assert_eq!(slips.len(), 3);

    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_desk");
    std::fs::create_dir_all(&out_dir).unwrap();
    let db_name = format!("{db:?}").to_lowercase();
    for (i, slip) in slips.iter().enumerate() {
        let mut groups = Vec::new();
        for g in slip
            .find_all(Locator::Css(".slip-code .group"))
            .await
            .unwrap()
        {
            groups.push(g.text().await.unwrap());
        }
        assert_eq!(groups.len(), 5, "{groups:?}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        let pin = groups.join(" ");
        let serial = slip
            .find(Locator::Css("dd.serial"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(serial, pin.replace(' ', "")[..10]);
        let api = app.get(&format!("/v1/vouchers/{serial}"), &token).await;
        assert_eq!(api.body["code"], pin.as_str());
        let qr_png = slip
            .find(Locator::Css(".qr svg"))
            .await
            .unwrap()
            .screenshot()
            .await
            .unwrap();
        let qr_path = out_dir.join(format!("pin-qr-{db_name}-{i}.png"));
        std::fs::write(&qr_path, &qr_png).unwrap();
        assert_eq!(scan(&qr_path), pin.replace(' ', ""));
        let words = slip
            .find(Locator::Css(".slip-instructions"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The seeded network's own keys, in a sentence.
        assert!(
            words.contains("tapez *144* puis les 20 chiffres du code, puis # et appuyez"),
            "{words}"
        );
    }
    let page_png = client.screenshot().await.unwrap();
    std::fs::write(out_dir.join(format!("pin-print-{db_name}.png")), &page_png).unwrap();
    client.close().await.unwrap();
    drop(driver);
    app.stop().await;
}
both!(pin_slips_in_a_real_browser);

/// Menus and forms fit the structure: "Structures membres" only for an
/// association, and the issue form offers only what the structure can
/// issue now (a network and resource with one code's worth left).
async fn the_desk_offers_only_what_the_structure_can_use(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (sid, token) = app.funded_structure("Point d'accueil", 1024).await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let home = desk.get("/desk/").await;
    assert!(
        !home.text.contains("href=\"/desk/members\""),
        "{}",
        home.text
    );
    let form = desk.get("/desk/issue").await;
    assert!(form.text.contains("value=\"data-1gb\""), "{}", form.text);
    for not_now in [
        "value=\"data-5gb\"",
        "value=\"orange-data-1gb\"",
        "value=\"voice-7d\"",
    ] {
        assert!(
            !form.text.contains(not_now),
            "{not_now} offered: {}",
            form.text
        );
    }
    // Once the 1 GB is issued, nothing is offered, and the page says
    // where to ask.
    assert_eq!(
        app.issue(&token, "data-1gb", 1).await.status,
        StatusCode::CREATED
    );
    desk.get("/desk/issue")
        .await
        .assert_says(StatusCode::OK, "Demandez-en sur la page « Besoins »");
    // With a member, the structure is an association, and its menu leads
    // to its members.
    let member = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": "Antenne", "parent_id": sid }),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{member:?}");
    let home = desk.get("/desk/").await;
    assert!(
        home.text
            .contains("<a href=\"/desk/members\">Structures membres</a>"),
        "{}",
        home.text
    );
    app.stop().await;
}
both!(the_desk_offers_only_what_the_structure_can_use);

/// The desk's transfer form, sent.
async fn pass(desk: &mut Browser<'_>, csrf: &str, member: &str, amount: &str, kind: &str) -> Page {
    let fields = [
        ("csrf", csrf),
        ("kind", kind),
        ("member", member),
        ("operator_id", "1"),
        ("resource", "data_mb"),
        ("amount", amount),
    ];
    desk.post("/desk/members/transfer", &fields).await
}

/// An association's manager passes quota at the desk as people type it
/// ("10 Go", "0,5", "500 Mo"); too much, or an amount that does not read,
/// is refused in the words of the situation and nothing moves.
async fn quota_passes_to_a_member_as_people_type_it(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (association, _) = app.funded_structure("Secours de quartier", 20 * 1024).await;
    let made = app
        .post(
            "/v1/structures",
            &app.admin,
            json!({ "name": "Antenne", "parent_id": association }),
        )
        .await;
    let member = made.body["id"].as_i64().unwrap().to_string();
    let manager = app
        .person(&app.admin, "structure_manager", Some(association))
        .await;
    let mut desk = Browser::sign_in_as(&app, &manager).await;
    let csrf = desk.csrf_on("/desk/members").await;
    for typed in ["10 Go", "0,5", "500 Mo"] {
        let done = pass(&mut desk, &csrf, &member, typed, "allocation").await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{typed}: {}", done.text);
    }
    pass(&mut desk, &csrf, &member, "500 Go", "allocation")
        .await
        .assert_says(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Votre association n’a pas assez de solde",
        );
    pass(&mut desk, &csrf, &member, "50 Go", "clawback")
        .await
        .assert_says(
            StatusCode::UNPROCESSABLE_ENTITY,
            "on ne reprend que ce qu’il n’a pas encore émis",
        );
    pass(&mut desk, &csrf, &member, "dix", "allocation")
        .await
        .assert_says(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Indiquez la quantité en chiffres",
        );
    let member_id: i64 = member.parse().unwrap();
    let token = app.token("structure", Some(member_id)).await;
    assert_eq!(
        app.balance(&token, "data_mb").await["available"],
        10 * 1024 + 512 + 500
    );
    app.stop().await;
}
both!(quota_passes_to_a_member_as_people_type_it);
