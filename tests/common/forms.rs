//! What a person does in the browser, checked as they would see it: a
//! page opened at each width (axe-clean, no sideways scroll, kept as a
//! screenshot), a form sent by name and the page it comes back to
//! reloaded — without sending the form again (post/redirect/get).

use fantoccini::Locator;
use serde_json::json;

use super::TestApp;
use super::chromium::wait_for;
use super::visit::Visit;

pub const WIDTHS: [u32; 2] = [1280, 375];

/// Opens `path` at each width: axe-clean, no sideways scroll, a page (its
/// `h1`), kept as a screenshot.
pub async fn walk(v: &mut Visit<'_>, who: &str, path: &str) {
    for width in WIDTHS {
        v.client.set_window_size(width, 900).await.unwrap();
        let name = format!(
            "{who}-{}-{width}",
            path.trim_matches('/').replace(['/', '?', '=', '&'], "_")
        );
        v.open(path, "main h1", &name).await;
        let sizes = v
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap());
        assert!(inner <= i64::from(width), "{name}: window {inner} px wide");
        assert!(
            scroll <= inner,
            "{name}: {scroll} px wide in a {inner} px window"
        );
    }
}

/// How many POST requests the server has answered, from its metrics.
pub async fn posts_answered(app: &TestApp) -> u64 {
    super::metrics_text(app)
        .await
        .lines()
        .filter(|l| l.contains("http_requests_total{") && l.contains("method=\"POST\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Reloads the page a form came back to: still the same page, asked for
/// again (a reload sends no form: post/redirect/get).
pub async fn reload(v: &mut Visit<'_>, name: &str) {
    let before = v.client.current_url().await.unwrap();
    let posts = posts_answered(v.app).await;
    v.client.refresh().await.unwrap();
    wait_for(&v.client, "main h1").await;
    assert_eq!(v.client.current_url().await.unwrap(), before, "{name}");
    assert_eq!(
        posts_answered(v.app).await,
        posts,
        "{name}: the reload sent the form again"
    );
    let body = v.text("body").await;
    assert!(!body.contains("/problems/"), "{name}: {body}");
    v.check(&format!("{name}-reloaded")).await;
}

/// Sets a form's fields by name (text, select or checkbox), as typed or
/// chosen by a person.
pub async fn set_fields(v: &Visit<'_>, form: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let css = format!("{form} [name={name}]");
        wait_for(&v.client, &css).await;
        v.client
            .execute(
                "const e = document.querySelector(arguments[0]);
                 if (e.type === 'checkbox') { e.checked = true; } else { e.value = arguments[1]; }",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap();
    }
}

/// Sends one form of `page` (the first matching `form`) with `button`:
/// it must come back to a page saying what was done, which is reloaded.
pub async fn send_form(
    v: &mut Visit<'_>,
    page: &str,
    form: &str,
    fields: &[(&str, &str)],
    button: &str,
    name: &str,
) {
    v.open(page, form, &format!("{name}-form")).await;
    set_fields(v, form, fields).await;
    // The notice waited for below is the answer's, not one already here.
    let before = v
        .client
        .find_all(Locator::Css("main .notice"))
        .await
        .unwrap();
    assert!(before.is_empty(), "{name}: a notice before sending");
    v.click(&format!("{form} {button}")).await;
    // Done, or (a line with no bar to lift) nothing to do: never refused.
    let said = wait_for(&v.client, "main .notice").await;
    let class = said.attr("class").await.unwrap().unwrap_or_default();
    let text = said.text().await.unwrap();
    assert!(!class.contains("notice-error"), "{name}: {text}");
    reload(v, name).await;
}

/// A form to send: its page, the form, its fields by name, and a name for
/// its screenshots.
pub type Form<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
