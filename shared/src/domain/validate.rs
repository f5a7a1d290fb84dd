//! Small input checks shared by several commands. Each names the field it refuses.

use serde_json::json;

use super::DomainError;

/// Ids a caller may choose (org ids): letters, digits, `.`, `_`, `-`; 1 to 64 characters. Keeping
/// `#` and `/` out means an id can never break the table's key layout or a route.
pub fn caller_id(field: &str, id: &str) -> Result<(), DomainError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid_as(field, "id", "use 1 to 64 letters, digits, '.', '_' or '-'", json!({})))
    }
}

/// Free text with a length limit, trimmed; `required` refuses an empty value.
pub fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, DomainError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(DomainError::invalid_as(field, "required", "must not be empty", json!({})));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid_as(
            field,
            "too_long",
            format!("must be at most {max} characters"),
            json!({ "max": max }),
        ));
    }
    Ok(value.to_string())
}

/// E-mails are trimmed and lower-cased on the way in; this is a sanity check, not RFC 5322.
pub fn email(field: &str, value: &str) -> Result<String, DomainError> {
    let value = value.trim().to_lowercase();
    let valid = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
                // A domain has no '#' or '/': key parts end at the domain (see store::keys).
                && !domain.contains(['#', '/', '\\'])
        });
    if valid {
        Ok(value)
    } else {
        Err(DomainError::invalid_as(
            field,
            "email",
            format!("{value:?} is not an e-mail address"),
            json!({ "value": value }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_key_separators_are_refused() {
        assert!(caller_id("org_id", "acme-1").is_ok());
        assert!(caller_id("org_id", "a#b").is_err());
        assert!(caller_id("org_id", "a/b").is_err());
        assert!(caller_id("org_id", "").is_err());
        assert!(caller_id("org_id", &"x".repeat(65)).is_err());
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(email("email", "  Ann@Example.COM ").unwrap(), "ann@example.com");
        assert_eq!(email("email", "o'neil+tag@sub.example.org").unwrap(), "o'neil+tag@sub.example.org");
        assert!(email("email", "not-an-email").is_err());
        assert!(email("email", "a@b").is_err());
        assert!(email("email", "a b@example.com").is_err());
    }
}
