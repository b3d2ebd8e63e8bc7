//! A renderer for the subset of Terraform's template language that georep's topology
//! templates use: `${path}`, `${jsonencode(path)}`, `%{ for x in path ~}` ... `%{ endfor ~}`,
//! with `~}` stripping the spaces and one newline that follow (as Terraform does). Anything
//! else is an error, so a template that outgrows this subset fails loudly instead of
//! rendering differently from Terraform.

use serde_json::Value;

#[derive(Debug)]
enum Node {
    Text(String),
    Interp(String),
    For {
        var: String,
        list: String,
        body: Vec<Node>,
    },
}

pub fn render(template: &str, vars: &Value) -> Result<String, String> {
    let mut pos = 0;
    let nodes = parse(template, &mut pos, false)?;
    let mut out = String::new();
    let mut scope = vec![("".to_string(), vars.clone())];
    emit(&nodes, &mut scope, &mut out)?;
    Ok(out)
}

fn parse(t: &str, pos: &mut usize, in_for: bool) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    let mut text = String::new();
    while *pos < t.len() {
        let rest = &t[*pos..];
        if rest.starts_with("$${") || rest.starts_with("%%{") {
            text.push_str(&rest[1..3]);
            *pos += 3;
        } else if rest.starts_with("${") || rest.starts_with("%{") {
            let end = rest
                .find('}')
                .ok_or_else(|| format!("unclosed {{ at byte {}", *pos))?;
            let inner = &rest[2..end];
            let directive = rest.starts_with('%');
            *pos += end + 1;
            if inner.starts_with('~') {
                return Err(format!("leading strip markers are not supported: {inner}"));
            }
            let (inner, strip) = match inner.trim_end().strip_suffix('~') {
                Some(s) => (s.trim(), true),
                None => (inner.trim(), false),
            };
            if strip {
                let after = &t[*pos..];
                let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
                *pos += spaces;
                if t[*pos..].starts_with("\r\n") {
                    *pos += 2;
                } else if t[*pos..].starts_with('\n') {
                    *pos += 1;
                }
            }
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(&mut text)));
            }
            if !directive {
                nodes.push(Node::Interp(inner.to_string()));
            } else if let Some(f) = inner.strip_prefix("for ") {
                let (var, list) = f
                    .split_once(" in ")
                    .ok_or_else(|| format!("bad for: {inner}"))?;
                let body = parse(t, pos, true)?;
                nodes.push(Node::For {
                    var: var.trim().to_string(),
                    list: list.trim().to_string(),
                    body,
                });
            } else if inner == "endfor" {
                if !in_for {
                    return Err("endfor without for".into());
                }
                return Ok(nodes);
            } else {
                return Err(format!("unsupported directive: {inner}"));
            }
        } else {
            let next = rest.find(['$', '%']).map_or(rest.len(), |i| i.max(1));
            text.push_str(&rest[..next]);
            *pos += next;
        }
    }
    if in_for {
        return Err("for without endfor".into());
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    Ok(nodes)
}

fn lookup(scope: &[(String, Value)], path: &str) -> Result<Value, String> {
    let mut parts = path.split('.');
    let head = parts.next().unwrap_or_default();
    let mut v = scope
        .iter()
        .rev()
        .find_map(|(name, v)| if name == head { Some(v.clone()) } else { None })
        .or_else(|| scope[0].1.get(head).cloned())
        .ok_or_else(|| format!("unknown variable {head:?}"))?;
    for p in parts {
        v = v
            .get(p)
            .cloned()
            .ok_or_else(|| format!("{path}: no attribute {p:?}"))?;
    }
    Ok(v)
}

fn emit(nodes: &[Node], scope: &mut Vec<(String, Value)>, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Interp(expr) => {
                if let Some(arg) = expr
                    .strip_prefix("jsonencode(")
                    .and_then(|e| e.strip_suffix(')'))
                {
                    out.push_str(
                        &serde_json::to_string(&lookup(scope, arg.trim())?)
                            .map_err(|e| e.to_string())?,
                    );
                } else {
                    match lookup(scope, expr)? {
                        Value::String(s) => out.push_str(&s),
                        Value::Number(n) => out.push_str(&n.to_string()),
                        Value::Bool(b) => out.push_str(&b.to_string()),
                        other => {
                            return Err(format!(
                                "${{{expr}}} is not a string, number or bool: {other}"
                            ));
                        }
                    }
                }
            }
            Node::For { var, list, body } => {
                let items = match lookup(scope, list)? {
                    Value::Array(items) => items,
                    other => return Err(format!("{list} is not a list: {other}")),
                };
                for item in items {
                    scope.push((var.clone(), item));
                    emit(body, scope, out)?;
                    scope.pop();
                }
            }
        }
    }
    Ok(())
}
