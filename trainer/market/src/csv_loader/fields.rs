//! Lines into fields: the file's separator (`,`, `;` or tab, judged from its first row) and the
//! splitting of one line into trimmed, unquoted fields.

use std::borrow::Cow;

/// The separator of a file, judged from its first row: `,` when it has one, else `;`, else tab.
pub(super) fn detect_delimiter(line: &str) -> char {
    [',', ';', '\t'].into_iter().find(|&d| line.contains(d)).unwrap_or(',')
}

/// Splits one line into trimmed fields; a field may be double-quoted (`""` is a quote).
pub(super) fn split_fields(line: &str, delimiter: char) -> Vec<Cow<'_, str>> {
    if !line.contains('"') {
        return line.split(delimiter).map(|f| Cow::Borrowed(f.trim())).collect();
    }
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c != '"' {
                    field.push(c);
                } else if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    break;
                }
            }
        }
        let mut ended = true;
        for c in chars.by_ref() {
            if c == delimiter {
                ended = false;
                break;
            }
            field.push(c);
        }
        fields.push(Cow::Owned(field.trim().to_string()));
        if ended {
            return fields;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_are_unquoted() {
        let fields = split_fields(r#""a", "b,c" ,"d""e",f,"#, ',');
        let fields: Vec<&str> = fields.iter().map(|f| f.as_ref()).collect();
        assert_eq!(fields, ["a", "b,c", "d\"e", "f", ""]);
        let unterminated = split_fields("\"abc", ',');
        assert_eq!(unterminated.len(), 1);
        assert_eq!(unterminated.first().map(|f| f.as_ref()), Some("abc"));
    }
}
