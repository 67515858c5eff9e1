//! The print page's words: choosing a second language for the slips'
//! instructions, and the one action that records a print.

use super::i18n::Lang;

pub struct PrintTexts {
    pub second_language: &'static str,
    pub second_language_hint: &'static str,
    pub no_second_language: &'static str,
    /// The button that records the print, given how many slips.
    pub record: fn(usize) -> String,
    pub record_hint: &'static str,
    /// After the print was recorded, given how many slips.
    pub recorded: fn(usize) -> String,
    /// On paper, when the print was not recorded first.
    pub record_first: &'static str,
}

impl Lang {
    pub fn print(self) -> &'static PrintTexts {
        match self {
            Self::Fr => &FR,
            Self::En => &EN,
        }
    }
}

static FR: PrintTexts = PrintTexts {
    second_language: "Consignes aussi dans la langue de la personne",
    second_language_hint: "Le code et le nom de la recharge restent tels quels ; seules les \
        consignes sont traduites.",
    no_second_language: "Aucune autre langue (français seulement)",
    record: |n| {
        if n == 1 {
            "J’imprime ce bon".to_owned()
        } else {
            format!("J’imprime ces {n} bons")
        }
    },
    record_hint: "Ce bouton note l’impression dans l’historique de chaque code ; vous lancez \
        ensuite l’impression avec votre navigateur (Ctrl+P). Changer de mise en page ne note \
        rien.",
    recorded: |n| {
        if n == 1 {
            "1 bon noté comme imprimé. Lancez maintenant l’impression : Ctrl+P, ou le menu \
                Imprimer de votre navigateur."
                .to_owned()
        } else {
            format!(
                "{n} bons notés comme imprimés. Lancez maintenant l’impression : Ctrl+P, ou le \
                 menu Imprimer de votre navigateur."
            )
        }
    },
    record_first: "Ces bons ne s’impriment pas encore. Revenez à la page et cliquez d’abord sur \
        « J’imprime » : l’impression est ainsi notée dans l’historique de chaque code.",
};

static EN: PrintTexts = PrintTexts {
    second_language: "Instructions also in the person's language",
    second_language_hint: "The code and the top-up's name stay as they are; only the \
        instructions are translated.",
    no_second_language: "No other language",
    record: |n| {
        if n == 1 {
            "Print this slip".to_owned()
        } else {
            format!("Print these {n} slips")
        }
    },
    record_hint: "This button records the print in each code's history; then print with your \
        browser (Ctrl+P). Changing the layout records nothing.",
    recorded: |n| {
        if n == 1 {
            "1 slip recorded as printed. Now print: Ctrl+P, or your browser's Print menu."
                .to_owned()
        } else {
            format!(
                "{n} slips recorded as printed. Now print: Ctrl+P, or your browser's Print menu."
            )
        }
    },
    record_first: "These slips do not print yet. Go back to the page and first click \"Print\": \
        the print is then recorded in each code's history.",
};
