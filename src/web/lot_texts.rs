//! The desk's words about lots and about a voucher's history. Kept apart
//! from [`super::i18n`], which holds the words about single vouchers.

use super::i18n::Lang;
use super::slips::Layout;

pub struct LotTexts {
    pub lot_title: fn(i64) -> String,
    pub lot_label: &'static str,
    pub lot_intro: fn(usize) -> String,
    pub print_again: &'static str,
    pub export_csv: &'static str,
    pub void_heading: &'static str,
    pub void_explain: fn(usize) -> String,
    pub reason_label: &'static str,
    pub reason_hint: &'static str,
    pub confirm_label: fn(usize) -> String,
    pub void_submit: &'static str,
    pub nothing_to_void: &'static str,
    pub voided_notice: fn(u64, u64) -> String,
    pub reason_missing: &'static str,
    pub history: &'static str,
    pub issued_by: fn(&str, &str) -> String,
    pub voided_by: fn(&str, &str) -> String,
    pub event: fn(&str, &str, &str) -> String,
    pub reason_was: fn(&str) -> String,
    pub by_script: &'static str,
    pub by_system: &'static str,
    pub by_operator: &'static str,
    pub see_lot: &'static str,
    pub kind_word: fn(&str) -> &'static str,
    pub by_coordination: &'static str,
    pub layout_legend: &'static str,
    pub layout_name: fn(Layout) -> &'static str,
    pub layout_submit: &'static str,
    // The list of a structure's lots.
    pub lots_title: &'static str,
    pub lots_intro: &'static str,
    pub col_lot: &'static str,
    pub col_issued: &'static str,
    pub col_codes: &'static str,
    pub col_open: &'static str,
    pub col_redeemed: &'static str,
    pub no_lots: &'static str,
    pub older_lots: &'static str,
}

impl Lang {
    pub fn lots(self) -> &'static LotTexts {
        match self {
            Self::Fr => &FR,
            Self::En => &EN,
        }
    }
}

fn s(n: usize) -> &'static str {
    if n > 1 { "s" } else { "" }
}

static FR: LotTexts = LotTexts {
    lot_title: |lot| format!("Lot n° {lot}"),
    lot_label: "Lot",
    lot_intro: |n| format!("Ce lot compte {n} code{} émis en une fois.", s(n)),
    print_again: "Imprimer à nouveau les codes non utilisés",
    export_csv: "Exporter la liste (CSV)",
    void_heading: "Annuler tout le lot",
    void_explain: |n| {
        format!(
            "Si la feuille a été perdue ou volée, annulez les {n} code{} non utilisé{} de ce lot : \
             ils ne pourront plus servir et le quota revient à la structure. Les codes déjà utilisés ne changent pas.",
            s(n),
            s(n)
        )
    },
    reason_label: "Motif de l’annulation",
    reason_hint: "Quelques mots, par exemple « feuille perdue ». N’écrivez aucun nom ni aucune donnée personnelle.",
    confirm_label: |n| {
        format!(
            "Je confirme l’annulation des {n} code{} non utilisé{}.",
            s(n),
            s(n)
        )
    },
    void_submit: "Annuler les codes non utilisés",
    nothing_to_void: "Aucun code de ce lot ne peut plus être annulé.",
    voided_notice: |voided, expired| {
        let mut text = format!(
            "{voided} code{} annulé{}. Le quota correspondant est rendu à la structure.",
            s(voided as usize),
            s(voided as usize)
        );
        if expired > 0 {
            text.push_str(&format!(
                " {expired} code{} avai{} déjà expiré.",
                s(expired as usize),
                if expired > 1 { "ent" } else { "t" }
            ));
        }
        text
    },
    reason_missing: "Indiquez le motif de l’annulation et cochez la case de confirmation.",
    history: "Historique",
    issued_by: |who, when| format!("Émis par {who}, le {when}"),
    voided_by: |who, when| format!("Annulé par {who}, le {when}"),
    event: |what, who, when| format!("{what} — {who}, le {when}"),
    reason_was: |reason| format!("Motif : {reason}"),
    by_script: "un programme de la structure",
    by_system: "le service (automatiquement)",
    by_operator: "l’opérateur",
    see_lot: "Voir le lot",
    kind_word: |k| match k {
        "redeem" => "Utilisé",
        "reserve" => "Réservé par l’opérateur",
        "confirm" => "Utilisation confirmée",
        "cancel" => "Réservation annulée",
        "hold_timeout" => "Réservation expirée",
        "reverse" => "Utilisation annulée",
        "expire" => "Expiré",
        "print" => "Imprimé",
        _ => "Modifié",
    },
    by_coordination: "la coordination",
    layout_legend: "Mise en page",
    layout_name: |l| match l {
        Layout::A4Sheet => "Feuille A4, 8 bons",
        Layout::Labels => "Planche A4 de 24 étiquettes (3 × 8)",
        Layout::Receipt => "Imprimante à tickets, 80 mm",
    },
    layout_submit: "Afficher cette mise en page",
    lots_title: "Lots",
    lots_intro: "Chaque émission forme un lot, dont le numéro est imprimé sur ses bons. \
                 Ouvrez un lot pour l’imprimer à nouveau, l’exporter ou l’annuler si la feuille est perdue.",
    col_lot: "Lot",
    col_issued: "Émis le",
    col_codes: "Codes",
    col_open: "Encore utilisables",
    col_redeemed: "Utilisés",
    no_lots: "Aucun lot pour l’instant : les codes émis apparaîtront ici.",
    older_lots: "Lots plus anciens",
};

static EN: LotTexts = LotTexts {
    lot_title: |lot| format!("Lot no. {lot}"),
    lot_label: "Lot",
    lot_intro: |n| format!("This lot holds {n} code{} issued at once.", s(n)),
    print_again: "Print the unused codes again",
    export_csv: "Export the list (CSV)",
    void_heading: "Void the whole lot",
    void_explain: |n| {
        format!(
            "If the sheet was lost or stolen, void the {n} unused code{} of this lot: they will no longer \
             work and their quota returns to the structure. Codes already used do not change.",
            s(n)
        )
    },
    reason_label: "Reason for voiding",
    reason_hint: "A few words, for example \u{201c}sheet lost\u{201d}. Write no names and no personal data.",
    confirm_label: |n| format!("I confirm voiding the {n} unused code{}.", s(n)),
    void_submit: "Void the unused codes",
    nothing_to_void: "No code of this lot can be voided any more.",
    voided_notice: |voided, expired| {
        let mut text = format!(
            "{voided} code{} voided. Their quota is returned to the structure.",
            s(voided as usize)
        );
        if expired > 0 {
            text.push_str(&format!(" {expired} had already expired."));
        }
        text
    },
    reason_missing: "Give the reason for voiding and tick the confirmation box.",
    history: "History",
    issued_by: |who, when| format!("Issued by {who} on {when}"),
    voided_by: |who, when| format!("Voided by {who} on {when}"),
    event: |what, who, when| format!("{what} — {who}, on {when}"),
    reason_was: |reason| format!("Reason: {reason}"),
    by_script: "a program of the structure",
    by_system: "the service (automatically)",
    by_operator: "the operator",
    see_lot: "See the lot",
    kind_word: |k| match k {
        "redeem" => "Redeemed",
        "reserve" => "Reserved by the operator",
        "confirm" => "Redemption confirmed",
        "cancel" => "Reservation cancelled",
        "hold_timeout" => "Reservation ran out",
        "reverse" => "Redemption reversed",
        "expire" => "Expired",
        "print" => "Printed",
        _ => "Changed",
    },
    by_coordination: "the coordination",
    layout_legend: "Layout",
    layout_name: |l| match l {
        Layout::A4Sheet => "A4 sheet, 8 slips",
        Layout::Labels => "A4 sheet of 24 labels (3 × 8)",
        Layout::Receipt => "Receipt printer, 80 mm",
    },
    layout_submit: "Show this layout",
    lots_title: "Lots",
    lots_intro: "Each issue makes a lot, whose number is printed on its slips. \
                 Open a lot to print it again, export it, or void it if the sheet is lost.",
    col_lot: "Lot",
    col_issued: "Issued on",
    col_codes: "Codes",
    col_open: "Still usable",
    col_redeemed: "Redeemed",
    no_lots: "No lot yet: issued codes will show here.",
    older_lots: "Older lots",
};
