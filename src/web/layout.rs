//! The page shell every desk page shares: `<html lang>`, the skip link,
//! the header with navigation, sign-out and the language switch, and the
//! notices that say what happened.

use axum::http::Uri;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{Lang, Texts};

/// What the shell needs to know about the request.
pub struct Chrome<'a> {
    pub lang: Lang,
    /// The current address, for the language switch.
    pub uri: &'a Uri,
    /// Who is signed in and the session's form token.
    pub session: Option<(&'a str, &'a str)>,
    /// Which desk's menu the header shows.
    pub nav: Nav,
}

/// The two desks' menus: a structure's, and the coordinator's (which the
/// auditors share, read-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Structure,
    /// A structure with members: its menu also leads to them.
    Association,
    Coordination,
}

/// A notice's kind. Each is announced by a word, never by colour alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Error,
    Done,
    Info,
}

pub fn notice(t: &Texts, kind: Notice, text: &str) -> Markup {
    let (class, word, role) = match kind {
        Notice::Error => ("notice notice-error", t.notice_error, "alert"),
        Notice::Done => ("notice notice-done", t.notice_done, "status"),
        Notice::Info => ("notice notice-info", t.notice_info, "status"),
    };
    html! {
        div class=(class) role=(role) {
            p { strong { (word) } " " (text) }
        }
    }
}

/// The current address in the other language: the same path and query,
/// with `lang` replaced.
fn switch_href(uri: &Uri, lang: Lang) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != "lang" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("lang", lang.code());
    format!("{}?{}", uri.path(), query.finish())
}

/// The search form of a desk's header.
pub fn find_form(lang: Lang, nav: Nav, typed: &str) -> Markup {
    let (label, submit) = match lang {
        Lang::Fr => ("Retrouver un code", "Chercher"),
        Lang::En => ("Find a code", "Search"),
    };
    let action = match nav {
        Nav::Structure | Nav::Association => "/desk/find",
        Nav::Coordination => "/desk/coordination/find",
    };
    html! {
        form class="find" method="get" action=(action) role="search" {
            label for="find-q" { (label) }
            " "
            input id="find-q" name="q" type="search" maxlength="80" value=(typed)
                autocomplete="off" spellcheck="false" autocapitalize="characters";
            " "
            button type="submit" { (submit) }
        }
    }
}

/// A whole page: `title` is both the `<title>` and the `<h1>`.
pub fn page(chrome: &Chrome<'_>, title: &str, body_class: &str, main: Markup) -> Markup {
    let t = chrome.lang.texts();
    let other = chrome.lang.other();
    html! {
        (DOCTYPE)
        html lang=(chrome.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — " (t.desk_title) }
                link rel="stylesheet" href="/desk/static/desk.css";
            }
            body class=(body_class) {
                a class="skip-link" href="#main" { (t.skip_to_content) }
                header class="site-header screen-only" {
                    p class="site-title" { a href="/desk/" { (t.desk_title) } }
                    @if let Some((name, csrf)) = chrome.session {
                        p class="who" { (t.signed_in_as) " " strong { (name) } }
                        nav aria-label=(t.nav_label) {
                            ul {
                                @match chrome.nav {
                                    Nav::Structure | Nav::Association => {
                                        li { a href="/desk/" { (t.nav_home) } }
                                        li { a href="/desk/issue" { (t.nav_issue) } }
                                        li { a href="/desk/vouchers" { (t.nav_vouchers) } }
                                        li { a href="/desk/lots" { (chrome.lang.lots().lots_title) } }
                                        li { a href="/desk/needs" { (chrome.lang.tree().needs_title) } }
                                        @if chrome.nav == Nav::Association {
                                            li { a href="/desk/members" { (chrome.lang.tree().members_title) } }
                                        }
                                    }
                                    Nav::Coordination => {
                                        @for (href, label) in chrome.lang.coordination().menu() {
                                            li { a href=(href) { (label) } }
                                        }
                                    }
                                }
                            }
                        }
                        (find_form(chrome.lang, chrome.nav, ""))
                        form class="sign-out" method="post" action="/desk/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (t.sign_out) }
                        }
                    }
                    a class="lang-switch" href=(switch_href(chrome.uri, other))
                        lang=(other.code()) hreflang=(other.code()) { (other.texts().language_name) }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (PreEscaped(super::stacked::label_cells(&main.into_string())))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_keeps_the_query_and_replaces_the_language() {
        let uri: Uri = "/desk/vouchers?state=issued&lang=fr".parse().unwrap();
        assert_eq!(
            switch_href(&uri, Lang::En),
            "/desk/vouchers?state=issued&lang=en"
        );
        let uri: Uri = "/desk/".parse().unwrap();
        assert_eq!(switch_href(&uri, Lang::Fr), "/desk/?lang=fr");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let uri: Uri = "/desk/".parse().unwrap();
        let chrome = Chrome {
            lang: Lang::Fr,
            uri: &uri,
            session: Some(("<script>alert(1)</script>", "t")),
            nav: Nav::Structure,
        };
        let html = page(&chrome, "Accueil", "", html! {}).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("<html lang=\"fr\">"));
    }
}
