//! The coordinator's desk, on SQLite and PostgreSQL, over HTTP: the
//! dashboard's figures, structures (register, rename, deactivate), quotas,
//! operators, tokens, the donor report and its CSV, the integrity page;
//! auditors read it all and change nothing; structures' people cannot
//! reach it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::{Browser, Page};
use common::{Db, FIRST_NETWORK, TestApp, assert_books_clean, token_body};
use reqwest::StatusCode;
use serde_json::json;

const PAGES: [&str; 9] = [
    "/desk/coordination",
    "/desk/coordination/structures",
    "/desk/coordination/grants",
    "/desk/coordination/networks",
    "/desk/accounts",
    "/desk/coordination/tokens",
    "/desk/coordination/donor",
    "/desk/coordination/journal",
    "/desk/coordination/integrity",
];

/// The number a notice names: "… sous le numéro 7."
fn number_after(page: &Page, words: &str) -> i64 {
    let rest = page
        .text
        .split(words)
        .nth(1)
        .unwrap_or_else(|| panic!("{}", page.text));
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

async fn the_coordinator_runs_the_scheme_from_the_desk(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let mut desk = Browser::sign_in_as(&app, &coordinator).await;
    for path in PAGES {
        let page = desk.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        assert!(
            page.text.contains("Rapport donateur"),
            "{path}: the coordinator's menu"
        );
    }
    let csrf = desk.csrf_on("/desk/coordination").await;

    // A structure, renamed.
    let made = desk
        .post_follow(
            "/desk/coordination/structures",
            &[
                ("csrf", &csrf),
                ("name", "Centre social"),
                ("external_ref", "CS-75-01"),
            ],
        )
        .await;
    made.assert_says(
        StatusCode::OK,
        "La structure est enregistrée sous le numéro ",
    );
    let sid = number_after(&made, "sous le numéro ");
    desk.post_follow(
        &format!("/desk/coordination/structures/{sid}/rename"),
        &[("csrf", &csrf), ("name", "Centre social Émile-Zola")],
    )
    .await
    .assert_says(StatusCode::OK, "La structure est renommée.");
    desk.post_follow(
        "/desk/coordination/structures",
        &[("csrf", &csrf), ("name", "")],
    )
    .await
    .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "Vérifiez le champ");

    // 100 Go on SFR, monthly: 102400 MB in the structure's books.
    let sid_text = sid.to_string();
    desk.post_follow(
        "/desk/coordination/grants",
        &[
            ("csrf", &csrf),
            ("structure_id", &sid_text),
            ("operator_id", "1"),
            ("resource", "data_mb"),
            ("amount", "100"),
            ("recurrence", "monthly"),
            ("ends", ""),
        ],
    )
    .await
    .assert_says(StatusCode::OK, "Le quota est attribué.");
    let grants = desk.get("/desk/coordination/grants").await;
    assert!(
        grants.text.contains("100 Go") && grants.text.contains("Chaque mois"),
        "{}",
        grants.text
    );
    // Both figures as people count them: what is left, and what it allows.
    let listed = desk.get("/desk/coordination/structures").await;
    assert!(listed.text.contains("SFR, "), "{}", listed.text);
    assert!(listed.text.contains(" : 100 Go"), "{}", listed.text);
    let dashboard = desk.get("/desk/coordination").await;
    assert!(
        dashboard.text.contains("100 codes de 1 Go"),
        "{}",
        dashboard.text
    );
    desk.post_follow(
        "/desk/coordination/grants",
        &[
            ("csrf", &csrf),
            ("structure_id", &sid_text),
            ("operator_id", "1"),
            ("resource", "data_mb"),
            ("amount", "0"),
        ],
    )
    .await
    .assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Vérifiez le champ « amount »",
    );

    // A structure token, shown once; codes issued and one redeemed.
    let created = desk
        .post_follow(
            "/desk/coordination/tokens",
            &[
                ("csrf", &csrf),
                ("role", "structure"),
                ("scope", &sid_text),
                ("label", "logiciel"),
            ],
        )
        .await;
    created.assert_says(StatusCode::OK, "il ne sera plus jamais affiché");
    let token = created
        .text
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(app.balance(&token, "data_mb").await["granted"], 102_400);
    let pairs = app.issue_pairs(&token, "data-1gb", 3).await;
    let operator = app.token("operator", None).await;
    assert!(
        app.redeem(&operator, &pairs[0].1, "+33612345678")
            .await
            .status
            .is_success()
    );
    let listed = desk.get("/desk/coordination/tokens").await;
    assert!(
        !listed.text.contains(&token),
        "a token's secret is shown once only"
    );

    // The dashboard counts them; the charts come with their tables.
    let board = desk.get("/desk/coordination").await;
    board.assert_says(StatusCode::OK, "Ce mois-ci");
    assert!(
        board
            .text
            .contains("<th scope=\"row\">SFR</th><td class=\"num\">3</td><td class=\"num\">1</td>"),
        "{}",
        board.text
    );
    assert!(board.text.contains("role=\"img\""));
    assert_eq!(board.text.matches("<figure class=\"chart\">").count(), 2);
    assert!(
        board.text.contains("Centre social Émile-Zola (N° "),
        "{}",
        board.text
    );
    assert!(
        board.text.contains("<strong>97 Go</strong>"),
        "quota left: {}",
        board.text
    );

    // An operator; the donor report and its CSV.
    desk.post_follow(
        "/desk/coordination/networks",
        &[
            ("csrf", &csrf),
            ("name", "Bouygues Telecom"),
            ("instructions_fr", ""),
            ("slip_instructions", "*140* pin #"),
        ],
    )
    .await
    .assert_says(StatusCode::OK, "L’opérateur est ajouté.");
    // What its PIN slips say to dial, changed at the desk; a string no
    // phone can dial is refused in words and changes nothing.
    let operators = app.get("/v1/operators", &app.admin).await;
    let added = operators.body["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Bouygues Telecom")
        .unwrap()
        .clone();
    assert_eq!(added["slip_instructions"], "*140*PIN#");
    let change = format!(
        "/desk/coordination/networks/{}/slip-instructions",
        added["id"]
    );
    // Done, the form comes back by post/redirect/get: a reload asks for
    // the page, not for the form again.
    let saved = desk
        .post(
            &change,
            &[("csrf", &csrf), ("slip_instructions", "#141*PIN#")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        saved.location(),
        "/desk/coordination/networks?done=dialling_saved"
    );
    desk.get(saved.location())
        .await
        .assert_says(StatusCode::OK, "Le code à composer est enregistré");
    let refused = desk
        .post_follow(
            &change,
            &[("csrf", &csrf), ("slip_instructions", "appelez le 950")],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let operators = app.get("/v1/operators", &app.admin).await;
    assert!(
        operators
            .text
            .contains("\"slip_instructions\":\"#141*PIN#\""),
        "{}",
        operators.text
    );
    // A product withdrawn is refused to structures at once; offered again,
    // it is issued again.
    desk.post_follow(
        "/desk/coordination/products/data-5gb/withdraw",
        &[("csrf", &csrf)],
    )
    .await
    .assert_says(StatusCode::OK, "Le catalogue est à jour");
    let refused = app.issue(&token, "data-5gb", 1).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    desk.post_follow(
        "/desk/coordination/products/data-5gb/offer",
        &[("csrf", &csrf)],
    )
    .await
    .assert_says(StatusCode::OK, "Le catalogue est à jour");
    assert_eq!(
        app.issue(&token, "data-5gb", 1).await.status,
        StatusCode::CREATED
    );
    // A product of half a Go for basic phones, added at the desk in Go as
    // people count it, then changed; its network stays its own.
    let product =
        |id: &'static str, operator: &'static str, amount: &'static str, label: &'static str| {
            [
                ("id", id),
                ("operator_id", operator),
                ("kind", "data"),
                ("amount", amount),
                ("validity_days", "15"),
                ("code_validity_days", "90"),
                ("label_fr", label),
                ("label_en", "512 MB of mobile data"),
                ("format", "pin"),
                ("active", "yes"),
            ]
        };
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(product(
        "data-512mb",
        "1",
        "0,5",
        "512 Mo de données internet",
    ));
    desk.post_follow("/desk/coordination/products", &fields)
        .await
        .assert_says(StatusCode::OK, "Le catalogue est à jour");
    let saved = |body: &serde_json::Value| {
        body["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "data-512mb")
            .cloned()
            .unwrap()
    };
    let made = saved(&app.get("/v1/products", &app.admin).await.body);
    assert_eq!(
        (
            made["amount"].clone(),
            made["format"].clone(),
            made["resource"].clone()
        ),
        (json!(512), json!("pin"), json!("data_mb")),
        "{made}"
    );
    let issued = app.issue(&token, "data-512mb", 1).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let form = desk.get("/desk/coordination/products/data-512mb").await;
    form.assert_says(StatusCode::OK, "value=\"0,5\"");
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(product("data-512mb", "1", "0,5", "Un demi-Go d’internet"));
    desk.post_follow("/desk/coordination/products", &fields)
        .await
        .assert_says(StatusCode::OK, "Le catalogue est à jour");
    let changed = saved(&app.get("/v1/products", &app.admin).await.body);
    assert_eq!(changed["label_fr"], "Un demi-Go d’internet");
    for (operator, amount) in [("2", "0,5"), ("1", "beaucoup"), ("1", "0")] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(product("data-512mb", operator, amount, "Autre"));
        desk.post_follow("/desk/coordination/products", &fields)
            .await
            .assert_says(StatusCode::UNPROCESSABLE_ENTITY, "Vérifiez le champ");
    }
    assert_eq!(
        saved(&app.get("/v1/products", &app.admin).await.body),
        changed
    );
    let report = desk.get("/desk/coordination/donor?operator_id=1").await;
    report.assert_says(StatusCode::OK, "Rapport pour SFR");
    assert!(
        report.text.contains("Centre social Émile-Zola"),
        "{}",
        report.text
    );
    // Amounts are called amounts, months are words, the last day is
    // included.
    assert!(report.text.contains("Quantité émise"), "{}", report.text);
    assert!(report.text.contains("Au (inclus)"), "{}", report.text);
    assert!(
        !report.text.contains("<td>2026-") && !report.text.contains("<td>2027-"),
        "{}",
        report.text
    );
    let tokens = desk.get("/desk/coordination/tokens").await;
    assert!(
        tokens.text.contains("Plateforme d’opérateur"),
        "{}",
        tokens.text
    );
    assert!(
        !tokens.text.contains("<td>operator</td>"),
        "{}",
        tokens.text
    );
    let csv = desk.get("/desk/coordination/donor.csv?operator_id=1").await;
    assert_eq!(csv.status, StatusCode::OK);
    // For a French spreadsheet: a byte-order mark, ';', French headers and
    // words, amounts in Go with a decimal comma, no raw units.
    assert!(
        csv.text
            .starts_with("\u{feff}Mois;N° de structure;Structure;Ressource;Accordé;"),
        "{}",
        csv.text
    );
    assert!(
        csv.text
            .contains(";Centre social Émile-Zola;Données internet (Go);"),
        "{}",
        csv.text
    );
    assert!(csv.text.contains("Total;"), "{}", csv.text);
    assert!(!csv.text.contains("data_mb"), "{}", csv.text);
    // 8.5 GB issued, with a decimal comma, in a field of its own.
    assert!(csv.text.contains(";100;8,5;"), "{}", csv.text);
    // The API's CSV stays the machine format.
    let api = app
        .request_with(
            reqwest::Method::GET,
            "/v1/reports/donor?operator_id=1",
            Some(&app.admin),
            None,
            &[("accept", "text/csv")],
        )
        .await;
    assert!(
        api.text.starts_with("month,structure_id,structure_name,"),
        "{}",
        api.text
    );
    desk.get("/desk/coordination/integrity")
        .await
        .assert_says(StatusCode::OK, "Aucune alerte");

    // Deactivated, the structure's people are signed out and its tokens die.
    let staff = app.person(&token, "structure_staff", None).await;
    let mut staff_desk = Browser::sign_in_as(&app, &staff).await;
    staff_desk
        .get("/desk/coordination")
        .await
        .assert_says(StatusCode::NOT_FOUND, "introuvable");
    // Asked once more, saying what it does; nothing is done until confirmed.
    desk.post_follow(
        &format!("/desk/coordination/structures/{sid}/deactivate"),
        &[("csrf", &csrf)],
    )
    .await
    .assert_says(StatusCode::OK, "Cela ne peut pas être défait.");
    assert_eq!(staff_desk.get("/desk/").await.status, StatusCode::OK);
    desk.post_follow(
        &format!("/desk/coordination/structures/{sid}/deactivate"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await
    .assert_says(StatusCode::OK, "La structure est désactivée");
    assert_eq!(
        staff_desk.get("/desk/").await.location(),
        "/desk/sign-in?expired=1"
    );
    assert_eq!(
        staff_desk
            .try_sign_in(&staff.login, &staff.password)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/v1/balance", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Nothing new reaches a deactivated structure: no account, no token,
    // no grant; each refusal names the structure and changes nothing.
    let reader = app.token("auditor", None).await;
    let accounts_before = app.get("/v1/accounts", &app.admin).await.body;
    let events_before = app.get("/v1/audit/events?limit=500", &reader).await.body;
    let refusals = [
        (
            "/v1/accounts".to_owned(),
            json!({"role": "structure_manager", "login": "tard.venu",
                   "display_name": "Tard V.", "structure_id": sid}),
        ),
        ("/v1/tokens".to_owned(), token_body("structure", Some(sid))),
        (
            format!("/v1/structures/{sid}/grants"),
            json!({"operator_id": FIRST_NETWORK, "resource": "data_mb", "amount": 1024}),
        ),
    ];
    for (path, body) in refusals {
        let a = app.post(&path, &app.admin, body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {a:?}");
        assert_eq!(a.body["code"], "validation_failed", "{path}: {a:?}");
        assert!(a.text.contains("structure_id"), "{path}: {a:?}");
    }
    desk.post_follow(
        "/desk/coordination/grants",
        &[
            ("csrf", &csrf),
            ("structure_id", &sid_text),
            ("operator_id", "1"),
            ("resource", "data_mb"),
            ("amount", "1"),
        ],
    )
    .await
    .assert_says(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Cette structure est désactivée",
    );
    assert_eq!(
        app.get("/v1/accounts", &app.admin).await.body,
        accounts_before
    );
    assert_eq!(
        app.get("/v1/audit/events?limit=500", &reader).await.body,
        events_before
    );
    // The journal tells who did it, and the API names the person too.
    let journal = desk.get("/desk/coordination/journal").await;
    journal.assert_says(StatusCode::OK, "Structure désactivée");
    for line in ["Structure renommée", "Quota attribué", "Amina B."] {
        assert!(journal.text.contains(line), "{line}: {}", journal.text);
    }
    let named = events_before["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "structure_renamed")
        .unwrap()
        .clone();
    assert_eq!(named["actor"], format!("account:{}", coordinator.id));
    assert_eq!(named["actor_name"], "Amina B.");
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(the_coordinator_runs_the_scheme_from_the_desk);

/// An auditor reads every page of the coordinator's desk, sees no form,
/// and every form they could forge is refused with nothing changed.
async fn auditors_read_the_coordinators_desk_and_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (sid, _) = app.funded_structure("Centre social", 1024).await;
    let auditor = app.person(&app.admin, "auditor", None).await;
    let mut desk = Browser::sign_in_as(&app, &auditor).await;
    for path in PAGES {
        let page = desk.get(path).await;
        page.assert_says(StatusCode::OK, "lecture seule");
        assert!(
            !page
                .text
                .contains("method=\"post\" action=\"/desk/coordination"),
            "{path}"
        );
    }
    let csrf = desk.csrf_on("/desk/coordination").await;
    let before = app.get("/v1/structures", &app.admin).await.body;
    let sid_text = sid.to_string();
    for (path, fields) in [
        (
            "/desk/coordination/structures".to_owned(),
            vec![("name", "Intrus")],
        ),
        (
            format!("/desk/coordination/structures/{sid}/rename"),
            vec![("name", "Intrus")],
        ),
        (
            format!("/desk/coordination/structures/{sid}/deactivate"),
            vec![],
        ),
        (
            "/desk/coordination/grants".to_owned(),
            vec![
                ("structure_id", sid_text.as_str()),
                ("operator_id", "1"),
                ("resource", "data_mb"),
                ("amount", "5"),
            ],
        ),
        (
            "/desk/coordination/networks".to_owned(),
            vec![("name", "Intrus")],
        ),
        (
            "/desk/coordination/tokens".to_owned(),
            vec![("role", "admin")],
        ),
        ("/desk/coordination/integrity".to_owned(), vec![]),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        desk.post_follow(&path, &form)
            .await
            .assert_says(StatusCode::NOT_FOUND, "introuvable");
    }
    assert_eq!(app.get("/v1/structures", &app.admin).await.body, before);
    let token = app.token("structure", Some(sid)).await;
    assert_eq!(app.balance(&token, "data_mb").await["granted"], 1024);
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(auditors_read_the_coordinators_desk_and_change_nothing);

/// An integrity alarm at the desk: the coordinator and the auditor see it,
/// with its moment in words and its findings; only the coordinator
/// acknowledges it, and that is on record under their name.
async fn an_alarm_is_read_and_acknowledged_at_the_desk(db: Db) {
    // 2027-01-15 08:00 UTC; the service's own periodic check stays away.
    let clock = relay_topup::clock::ManualClock::new(1_800_000_000);
    let mut limits = relay_topup::config::Limits {
        integrity_check_secs: 365 * 86_400,
        ..common::test_limits()
    };
    // A deployment in French Guiana reads its own clock (UTC-3).
    limits.desk.time_zone = relay_topup::clock::Zone::named("America/Cayenne").unwrap();
    let Some(app) = TestApp::spawn_with(db, limits, Some(clock)).await else {
        return;
    };
    let (sid, _) = app.funded_structure("Centre social", 1024).await;
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let auditor = app.person(&app.admin, "auditor", None).await;
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query(&format!(
        "UPDATE balances SET granted = granted + 7 WHERE structure_id = {sid}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    <sqlx::AnyConnection as sqlx::Connection>::close(conn)
        .await
        .unwrap();
    let state = &app.running().state;
    let checked = relay_topup::integrity::check_incremental(state, &mut Default::default()).await;
    assert!(checked.unwrap().alarm_id.is_some());

    let mut reader = Browser::sign_in_as(&app, &auditor).await;
    let seen = reader.get("/desk/coordination/integrity").await;
    seen.assert_says(StatusCode::OK, "Une alerte d’intégrité est ouverte");
    // Raised at 08:00 UTC, read on the deployment's clock.
    assert!(seen.text.contains("15 janvier 2027 05:00"), "{}", seen.text);
    let finding = format!(
        "balances structure {sid} operator 1 data_mb : running total differs from the events \
         (attendu 1024, trouvé 1031) [balance.granted]"
    );
    assert!(seen.text.contains(&finding), "{}", seen.text);
    assert!(
        !seen.text.contains("J’ai pris connaissance"),
        "{}",
        seen.text
    );

    let mut desk = Browser::sign_in_as(&app, &coordinator).await;
    let csrf = desk.csrf_on("/desk/coordination/integrity").await;
    desk.post_follow("/desk/coordination/integrity", &[("csrf", &csrf)])
        .await
        .assert_says(StatusCode::OK, "1 alerte(s) prise(s) en compte");
    let events = app
        .get(
            "/v1/audit/events?limit=500",
            &app.token("auditor", None).await,
        )
        .await;
    let acknowledged = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "integrity_acknowledged")
        .cloned()
        .unwrap();
    assert_eq!(acknowledged["actor"], format!("account:{}", coordinator.id));
    assert_eq!(acknowledged["actor_name"], "Amina B.");
    app.stop().await;
}
both!(an_alarm_is_read_and_acknowledged_at_the_desk);

/// The journal reads as people speak: a 40-code issue at the desk is one
/// row naming the person and the lot, every actor and structure by name,
/// narrowed by person, structure, action and dates.
async fn the_journal_has_one_row_per_request(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (sid, token) = app
        .funded_structure("Centre social Émile-Zola", 100 * 1024)
        .await;
    let mut desk = Browser::sign_in(&app, &token).await;
    let issued = desk.issue("data-1gb", "40", "").await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.text);
    // A script issues too, through its structure's token.
    assert_eq!(
        app.issue(&token, "data-1gb", 2).await.status,
        StatusCode::CREATED
    );
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let mut c = Browser::sign_in_as(&app, &coordinator).await;
    let journal = c.get("/desk/coordination/journal").await;
    journal.assert_says(StatusCode::OK, "Émission de 40 codes — lot n° ");
    assert_eq!(
        journal.text.matches("Émission de 40 codes").count(),
        1,
        "{}",
        journal.text
    );
    assert!(
        journal.text.contains("Émission de 2 codes"),
        "{}",
        journal.text
    );
    assert!(
        journal.text.contains("accès automatique"),
        "{}",
        journal.text
    );
    for raw in ["structure:", "account:", "admin:"] {
        assert!(
            !journal.text.contains(&format!(">{raw}")),
            "{raw} shown as is: {}",
            journal.text
        );
    }
    assert!(
        journal.text.contains("<td>Centre social Émile-Zola</td>"),
        "{}",
        journal.text
    );
    // Narrowed to the person who issued at the desk, and to issues.
    let person = journal
        .text
        .split("<option value=\"account:")
        .skip(1)
        .find(|o| o.contains(">Amina B.<"))
        .map(|o| o.split('"').next().unwrap().to_owned())
        .unwrap();
    let mine = c
        .get(&format!(
            "/desk/coordination/journal?person=account%3A{person}&kind=issue&structure={sid}"
        ))
        .await;
    mine.assert_says(StatusCode::OK, "Émission de 40 codes");
    let rows = mine.text.split("<tbody>").nth(1).unwrap();
    assert_eq!(rows.matches("<tr>").count(), 1, "{rows}");
    let none = c
        .get("/desk/coordination/journal?from=2000-01-01&to=2000-01-31")
        .await;
    none.assert_says(StatusCode::OK, "Aucune ligne du journal ne correspond");
    app.stop().await;
}
both!(the_journal_has_one_row_per_request);
