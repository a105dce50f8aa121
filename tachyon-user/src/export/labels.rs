//! The agent's `--app-name` and `--label KEY=VALUE`: checked at start
//! against what Pyroscope's series names and OTLP attributes accept, so a
//! bad one is an error before anything runs rather than a rejected upload
//! every window.

/// Why a name or label is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("--label {0:?}: expected KEY=VALUE")]
    NoEquals(String),
    #[error("--label {0:?}: the key must start with a letter or `_` and hold only letters, digits, `_` and `.`")]
    BadKey(String),
    #[error("--label {0:?}: keys starting with `__` are reserved")]
    ReservedKey(String),
    #[error("--label {0:?}: the agent sets this key itself")]
    OwnKey(String),
    #[error("--label {0:?}: the value must be 1 to {MAX_VALUE} characters without `{{`, `}}`, `,`, `=`, `\"`, spaces or control characters")]
    BadValue(String),
    #[error("--label {0:?} is given twice")]
    Duplicate(String),
    #[error("--app-name {0:?}: must be 1 to {MAX_VALUE} characters of letters, digits, `.`, `_`, `-` and `/`")]
    BadAppName(String),
}

/// Longest value or app name accepted.
pub const MAX_VALUE: usize = 256;

/// Labels the agent derives from each process (Pyroscope series labels).
pub const OWN_KEYS: &[&str] = &["container_id", "container_name", "pod_uid", "service_name"];

fn key_ok(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn value_char_ok(c: char) -> bool {
    !matches!(c, '{' | '}' | ',' | '=' | '"') && !c.is_whitespace() && !c.is_control()
}

fn value_ok(value: &str) -> bool {
    !value.is_empty() && value.chars().count() <= MAX_VALUE && value.chars().all(value_char_ok)
}

/// Parses one `--label KEY=VALUE`.
pub fn parse_label(arg: &str) -> Result<(String, String), LabelError> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| LabelError::NoEquals(arg.to_string()))?;
    if !key_ok(key) {
        return Err(LabelError::BadKey(arg.to_string()));
    }
    if key.starts_with("__") {
        return Err(LabelError::ReservedKey(arg.to_string()));
    }
    if OWN_KEYS.contains(&key) {
        return Err(LabelError::OwnKey(arg.to_string()));
    }
    if !value_ok(value) {
        return Err(LabelError::BadValue(arg.to_string()));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Checks every label and that no key repeats.
pub fn check_labels(labels: &[(String, String)]) -> Result<(), LabelError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in labels {
        if !seen.insert(k) {
            return Err(LabelError::Duplicate(k.clone()));
        }
    }
    Ok(())
}

/// Checks `--app-name`.
pub fn check_app_name(name: &str) -> Result<(), LabelError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_VALUE
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(LabelError::BadAppName(name.to_string()))
    }
}

/// A value taken from a process (a container's name, which its owner
/// chose) made safe for a series name: characters Pyroscope's name syntax
/// reserves become `_`, and it is cut to [`MAX_VALUE`] characters.
pub fn sanitize_value(value: &str) -> String {
    let s: String = value
        .chars()
        .take(MAX_VALUE)
        .map(|c| if value_char_ok(c) { c } else { '_' })
        .collect();
    if s.is_empty() {
        "_".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_labels_parse() {
        assert_eq!(
            parse_label("node=worker-7.eu"),
            Ok(("node".into(), "worker-7.eu".into()))
        );
        assert_eq!(
            parse_label("k8s.cluster=prod/eu:1"),
            Ok(("k8s.cluster".into(), "prod/eu:1".into()))
        );
        // The value may hold `=` only if… it may not.
        assert!(parse_label("a=b=c").is_err());
    }

    #[test]
    fn bad_labels_are_refused_with_the_reason() {
        for (arg, want) in [
            ("node", LabelError::NoEquals("node".into())),
            ("=x", LabelError::BadKey("=x".into())),
            ("9a=x", LabelError::BadKey("9a=x".into())),
            ("a-b=x", LabelError::BadKey("a-b=x".into())),
            ("__name__=x", LabelError::ReservedKey("__name__=x".into())),
            (
                "container_id=x",
                LabelError::OwnKey("container_id=x".into()),
            ),
            ("a=", LabelError::BadValue("a=".into())),
            ("a=x y", LabelError::BadValue("a=x y".into())),
            ("a={x}", LabelError::BadValue("a={x}".into())),
            ("a=x,b", LabelError::BadValue("a=x,b".into())),
            ("a=\"x\"", LabelError::BadValue("a=\"x\"".into())),
        ] {
            assert_eq!(parse_label(arg), Err(want), "{arg}");
        }
        let long = format!("a={}", "x".repeat(MAX_VALUE + 1));
        assert!(matches!(parse_label(&long), Err(LabelError::BadValue(_))));
        let twice = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        assert_eq!(check_labels(&twice), Err(LabelError::Duplicate("a".into())));
    }

    #[test]
    fn app_names() {
        assert!(check_app_name("python.cpu").is_ok());
        assert!(check_app_name("team/api-server_2").is_ok());
        for bad in ["", "a b", "a{b}", "a,b", "ä"] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_values_from_processes_are_made_safe() {
        assert_eq!(sanitize_value("web-1"), "web-1");
        assert_eq!(sanitize_value("a}{b,c=d\"e f\n"), "a__b_c_d_e_f_");
        assert_eq!(sanitize_value(""), "_");
        assert_eq!(sanitize_value(&"x".repeat(1000)).len(), MAX_VALUE);
        assert!(value_ok(&sanitize_value("{,=}")));
    }
}
