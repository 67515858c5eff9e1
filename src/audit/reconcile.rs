//! Reconciling an operator's statement (the CSV `GET /v1/redemptions`
//! exports) with the redemptions recorded here: what one side has and the
//! other lacks, and what both have but describe differently.

use std::collections::BTreeMap;

use serde::Serialize;

/// The columns of a statement, in order: the format the operator API
/// exports, so an operator can hand back what it downloaded.
pub const STATEMENT_COLUMNS: [&str; 10] = [
    "redemption_id",
    "serial",
    "product",
    "resource",
    "amount",
    "validity_days",
    "state",
    "redeemed_at",
    "ended_at",
    "operator_ref",
];

/// A redemption, as either side describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub redemption_id: i64,
    pub serial: String,
    pub product: String,
    pub amount: i64,
    /// As statements name it: `redeemed` or `reversed`.
    pub state: String,
}

/// Why a statement was refused: the line (1 = header) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("statement line {line}: {problem}")]
pub struct StatementError {
    pub line: u64,
    pub problem: String,
}

/// Reads a statement. The header must be the exported one.
pub fn parse_statement(text: &str, max_lines: usize) -> Result<Vec<Line>, StatementError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header_ok = reader
        .headers()
        .map(|h| h.iter().eq(STATEMENT_COLUMNS.iter().copied()))
        .unwrap_or(false);
    if !header_ok {
        return Err(StatementError {
            line: 1,
            problem: format!("the header must be {}", STATEMENT_COLUMNS.join(",")),
        });
    }
    let mut lines = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(2);
        let bad = |problem: &str| StatementError {
            line,
            problem: problem.to_owned(),
        };
        if lines.len() >= max_lines {
            return Err(bad(&format!("more than {max_lines} lines")));
        }
        let r = record.map_err(|_| bad("not a CSV record of 10 fields"))?;
        let field = |i: usize| r.get(i).unwrap_or_default().trim();
        lines.push(Line {
            redemption_id: field(0)
                .parse()
                .map_err(|_| bad("redemption_id is not a number"))?,
            serial: field(1).to_owned(),
            product: field(2).to_owned(),
            amount: field(4)
                .parse()
                .map_err(|_| bad("amount is not a number"))?,
            state: field(6).to_owned(),
        });
    }
    Ok(lines)
}

/// One difference between the two sides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// `missing_from_statement`, `not_redeemed_here`, `amount_differs`,
    /// `serial_differs`, `product_differs`, `state_differs`, `duplicate_line`.
    pub kind: &'static str,
    pub redemption_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub here: Option<Line>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Line>,
}

/// Compares both sides, matched by redemption id.
pub fn reconcile(here: &[Line], statement: &[Line]) -> Vec<Discrepancy> {
    let ours: BTreeMap<i64, &Line> = here.iter().map(|l| (l.redemption_id, l)).collect();
    let mut seen: BTreeMap<i64, &Line> = BTreeMap::new();
    let mut out = Vec::new();
    let mut push = |kind, id, here: Option<&Line>, theirs: Option<&Line>| {
        out.push(Discrepancy {
            kind,
            redemption_id: id,
            here: here.cloned(),
            statement: theirs.cloned(),
        });
    };
    for theirs in statement {
        let id = theirs.redemption_id;
        if seen.insert(id, theirs).is_some() {
            push("duplicate_line", id, ours.get(&id).copied(), Some(theirs));
            continue;
        }
        let Some(mine) = ours.get(&id) else {
            push("not_redeemed_here", id, None, Some(theirs));
            continue;
        };
        for (kind, differs) in [
            ("serial_differs", mine.serial != theirs.serial),
            ("product_differs", mine.product != theirs.product),
            ("amount_differs", mine.amount != theirs.amount),
            ("state_differs", mine.state != theirs.state),
        ] {
            if differs {
                push(kind, id, Some(mine), Some(theirs));
            }
        }
    }
    for (id, mine) in &ours {
        if !seen.contains_key(id) {
            push("missing_from_statement", *id, Some(mine), None);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: i64, amount: i64, state: &str) -> Line {
        Line {
            redemption_id: id,
            serial: format!("S{id}"),
            product: "data-1gb".into(),
            amount,
            state: state.into(),
        }
    }

    #[test]
    fn finds_differences_both_ways() {
        let here = [
            line(1, 1024, "confirmed"),
            line(2, 1024, "confirmed"),
            line(3, 7, "reversed"),
        ];
        let theirs = [
            line(1, 1024, "confirmed"),
            line(3, 7, "confirmed"),
            line(4, 1, "confirmed"),
            line(4, 1, "confirmed"),
        ];
        let kinds: Vec<(&str, i64)> = reconcile(&here, &theirs)
            .iter()
            .map(|d| (d.kind, d.redemption_id))
            .collect();
        assert_eq!(
            kinds,
            [
                ("state_differs", 3),
                ("not_redeemed_here", 4),
                ("duplicate_line", 4),
                ("missing_from_statement", 2)
            ]
        );
    }

    #[test]
    fn parses_the_exported_format_and_names_bad_lines() {
        let header = STATEMENT_COLUMNS.join(",");
        let ok = format!(
            "{header}\n7,1EPM-BWHX,data-1gb,data_mb,1024,30,confirmed,2026-01-01T00:00:00Z,,\"ref, with comma\"\n"
        );
        let lines = parse_statement(&ok, 10).unwrap();
        assert_eq!(
            lines,
            [Line {
                redemption_id: 7,
                serial: "1EPM-BWHX".into(),
                product: "data-1gb".into(),
                amount: 1024,
                state: "confirmed".into()
            }]
        );
        let bad = format!("{header}\nx,1EPM-BWHX,data-1gb,data_mb,1024,30,confirmed,,,\n");
        assert_eq!(parse_statement(&bad, 10).unwrap_err().line, 2);
        assert_eq!(parse_statement("id,serial\n", 10).unwrap_err().line, 1);
        let short = format!("{header}\n1,2\n");
        assert_eq!(parse_statement(&short, 10).unwrap_err().line, 2);
        let many = format!("{header}\n{}", "1,S,p,r,1,1,confirmed,,,\n".repeat(3));
        assert!(parse_statement(&many, 2).is_err());
    }
}
