//! Every word the desk shows, one table per language. French is the
//! default: the people at the desk are French social workers and
//! volunteers, and the slips go to French beneficiaries.

use crate::clock::Zone;
use crate::domain::VoucherState;

/// A language of the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Fr,
    En,
}

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn code(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "fr" => Some(Self::Fr),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The other language, offered by the switch in the header.
    pub fn other(self) -> Self {
        match self {
            Self::Fr => Self::En,
            Self::En => Self::Fr,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Self::Fr => &FR,
            Self::En => &EN,
        }
    }
}

/// The desk's words in one language. Fields holding `fn`s build sentences
/// around numbers, whose grammar differs between languages.
pub struct Texts {
    /// The name of this language, in itself (for the switch).
    pub language_name: &'static str,
    pub desk_title: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_home: &'static str,
    pub nav_issue: &'static str,
    pub nav_vouchers: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub notice_error: &'static str,
    pub notice_done: &'static str,
    pub notice_info: &'static str,

    pub sign_in_title: &'static str,
    pub sign_in_submit: &'static str,
    pub signed_out_notice: &'static str,
    pub session_expired_notice: &'static str,
    /// Too many sign-in attempts, given the seconds to wait.
    pub sign_in_throttled: fn(u64) -> String,
    pub sign_in_busy: &'static str,

    pub home_title: &'static str,
    pub balances_caption: &'static str,
    pub balance_network: &'static str,
    pub balance_resource: &'static str,
    pub balance_granted: &'static str,
    pub balance_issued: &'static str,
    pub balance_returned: &'static str,
    pub balance_lapsed: &'static str,
    pub balance_available: &'static str,
    pub no_balance: &'static str,
    pub resource_data: &'static str,
    pub resource_voice: &'static str,
    pub home_actions: &'static str,

    pub issue_title: &'static str,
    pub issue_product_label: &'static str,
    pub issue_count_label: &'static str,
    /// The count field's hint, given the most codes per request.
    pub issue_count_hint: fn(usize) -> String,
    pub issue_reference_label: &'static str,
    pub issue_reference_warning: &'static str,
    pub issue_submit: &'static str,
    pub issue_no_product: &'static str,
    /// What was issued, given how many codes.
    pub issued_notice: fn(usize) -> String,

    pub vouchers_title: &'static str,
    pub filter_label: &'static str,
    pub filter_all: &'static str,
    pub filter_submit: &'static str,
    pub col_serial: &'static str,
    pub col_product: &'static str,
    pub col_state: &'static str,
    pub col_reference: &'static str,
    pub col_issued: &'static str,
    pub col_expires: &'static str,
    pub col_actions: &'static str,
    pub no_vouchers: &'static str,
    pub next_page: &'static str,
    pub first_page: &'static str,
    pub details: &'static str,

    pub voucher_title: &'static str,
    pub print_this: &'static str,
    pub void_this: &'static str,
    pub voided_notice: &'static str,
    pub void_title: &'static str,
    pub void_explain: &'static str,
    pub void_confirm: &'static str,
    pub void_cancel: &'static str,
    pub void_not_possible: &'static str,

    pub print_title: &'static str,
    pub print_help: &'static str,
    pub print_nothing: &'static str,
    /// Why a code listed for printing is not printed, given its serial and state.
    pub not_printed: fn(&str, &str) -> String,
    pub slip_code: &'static str,
    pub slip_valid: &'static str,
    /// "use before <date>" on a slip.
    pub slip_use_before: fn(&str) -> String,
    pub slip_serial: &'static str,
    pub slip_from: &'static str,
    /// The network a top-up works on.
    pub slip_network: &'static str,
    pub slip_qr_label: &'static str,
    /// The issue form's choice of code, for which phone.
    pub issue_format_legend: &'static str,
    pub issue_format_product: &'static str,
    pub issue_format_pin: &'static str,
    pub issue_format_code: &'static str,
    /// A voucher's format in its details.
    pub col_format: &'static str,
    pub format_pin: &'static str,
    pub format_code: &'static str,
    pub months: [&'static str; 12],

    /// Plain words for a data top-up, given its size in MB.
    pub data_product: fn(i64) -> String,
    /// Plain words for a calls-and-texts top-up, given its days.
    pub voice_product: fn(i64) -> String,

    pub state_issued: &'static str,
    pub state_reserved: &'static str,
    pub state_redeemed: &'static str,
    pub state_voided: &'static str,
    pub state_expired: &'static str,

    pub error_title: &'static str,
    pub back_home: &'static str,
    pub csrf_refused: &'static str,
    pub form_invalid: &'static str,
    /// A form's address opened as a page (a reload, a link, typed by hand).
    pub form_address: &'static str,
    pub not_found: &'static str,
    pub internal: &'static str,
    pub quota_exceeded: &'static str,
    pub need_answered: &'static str,
    /// Issuing halted by the integrity check.
    pub integrity_hold: &'static str,
    /// The request took longer than the service allows.
    pub request_timeout: &'static str,
    /// The database does not answer for now.
    pub database_unavailable: &'static str,
    /// The database has no space left.
    pub storage_full: &'static str,
    /// Rate-limit refusal, given the seconds to wait.
    pub rate_limited: fn(u64) -> String,
    /// Count refusal, given the most codes per request.
    pub invalid_count: fn(usize) -> String,
    /// Reference refusal, given its longest length.
    pub invalid_reference: fn(usize) -> String,
    pub invalid_product: &'static str,
    pub invalid_filter: &'static str,
    /// Too many codes asked to print at once, given the most.
    pub too_many_to_print: fn(usize) -> String,
    pub already_redeemed: &'static str,
    pub reserved: &'static str,
    pub already_voided: &'static str,
    pub expired: &'static str,
    pub form_reused: &'static str,
    pub form_in_progress: &'static str,
    pub invalid_request: &'static str,
}

impl Texts {
    pub fn state(&self, state: VoucherState) -> &'static str {
        match state {
            VoucherState::Issued => self.state_issued,
            VoucherState::Reserved => self.state_reserved,
            VoucherState::Redeemed => self.state_redeemed,
            VoucherState::Voided => self.state_voided,
            VoucherState::Expired => self.state_expired,
        }
    }

    /// `20 février 2026` / `20 February 2026`.
    pub fn date(&self, date: time::Date) -> String {
        let month = self
            .months
            .get(usize::from(u8::from(date.month())) - 1)
            .copied()
            .unwrap_or_default();
        format!("{} {month} {}", date.day(), date.year())
    }

    /// `20 février 2026 14:05`: a moment, from Unix seconds, on the
    /// wall clock of the deployment's zone.
    pub fn date_time(&self, zone: &Zone, at_secs: i64) -> String {
        match zone.wall(at_secs) {
            Some(w) => format!("{} {:02}:{:02}", self.date(w.date), w.hour, w.minute),
            None => at_secs.to_string(),
        }
    }

    /// `20 février 2026`: the day of a moment in the deployment's zone.
    pub fn day(&self, zone: &Zone, at_secs: i64) -> String {
        zone.wall(at_secs)
            .map_or_else(|| at_secs.to_string(), |w| self.date(w.date))
    }
}

fn plural(n: i64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Data sizes in the unit people say: whole gigabytes when they are.
fn data_size(mb: i64, gb: &str, mb_unit: &str) -> String {
    if mb >= 1024 && mb % 1024 == 0 {
        format!("{} {gb}", mb / 1024)
    } else {
        format!("{mb} {mb_unit}")
    }
}

pub static FR: Texts = Texts {
    language_name: "Français",
    desk_title: "Guichet des recharges solidaires",
    skip_to_content: "Aller au contenu",
    nav_label: "Menu principal",
    nav_home: "Accueil",
    nav_issue: "Émettre des codes",
    nav_vouchers: "Codes émis",
    sign_out: "Se déconnecter",
    signed_in_as: "Session de :",
    notice_error: "Erreur :",
    notice_done: "C’est fait :",
    notice_info: "Information :",

    sign_in_title: "Connexion au guichet",
    sign_in_submit: "Se connecter",
    signed_out_notice: "Vous êtes déconnecté.",
    session_expired_notice: "Votre session a expiré ou a été fermée : reconnectez-vous.",
    sign_in_busy: "Beaucoup de personnes se connectent en ce moment. \
                   Patientez quelques secondes puis réessayez.",
    sign_in_throttled: |secs| {
        format!(
            "Trop de tentatives de connexion depuis ce réseau en peu de temps. \
             Patientez {secs} {} puis réessayez.",
            plural(
                i64::try_from(secs).unwrap_or(i64::MAX),
                "seconde",
                "secondes"
            )
        )
    },

    home_title: "Accueil",
    balances_caption: "Solde de la structure par ressource",
    balance_network: "Réseau",
    balance_resource: "Ressource",
    balance_granted: "Accordé",
    balance_issued: "Émis",
    balance_returned: "Rendu",
    balance_lapsed: "Périmé",
    balance_available: "Disponible",
    no_balance: "Aucune dotation pour le moment. Le coordinateur doit accorder un quota à la structure.",
    resource_data: "Données internet",
    resource_voice: "Appels et SMS illimités",
    home_actions: "Que voulez-vous faire ?",

    issue_title: "Émettre des codes",
    issue_product_label: "Recharge",
    issue_count_label: "Nombre de codes",
    issue_count_hint: |max| format!("De 1 à {max} codes à la fois."),
    issue_reference_label: "Référence (facultative)",
    issue_reference_warning: "Attention : n’écrivez ici aucune donnée personnelle (nom, téléphone, adresse…). \
        Cette référence sert seulement au suivi de la structure, par exemple « atelier du mardi ».",
    issue_submit: "Émettre les codes",
    issue_no_product: "Votre structure n’a pour le moment de quota pour aucune recharge. \
        Demandez-en sur la page « Besoins » : la demande va à votre association, ou à la \
        coordination si vous n’en avez pas.",
    issued_notice: |n| {
        if n == 1 {
            "1 code a été émis. Cliquez sur « J’imprime », puis imprimez la page pour remettre \
                le bon."
                .to_owned()
        } else {
            format!(
                "{n} codes ont été émis. Cliquez sur « J’imprime », puis imprimez la page pour \
                 remettre les bons."
            )
        }
    },

    vouchers_title: "Codes émis",
    filter_label: "État",
    filter_all: "Tous",
    filter_submit: "Filtrer",
    col_serial: "N° de série",
    col_product: "Recharge",
    col_state: "État",
    col_reference: "Référence",
    col_issued: "Émis le",
    col_expires: "Expire le",
    col_actions: "Actions",
    no_vouchers: "Aucun code ne correspond.",
    next_page: "Page suivante",
    first_page: "Première page",
    details: "Détails",

    voucher_title: "Code",
    print_this: "Imprimer ce bon",
    void_this: "Annuler ce code…",
    voided_notice: "Le code a été annulé : il ne peut plus être utilisé et son quota a été rendu.",
    void_title: "Annuler un code",
    void_explain: "Une fois annulé, ce code ne pourra plus être utilisé, et son quota sera rendu à la structure. \
        Cette action est définitive.",
    void_confirm: "Oui, annuler ce code",
    void_cancel: "Non, revenir au code",
    void_not_possible: "Ce code ne peut pas être annulé :",

    print_title: "Bons à imprimer",
    print_help: "Imprimez cette page avec la fonction Imprimer de votre navigateur (Ctrl+P) : \
        huit bons par feuille A4, à découper le long des pointillés.",
    print_nothing: "Aucun bon à imprimer.",
    not_printed: |serial, state| format!("Le code {serial} n’est pas imprimé : il est {state}."),
    slip_code: "Code",
    slip_valid: "Validité",
    slip_use_before: |date| format!("à utiliser avant le {date}"),
    slip_serial: "N° de série",
    slip_from: "Remis par",
    slip_network: "Fonctionne sur le réseau",
    slip_qr_label: "QR code du code de recharge",
    issue_format_legend: "Pour quel téléphone ?",
    issue_format_product: "Comme prévu pour ce produit",
    issue_format_pin: "Téléphone simple, sans écran tactile : un code de 20 chiffres, à composer",
    issue_format_code: "Smartphone : un code avec lettres et chiffres, et un QR code à scanner",
    col_format: "Type de code",
    format_pin: "20 chiffres (téléphone simple)",
    format_code: "Lettres et chiffres (smartphone)",
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],

    data_product: |mb| format!("{} de données internet", data_size(mb, "Go", "Mo")),
    voice_product: |days| {
        format!(
            "Appels et SMS illimités {days} {}",
            plural(days, "jour", "jours")
        )
    },

    state_issued: "valide",
    state_reserved: "en cours d’utilisation",
    state_redeemed: "utilisé",
    state_voided: "annulé",
    state_expired: "expiré",

    error_title: "Impossible de continuer",
    back_home: "Retour à l’accueil du guichet",
    csrf_refused: "Ce formulaire n’est plus valide (jeton de sécurité absent ou incorrect). \
        Rien n’a été modifié. Rechargez la page et recommencez.",
    form_invalid: "Le formulaire envoyé est incomplet. Rien n’a été modifié. Rechargez la page et recommencez.",
    form_address: "Cette adresse ne s’ouvre pas comme une page : c’est celle où un formulaire \
        s’envoie. Rien n’a été modifié. Revenez à l’accueil et rouvrez la page du formulaire.",
    not_found: "Page ou code introuvable.",
    internal: "Une erreur est survenue de notre côté. Elle a été enregistrée ; réessayez dans quelques minutes.",
    need_answered: "Ce besoin a déjà reçu une réponse.",
    quota_exceeded: "Quota épuisé : la structure n’a plus assez de solde pour ces codes. \
        Émettez moins de codes, ou demandez du quota sur la page « Besoins » : la demande va à \
        votre association, ou à la coordination si vous n’en avez pas.",
    integrity_hold: "L’émission de codes est suspendue : une vérification des comptes a relevé \
        une anomalie. Le coordinateur a été alerté ; réessayez plus tard. Rien n’a été émis.",
    request_timeout: "Le service a mis trop de temps à répondre. Réessayez dans un instant : \
        un formulaire envoyé deux fois n’émet jamais de codes en double.",
    database_unavailable: "Le service est momentanément indisponible. Rien n’a été enregistré ; \
        réessayez dans quelques instants : un formulaire envoyé deux fois n’émet jamais de codes \
        en double.",
    storage_full: "Le service ne peut plus rien enregistrer pour le moment (espace de stockage \
        plein). Rien n’a été émis ni modifié. Prévenez le coordinateur, puis réessayez plus tard.",
    rate_limited: |secs| {
        format!(
            "Trop de codes émis en peu de temps. Réessayez dans {secs} {}.",
            plural(
                i64::try_from(secs).unwrap_or(i64::MAX),
                "seconde",
                "secondes"
            )
        )
    },
    invalid_count: |max| format!("Le nombre de codes doit être un nombre entier de 1 à {max}."),
    invalid_reference: |max| {
        format!(
            "La référence doit faire de 1 à {max} caractères, sans caractères invisibles ou de contrôle."
        )
    },
    invalid_product: "Cette recharge n’existe pas ou n’est plus proposée. Choisissez-en une dans la liste.",
    invalid_filter: "Ce filtre ou cette page n’existe pas.",
    too_many_to_print: |max| format!("Au plus {max} bons peuvent être imprimés à la fois."),
    already_redeemed: "Ce code a déjà été utilisé.",
    reserved: "Ce code est en cours d’utilisation par un opérateur. Réessayez dans quelques minutes.",
    already_voided: "Ce code est déjà annulé.",
    expired: "Ce code a expiré ; son quota a été rendu à la structure.",
    form_reused: "Ce formulaire a déjà servi pour une autre demande. Rechargez la page et recommencez.",
    form_in_progress: "Ce formulaire est en cours de traitement. Patientez quelques secondes puis rechargez la page.",
    invalid_request: "La demande n’est pas valide. Rien n’a été modifié.",
};

pub static EN: Texts = Texts {
    language_name: "English",
    desk_title: "Solidarity top-up desk",
    skip_to_content: "Skip to content",
    nav_label: "Main menu",
    nav_home: "Home",
    nav_issue: "Issue codes",
    nav_vouchers: "Issued codes",
    sign_out: "Sign out",
    signed_in_as: "Signed in:",
    notice_error: "Error:",
    notice_done: "Done:",
    notice_info: "Note:",

    sign_in_title: "Sign in to the desk",
    sign_in_submit: "Sign in",
    signed_out_notice: "You are signed out.",
    session_expired_notice: "Your session has expired or was closed: please sign in again.",
    sign_in_busy: "Many people are signing in right now. Wait a few seconds, then try again.",
    sign_in_throttled: |secs| {
        format!(
            "Too many sign-in attempts from this network in a short time. \
             Wait {secs} {}, then try again.",
            plural(i64::try_from(secs).unwrap_or(i64::MAX), "second", "seconds")
        )
    },

    home_title: "Home",
    balances_caption: "The structure's balance per resource",
    balance_network: "Network",
    balance_resource: "Resource",
    balance_granted: "Granted",
    balance_issued: "Issued",
    balance_returned: "Returned",
    balance_lapsed: "Lapsed",
    balance_available: "Available",
    no_balance: "No allowance yet. The coordinator must grant the structure a quota.",
    resource_data: "Mobile data",
    resource_voice: "Unlimited calls and texts",
    home_actions: "What would you like to do?",

    issue_title: "Issue codes",
    issue_product_label: "Top-up",
    issue_count_label: "Number of codes",
    issue_count_hint: |max| format!("From 1 to {max} codes at once."),
    issue_reference_label: "Reference (optional)",
    issue_reference_warning: "Warning: do not write any personal data here (name, phone number, address…). \
        This reference is only for the structure's own records, e.g. \u{201c}Tuesday workshop\u{201d}.",
    issue_submit: "Issue the codes",
    issue_no_product: "Your structure has no quota for any top-up at the moment. Ask for \
        some on the \"Needs\" page: the request goes to your association, or to the \
        coordination if you have none.",
    issued_notice: |n| {
        if n == 1 {
            "1 code was issued. Click \"Print\", then print the page to hand over the slip."
                .to_owned()
        } else {
            format!(
                "{n} codes were issued. Click \"Print\", then print the page to hand over the slips."
            )
        }
    },

    vouchers_title: "Issued codes",
    filter_label: "State",
    filter_all: "All",
    filter_submit: "Filter",
    col_serial: "Serial",
    col_product: "Top-up",
    col_state: "State",
    col_reference: "Reference",
    col_issued: "Issued on",
    col_expires: "Expires on",
    col_actions: "Actions",
    no_vouchers: "No code matches.",
    next_page: "Next page",
    first_page: "First page",
    details: "Details",

    voucher_title: "Code",
    print_this: "Print this slip",
    void_this: "Void this code…",
    voided_notice: "The code was voided: it can no longer be used and its quota was given back.",
    void_title: "Void a code",
    void_explain: "Once voided, this code can no longer be used, and its quota is given back to the structure. \
        This cannot be undone.",
    void_confirm: "Yes, void this code",
    void_cancel: "No, back to the code",
    void_not_possible: "This code cannot be voided:",

    print_title: "Slips to print",
    print_help: "Print this page with your browser's Print command (Ctrl+P): \
        eight slips per A4 sheet, to cut along the dotted lines.",
    print_nothing: "Nothing to print.",
    not_printed: |serial, state| format!("Code {serial} is not printed: it is {state}."),
    slip_code: "Code",
    slip_valid: "Valid",
    slip_use_before: |date| format!("use before {date}"),
    slip_serial: "Serial",
    slip_from: "Given by",
    slip_network: "Works on the network",
    slip_qr_label: "QR code of the top-up code",
    issue_format_legend: "For which phone?",
    issue_format_product: "As set for this product",
    issue_format_pin: "Basic phone, no touch screen: a 20-digit code to dial",
    issue_format_code: "Smartphone: a code of letters and digits, and a QR code to scan",
    col_format: "Kind of code",
    format_pin: "20 digits (basic phone)",
    format_code: "Letters and digits (smartphone)",
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],

    data_product: |mb| format!("{} of mobile data", data_size(mb, "GB", "MB")),
    voice_product: |days| {
        format!(
            "Unlimited calls and texts for {days} {}",
            plural(days, "day", "days")
        )
    },

    state_issued: "valid",
    state_reserved: "being redeemed",
    state_redeemed: "used",
    state_voided: "voided",
    state_expired: "expired",

    error_title: "Cannot continue",
    back_home: "Back to the desk's home page",
    csrf_refused: "This form is no longer valid (security token missing or wrong). \
        Nothing was changed. Reload the page and try again.",
    form_invalid: "The form sent is incomplete. Nothing was changed. Reload the page and try again.",
    form_address: "This address does not open as a page: it is where a form is sent. Nothing \
        was changed. Go back to the home page and open the form's page again.",
    not_found: "Page or code not found.",
    internal: "Something went wrong on our side. It has been logged; please try again in a few minutes.",
    need_answered: "This need was already answered.",
    quota_exceeded: "Quota exhausted: the structure's balance is too low for these codes. \
        Issue fewer codes or ask the coordinator for a new allowance.",
    integrity_hold: "Issuing is suspended: a check of the books found an inconsistency. \
        The coordinator has been alerted; please try again later. Nothing was issued.",
    request_timeout: "The service took too long to answer. Please try again in a moment: \
        a form sent twice never issues codes twice.",
    database_unavailable: "The service is unavailable for a moment. Nothing was saved; please \
        try again shortly: a form sent twice never issues codes twice.",
    storage_full: "The service cannot save anything for now (its storage is full). Nothing was \
        issued or changed. Please tell the coordinator, then try again later.",
    rate_limited: |secs| {
        format!(
            "Too many codes issued in a short time. Try again in {secs} {}.",
            plural(i64::try_from(secs).unwrap_or(i64::MAX), "second", "seconds")
        )
    },
    invalid_count: |max| format!("The number of codes must be a whole number from 1 to {max}."),
    invalid_reference: |max| {
        format!(
            "The reference must be 1 to {max} characters, without invisible or control characters."
        )
    },
    invalid_product: "This top-up does not exist or is no longer offered. Choose one from the list.",
    invalid_filter: "This filter or page does not exist.",
    too_many_to_print: |max| format!("At most {max} slips can be printed at once."),
    already_redeemed: "This code has already been used.",
    reserved: "This code is being redeemed by an operator. Try again in a few minutes.",
    already_voided: "This code is already voided.",
    expired: "This code has expired; its quota was given back to the structure.",
    form_reused: "This form was already used for another request. Reload the page and try again.",
    form_in_progress: "This form is being processed. Wait a few seconds, then reload the page.",
    invalid_request: "The request is not valid. Nothing was changed.",
};
