//! List cells of the CSV format: items joined by ` | ` (answer variants by ` || `), with `\|`
//! for a `|` inside an item and `\\` for a backslash, so a text holding either survives an
//! export and import. A backslash before any other character is kept as it is, so files
//! written before escaping (`C:\docs`, `\n` typed as text) read as they did; only their `\|`
//! and `\\` now mean `|` and `\`.

/// An item as written into a list cell.
pub(super) fn escape(item: &str) -> String {
    item.replace('\\', "\\\\").replace('|', "\\|")
}

/// The item an escaped cell part stands for.
pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(&next @ ('\\' | '|'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The parts of `cell` between unescaped `sep`s (`|` or `||`), escapes kept, each trimmed,
/// empty ones dropped. Walks bytes: `sep` and `\` are ASCII, which no byte inside a UTF-8
/// character equals, so every cut falls between characters.
pub(super) fn split<'a>(cell: &'a str, sep: &str) -> Vec<&'a str> {
    let bytes = cell.as_bytes();
    let (mut parts, mut start, mut i) = (Vec::new(), 0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'\\' | b'|')) {
            i += 2;
        } else if bytes[i..].starts_with(sep.as_bytes()) {
            parts.push(&cell[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(&cell[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// The items of a ` | ` list cell.
pub(super) fn items(cell: &str) -> Vec<String> {
    split(cell, "|").into_iter().map(unescape).collect()
}

/// A list cell of these items.
pub(super) fn join<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(|i| escape(i.as_ref())).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_and_backslashes_inside_items_survive() {
        let items_in = ["买一送一 | 限时", r"C:\docs\", r"a\|b", "plain"];
        let cell = join(&items_in);
        assert_eq!(cell, r"买一送一 \| 限时 | C:\\docs\\ | a\\\|b | plain");
        assert_eq!(items(&cell), items_in);
    }

    #[test]
    fn cells_without_escapes_read_as_before() {
        assert_eq!(items(" 退货 | 换货 || 退款 |"), ["退货", "换货", "退款"]);
        assert_eq!(items(r"C:\docs | \n and \t"), [r"C:\docs", r"\n and \t"]);
        assert_eq!(split("a || b | c || d", "||"), ["a", "b | c", "d"]);
    }

    #[test]
    fn an_escaped_pipe_next_to_a_separator_splits_once() {
        assert_eq!(split(r"a\||b", "|"), [r"a\|", "b"]);
        assert_eq!(split(r"a\|||b", "||"), [r"a\|", "b"]);
        assert_eq!(split(r"a\\||b", "||"), [r"a\\", "b"]);
    }
}
