//! Who reaches what at the desks, on SQLite and PostgreSQL: every route the
//! desk's router registers (read from its source, so a new route cannot be
//! left out) is tried by each kind of person on another structure's
//! objects. Staff cannot manage accounts, a manager cannot reach another
//! structure, an auditor changes nothing, the coordinator's pages are not
//! a structure's; and nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::desk::{Browser, Page};
use common::{Db, TestApp, assert_books_clean};
use reqwest::{Method, StatusCode};

/// One route as the router registers it.
#[derive(Debug, Clone)]
struct Route {
    path: String,
    methods: Vec<Method>,
}

/// The routes of the desk's routers, read from their source: every
/// `.route("path", get(…).post(…))`.
fn desk_routes() -> Vec<Route> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut routes = Vec::new();
    for file in ["mod.rs", "coordination/mod.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for chunk in text.split(".route(").skip(1) {
            let chunk = chunk
                .split(".merge(")
                .next()
                .unwrap()
                .split(".layer(")
                .next()
                .unwrap();
            let path = chunk.split('"').nth(1).unwrap().to_owned();
            let rest = chunk.split_once(',').unwrap().1.trim_start();
            let mut methods = Vec::new();
            if rest.starts_with("get(") || rest.contains(".get(") {
                methods.push(Method::GET);
            }
            if rest.starts_with("post(") || rest.contains(".post(") {
                methods.push(Method::POST);
            }
            assert!(!methods.is_empty(), "{path}: no method read");
            routes.push(Route { path, methods });
        }
    }
    routes
}

/// Whose a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// Reached without a session (or by anyone): not in the matrix.
    Open,
    Coordination,
    Accounts,
    Structure,
}

fn area(path: &str) -> Area {
    match path {
        "/"
        | "/desk"
        | "/desk/sign-in"
        | "/desk/sign-out"
        | "/desk/activate"
        | "/desk/static/desk.css"
        | "/desk/{*rest}" => Area::Open,
        p if p.starts_with("/desk/coordination") => Area::Coordination,
        p if p.starts_with("/desk/accounts") => Area::Accounts,
        "/desk/"
        | "/desk/issue"
        | "/desk/print"
        | "/desk/find"
        | "/desk/lots"
        | "/desk/needs"
        | "/desk/members"
        | "/desk/members/transfer" => Area::Structure,
        p if p.starts_with("/desk/vouchers")
            || p.starts_with("/desk/lots/")
            || p.starts_with("/desk/needs/") =>
        {
            Area::Structure
        }
        other => panic!("{other}: a new desk route; say whose it is in tests/desk_access.rs"),
    }
}

/// Structure A's objects, the targets everywhere.
struct Targets {
    serial: String,
    lot: i64,
    staff_id: i64,
    structure_id: i64,
    token_id: i64,
}

fn fill(path: &str, t: &Targets) -> String {
    let mut previous = "";
    let mut out = Vec::new();
    for segment in path.split('/') {
        let filled = match segment {
            "{serial}" => t.serial.clone(),
            "{lot}" => t.lot.to_string(),
            "{action}" if previous == "{id}" && path.contains("/accounts/") => "disable".into(),
            "{action}" => "deactivate".into(),
            "{id}" if path.contains("/accounts/") => t.staff_id.to_string(),
            "{id}" if path.contains("/tokens/") => t.token_id.to_string(),
            "{id}" if path.contains("/products/") => "data-1gb".into(),
            "{id}" => t.structure_id.to_string(),
            other => other.to_owned(),
        };
        previous = segment;
        out.push(filled);
    }
    let mut url = out.join("/");
    if path == "/desk/print" {
        url.push_str(&format!("?serial={}", t.serial));
    }
    url
}

/// A person signed in, with their session's form token.
struct Signed<'a> {
    who: &'static str,
    browser: Browser<'a>,
    csrf: String,
}

async fn signed<'a>(
    app: &'a TestApp,
    who: &'static str,
    person: &common::Person,
    home: &str,
) -> Signed<'a> {
    let mut browser = Browser::sign_in_as(app, person).await;
    let csrf = browser.csrf_on(home).await;
    Signed { who, browser, csrf }
}

async fn send(s: &mut Signed<'_>, method: &Method, url: &str) -> Page {
    if *method == Method::GET {
        s.browser.get(url).await
    } else {
        let csrf = s.csrf.clone();
        s.browser
            .post(
                url,
                &[
                    ("csrf", &csrf),
                    ("reason", "intrusion"),
                    ("confirm", "yes"),
                    ("name", "Intrus"),
                ],
            )
            .await
    }
}

async fn every_desk_route_is_reached_only_by_whom_it_serves(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let routes = desk_routes();
    assert!(routes.len() >= 20, "{routes:?}");
    let (a_id, a_token) = app.funded_structure("Centre A", 10 * 1024).await;
    let (b_id, b_token) = app.funded_structure("Centre B", 10 * 1024).await;
    let issued = app
        .post(
            "/v1/vouchers",
            &a_token,
            serde_json::json!({"product": "data-1gb", "count": 2}),
        )
        .await;
    let serial = issued.body["vouchers"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let lot = issued.body["lot"].as_i64().unwrap();
    let a_staff = app.person(&a_token, "structure_staff", None).await;
    let a_manager = app
        .person(&app.admin, "structure_manager", Some(a_id))
        .await;
    let b_manager = app
        .person(&app.admin, "structure_manager", Some(b_id))
        .await;
    let b_staff = app.person(&b_token, "structure_staff", None).await;
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let auditor = app.person(&app.admin, "auditor", None).await;
    let made = app
        .post(
            "/v1/tokens",
            &app.admin,
            common::token_body("structure", Some(a_id)),
        )
        .await;
    let targets = Targets {
        serial: serial.clone(),
        lot,
        staff_id: a_staff.id,
        structure_id: a_id,
        token_id: made.body["id"].as_i64().unwrap(),
    };
    let before = (
        app.get(&format!("/v1/lots/{lot}"), &a_token).await.body,
        app.get("/v1/accounts", &app.admin).await.body,
        app.get("/v1/structures", &app.admin).await.body,
        app.balance(&a_token, "data_mb").await,
    );

    let mut people = vec![
        signed(&app, "coordinator", &coordinator, "/desk/coordination").await,
        signed(&app, "auditor", &auditor, "/desk/coordination").await,
        signed(&app, "manager B", &b_manager, "/desk/").await,
        signed(&app, "staff B", &b_staff, "/desk/").await,
        signed(&app, "staff A", &a_staff, "/desk/").await,
    ];
    let mut checked = 0;
    for route in routes.iter().filter(|r| area(&r.path) != Area::Open) {
        let url = fill(&route.path, &targets);
        for method in &route.methods {
            for s in &mut people {
                let what = format!("{} {method} {url}", s.who);
                let expect = expected(area(&route.path), s.who, method, &route.path);
                let Some(expect) = expect else { continue };
                let page = send(s, method, &url).await;
                checked += 1;
                match expect {
                    Expect::Ok => assert_eq!(page.status, StatusCode::OK, "{what}: {}", page.text),
                    Expect::NotFound => page.assert_says(StatusCode::NOT_FOUND, "introuvable"),
                    Expect::ToCoordination => {
                        assert_eq!(page.status, StatusCode::SEE_OTHER, "{what}");
                        assert_eq!(page.location(), "/desk/coordination", "{what}");
                    }
                    Expect::OkWithout => {
                        assert_eq!(page.status, StatusCode::OK, "{what}: {}", page.text);
                        assert!(!page.text.contains(&serial), "{what} shows A's code");
                        assert!(
                            !page.text.contains(&format!("/desk/lots/{lot}\"")),
                            "{what} shows A's lot"
                        );
                        assert!(
                            !page.text.contains(&a_staff.login),
                            "{what} shows A's staff"
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "desk access matrix: {} routes, {checked} requests",
        routes.len()
    );
    assert!(checked >= 60, "{checked}");

    // Nothing changed: A's lot, every account, every structure, A's quota.
    let after = (
        app.get(&format!("/v1/lots/{lot}"), &a_token).await.body,
        app.get("/v1/accounts", &app.admin).await.body,
        app.get("/v1/structures", &app.admin).await.body,
        app.balance(&a_token, "data_mb").await,
    );
    assert_eq!(after, before);
    // A's own people still reach A's objects.
    let mut a = signed(&app, "manager A", &a_manager, "/desk/").await;
    for url in [
        format!("/desk/vouchers/{serial}"),
        format!("/desk/lots/{lot}"),
        "/desk/accounts".to_owned(),
    ] {
        assert_eq!(
            send(&mut a, &Method::GET, &url).await.status,
            StatusCode::OK,
            "{url}"
        );
    }
    assert_books_clean(&app).await;
    app.stop().await;
}
both!(every_desk_route_is_reached_only_by_whom_it_serves);

enum Expect {
    Ok,
    /// 200, and nothing of structure A on the page.
    OkWithout,
    NotFound,
    /// A coordinator's or auditor's session on a structure's page.
    ToCoordination,
}

/// What `who` gets for `method` on a route of `area`, aimed at structure
/// A's objects; `None` where trying would change something legitimately
/// (the coordinator's forms, a structure's own issuing), which the other
/// suites cover.
fn expected(area: Area, who: &str, method: &Method, path: &str) -> Option<Expect> {
    let get = *method == Method::GET;
    let has_target = path.contains('{') || path == "/desk/print";
    Some(match (area, who) {
        (Area::Coordination, "coordinator") if get => Expect::Ok,
        (Area::Coordination, "coordinator") => return None,
        (Area::Coordination, "auditor") if get => Expect::Ok,
        (Area::Coordination, _) => Expect::NotFound,
        (Area::Accounts, "coordinator") if get => Expect::Ok,
        (Area::Accounts, "coordinator") => return None,
        (Area::Accounts, "auditor") if get => Expect::Ok,
        (Area::Accounts, "auditor") => Expect::NotFound,
        (Area::Accounts, "manager B") if get => Expect::OkWithout,
        // Creating B's own staff is B's right; acting on A's is not.
        (Area::Accounts, "manager B") if !has_target => return None,
        (Area::Accounts, _) => Expect::NotFound,
        (Area::Structure, "coordinator" | "auditor") => Expect::ToCoordination,
        (Area::Structure, "staff A") => return None,
        (Area::Structure, _) if has_target => Expect::NotFound,
        (Area::Structure, _) if get => Expect::OkWithout,
        // Issuing for B itself: B's right.
        (Area::Structure, _) => return None,
        (Area::Open, _) => return None,
    })
}

/// The desk never answers JSON: every desk route asked with a method it
/// does not take (a form's address reloaded or opened by hand, a page
/// posted to), signed in or not, answers a page in French that says
/// nothing was changed and leads back home.
async fn every_desk_address_answers_a_page(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, token) = app.funded_structure("Centre A", 10 * 1024).await;
    let staff = app.person(&token, "structure_staff", None).await;
    let coordinator = app.person(&app.admin, "coordinator", None).await;
    let targets = Targets {
        serial: "AAAA-AAAA".into(),
        lot: 1,
        staff_id: staff.id,
        structure_id: 1,
        token_id: 1,
    };
    let mut people = vec![
        Browser::new(&app),
        Browser::sign_in_as(&app, &staff).await,
        Browser::sign_in_as(&app, &coordinator).await,
    ];
    let mut checked = 0;
    // `/` belongs to the API as much as to the desk: only `/desk…` is
    // the desk's own.
    for route in desk_routes().iter().filter(|r| r.path.starts_with("/desk")) {
        let url = fill(&route.path, &targets).replace("{*rest}", "anything");
        for method in [Method::GET, Method::POST] {
            if route.methods.contains(&method) {
                continue;
            }
            for browser in &mut people {
                let form: Option<&[(&str, &str)]> = (method == Method::POST).then_some(&[]);
                let page = browser.send(method.clone(), &url, form).await;
                checked += 1;
                let what = format!("{method} {url}");
                let kind = page.headers["content-type"].to_str().unwrap().to_owned();
                assert!(
                    kind.starts_with("text/html"),
                    "{what}: {kind}\n{}",
                    page.text
                );
                assert!(!page.text.contains("/problems/"), "{what}: {}", page.text);
                assert!(page.text.contains("lang=\"fr\""), "{what}: {}", page.text);
                assert!(
                    page.text.contains("href=\"/desk/\""),
                    "{what}: {}",
                    page.text
                );
                if method == Method::GET {
                    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
                    assert!(
                        page.text.contains("Rien n’a été modifié"),
                        "{what}: {}",
                        page.text
                    );
                }
            }
        }
    }
    eprintln!("desk addresses with another method: {checked} requests, all pages");
    assert!(checked >= 40, "{checked}");
    app.stop().await;
}
both!(every_desk_address_answers_a_page);
