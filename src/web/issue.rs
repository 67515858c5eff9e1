//! The issue form. Each rendering carries a fresh nonce, used as the
//! request's idempotency key: a form sent twice (a double click, a reload
//! after a slow answer) issues once and shows the same slips.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::error::{DeskError, DeskResult, problem_message};
use super::home::balances_table;
use super::i18n::Texts;
use super::layout::{Chrome, Notice, notice, page};
use super::session::{Desk, random_token};
use super::slips::{print_href, product_words};
use super::{form_fields, internal};
use crate::app::AppState;
use crate::app::balances::current_balances;
use crate::app::issue::{self, IssueOrder};
use crate::app::operators;
use crate::code::Format;
use crate::domain::{MAX_REFERENCE_CHARS, Product};
use crate::http::error::Problem;
use crate::storage::RequestFingerprint;

/// Longest form nonce accepted (ours are 43 characters).
const MAX_NONCE_CHARS: usize = 64;

/// What the person typed, to show again after a refusal.
#[derive(Debug, Default)]
struct Entered {
    product: String,
    count: String,
    reference: String,
    /// `""` (the product's), `code` or `pin`.
    format: String,
}

pub async fn issue_form(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
) -> DeskResult<Response> {
    let nonce = random_token().ok_or_else(internal)?;
    let entered = Entered {
        count: "1".to_owned(),
        ..Entered::default()
    };
    render(&state, &desk, &uri, StatusCode::OK, None, &entered, &nonce).await
}

async fn render(
    state: &AppState,
    desk: &Desk,
    uri: &Uri,
    status: StatusCode,
    error: Option<String>,
    entered: &Entered,
    nonce: &str,
) -> DeskResult<Response> {
    let t = desk.lang.texts();
    let products: Vec<Product> = state
        .store
        .list_products()
        .await?
        .into_iter()
        .filter(|p| p.active)
        .collect();
    let balances = current_balances(state, desk.caller.structure_id).await?;
    // Only what the structure can issue now: a product of a network and
    // resource on which one code's worth is left.
    let offered: Vec<&Product> = products
        .iter()
        .filter(|p| {
            balances.iter().any(|b| {
                b.operator_id == p.operator_id
                    && b.resource == p.resource
                    && b.available >= p.amount
            })
        })
        .collect();
    let networks = operators::by_id(&state.store).await?;
    let chrome = Chrome {
        lang: desk.lang,
        uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: desk.nav(),
    };
    let max = state.limits.max_issue_count;
    let body = html! {
        @if let Some(message) = &error { (notice(t, Notice::Error, message)) }
        @if offered.is_empty() {
            p { (t.issue_no_product) }
        } @else {
            form method="post" action="/desk/issue" class="stack" {
                input type="hidden" name="csrf" value=(desk.csrf_token);
                input type="hidden" name="nonce" value=(nonce);
                div class="field" {
                    label for="product" { (t.issue_product_label) }
                    // One group per network: a top-up works on its own only.
                    select id="product" name="product" required {
                        @for (id, operator) in &networks {
                            @let of_network: Vec<&&Product> = offered.iter().filter(|p| p.operator_id == *id).collect();
                            @if !of_network.is_empty() {
                                optgroup label=(operator.name) {
                                    @for p in of_network {
                                        option value=(p.id) selected[p.id == entered.product] {
                                            (product_words(desk.lang, p)) " (" (operator.name) ")"
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="field" {
                    label for="count" { (t.issue_count_label) }
                    input id="count" name="count" type="number" min="1" max=(max) step="1"
                        required value=(entered.count) aria-describedby="count-hint" inputmode="numeric";
                    p id="count-hint" class="hint" { ((t.issue_count_hint)(max)) }
                }
                fieldset class="field" {
                    legend { (t.issue_format_legend) }
                    @for (value, words) in [("", t.issue_format_product), ("pin", t.issue_format_pin), ("code", t.issue_format_code)] {
                        @let id = format!("format-{}", if value.is_empty() { "product" } else { value });
                        div class="choice" {
                            input type="radio" id=(id) name="format" value=(value) checked[entered.format == value];
                            label for=(id) { (words) }
                        }
                    }
                }
                div class="field" {
                    label for="reference" { (t.issue_reference_label) }
                    p id="reference-warning" class="warning" { (t.issue_reference_warning) }
                    input id="reference" name="reference" type="text" maxlength=(MAX_REFERENCE_CHARS)
                        value=(entered.reference) aria-describedby="reference-warning" autocomplete="off";
                }
                button type="submit" { (t.issue_submit) }
            }
        }
        (balances_table(desk.lang, &balances, &networks, &products))
    };
    Ok((status, page(&chrome, t.issue_title, "", body)).into_response())
}

/// Whether a nonce is one the form could have carried.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_CHARS
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What identifies an issue request under its nonce: the form's values,
/// in a fixed encoding.
fn fingerprint(body: &IssueOrder<'_>) -> RequestFingerprint {
    let canonical = serde_json::json!({
        "product": body.product,
        "count": body.count,
        "reference": body.reference,
        "format": body.format,
    });
    RequestFingerprint::new("POST /desk/issue", canonical.to_string().as_bytes())
}

/// Issues the codes through the same path as `POST /v1/vouchers`, then
/// sends the browser to their slips.
pub async fn issue(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    let nonce = fields
        .get("nonce")
        .filter(|n| valid_nonce(n))
        .ok_or(DeskError::FormInvalid)?;
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let entered = Entered {
        product: field("product"),
        count: field("count"),
        reference: field("reference"),
        format: field("format"),
    };
    let format = match entered.format.as_str() {
        "" => None,
        other => Some(Format::parse(other).ok_or(DeskError::FormInvalid)?),
    };
    let t: &Texts = desk.lang.texts();
    let max = state.limits.max_issue_count;
    let Ok(count) = entered.count.trim().parse::<i64>() else {
        let message = (t.invalid_count)(max);
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return render(&state, &desk, &uri, status, Some(message), &entered, nonce).await;
    };
    let reference = entered.reference.trim();
    let order = IssueOrder {
        product: &entered.product,
        count,
        reference: (!reference.is_empty()).then_some(reference),
        format,
    };
    let key = (format!("desk:{nonce}"), fingerprint(&order));
    match issue::issue(&state, &desk.caller, order, Some(key))
        .await
        .map_err(Problem::from)
    {
        Ok(vouchers) => {
            let serials: Vec<&str> = vouchers.iter().map(|v| v.serial.as_str()).collect();
            Ok(Redirect::to(&print_href(&serials, true)).into_response())
        }
        Err(problem) if problem.status >= 500 => Err(problem.into()),
        Err(problem) => {
            let status = DeskError::Problem(problem.clone()).status();
            let message = problem_message(&problem, t, max);
            render(&state, &desk, &uri, status, Some(message), &entered, nonce).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_url_safe_and_bounded() {
        assert!(valid_nonce(&random_token().unwrap()));
        assert!(!valid_nonce(""));
        assert!(!valid_nonce("a b"));
        assert!(!valid_nonce(&"a".repeat(65)));
    }

    #[test]
    fn the_fingerprint_follows_every_field() {
        let a = IssueOrder {
            product: "data-1gb",
            count: 3,
            reference: None,
            format: None,
        };
        let b = IssueOrder { count: 4, ..a };
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(
            fingerprint(&a),
            fingerprint(&IssueOrder {
                product: "data-1gb",
                count: 3,
                reference: None,
                format: None,
            })
        );
    }
}
