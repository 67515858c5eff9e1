//! Tables that fit a phone: on a narrow screen the desk's stylesheet shows
//! each row as a block of "label : value" lines instead of columns, which
//! needs each cell to carry its column's name. Rather than have every
//! template repeat its headers, the page's main content is passed through
//! here once: each body cell of a table with a header row gains a
//! `data-label` naming its column. The markup is the desk's own (maud's
//! output: quoted attributes, escaped text, no nested tables), which is
//! what this reads; anything else is left as it is.

/// `html` with a `data-label` on every body cell of every table that has
/// a `<thead>` row of `<th>` cells.
pub fn label_cells(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(start) = rest.find("<table") {
        let Some(len) = rest[start..].find("</table>") else {
            break;
        };
        let end = start + len + "</table>".len();
        out.push_str(&rest[..start]);
        out.push_str(&label_table(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The text of each header cell of the table's `<thead>`.
fn headers(table: &str) -> Vec<String> {
    let Some(head) = between(table, "<thead>", "</thead>") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut rest = head;
    while let Some(open) = rest.find("<th") {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let body_start = open + close + 1;
        let Some(body_len) = rest[body_start..].find("</th>") else {
            break;
        };
        names.push(text_of(&rest[body_start..body_start + body_len]));
        rest = &rest[body_start + body_len..];
    }
    names
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

/// A cell's text without its tags, as an attribute value: the markup is
/// already escaped, and quotes cannot appear unescaped in it.
fn text_of(cell: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            '"' => {}
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn label_table(table: &str) -> String {
    let names = headers(table);
    let Some(body_at) = table.find("<tbody>") else {
        return table.to_owned();
    };
    if names.is_empty() {
        return table.to_owned();
    }
    let (head, body) = table.split_at(body_at);
    let mut out = String::with_capacity(table.len() + 64);
    out.push_str(head);
    let mut column = 0;
    let mut rest = body;
    loop {
        let next = [("<tr", 0u8), ("<td", 1), ("<th", 1)]
            .iter()
            .filter_map(|(tag, kind)| rest.find(tag).map(|at| (at, *tag, *kind)))
            .filter(|(at, tag, _)| {
                // `<th` must not match `<thead`, nor `<tr` match anything longer.
                let after = rest.as_bytes().get(at + tag.len()).copied();
                matches!(after, Some(b' ' | b'>'))
            })
            .min_by_key(|(at, _, _)| *at);
        let Some((at, tag, kind)) = next else {
            break;
        };
        out.push_str(&rest[..at + tag.len()]);
        rest = &rest[at + tag.len()..];
        if kind == 0 {
            column = 0;
            continue;
        }
        if let Some(name) = names.get(column).filter(|n| !n.is_empty()) {
            out.push_str(&format!(" data-label=\"{name}\""));
        }
        column += 1;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_cells_carry_their_column_names() {
        let html = "<p>x</p><table><caption>C</caption><thead><tr><th scope=\"col\">Réseau</th>\
            <th scope=\"col\"><abbr>Dispo.</abbr> &amp; plus</th></tr></thead><tbody>\
            <tr><th scope=\"row\">SFR</th><td class=\"num\">10 Go</td></tr>\
            <tr><td>Orange</td><td>0</td></tr></tbody></table><table><tbody><tr><td>a</td></tr></tbody></table>";
        let labelled = label_cells(html);
        assert_eq!(
            labelled,
            "<p>x</p><table><caption>C</caption><thead><tr><th scope=\"col\">Réseau</th>\
            <th scope=\"col\"><abbr>Dispo.</abbr> &amp; plus</th></tr></thead><tbody>\
            <tr><th data-label=\"Réseau\" scope=\"row\">SFR</th><td data-label=\"Dispo. &amp; plus\" class=\"num\">10 Go</td></tr>\
            <tr><td data-label=\"Réseau\">Orange</td><td data-label=\"Dispo. &amp; plus\">0</td></tr></tbody></table>\
            <table><tbody><tr><td>a</td></tr></tbody></table>"
        );
        // Anything unexpected is left alone.
        assert_eq!(label_cells("<table><thead>"), "<table><thead>");
        assert_eq!(label_cells("no table"), "no table");
    }
}
