//! Business records from CSV: a header row naming the columns, one record per line. The
//! kind's key column (orders: `order_no`, shipments: `tracking_no`, members: `phone`, …) is
//! required; `phone` names the customer the record belongs to; every other column becomes
//! a field. Quoted fields (with `""` for a quote) may hold commas.

use super::KINDS;
use lingxi_store::BusinessRecord;
use std::collections::BTreeMap;

/// The demo tenant's records, shipped with the binary: (kind, CSV).
pub const DEMO: &[(&str, &str)] = &[
    ("orders", include_str!("../../data/business/orders.csv")),
    ("shipments", include_str!("../../data/business/shipments.csv")),
    ("refunds", include_str!("../../data/business/refunds.csv")),
    ("members", include_str!("../../data/business/members.csv")),
    ("invoices", include_str!("../../data/business/invoices.csv")),
    ("products", include_str!("../../data/business/products.csv")),
];

fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// Parses a file of one kind; every problem is reported with its line.
pub fn parse(kind: &str, text: &str) -> Result<Vec<BusinessRecord>, Vec<String>> {
    let Some((_, key_col)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(vec![format!("unknown kind `{kind}`; known: {}", known.join(", "))]);
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(vec!["the file is empty".into()]) };
    let header = split_line(header.trim_start_matches('\u{feff}'));
    let Some(key_at) = header.iter().position(|h| h == key_col) else {
        return Err(vec![format!("line 1: the `{key_col}` column is required for {kind}")]);
    };
    let owner_at = header.iter().position(|h| h == "phone");
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    for (i, line) in lines {
        let cells = split_line(line);
        if cells.len() != header.len() {
            errs.push(format!("line {}: {} columns, the header has {}", i + 1, cells.len(), header.len()));
            continue;
        }
        if cells[key_at].is_empty() {
            errs.push(format!("line {}: empty `{key_col}`", i + 1));
            continue;
        }
        let fields: BTreeMap<String, String> = header
            .iter()
            .zip(&cells)
            .enumerate()
            .filter(|(j, (_, v))| *j != key_at && !v.is_empty())
            .map(|(_, (h, v))| (h.clone(), v.clone()))
            .collect();
        let key = if *key_col == "phone" { cells[key_at].clone() } else { cells[key_at].to_uppercase() };
        out.push(BusinessRecord {
            kind: kind.into(),
            key,
            owner: owner_at.map(|o| cells[o].clone()).unwrap_or_default(),
            fields,
        });
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_fields_and_reports_every_bad_line() {
        let ok = parse("orders", "order_no,phone,status,item\nlx1,138,shipped,\"Cam, 2K\"\n").unwrap();
        assert_eq!(ok[0].key, "LX1");
        assert_eq!(ok[0].owner, "138");
        assert_eq!(ok[0].fields["item"], "Cam, 2K");
        assert!(!ok[0].fields.contains_key("order_no"));
        let errs = parse("orders", "order_no,status\n,x\na,b,c\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(parse("planets", "a\n").is_err());
        assert!(parse("refunds", "status\nx\n").unwrap_err()[0].contains("order_no"));
        for (kind, text) in DEMO {
            assert!(!parse(kind, text).unwrap().is_empty(), "{kind}");
        }
    }
}
