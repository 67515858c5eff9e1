//! A person's visit in headless Chromium, for the desk's journeys: pages
//! opened, forms filled, each page checked with axe-core and kept as a
//! screenshot.

use std::path::PathBuf;

use fantoccini::Client;

use super::chromium::{assert_accessible, wait_for};
use super::{PERSON_PASSWORD, TestApp};

/// A browser on the app, with the pages it has checked and kept.
pub struct Visit<'a> {
    pub client: Client,
    pub app: &'a TestApp,
    pub axe: String,
    pub dir: PathBuf,
    pub pages: usize,
}

impl<'a> Visit<'a> {
    /// A new browser on `app`, keeping its screenshots under
    /// `target/tmp/JOURNEY/DB/`.
    pub async fn start(
        app: &'a TestApp,
        driver: &super::chromium::Driver,
        profile: &std::path::Path,
        journey: &str,
        db: super::Db,
    ) -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(journey)
            .join(format!("{db:?}").to_lowercase());
        std::fs::create_dir_all(&dir).unwrap();
        Visit {
            client: driver.browser(profile).await,
            app,
            axe: super::chromium::axe_source(),
            dir,
            pages: 0,
        }
    }

    /// Checks the page shown with axe-core and keeps its screenshot.
    pub async fn check(&mut self, name: &str) {
        assert_accessible(&self.client, &self.axe, name).await;
        self.pages += 1;
        let png = self.client.screenshot().await.unwrap();
        let path = self.dir.join(format!("{:02}-{name}.png", self.pages));
        std::fs::write(&path, png).unwrap();
    }

    pub async fn open(&mut self, path: &str, wait: &str, name: &str) {
        self.client
            .goto(&format!("{}{path}", self.app.base))
            .await
            .unwrap();
        wait_for(&self.client, wait).await;
        self.check(name).await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = wait_for(&self.client, css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        wait_for(&self.client, css).await.click().await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        wait_for(&self.client, css).await.text().await.unwrap()
    }

    /// Chooses a password with `code` on the activation page.
    pub async fn activate(&mut self, code: &str, name: &str) {
        self.open("/desk/activate", "#code", name).await;
        self.fill("#code", code).await;
        self.fill("#password", PERSON_PASSWORD).await;
        self.fill("#confirm", PERSON_PASSWORD).await;
        self.click("main form button[type=submit]").await;
        let done = self.text(".notice-done").await;
        assert!(done.contains("Votre mot de passe est enregistré"), "{done}");
    }

    pub async fn sign_in(&mut self, login: &str, lands_on: &str, name: &str) {
        self.open("/desk/sign-in", "#login", "sign-in").await;
        self.fill("#login", login).await;
        self.fill("#password", PERSON_PASSWORD).await;
        self.click("main form button[type=submit]").await;
        wait_for(&self.client, lands_on).await;
        self.check(name).await;
    }

    pub async fn sign_out(&self) {
        self.click("form.sign-out button").await;
        wait_for(&self.client, "#login").await;
    }

    /// The activation code a page shows once, after "… : ".
    pub async fn shown_code(&self) -> String {
        let text = self.text(".notice-done").await;
        let code: String = text.rsplit(": ").next().unwrap().chars().take(19).collect();
        assert_eq!(code.len(), 19, "{text}");
        code
    }

    /// Creates an account on the accounts page; answers its code.
    pub async fn create_account(
        &mut self,
        name: &str,
        login: &str,
        role: &str,
        structure: Option<&str>,
    ) -> String {
        self.open(
            "/desk/accounts",
            "#display_name",
            &format!("accounts-{role}"),
        )
        .await;
        self.fill("#display_name", name).await;
        self.fill("#login", login).await;
        wait_for(&self.client, "#role")
            .await
            .select_by_value(role)
            .await
            .unwrap();
        if let Some(s) = structure {
            wait_for(&self.client, "#structure_id")
                .await
                .select_by_value(s)
                .await
                .unwrap();
        }
        self.click("main form.stack button[type=submit]").await;
        self.shown_code().await
    }
}
