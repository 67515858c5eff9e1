//! The catalogue's products, added and changed by the coordinator at the
//! desk: data in Go (as people count it, decimals allowed) or calls and
//! SMS in days, how long the top-up and the code last, the slip's words,
//! and the format for a smartphone or a basic phone. A product keeps its
//! network once saved; the same check as the API's refuses the rest.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Coordinator, field};
use crate::app::{AppError, AppState, operators};
use crate::code::Format;
use crate::domain::Product;
use crate::storage::Operator;
use crate::web::error::{DeskError, DeskResult};
use crate::web::figures::{gb_text, parse_gb};
use crate::web::i18n::Lang;

struct CatalogueTexts {
    new_product: &'static str,
    edit_title: fn(&str) -> String,
    id_hint: &'static str,
    network: &'static str,
    kind: &'static str,
    kind_data: &'static str,
    kind_voice: &'static str,
    amount: &'static str,
    amount_hint: &'static str,
    validity_days: &'static str,
    code_validity_days: &'static str,
    label_fr: &'static str,
    label_en: &'static str,
    format: &'static str,
    format_code: &'static str,
    format_pin: &'static str,
    offered: &'static str,
    save: &'static str,
    back: &'static str,
}

static FR: CatalogueTexts = CatalogueTexts {
    new_product: "Ajouter un produit",
    edit_title: |id| format!("Modifier le produit {id}"),
    id_hint: "Lettres minuscules, chiffres, - et _ (par exemple data-2gb). Il ne change plus ensuite.",
    network: "Réseau",
    kind: "Nature de la recharge",
    kind_data: "Internet mobile (en Go)",
    kind_voice: "Appels et SMS illimités (en jours)",
    amount: "Quantité",
    amount_hint: "En Go pour internet (0,5 pour 512 Mo), en jours pour les appels et SMS.",
    validity_days: "Jours d’usage une fois la recharge faite",
    code_validity_days: "Jours pendant lesquels le code peut être utilisé",
    label_fr: "Libellé imprimé (français)",
    label_en: "Libellé imprimé (anglais)",
    format: "Format des codes",
    format_code: "Code avec QR, pour un smartphone",
    format_pin: "Code chiffré à composer, pour un téléphone simple",
    offered: "Proposé aux structures",
    save: "Enregistrer le produit",
    back: "Retour aux opérateurs et produits",
};

static EN: CatalogueTexts = CatalogueTexts {
    new_product: "Add a product",
    edit_title: |id| format!("Change product {id}"),
    id_hint: "Lower-case letters, digits, - and _ (for example data-2gb). It cannot change later.",
    network: "Network",
    kind: "Kind of top-up",
    kind_data: "Mobile data (in GB)",
    kind_voice: "Unlimited calls and texts (in days)",
    amount: "Amount",
    amount_hint: "In GB for data (0.5 for 512 MB), in days for calls and texts.",
    validity_days: "Days of use once credited",
    code_validity_days: "Days the code can be used",
    label_fr: "Printed label (French)",
    label_en: "Printed label (English)",
    format: "Code format",
    format_code: "Code with a QR, for a smartphone",
    format_pin: "Digits to dial, for a basic phone",
    offered: "Offered to structures",
    save: "Save the product",
    back: "Back to operators and products",
};

fn texts(lang: Lang) -> &'static CatalogueTexts {
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

/// The form, empty for a new product or filled with `product`.
pub fn product_form(
    c: &Coordinator,
    networks: &BTreeMap<i64, Operator>,
    product: Option<&Product>,
) -> Markup {
    let k = texts(c.lang());
    let x = c.texts();
    let is_voice = product.is_some_and(|p| p.resource == "voice");
    let amount = product.map(|p| {
        if is_voice {
            p.amount.to_string()
        } else {
            gb_text(c.lang(), p.amount)
        }
    });
    let pin = product.is_some_and(|p| p.format == Format::Pin);
    let offered = product.is_none_or(|p| p.active);
    html! {
        form method="post" action="/desk/coordination/products" class="stack" {
            input type="hidden" name="csrf" value=(c.person.csrf_token);
            @if let Some(p) = product {
                input type="hidden" name="id" value=(p.id);
                input type="hidden" name="operator_id" value=(p.operator_id);
            } @else {
                div class="field" {
                    label for="product-id" { (x.product_id) }
                    input id="product-id" name="id" type="text" required maxlength="32"
                        pattern="[a-z0-9][a-z0-9_\\-]{0,31}" aria-describedby="product-id-hint";
                    p id="product-id-hint" class="hint" { (k.id_hint) }
                }
                div class="field" {
                    label for="product-network" { (k.network) }
                    select id="product-network" name="operator_id" {
                        @for o in networks.values() { option value=(o.id) { (o.name) } }
                    }
                }
            }
            div class="field" {
                label for="product-kind" { (k.kind) }
                select id="product-kind" name="kind" {
                    option value="data" selected[!is_voice] { (k.kind_data) }
                    option value="voice" selected[is_voice] { (k.kind_voice) }
                }
            }
            div class="field" {
                label for="product-amount" { (k.amount) }
                input id="product-amount" name="amount" type="text" inputmode="decimal" required
                    maxlength="12" value=[amount] aria-describedby="product-amount-hint";
                p id="product-amount-hint" class="hint" { (k.amount_hint) }
            }
            div class="field" {
                label for="product-validity" { (k.validity_days) }
                input id="product-validity" name="validity_days" type="number" min="1" max="3650" required
                    value=[product.map(|p| p.validity_days)];
            }
            div class="field" {
                label for="product-code-validity" { (k.code_validity_days) }
                input id="product-code-validity" name="code_validity_days" type="number" min="1" max="3650" required
                    value=[product.map(|p| p.code_validity_days)];
            }
            div class="field" {
                label for="product-label-fr" { (k.label_fr) }
                input id="product-label-fr" name="label_fr" type="text" required maxlength="100"
                    value=[product.map(|p| p.label_fr.as_str())];
            }
            div class="field" {
                label for="product-label-en" { (k.label_en) }
                input id="product-label-en" name="label_en" type="text" required maxlength="100"
                    value=[product.map(|p| p.label_en.as_str())];
            }
            fieldset {
                legend { (k.format) }
                div class="field checkbox" {
                    input id="format-code" name="format" type="radio" value="code" checked[!pin];
                    label for="format-code" { (k.format_code) }
                }
                div class="field checkbox" {
                    input id="format-pin" name="format" type="radio" value="pin" checked[pin];
                    label for="format-pin" { (k.format_pin) }
                }
            }
            div class="field checkbox" {
                input id="product-offered" name="active" type="checkbox" value="yes" checked[offered];
                label for="product-offered" { (k.offered) }
            }
            button type="submit" { (k.save) }
        }
    }
}

/// The product a filled form describes, or the field that does not fit.
pub(super) fn product_from(
    fields: &std::collections::HashMap<String, String>,
) -> Result<Product, AppError> {
    let number = |name: &'static str| {
        field(fields, name)
            .parse::<i64>()
            .map_err(|_| AppError::invalid(name, "a whole number"))
    };
    let voice = match field(fields, "kind") {
        "data" => false,
        "voice" => true,
        _ => return Err(AppError::invalid("kind", "data or voice")),
    };
    let amount = if voice {
        number("amount")?
    } else {
        parse_gb(field(fields, "amount")).ok_or_else(|| AppError::invalid("amount", "Go"))?
    };
    let (family, resource) = if voice {
        ("voice", "voice")
    } else {
        ("data", "data_mb")
    };
    let product = Product {
        id: field(fields, "id").to_owned(),
        operator_id: number("operator_id")?,
        family: family.to_owned(),
        resource: resource.to_owned(),
        amount,
        validity_days: number("validity_days")?,
        code_validity_days: number("code_validity_days")?,
        label_fr: field(fields, "label_fr").to_owned(),
        label_en: field(fields, "label_en").to_owned(),
        active: field(fields, "active") == "yes",
        format: if field(fields, "format") == "pin" {
            Format::Pin
        } else {
            Format::Code
        },
    };
    product.check()?;
    Ok(product)
}

/// One product's form, filled.
pub async fn edit(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path(id): Path<String>,
) -> DeskResult<Response> {
    let product = state
        .store
        .get_product(&id)
        .await?
        .ok_or_else(DeskError::not_found)?;
    let networks = operators::by_id(&state.store).await?;
    let k = texts(c.lang());
    let body = html! {
        @if c.may_change { (product_form(&c, &networks, Some(&product))) }
        p { a href="/desk/coordination/networks" { (k.back) } }
    };
    Ok((
        StatusCode::OK,
        c.page(&uri, &(k.edit_title)(&product.id), "", body),
    )
        .into_response())
}

/// The heading of the new-product form.
pub fn new_product_heading(lang: Lang) -> &'static str {
    texts(lang).new_product
}
