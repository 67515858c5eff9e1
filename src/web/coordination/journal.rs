//! The journal: the audit trail as people read it, newest first, saying
//! who did what ("Émission — Amina B., 3 décembre 2026 14:05 UTC") and
//! where, a page at a time. The chain itself, with its hashes, is the
//! auditor's `GET /v1/audit/events`; this page reads the same events.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::Coordinator;
use crate::app::AppState;
use crate::web::error::DeskResult;
use crate::web::i18n::Lang;

/// Events on one page of the journal.
const JOURNAL_PAGE_EVENTS: i64 = 100;

struct JournalTexts {
    title: &'static str,
    caption: &'static str,
    when: &'static str,
    what: &'static str,
    who: &'static str,
    structure: &'static str,
    older: &'static str,
    empty: &'static str,
    system: &'static str,
    upgrade: &'static str,
    token: fn(&str) -> String,
    kinds: &'static [(&'static str, &'static str)],
}

static FR: JournalTexts = JournalTexts {
    title: "Journal",
    caption: "Qui a fait quoi, du plus récent au plus ancien",
    when: "Quand",
    what: "Quoi",
    who: "Par qui",
    structure: "Structure",
    older: "Plus anciens",
    empty: "Rien n'est encore inscrit au journal.",
    system: "le service",
    upgrade: "la mise à jour",
    token: |n| format!("jeton n° {n}"),
    kinds: &[
        ("issue", "Émission de codes"),
        ("void", "Annulation d'un code"),
        ("print", "Impression d'un code"),
        ("redeem", "Utilisation d'un code"),
        ("reserve", "Réservation d'un code"),
        ("confirm", "Réservation confirmée"),
        ("cancel", "Réservation annulée"),
        ("hold_timeout", "Réservation expirée"),
        ("reverse", "Utilisation annulée"),
        ("expire", "Code expiré"),
        ("grant", "Quota attribué"),
        ("credit", "Quota crédité"),
        ("lapse", "Quota échu"),
        ("structure_created", "Structure inscrite"),
        ("structure_renamed", "Structure renommée"),
        ("structure_deactivated", "Structure désactivée"),
        (
            "structure_moved",
            "Structure rattachée à une autre association",
        ),
        ("allocation", "Quota passé à un membre"),
        ("clawback", "Quota repris à un membre"),
        ("need_reported", "Besoin signalé"),
        ("need_approved", "Besoin accordé"),
        ("need_declined", "Besoin refusé"),
        ("account_created", "Compte créé"),
        ("account_activated", "Compte activé"),
        ("account_reset", "Compte réinitialisé"),
        ("account_disabled", "Compte désactivé"),
        ("operator_created", "Opérateur ajouté"),
        (
            "operator_slip_instructions_set",
            "Code à composer des bons PIN changé",
        ),
        ("line_unbarred", "Ligne débloquée"),
        ("product_saved", "Produit enregistré"),
        ("token_created", "Jeton créé"),
        ("token_revoked", "Jeton révoqué"),
        ("keys_rotated", "Clés renouvelées"),
        ("integrity_alarm", "Alerte d'intégrité"),
        ("integrity_acknowledged", "Alerte prise en compte"),
    ],
};

static EN: JournalTexts = JournalTexts {
    title: "Journal",
    caption: "Who did what, newest first",
    when: "When",
    what: "What",
    who: "By whom",
    structure: "Structure",
    older: "Older",
    empty: "Nothing is in the journal yet.",
    system: "the service",
    upgrade: "the upgrade",
    token: |n| format!("token no. {n}"),
    kinds: &[
        ("issue", "Codes issued"),
        ("void", "Code voided"),
        ("print", "Code printed"),
        ("redeem", "Code redeemed"),
        ("reserve", "Code reserved"),
        ("confirm", "Reservation confirmed"),
        ("cancel", "Reservation cancelled"),
        ("hold_timeout", "Reservation timed out"),
        ("reverse", "Redemption reversed"),
        ("expire", "Code expired"),
        ("grant", "Quota granted"),
        ("credit", "Quota credited"),
        ("lapse", "Quota lapsed"),
        ("structure_created", "Structure registered"),
        ("structure_renamed", "Structure renamed"),
        ("structure_deactivated", "Structure deactivated"),
        ("structure_moved", "Structure moved to another association"),
        ("allocation", "Quota passed to a member"),
        ("clawback", "Quota taken back from a member"),
        ("need_reported", "Need reported"),
        ("need_approved", "Need given"),
        ("need_declined", "Need declined"),
        ("account_created", "Account created"),
        ("account_activated", "Account activated"),
        ("account_reset", "Account reset"),
        ("account_disabled", "Account disabled"),
        ("operator_created", "Operator added"),
        (
            "operator_slip_instructions_set",
            "PIN slips' dialling changed",
        ),
        ("line_unbarred", "Line unbarred"),
        ("product_saved", "Product saved"),
        ("token_created", "Token created"),
        ("token_revoked", "Token revoked"),
        ("keys_rotated", "Keys rotated"),
        ("integrity_alarm", "Integrity alarm"),
        ("integrity_acknowledged", "Alarm acknowledged"),
    ],
};

impl JournalTexts {
    fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// An event's kind in words; an unknown kind as it is written.
    fn kind<'a>(&self, kind: &'a str) -> &'a str {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind, |(_, words)| words)
    }

    /// Who acted, in words: the person's name, a token, the service.
    fn actor(&self, actor: &str, person: Option<&str>) -> String {
        if let Some(name) = person {
            return name.to_owned();
        }
        match actor.split_once(':') {
            Some(("token", n)) => (self.token)(n),
            _ if actor == "system" => self.system.to_owned(),
            _ if actor == "upgrade" => self.upgrade.to_owned(),
            _ => actor.to_owned(),
        }
    }
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let j = JournalTexts::of(c.lang());
    // A page starts before a seq; anything else reads as the first page.
    let before = crate::web::query_value(&uri, "before").and_then(|v| v.parse::<i64>().ok());
    let events = state
        .store
        .latest_events(before, JOURNAL_PAGE_EVENTS)
        .await?;
    let oldest = events.last().and_then(|(e, _)| e.seq);
    let more = usize::try_from(JOURNAL_PAGE_EVENTS).is_ok_and(|n| events.len() == n);
    let body = html! {
        @if events.is_empty() { p { (j.empty) } } @else {
            table {
                caption { (j.caption) }
                thead { tr {
                    th scope="col" { (j.when) }
                    th scope="col" { (j.what) }
                    th scope="col" { (j.who) }
                    th scope="col" { (j.structure) }
                } }
                tbody {
                    @for (e, person) in &events {
                        tr {
                            td { (c.lang().texts().date_time(e.at)) }
                            td { (j.kind(&e.kind)) }
                            td { (j.actor(&e.actor, person.as_deref())) }
                            td { (e.structure_id.map(|n| n.to_string()).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if let (true, Some(seq)) = (more, oldest) {
            p { a href=(format!("/desk/coordination/journal?before={seq}")) { (j.older) } }
        }
    };
    Ok((StatusCode::OK, c.page(&uri, j.title, "", body)).into_response())
}
