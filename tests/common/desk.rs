//! An HTTP client that behaves like a browser at the desk: a cookie jar,
//! no automatic redirects (tests see every 303), forms sent as a page
//! would send them.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use super::{Person, TestApp};

/// A desk page as answered.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    /// The value of the first hidden field `name` on the page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.text.find(&marker).unwrap_or_else(|| {
            panic!("no field {name} in {}", self.text);
        }) + marker.len();
        let end = self.text[start..].find('"').unwrap() + start;
        self.text[start..end].to_owned()
    }

    #[track_caller]
    pub fn assert_says(&self, status: StatusCode, words: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.text.contains(words),
            "expected {words:?} in {}",
            self.text
        );
    }
}

/// A cookie jar and no automatic redirects, so tests see every 303.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header());
        if let Some(fields) = form {
            let body = serde_urlencoded::to_string(fields).unwrap();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let text = without_cell_labels(&response.text().await.unwrap());
        Page {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Posts a form and, when it comes back by post/redirect/get, opens
    /// the page it leads to, as a browser does.
    pub async fn post_follow(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let page = self.post(path, form).await;
        if page.status == reqwest::StatusCode::SEE_OTHER {
            let to = page.location().to_owned();
            return self.get(&to).await;
        }
        page
    }

    /// Signs in with a login and password and returns the answer.
    pub async fn try_sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/desk/sign-in").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        let csrf = form.field("csrf");
        self.post(
            "/desk/sign-in",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await
    }

    /// Signs in as a new staff member of the structure behind `token`.
    pub async fn sign_in(app: &'a TestApp, token: &str) -> Self {
        let person = app.person(token, "structure_staff", None).await;
        Self::sign_in_as(app, &person).await
    }

    pub async fn sign_in_as(app: &'a TestApp, person: &Person) -> Self {
        let mut browser = Self::new(app);
        let a = browser.try_sign_in(&person.login, &person.password).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text);
        // A structure's people land on its desk, the others on accounts.
        assert!(
            ["/desk/", "/desk/coordination"].contains(&a.location()),
            "{}",
            a.location()
        );
        browser
    }

    /// The session's CSRF token, from the sign-out form of page `path`.
    pub async fn csrf_on(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        page.field("csrf")
    }

    /// The session's CSRF token, from the home page's sign-out form.
    pub async fn csrf(&mut self) -> String {
        let home = self.get("/desk/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.text);
        home.field("csrf")
    }

    /// Sends the issue form as the page would, and returns the answer.
    pub async fn issue(&mut self, product: &str, count: &str, reference: &str) -> Page {
        self.issue_as(product, count, reference, "").await
    }

    /// The same, with the form's choice of code (`""`: the product's).
    pub async fn issue_as(
        &mut self,
        product: &str,
        count: &str,
        reference: &str,
        format: &str,
    ) -> Page {
        let form = self.get("/desk/issue").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.text);
        let (csrf, nonce) = (form.field("csrf"), form.field("nonce"));
        self.post(
            "/desk/issue",
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("product", product),
                ("count", count),
                ("reference", reference),
                ("format", format),
            ],
        )
        .await
    }
}

/// The page without the `data-label` every table cell carries for phones
/// (web/stacked.rs, tested there), so that assertions read the table's
/// cells as the templates write them.
fn without_cell_labels(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(" data-label=\"") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " data-label=\"".len()..];
        rest = after.find('"').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}
