//! The journal's words, one table per language: what each kind of event
//! is called, what a request of several codes did, and how every actor is
//! named.

use crate::app::journal::Names;
use crate::web::i18n::Lang;

pub(super) struct JournalTexts {
    pub(super) title: &'static str,
    pub(super) caption: &'static str,
    pub(super) when: &'static str,
    pub(super) what: &'static str,
    pub(super) who: &'static str,
    pub(super) structure: &'static str,
    pub(super) older: &'static str,
    pub(super) empty: &'static str,
    system: &'static str,
    upgrade: &'static str,
    token: fn(&str) -> String,
    kinds: &'static [(&'static str, &'static str)],
    /// Several codes' events of one request, given the kind and how many.
    grouped: fn(&str, usize) -> Option<String>,
    pub(super) lot: fn(i64) -> String,
    cli: &'static str,
    structure_access: fn(&str, &str) -> String,
    operator_access: fn(&str, &str) -> String,
    admin_access: fn(&str) -> String,
    auditor_access: fn(&str) -> String,
    pub(super) filter_legend: &'static str,
    pub(super) filter_person: &'static str,
    pub(super) filter_structure: &'static str,
    pub(super) filter_kind: &'static str,
    pub(super) filter_from: &'static str,
    pub(super) filter_to: &'static str,
    pub(super) filter_any: &'static str,
    pub(super) filter_submit: &'static str,
    pub(super) nothing_matches: &'static str,
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
    grouped: |kind, n| {
        let s = if n > 1 { "s" } else { "" };
        Some(match kind {
            "issue" => format!("Émission de {n} code{s}"),
            "print" => format!("Impression de {n} bon{s}"),
            "void" => format!("Annulation de {n} code{s}"),
            "expire" => format!("Expiration de {n} code{s}"),
            "redeem" => format!("Recharge de {n} code{s}"),
            _ => return None,
        })
    },
    lot: |n| format!("lot n° {n}"),
    cli: "la ligne de commande",
    structure_access: |label, s| format!("accès automatique « {label} » de {s}"),
    operator_access: |label, o| format!("plateforme {o} (« {label} »)"),
    admin_access: |label| format!("accès de coordination « {label} »"),
    auditor_access: |label| format!("accès d’audit « {label} »"),
    filter_legend: "Chercher dans le journal",
    filter_person: "Personne",
    filter_structure: "Structure",
    filter_kind: "Action",
    filter_from: "Du",
    filter_to: "Au (inclus)",
    filter_any: "Toutes",
    filter_submit: "Afficher",
    nothing_matches: "Aucune ligne du journal ne correspond à cette recherche.",
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
    grouped: |kind, n| {
        let s = if n > 1 { "s" } else { "" };
        Some(match kind {
            "issue" => format!("{n} code{s} issued"),
            "print" => format!("{n} slip{s} printed"),
            "void" => format!("{n} code{s} voided"),
            "expire" => format!("{n} code{s} expired"),
            "redeem" => format!("{n} code{s} redeemed"),
            _ => return None,
        })
    },
    lot: |n| format!("lot no. {n}"),
    cli: "the command line",
    structure_access: |label, s| format!("{s}'s automatic access \u{201c}{label}\u{201d}"),
    operator_access: |label, o| format!("{o} platform (\u{201c}{label}\u{201d})"),
    admin_access: |label| format!("coordination access \u{201c}{label}\u{201d}"),
    auditor_access: |label| format!("audit access \u{201c}{label}\u{201d}"),
    filter_legend: "Search the journal",
    filter_person: "Person",
    filter_structure: "Structure",
    filter_kind: "Action",
    filter_from: "From",
    filter_to: "To (included)",
    filter_any: "All",
    filter_submit: "Show",
    nothing_matches: "No line of the journal matches this search.",
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
    pub(super) fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// An event's kind in words; an unknown kind as it is written.
    pub(super) fn kind<'a>(&self, kind: &'a str) -> &'a str {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind, |(_, words)| words)
    }

    /// What a row did, in words: "Émission de 40 codes".
    pub(super) fn what(&self, kind: &str, count: usize, vouchers: bool) -> String {
        vouchers
            .then(|| (self.grouped)(kind, count))
            .flatten()
            .unwrap_or_else(|| self.kind(kind).to_owned())
    }

    /// Who acted, in words: the person's name, whose access a token is,
    /// the command line, the service; never `kind:id`.
    pub(super) fn actor(&self, actor: &str, person: Option<&str>, names: &Names) -> String {
        if let Some(name) = person {
            return name.to_owned();
        }
        let token = actor
            .split_once(':')
            .and_then(|(_, id)| id.parse::<i64>().ok())
            .and_then(|id| names.tokens.get(&id));
        if let Some(t) = token {
            let label = t.label.as_deref().unwrap_or_default();
            let of = |map: &std::collections::BTreeMap<i64, String>, id: Option<i64>| {
                id.and_then(|id| map.get(&id)).cloned().unwrap_or_default()
            };
            return match t.role.as_str() {
                "structure" => {
                    (self.structure_access)(label, &of(&names.structures, t.structure_id))
                }
                "operator" => (self.operator_access)(label, &of(&names.operators, t.operator_id)),
                "auditor" => (self.auditor_access)(label),
                _ => (self.admin_access)(label),
            };
        }
        match actor {
            "system" => self.system.to_owned(),
            "upgrade" => self.upgrade.to_owned(),
            "cli" => self.cli.to_owned(),
            other => match other.split_once(':') {
                Some((_, n)) => (self.token)(n),
                None => other.to_owned(),
            },
        }
    }

    /// Every kind, in words, for the filter.
    pub(super) fn kinds(&self) -> &'static [(&'static str, &'static str)] {
        self.kinds
    }
}
