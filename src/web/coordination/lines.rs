//! Lifting a subscriber line's bar, for the coordinator ("Débloquer une
//! ligne"): a person who mistyped a real code several times is barred, and
//! asks a structure for help; the structure asks the coordinator. The form
//! takes the number and a reason; the number is never shown back after
//! it is done, and the audit chain keeps only its keyed hash.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{Coordinator, field};
use crate::app::{AppState, lines};
use crate::web::error::DeskResult;
use crate::web::i18n::Lang;
use crate::web::layout::Notice;

struct LineTexts {
    title: &'static str,
    intro: &'static str,
    number: &'static str,
    number_hint: &'static str,
    reason: &'static str,
    reason_hint: &'static str,
    submit: &'static str,
    unbarred: &'static str,
    nothing: &'static str,
    bad_number: &'static str,
    no_reason: &'static str,
}

static FR: LineTexts = LineTexts {
    title: "Débloquer une ligne",
    intro: "Une ligne qui a envoyé trop de codes faux est bloquée pendant 24 heures, puis plus \
        longtemps à chaque fois. Si la personne s’est seulement trompée en recopiant un vrai \
        code, débloquez sa ligne ici : elle peut recharger tout de suite, et ses erreurs sont \
        oubliées. Le numéro n’est pas enregistré, seulement une empreinte chiffrée.",
    number: "Numéro de téléphone de la personne",
    number_hint: "Au format international : +33 puis le numéro sans le premier 0, par exemple \
        +33612345678.",
    reason: "Motif",
    reason_hint: "En quelques mots, sans donnée personnelle (par exemple « code mal recopié, \
        vérifié avec la structure »).",
    submit: "Débloquer la ligne",
    unbarred: "La ligne est débloquée : la personne peut recharger tout de suite.",
    nothing: "Cette ligne n’était pas bloquée et n’avait aucune erreur : rien n’a changé.",
    bad_number: "Ce numéro n’est pas au format international. Écrivez +33 puis le numéro sans \
        le premier 0, par exemple +33612345678.",
    no_reason: "Indiquez le motif du déblocage, en quelques mots.",
};

static EN: LineTexts = LineTexts {
    title: "Unbar a line",
    intro: "A line that sent too many wrong codes is barred for 24 hours, then longer each \
        time. If the person only mistyped a real code, unbar their line here: they can top up \
        at once, and their mistakes are forgotten. The number is not stored, only a keyed \
        fingerprint of it.",
    number: "The person's phone number",
    number_hint: "In international form: + and the country code, then the number without its \
        leading 0, e.g. +33612345678.",
    reason: "Reason",
    reason_hint: "In a few words, with no personal data (e.g. \"code mistyped, checked with \
        the structure\").",
    submit: "Unbar the line",
    unbarred: "The line is unbarred: the person can top up at once.",
    nothing: "This line was not barred and had no mistakes: nothing changed.",
    bad_number: "This number is not in international form. Write + and the country code, \
        then the number without its leading 0, e.g. +33612345678.",
    no_reason: "Give the reason for unbarring, in a few words.",
};

fn texts(lang: Lang) -> &'static LineTexts {
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

fn render(c: &Coordinator, uri: &Uri, shown: Option<Markup>, typed: (&str, &str)) -> Markup {
    let x = texts(c.lang());
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (x.intro) }
        @if c.may_change {
            form method="post" action="/desk/coordination/lines" class="stack" {
                input type="hidden" name="csrf" value=(c.person.csrf_token);
                div class="field" {
                    label for="msisdn" { (x.number) }
                    input id="msisdn" name="msisdn" type="tel" required maxlength="16"
                        autocomplete="off" inputmode="tel" value=(typed.0)
                        aria-describedby="msisdn-hint";
                    p id="msisdn-hint" class="hint" { (x.number_hint) }
                }
                div class="field" {
                    label for="reason" { (x.reason) }
                    input id="reason" name="reason" type="text" required maxlength="200"
                        value=(typed.1) aria-describedby="reason-hint";
                    p id="reason-hint" class="hint" { (x.reason_hint) }
                }
                button type="submit" { (x.submit) }
            }
        }
    };
    c.page(uri, x.title, "", body)
}

pub async fn show(c: Coordinator, uri: Uri) -> Markup {
    let x = texts(c.lang());
    let shown = match crate::web::query_value(&uri, "unbarred").as_deref() {
        Some("1") => Some(c.done(x.unbarred)),
        Some("0") => Some(crate::web::layout::notice(
            c.lang().texts(),
            Notice::Info,
            x.nothing,
        )),
        _ => None,
    };
    render(&c, &uri, shown, ("", ""))
}

/// Lifts the bar, then comes back to the page (post/redirect/get); a
/// refusal keeps what was typed and says which field to correct.
pub async fn unbar(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let (msisdn, reason) = (field(&fields, "msisdn"), field(&fields, "reason"));
    // People write numbers with spaces and dots: those are dropped.
    let number: String = msisdn
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    let keys = state.keys.get();
    let actor = c.actor();
    let lifted = lines::unbar(&state.store, &keys, state.now(), &actor, (&number, reason)).await;
    let x = texts(c.lang());
    let why = match lifted {
        Ok(l) => {
            let to = format!(
                "/desk/coordination/lines?unbarred={}",
                u8::from(l.is_some())
            );
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e) if e.field() == Some("msisdn") => x.bad_number,
        Err(e) if e.field() == Some("reason") => x.no_reason,
        Err(e) => return Err(e.into()),
    };
    let shown = crate::web::layout::notice(c.lang().texts(), Notice::Error, why);
    let page = render(&c, &uri, Some(shown), (msisdn, reason));
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
