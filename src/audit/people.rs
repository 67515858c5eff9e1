//! Who did what: the people the chain names as actors (`account:N`), with
//! how many events of each kind each one's actions wrote. Names come from
//! the chain's own `account_created` events, so `audit verify` says it of
//! an export as well as of a live database.

use std::collections::BTreeMap;

use serde_json::Value;

use super::snapshot::EventRow;

/// One person and what the chain records them doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonActions {
    pub account_id: i64,
    /// As given at the account's creation ("Amina B."); `None` when the
    /// chain never created the account (the replay reports that).
    pub display_name: Option<String>,
    pub login: Option<String>,
    /// Event kind → how many events of it name this person as the actor.
    pub actions: BTreeMap<String, u64>,
}

impl std::fmt::Display for PersonActions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.display_name.as_deref().unwrap_or("?");
        let login = self.login.as_deref().unwrap_or("?");
        write!(f, "{name} (account {}, {login}):", self.account_id)?;
        for (i, (kind, n)) in self.actions.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{kind} {n}")?;
        }
        Ok(())
    }
}

/// Every person who acted, by account id.
pub fn who_did_what(events: &[EventRow]) -> Vec<PersonActions> {
    let mut people: BTreeMap<i64, PersonActions> = BTreeMap::new();
    let mut names: BTreeMap<i64, (Option<String>, Option<String>)> = BTreeMap::new();
    for e in events {
        if e.kind == "account_created"
            && let Some((id, name, login)) = created(&e.data)
        {
            names.insert(id, (name, login));
        }
        let Some(id) = e
            .actor
            .strip_prefix("account:")
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let person = people.entry(id).or_insert_with(|| PersonActions {
            account_id: id,
            ..PersonActions::default()
        });
        *person.actions.entry(e.kind.clone()).or_default() += 1;
    }
    people
        .into_values()
        .map(|mut p| {
            if let Some((name, login)) = names.get(&p.account_id) {
                p.display_name.clone_from(name);
                p.login.clone_from(login);
            }
            p
        })
        .collect()
}

fn created(data: &str) -> Option<(i64, Option<String>, Option<String>)> {
    let v: Value = serde_json::from_str(data).ok()?;
    let id = v.get("account_id")?.as_i64()?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((id, text("display_name"), text("login")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, actor: &str, data: &str) -> EventRow {
        EventRow {
            id: 0,
            seq: None,
            at: 0,
            kind: kind.into(),
            actor: actor.into(),
            structure_id: None,
            voucher_id: None,
            data: data.into(),
            prev_hash: None,
            hash: None,
        }
    }

    #[test]
    fn names_each_person_with_what_they_did() {
        let events = [
            event(
                "account_created",
                "token:1",
                r#"{"account_id":7,"login":"amina.b","display_name":"Amina B.","role":"structure_staff"}"#,
            ),
            event("issue", "account:7", "{}"),
            event("issue", "account:7", "{}"),
            event("void", "account:7", "{}"),
            event("issue", "token:2", "{}"),
            event("print", "account:9", "{}"),
        ];
        let people = who_did_what(&events);
        assert_eq!(people.len(), 2);
        assert_eq!(
            people[0].to_string(),
            "Amina B. (account 7, amina.b): issue 2, void 1"
        );
        assert_eq!(people[1].to_string(), "? (account 9, ?): print 1");
    }
}
