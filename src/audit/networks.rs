//! The operators (networks) against their creation events: every row has
//! one, with the same name and slip instructions, and no event names an
//! operator that is not there.

use std::collections::BTreeSet;

use super::Finding;
use super::replay::Replay;
use super::snapshot::OperatorRow;

fn text<'a>(data: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(serde_json::Value::as_str)
}

pub(super) fn check_operators(replay: &Replay, operators: &[OperatorRow], out: &mut Vec<Finding>) {
    for o in operators {
        let row = format!("id {}", o.id);
        let Some(created) = replay.operators.get(&o.id) else {
            out.push(Finding::new(
                "operator.unrecorded",
                "operators",
                row,
                "no event created this operator".into(),
            ));
            continue;
        };
        for (field, live) in [
            ("name", Some(o.name.as_str())),
            ("instructions_fr", o.instructions_fr.as_deref()),
            ("instructions_en", o.instructions_en.as_deref()),
            ("slip_instructions", o.slip_instructions.as_deref()),
        ] {
            let recorded = text(created, field);
            if recorded != live {
                out.push(
                    Finding::new(
                        "operator.field",
                        "operators",
                        row.clone(),
                        format!("{field} differs from its events"),
                    )
                    .values(recorded.unwrap_or_default(), live.unwrap_or_default()),
                );
            }
        }
    }
    for (id, product) in &replay.products {
        let network = product
            .get("operator_id")
            .and_then(serde_json::Value::as_i64);
        if network.is_none_or(|n| !replay.operators.contains_key(&n)) {
            out.push(Finding::new(
                "product.network",
                "products",
                format!("id {id}"),
                "saved for an operator no event created".into(),
            ));
        }
    }
    let live: BTreeSet<i64> = operators.iter().map(|o| o.id).collect();
    for id in replay.operators.keys().filter(|id| !live.contains(id)) {
        out.push(Finding::new(
            "operator.missing",
            "operators",
            format!("id {id}"),
            "created according to the events, but the row is gone".into(),
        ));
    }
}
