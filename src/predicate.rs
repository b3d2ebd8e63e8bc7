//! Row predicates over a document's JSON fields, as a slot's `filter`:
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | path op value
//! path  := name ("." name)*          e.g. tenant, address.country
//! op    := "==" | "!=" | "<" | "<=" | ">" | ">="
//! value := 'text' | "text" | number | true | false | null
//! ```
//!
//! Parsed once, at slot creation; an invalid predicate is refused with the byte position of
//! the problem. Evaluation walks the tree over the parsed document without allocating. A
//! missing field is `null`: `tenant == 'acme'` is false for a document without a tenant,
//! `tenant != 'acme'` true. Ordering compares numbers with numbers and text with text; across
//! types (or with `null`) it is false. A document that is not JSON matches nothing.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: at byte {position}: {message}")]
pub struct PredicateError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Cmp {
        path: Vec<String>,
        op: Op,
        value: Value,
    },
}

/// A compiled predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    root: Node,
    text: String,
}

impl Predicate {
    pub fn parse(text: &str) -> Result<Predicate, PredicateError> {
        let mut p = Parser {
            src: text.as_bytes(),
            at: 0,
            depth: 0,
        };
        let root = p.expr()?;
        p.skip_ws();
        if p.at < p.src.len() {
            return Err(p.error("expected `and`, `or` or the end of the filter"));
        }
        Ok(Predicate {
            root,
            text: text.to_string(),
        })
    }

    /// The predicate as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a document (its JSON value) matches.
    pub fn matches(&self, doc: &Value) -> bool {
        eval(&self.root, doc)
    }

    /// Whether a document's raw bytes match (not JSON: no).
    pub fn matches_bytes(&self, bytes: &[u8]) -> bool {
        serde_json::from_slice::<Value>(bytes).is_ok_and(|v| self.matches(&v))
    }
}

fn eval(n: &Node, doc: &Value) -> bool {
    match n {
        Node::Or(a, b) => eval(a, doc) || eval(b, doc),
        Node::And(a, b) => eval(a, doc) && eval(b, doc),
        Node::Not(a) => !eval(a, doc),
        Node::Cmp { path, op, value } => {
            let field = path
                .iter()
                .try_fold(doc, |v, name| v.get(name.as_str()))
                .unwrap_or(&Value::Null);
            compare(field, *op, value)
        }
    }
}

fn compare(field: &Value, op: Op, value: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (field, value) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        Op::Eq => order.map_or(field == value, |o| o == Ordering::Equal),
        Op::Ne => !order.map_or(field == value, |o| o == Ordering::Equal),
        Op::Lt => order == Some(Ordering::Less),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order == Some(Ordering::Greater),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// Nesting deeper than this is refused (a hostile filter must not blow the stack).
const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    src: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> PredicateError {
        PredicateError {
            position: self.at,
            message: message.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        while self.src.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Consumes keyword `kw` if it is next (as a whole word).
    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let end = self.at + kw.len();
        let word = self.src.get(self.at..end) == Some(kw.as_bytes());
        let boundary = !self
            .src
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if word && boundary {
            self.at = end;
        }
        word && boundary
    }

    fn expr(&mut self) -> Result<Node, PredicateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, PredicateError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Node::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, PredicateError> {
        if self.keyword("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error("nested too deeply"));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.skip_ws();
        if self.src.get(self.at) == Some(&b'(') {
            self.at += 1;
            let inner = self.expr()?;
            self.skip_ws();
            if self.src.get(self.at) != Some(&b')') {
                return Err(self.error("expected `)`"));
            }
            self.at += 1;
            return Ok(inner);
        }
        let path = self.path()?;
        let op = self.op()?;
        let value = self.value()?;
        Ok(Node::Cmp { path, op, value })
    }

    fn path(&mut self) -> Result<Vec<String>, PredicateError> {
        self.skip_ws();
        let mut path = Vec::new();
        loop {
            let start = self.at;
            while self
                .src
                .get(self.at)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            {
                self.at += 1;
            }
            if self.at == start {
                return Err(self.error(if path.is_empty() {
                    "expected a field name"
                } else {
                    "expected a field name after `.`"
                }));
            }
            let name = std::str::from_utf8(&self.src[start..self.at]).expect("ASCII");
            if path.is_empty() && ["and", "or", "not", "true", "false", "null"].contains(&name) {
                self.at = start;
                return Err(self.error("expected a field name, found a keyword"));
            }
            path.push(name.to_string());
            if self.src.get(self.at) != Some(&b'.') {
                return Ok(path);
            }
            self.at += 1;
        }
    }

    fn op(&mut self) -> Result<Op, PredicateError> {
        self.skip_ws();
        let two = self.src.get(self.at..self.at + 2);
        let (op, len) = match two {
            Some(b"==") => (Op::Eq, 2),
            Some(b"!=") => (Op::Ne, 2),
            Some(b"<=") => (Op::Le, 2),
            Some(b">=") => (Op::Ge, 2),
            _ => match self.src.get(self.at) {
                Some(b'<') => (Op::Lt, 1),
                Some(b'>') => (Op::Gt, 1),
                Some(b'=') => return Err(self.error("expected `==` (one `=` is not a comparison)")),
                _ => return Err(self.error("expected a comparison: ==, !=, <, <=, >, >=")),
            },
        };
        self.at += len;
        Ok(op)
    }

    fn value(&mut self) -> Result<Value, PredicateError> {
        self.skip_ws();
        match self.src.get(self.at) {
            Some(&q @ (b'\'' | b'"')) => {
                let start = self.at;
                self.at += 1;
                let body = self.at;
                while self.src.get(self.at).is_some_and(|b| *b != q) {
                    self.at += 1;
                }
                if self.at >= self.src.len() {
                    self.at = start;
                    return Err(self.error("unterminated text"));
                }
                let text = std::str::from_utf8(&self.src[body..self.at])
                    .map_err(|_| self.error("text is not UTF-8"))?
                    .to_string();
                self.at += 1;
                Ok(Value::String(text))
            }
            Some(b) if b.is_ascii_digit() || *b == b'-' => {
                let start = self.at;
                self.at += 1;
                while self.src.get(self.at).is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')
                }) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.src[start..self.at]).expect("ASCII");
                match serde_json::from_str::<serde_json::Number>(text) {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.at = start;
                        Err(self.error(&format!("{text:?} is not a number")))
                    }
                }
            }
            _ => {
                for (kw, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.keyword(kw) {
                        return Ok(v);
                    }
                }
                Err(self.error("expected a value: 'text', a number, true, false or null"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn m(filter: &str, doc: Value) -> bool {
        Predicate::parse(filter).unwrap().matches(&doc)
    }

    #[test]
    fn comparisons_and_logic() {
        let d = json!({"tenant": "acme", "n": 5, "vip": true, "addr": {"country": "de"}});
        assert!(m("tenant == 'acme'", d.clone()));
        assert!(m("tenant == \"acme\"", d.clone()));
        assert!(!m("tenant != 'acme'", d.clone()));
        assert!(m("n > 4 and n <= 5", d.clone()));
        assert!(!m("n < 5", d.clone()));
        assert!(m("n == 5.0", d.clone()), "numbers compare by value");
        assert!(m("vip == true", d.clone()));
        assert!(m("addr.country == 'de'", d.clone()));
        assert!(m("tenant == 'x' or addr.country == 'de'", d.clone()));
        assert!(!m("not (tenant == 'acme')", d.clone()));
        assert!(m("not tenant == 'x'", d.clone()));
        // and binds tighter than or
        assert!(m("tenant == 'x' and n == 1 or vip == true", d.clone()));
        assert!(!m("tenant == 'x' and (n == 1 or vip == true)", d.clone()));
    }

    #[test]
    fn missing_fields_are_null_and_types_do_not_order_across() {
        let d = json!({"n": 5, "s": "b"});
        assert!(!m("tenant == 'acme'", d.clone()));
        assert!(m("tenant != 'acme'", d.clone()));
        assert!(m("tenant == null", d.clone()));
        assert!(m("n.deeper == null", d.clone()), "a path through a number");
        assert!(!m("n > 'a'", d.clone()));
        assert!(!m("s > 1", d.clone()));
        assert!(m("s > 'a'", d.clone()));
        let p = Predicate::parse("tenant == 'acme'").unwrap();
        assert!(!p.matches_bytes(b"not json"));
        assert!(p.matches_bytes(br#"{"tenant":"acme"}"#));
    }

    #[test]
    fn invalid_filters_name_the_position() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "field name"),
            ("tenant", 6, "comparison"),
            ("tenant = 'a'", 7, "`==`"),
            ("tenant == ", 10, "value"),
            ("tenant == 'acme", 10, "unterminated"),
            ("tenant == 'a' nor x == 1", 14, "end of the filter"),
            ("(tenant == 'a'", 14, "`)`"),
            ("a. == 1", 2, "after `.`"),
            ("and == 1", 0, "keyword"),
            ("n == 1.2.3", 5, "not a number"),
        ];
        for (text, pos, what) in cases {
            let e = Predicate::parse(text).unwrap_err();
            assert_eq!(e.position, *pos, "{text:?}: {e}");
            assert!(e.message.contains(what), "{text:?}: {e}");
        }
        let deep = format!("{}a == 1{}", "(".repeat(40), ")".repeat(40));
        assert!(
            Predicate::parse(&deep)
                .unwrap_err()
                .message
                .contains("deeply")
        );
        let nots = format!("{}a == 1", "not ".repeat(40));
        assert!(Predicate::parse(&nots).is_err());
    }
}
