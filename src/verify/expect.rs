//! Expectations of an HTTP check, evaluated on a status and body (pure).

use serde_json::Value;

use crate::plan::HttpExpect;

/// The expectations that failed (empty when all hold).
pub fn evaluate(expect: &HttpExpect, status: u16, body: &str) -> Vec<String> {
    let mut failed = Vec::new();
    if status != expect.status {
        failed.push(format!("status {status}, expected {}", expect.status));
    }
    if let Some(needle) = &expect.body_contains {
        if !body.contains(needle.as_str()) {
            failed.push(format!("body does not contain {needle:?}"));
        }
    }
    if !expect.json.is_empty() {
        match serde_json::from_str::<Value>(body) {
            Err(e) => failed.push(format!("body is not JSON ({e})")),
            Ok(doc) => {
                for j in &expect.json {
                    match doc.pointer(&j.pointer) {
                        None => failed.push(format!("JSON has nothing at {}", j.pointer)),
                        Some(v) => {
                            if j.non_empty && is_empty(v) {
                                failed.push(format!("JSON at {} is empty ({v})", j.pointer));
                            }
                            if let Some(want) = &j.equals {
                                if v != want {
                                    failed.push(format!(
                                        "JSON at {} is {v}, expected {want}",
                                        j.pointer
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    failed
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::JsonExpect;

    fn expect() -> HttpExpect {
        HttpExpect {
            status: 200,
            body_contains: None,
            json: vec![JsonExpect {
                pointer: "/result/tools".into(),
                non_empty: true,
                equals: None,
            }],
        }
    }

    #[test]
    fn passes_and_fails_as_described() {
        assert!(evaluate(&expect(), 200, r#"{"result":{"tools":[{"name":"a"}]}}"#).is_empty());
        let f = evaluate(&expect(), 200, r#"{"result":{"tools":[]}}"#);
        assert_eq!(f, vec!["JSON at /result/tools is empty ([])"]);
        let f = evaluate(&expect(), 401, "nope");
        assert_eq!(f[0], "status 401, expected 200");
        assert!(f[1].starts_with("body is not JSON"));
        let mut e = expect();
        e.json.clear();
        e.body_contains = Some("1.64.1a9".into());
        assert_eq!(
            evaluate(&e, 200, "v1.64.1a8"),
            vec!["body does not contain \"1.64.1a9\""]
        );
    }
}
