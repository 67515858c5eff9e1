//! The contract names what the build has, both ways: every HTTP route the
//! router serves (read from the OpenAPI document the router is built with,
//! so the two cannot differ) and every command-line sub-command (read from
//! the parser) appears in `docs/contract.md`, and every `METHOD /path` and
//! `relay-topup …` the contract names exists — unless the contract says,
//! in the same paragraph, that it is planned.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::collections::BTreeSet;

use clap::CommandFactory;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn contract() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/contract.md")).unwrap()
}

/// A path with its parameters' names left out: `/v1/lots/{}`.
fn shape(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The paragraphs of the contract, each with whether it says "planned".
fn paragraphs(text: &str) -> Vec<(String, bool)> {
    text.split("\n\n")
        .map(|p| (p.to_owned(), p.to_lowercase().contains("planned")))
        .collect()
}

/// Every `` `METHOD /path…` `` the contract names, with whether it is
/// named as planned.
fn contract_routes() -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for (paragraph, planned) in paragraphs(&contract()) {
        for quoted in paragraph.split('`').skip(1).step_by(2) {
            let Some((method, path)) = quoted.split_once(' ') else {
                continue;
            };
            if METHODS.contains(&method) && path.starts_with('/') {
                let path = path.split_whitespace().next().unwrap_or(path);
                found.push((format!("{method} {}", shape(path)), planned));
            }
        }
    }
    found
}

/// The routes the router serves, from its OpenAPI document, and the one
/// route outside it (the document itself).
fn built_routes() -> BTreeSet<String> {
    let (_, doc) = relay_topup::http::api();
    let doc = serde_json::to_value(&doc).unwrap();
    let mut routes = BTreeSet::from(["GET /openapi.json".to_owned()]);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                routes.insert(format!("{method} {}", shape(path)));
            }
        }
    }
    routes
}

/// Every command path (`keys rotate`) the parser has, leaves only.
fn built_commands() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.insert(prefix.trim().to_owned());
        }
        for sub in subs {
            walk(sub, &format!("{prefix} {}", sub.get_name()), out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&relay_topup::cli::Cli::command(), "", &mut out);
    out
}

/// Every `` `relay-topup a b …` `` the contract names: its words.
fn contract_commands() -> Vec<(Vec<String>, bool)> {
    let mut found = Vec::new();
    for (paragraph, planned) in paragraphs(&contract()) {
        for quoted in paragraph.split('`').skip(1).step_by(2) {
            let Some(rest) = quoted.strip_prefix("relay-topup ") else {
                continue;
            };
            let words = rest
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .map(str::to_owned)
                .collect();
            found.push((words, planned));
        }
    }
    found
}

#[test]
fn every_route_the_router_serves_is_in_the_contract_and_back() {
    let built = built_routes();
    let named = contract_routes();
    let named_set: BTreeSet<&str> = named.iter().map(|(r, _)| r.as_str()).collect();
    let unnamed: Vec<_> = built
        .iter()
        .filter(|r| !named_set.contains(r.as_str()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "routes the contract does not name: {unnamed:#?}"
    );
    let missing: Vec<_> = named
        .iter()
        .filter(|(r, planned)| !planned && !built.contains(r))
        .map(|(r, _)| r)
        .collect();
    assert!(
        missing.is_empty(),
        "routes the contract names that are not built: {missing:#?}"
    );
    assert!(built.len() > 40, "{built:?}");
}

#[test]
fn every_command_the_parser_has_is_in_the_contract_and_back() {
    let built = built_commands();
    let named = contract_commands();
    // A named command is its longest prefix that is a command.
    let resolved = |words: &[String]| -> Option<String> {
        (1..=words.len()).rev().find_map(|n| {
            let candidate = words[..n].join(" ");
            built.contains(&candidate).then_some(candidate)
        })
    };
    let named_set: BTreeSet<String> = named.iter().filter_map(|(w, _)| resolved(w)).collect();
    let unnamed: Vec<_> = built.iter().filter(|c| !named_set.contains(*c)).collect();
    assert!(
        unnamed.is_empty(),
        "commands the contract does not name: {unnamed:#?}"
    );
    let missing: Vec<_> = named
        .iter()
        .filter(|(w, planned)| !planned && resolved(w).is_none())
        .map(|(w, _)| w.join(" "))
        .collect();
    assert!(
        missing.is_empty(),
        "commands the contract names that do not exist: {missing:#?}"
    );
    assert!(built.len() > 10, "{built:?}");
}

#[test]
fn every_operation_has_its_own_id() {
    let (_, doc) = relay_topup::http::api();
    let doc = serde_json::to_value(&doc).unwrap();
    let mut seen = BTreeSet::new();
    let mut twice = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for method in METHODS {
            if let Some(id) = item[method.to_lowercase()]["operationId"].as_str()
                && !seen.insert(id.to_owned())
            {
                twice.push(id.to_owned());
            }
        }
    }
    assert!(
        twice.is_empty(),
        "operationIds used more than once: {twice:?}"
    );
}
