//! An org's own contacts (docs/domain.md#who-is-told): who, besides its managers, receives which
//! of its notices. Not inherited: each org sets its own (its managers and those above). A
//! company's managers see the `orders` contacts of the partner above it (`account_contacts`).

use serde::{Deserialize, Serialize};

use super::{validate, DomainError};

/// The most contacts one org keeps (each notice mails at most 50 addresses in all).
pub const MAX_CONTACTS: usize = 20;

/// What a contact receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Orders to handle: the requests of the org's customers (a partner's account managers).
    Orders,
    /// Overage and upgrades of the org and of its customers.
    Usage,
    /// The monthly renewal forecast.
    Forecast,
    /// Expiry reminders, expiries and blocked renewals, besides the company's managers.
    Expiry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub receives: Vec<Topic>,
}

/// `PUT /v1/orgs/{org_id}/contacts`: the org's whole list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetContacts {
    pub contacts: Vec<ContactInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub receives: Vec<Topic>,
}

/// `contacts` with each of `emails` receiving every topic (an address already there keeps its
/// name and now receives everything; a new one is added while there is room), and the e-mails
/// there was no room for. The table's setup moves an org's own `notify_emails` with it.
pub fn receiving_all(mut contacts: Vec<Contact>, emails: Vec<String>) -> (Vec<Contact>, Vec<String>) {
    let everything = vec![Topic::Orders, Topic::Usage, Topic::Forecast, Topic::Expiry];
    let mut left = Vec::new();
    for email in emails {
        if let Some(known) = contacts.iter_mut().find(|c| c.email == email) {
            known.receives = everything.clone();
        } else if contacts.len() < MAX_CONTACTS {
            contacts.push(Contact { email, name: None, receives: everything.clone() });
        } else {
            left.push(email);
        }
    }
    (contacts, left)
}

/// The list as it is stored: e-mails checked and lower-cased, each once; names trimmed; each
/// contact receiving at least one topic, each once; at most [`MAX_CONTACTS`].
pub fn validated(input: SetContacts) -> Result<Vec<Contact>, DomainError> {
    if input.contacts.len() > MAX_CONTACTS {
        let max = serde_json::json!({ "max": MAX_CONTACTS });
        return Err(DomainError::invalid_as("contacts", "too_many", format!("at most {MAX_CONTACTS} contacts"), max));
    }
    let mut out: Vec<Contact> = Vec::new();
    for (i, c) in input.contacts.into_iter().enumerate() {
        let field = format!("contacts[{i}]");
        let email = validate::email(&format!("{field}.email"), &c.email)?;
        if out.iter().any(|o| o.email == email) {
            let value = serde_json::json!({ "value": email });
            return Err(DomainError::invalid_as(
                &format!("{field}.email"),
                "duplicate",
                format!("{email} is listed twice"),
                value,
            ));
        }
        let name = match c.name {
            Some(n) => Some(validate::text(&format!("{field}.name"), &n, 200, false)?).filter(|n| !n.is_empty()),
            None => None,
        };
        let mut receives = c.receives;
        receives.sort();
        receives.dedup();
        if receives.is_empty() {
            return Err(DomainError::invalid_as(
                &format!("{field}.receives"),
                "required",
                "name at least one of orders, usage, forecast, expiry",
                serde_json::json!({}),
            ));
        }
        out.push(Contact { email, name, receives });
    }
    Ok(out)
}

/// The e-mails of the contacts receiving `topic`, in the order kept.
pub fn receiving(contacts: &[Contact], topic: Topic) -> Vec<String> {
    contacts.iter().filter(|c| c.receives.contains(&topic)).map(|c| c.email.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(v: serde_json::Value) -> Result<Vec<Contact>, DomainError> {
        validated(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn a_list_is_checked_and_kept_in_one_form() {
        let kept = set(json!({"contacts": [
            {"email": " AM@P.example ", "name": " Anna ", "receives": ["usage", "orders", "usage"]},
            {"email": "fc@p.example", "receives": ["forecast"]},
        ]}))
        .unwrap();
        assert_eq!(
            kept[0],
            Contact {
                email: "am@p.example".into(),
                name: Some("Anna".into()),
                receives: vec![Topic::Orders, Topic::Usage]
            }
        );
        assert_eq!(receiving(&kept, Topic::Usage), vec!["am@p.example"]);
        assert_eq!(receiving(&kept, Topic::Forecast), vec!["fc@p.example"]);
        assert!(receiving(&kept, Topic::Expiry).is_empty());
    }

    #[test]
    fn a_bad_list_names_its_field() {
        let twice = set(
            json!({"contacts": [{"email": "a@p.example", "receives": ["orders"]}, {"email": "A@p.example", "receives": ["usage"]}]}),
        );
        assert!(twice.unwrap_err().to_string().contains("listed twice"));
        let nothing = set(json!({"contacts": [{"email": "a@p.example", "receives": []}]})).unwrap_err();
        assert_eq!(nothing.details()["field"], "contacts[0].receives", "{nothing:?}");
        let bad = set(json!({"contacts": [{"email": "not-an-email", "receives": ["orders"]}]})).unwrap_err();
        assert_eq!(bad.details()["field"], "contacts[0].email", "{bad:?}");
        let many: Vec<_> =
            (0..21).map(|i| json!({"email": format!("a{i}@p.example"), "receives": ["orders"]})).collect();
        assert!(set(json!({"contacts": many})).is_err());
    }
}
