//! What a trainer may call itself: its `name` (for people) and its `trainer_id` (one process's
//! incarnation) are 1 to 128 of `A-Z a-z 0-9 . _ : -`. Both end up in log lines, Prometheus label
//! values and the queue view, where a quote, a newline or a control character could break a
//! scrape or forge a line; the scheduler refuses anything else, and the trainer makes its default
//! name (the host name) fit.

use std::fmt;

/// Longest name or id, in characters (all ASCII, so bytes too).
pub const MAX_LEN: usize = 128;

/// The rule, as error messages and documentation state it.
pub const RULE: &str = "1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'";

/// Whether `c` may appear in a trainer name or id.
pub fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// Why a trainer name or id was refused; names the field and the first bad character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTrainerName {
    /// The field: `name`, `trainer_id`, `--name`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a trainer name or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It is empty.
    Empty,
    /// It is longer than [`MAX_LEN`] (its length in bytes).
    TooLong(usize),
    /// It holds a character outside the rule, at this character index.
    Character(char, usize),
}

impl fmt::Display for BadTrainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        match &self.problem {
            Problem::Empty => write!(f, "{field} is empty; it must be {RULE}"),
            Problem::TooLong(len) => write!(f, "{field} is {len} bytes long; it must be {RULE}"),
            Problem::Character(c, at) => {
                write!(f, "{field} has the character {c:?} at position {at}; it must be {RULE}")
            }
        }
    }
}

impl std::error::Error for BadTrainerName {}

/// Checks `value` of `field` against the rule.
pub fn check(field: &'static str, value: &str) -> Result<(), BadTrainerName> {
    let problem = if value.is_empty() {
        Problem::Empty
    } else if value.len() > MAX_LEN {
        Problem::TooLong(value.len())
    } else if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| !is_allowed(*c)) {
        Problem::Character(c, at)
    } else {
        return Ok(());
    };
    Err(BadTrainerName { field, problem })
}

/// `text` made to fit the rule: every other character becomes `-`, cut to [`MAX_LEN`]; empty
/// text becomes `trainer`. For defaults such as a host name, never for a name a person gave
/// (that is refused instead, so nobody is surprised by the name shown).
pub fn sanitize(text: &str) -> String {
    let fitted: String = text.trim().chars().take(MAX_LEN).map(|c| if is_allowed(c) { c } else { '-' }).collect();
    if fitted.is_empty() { "trainer".to_string() } else { fitted }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_the_rest_is_refused_naming_the_character() {
        for good in ["gpu-01", "t-3f2a9c1e", "host.example.org", "rack:7_slot-2", &"x".repeat(128)] {
            assert_eq!(check("name", good), Ok(()), "{good}");
        }
        let e = check("name", "evil\"} 1\nforged").unwrap_err().to_string();
        assert_eq!(
            e,
            "name has the character '\"' at position 4; it must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'"
        );
        let e = check("trainer_id", "a\nb").unwrap_err().to_string();
        assert!(e.starts_with("trainer_id has the character '\\n' at position 1"), "{e}");
        assert!(check("name", "").unwrap_err().to_string().starts_with("name is empty"));
        assert!(check("name", &"x".repeat(129)).unwrap_err().to_string().starts_with("name is 129 bytes long"));
        assert!(check("name", "héllo").is_err() && check("name", "a b").is_err() && check("name", "a/b").is_err());
    }

    #[test]
    fn a_default_is_made_to_fit() {
        assert_eq!(sanitize("my host (2)\n"), "my-host--2-");
        assert_eq!(sanitize("  \n"), "trainer");
        assert_eq!(sanitize(&"é".repeat(300)).len(), MAX_LEN);
        for text in ["a\"b", "x y", "ünï", ""] {
            assert_eq!(check("name", &sanitize(text)), Ok(()), "{text}");
        }
    }
}
