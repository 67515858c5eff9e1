//! The desk's words about people: signing in with an account, activating
//! it, and managing accounts. Kept apart from [`super::i18n`], which holds
//! the words about vouchers.

use super::i18n::Lang;
use crate::domain::account::{AccountRole, MIN_PASSWORD_CHARS, WeakPassword};

pub struct PeopleTexts {
    pub sign_in_intro: &'static str,
    pub login_label: &'static str,
    pub password_label: &'static str,
    pub sign_in_refused: &'static str,
    pub sign_in_locked: fn(i64) -> String,
    pub activated_notice: &'static str,
    pub first_time: &'static str,
    pub activate_link: &'static str,
    pub activate_title: &'static str,
    pub activate_intro: &'static str,
    pub code_label: &'static str,
    pub code_hint: &'static str,
    pub new_password_label: &'static str,
    pub password_hint: String,
    pub confirm_label: &'static str,
    pub activate_submit: &'static str,
    pub bad_code: &'static str,
    pub passwords_differ: &'static str,
    pub weak: fn(WeakPassword) -> &'static str,
    pub accounts_title: &'static str,
    pub accounts_intro_coordinator: &'static str,
    pub accounts_intro_manager: &'static str,
    pub accounts_link: &'static str,
    pub col_name: &'static str,
    pub col_login: &'static str,
    pub col_role: &'static str,
    pub col_structure: &'static str,
    pub col_status: &'static str,
    pub col_actions: &'static str,
    pub status_active: &'static str,
    pub status_pending: &'static str,
    pub status_disabled: &'static str,
    pub role_name: fn(AccountRole) -> &'static str,
    pub new_account: &'static str,
    pub display_name_label: &'static str,
    pub display_name_hint: &'static str,
    pub login_hint: &'static str,
    pub role_label: &'static str,
    pub structure_label: &'static str,
    pub structure_hint: &'static str,
    pub create_submit: &'static str,
    pub disable_submit: &'static str,
    pub reset_submit: &'static str,
    pub code_shown_once: fn(&str) -> String,
    pub code_expires: fn(i64) -> String,
    pub disabled_notice: &'static str,
    pub login_taken: &'static str,
    pub invalid_login: &'static str,
    pub invalid_name: &'static str,
    pub invalid_role: &'static str,
    pub unknown_structure: &'static str,
    pub no_structure: &'static str,
    pub structure_missing: &'static str,
    pub structure_not_for_role: &'static str,
    /// A deactivated structure gets no new account, token or quota.
    pub structure_deactivated: &'static str,
    pub read_only: &'static str,
}

impl Lang {
    pub fn people(self) -> &'static PeopleTexts {
        static FR: std::sync::OnceLock<PeopleTexts> = std::sync::OnceLock::new();
        static EN: std::sync::OnceLock<PeopleTexts> = std::sync::OnceLock::new();
        match self {
            Self::Fr => FR.get_or_init(fr),
            Self::En => EN.get_or_init(en),
        }
    }
}

fn fr() -> PeopleTexts {
    PeopleTexts {
        sign_in_intro: "Connectez-vous avec votre identifiant et votre mot de passe personnels.",
        login_label: "Identifiant",
        password_label: "Mot de passe",
        sign_in_refused: "Identifiant ou mot de passe incorrect. Vérifiez-les et réessayez ; \
            en cas d’oubli, demandez un nouveau code d’activation à la personne qui a créé votre compte.",
        sign_in_locked: |secs| {
            let minutes = (secs + 59) / 60;
            format!(
                "Trop de tentatives pour cet identifiant. Par sécurité, réessayez dans {minutes} minute{}.",
                if minutes > 1 { "s" } else { "" }
            )
        },
        activated_notice: "Votre mot de passe est enregistré. Vous pouvez vous connecter.",
        first_time: "Première connexion, ou mot de passe oublié ?",
        activate_link: "Choisir mon mot de passe avec mon code d’activation",
        activate_title: "Choisir mon mot de passe",
        activate_intro: "Saisissez le code d’activation qui vous a été remis, puis choisissez votre mot de passe.",
        code_label: "Code d’activation",
        code_hint: "16 caractères, par exemple ACDE-FGHJ-KMNP-QRTU. Il ne sert qu’une fois.",
        new_password_label: "Nouveau mot de passe",
        password_hint: format!(
            "Au moins {MIN_PASSWORD_CHARS} caractères. Une phrase de plusieurs mots est plus sûre et plus facile à retenir."
        ),
        confirm_label: "Le même mot de passe, à nouveau",
        activate_submit: "Enregistrer mon mot de passe",
        bad_code: "Ce code d’activation ne fonctionne pas : il est incorrect, a déjà servi ou a expiré. \
            Demandez-en un nouveau à la personne qui a créé votre compte.",
        passwords_differ: "Les deux mots de passe ne sont pas identiques. Saisissez-les à nouveau.",
        weak: |w| match w {
            WeakPassword::TooShort => {
                "Ce mot de passe est trop court : il faut au moins 12 caractères."
            }
            WeakPassword::TooLong => "Ce mot de passe est trop long : 256 caractères au plus.",
            WeakPassword::Common => {
                "Ce mot de passe est trop facile à deviner : il ressemble à un mot courant, un \
                 prénom, un lieu, une date, une suite de touches ou de chiffres, ou au nom de \
                 votre structure. Choisissez plutôt une phrase de passe : quatre mots ou plus \
                 qui n’ont rien à voir entre eux, séparés par des espaces, faciles à retenir \
                 pour vous seul."
            }
            WeakPassword::LikeLogin => {
                "Ce mot de passe ressemble à votre identifiant ou à votre nom. Choisissez-en un autre."
            }
        },
        accounts_title: "Comptes",
        accounts_intro_coordinator: "Les comptes des personnes : coordination, audit et responsables des structures.",
        accounts_intro_manager: "Les comptes des membres de votre structure.",
        accounts_link: "Gérer les comptes de la structure",
        col_name: "Nom",
        col_login: "Identifiant",
        col_role: "Rôle",
        col_structure: "Structure",
        col_status: "État",
        col_actions: "Actions",
        status_active: "Actif",
        status_pending: "En attente d’activation",
        status_disabled: "Désactivé",
        role_name: |r| match r {
            AccountRole::Coordinator => "Coordination",
            AccountRole::Auditor => "Audit (lecture seule)",
            AccountRole::StructureManager => "Responsable de structure",
            AccountRole::StructureStaff => "Membre de l’équipe",
        },
        new_account: "Créer un compte",
        display_name_label: "Nom affiché",
        display_name_hint: "Tel qu’il apparaîtra dans l’historique, par exemple « Amina B. ».",
        login_hint: "De 3 à 64 caractères : lettres sans accent, chiffres, point, tiret, @.",
        role_label: "Rôle",
        structure_label: "Structure de la personne",
        structure_hint: "Pour un compte de responsable ou de membre de l’équipe d’une structure. \
            Laissez « Aucune » pour la coordination et l’audit.",
        create_submit: "Créer le compte",
        disable_submit: "Désactiver",
        reset_submit: "Nouveau code d’activation",
        code_shown_once: |code| format!("Code d’activation à remettre à la personne : {code}"),
        code_expires: |days| {
            format!(
                "Il n’est affiché qu’une fois et expire dans {days} jour{}. Avec lui, la personne choisit son mot de passe sur la page « Choisir mon mot de passe ».",
                if days > 1 { "s" } else { "" }
            )
        },
        disabled_notice: "Le compte est désactivé : la personne ne peut plus se connecter.",
        login_taken: "Cet identifiant est déjà pris. Choisissez-en un autre.",
        invalid_login: "Cet identifiant ne convient pas : de 3 à 64 caractères, lettres sans accent, chiffres, point, tiret ou @.",
        invalid_name: "Le nom affiché est obligatoire (100 caractères au plus).",
        invalid_role: "Vous ne pouvez pas créer ce type de compte ici.",
        unknown_structure: "Aucune structure ne porte ce numéro.",
        no_structure: "Aucune (coordination ou audit)",
        structure_missing: "Choisissez la structure de la personne dans la liste « Structure de \
            la personne » : un compte de responsable ou de membre de l’équipe appartient à une \
            structure.",
        structure_not_for_role: "Un compte de coordination ou d’audit n’appartient à aucune \
            structure : choisissez « Aucune » dans la liste « Structure de la personne », ou un \
            autre rôle.",
        structure_deactivated: "Cette structure est désactivée : elle ne reçoit plus ni compte, ni jeton, ni quota. Son historique reste consultable.",
        read_only: "Vous consultez cette page en lecture seule.",
    }
}

fn en() -> PeopleTexts {
    PeopleTexts {
        sign_in_intro: "Sign in with your personal login and password.",
        login_label: "Login",
        password_label: "Password",
        sign_in_refused: "Wrong login or password. Check them and try again; if you have forgotten \
            your password, ask whoever created your account for a new activation code.",
        sign_in_locked: |secs| {
            let minutes = (secs + 59) / 60;
            format!(
                "Too many attempts for this login. For safety, try again in {minutes} minute{}.",
                if minutes > 1 { "s" } else { "" }
            )
        },
        activated_notice: "Your password is saved. You can sign in.",
        first_time: "First sign-in, or forgotten password?",
        activate_link: "Choose my password with my activation code",
        activate_title: "Choose my password",
        activate_intro: "Type the activation code you were given, then choose your password.",
        code_label: "Activation code",
        code_hint: "16 characters, for example ACDE-FGHJ-KMNP-QRTU. It works once.",
        new_password_label: "New password",
        password_hint: format!(
            "At least {MIN_PASSWORD_CHARS} characters. A phrase of several words is safer and easier to remember."
        ),
        confirm_label: "The same password again",
        activate_submit: "Save my password",
        bad_code: "This activation code does not work: it is wrong, already used or expired. \
            Ask whoever created your account for a new one.",
        passwords_differ: "The two passwords differ. Type them again.",
        weak: |w| match w {
            WeakPassword::TooShort => "This password is too short: at least 12 characters.",
            WeakPassword::TooLong => "This password is too long: 256 characters at most.",
            WeakPassword::Common => {
                "This password is too easy to guess: it looks like a common word, a first name, \
                 a place, a date, a run of keys or digits, or your structure's name. Choose a \
                 passphrase instead: four or more words that have nothing to do with each \
                 other, separated by spaces, easy for you alone to remember."
            }
            WeakPassword::LikeLogin => {
                "This password looks like your login or your name. Choose another."
            }
        },
        accounts_title: "Accounts",
        accounts_intro_coordinator: "People's accounts: coordination, audit and structure managers.",
        accounts_intro_manager: "The accounts of your structure's team.",
        accounts_link: "Manage the structure's accounts",
        col_name: "Name",
        col_login: "Login",
        col_role: "Role",
        col_structure: "Structure",
        col_status: "Status",
        col_actions: "Actions",
        status_active: "Active",
        status_pending: "Awaiting activation",
        status_disabled: "Disabled",
        role_name: |r| match r {
            AccountRole::Coordinator => "Coordination",
            AccountRole::Auditor => "Audit (read-only)",
            AccountRole::StructureManager => "Structure manager",
            AccountRole::StructureStaff => "Team member",
        },
        new_account: "Create an account",
        display_name_label: "Display name",
        display_name_hint: "As it will read in the history, for example \u{201c}Amina B.\u{201d}.",
        login_hint: "3 to 64 characters: unaccented letters, digits, dot, dash, @.",
        role_label: "Role",
        structure_label: "The person's structure",
        structure_hint: "For a structure's manager or staff. Leave \"None\" for the \
            coordination and auditors.",
        create_submit: "Create the account",
        disable_submit: "Disable",
        reset_submit: "New activation code",
        code_shown_once: |code| format!("Activation code to give to the person: {code}"),
        code_expires: |days| {
            format!(
                "It is shown only once and expires in {days} day{}. With it, the person chooses their password on the \u{201c}Choose my password\u{201d} page.",
                if days > 1 { "s" } else { "" }
            )
        },
        disabled_notice: "The account is disabled: the person can no longer sign in.",
        login_taken: "This login is taken. Choose another.",
        invalid_login: "This login does not fit: 3 to 64 characters, unaccented letters, digits, dot, dash or @.",
        invalid_name: "The display name is required (100 characters at most).",
        invalid_role: "You may not create this kind of account here.",
        unknown_structure: "No structure has this number.",
        no_structure: "None (coordination or audit)",
        structure_missing: "Choose the person's structure in the list \"The person's \
            structure\": a manager's or staff account belongs to a structure.",
        structure_not_for_role: "A coordination or audit account belongs to no structure: \
            choose \"None\" in the list \"The person's structure\", or another role.",
        structure_deactivated: "This structure is deactivated: it gets no new account, token or quota. Its history stays readable.",
        read_only: "You are viewing this page read-only.",
    }
}
