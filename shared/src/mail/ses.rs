//! One message through SES v2 (`SendEmail` with raw content), sent again under the one retry
//! policy while the failure passes (throttling, a quota for now, SES unavailable, the network),
//! and told apart from a refusal that never passes (an unverified or rejected address, a
//! rejected message) by the one classifier ([`crate::command::retry`]).

use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use crate::command::retry::{self, Class, Classify, Policy};
use crate::store::deliveries::Sent;

/// What SES said of a failed send: its code and message as the response carried them, else the
/// error's own words.
fn described(err: &SdkError<SendEmailError>) -> String {
    match err {
        SdkError::ServiceError(se) => match (se.err().code(), se.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => se.err().to_string(),
        },
        _ => format!("{}", aws_sdk_sesv2::error::DisplayErrorContext(err)),
    }
}

/// The message tags every notice e-mail carries: SES's bounce and complaint events carry
/// nothing else of ours, so these say which org and notice a report is about.
pub const ORG_TAG: &str = "org_id";
pub const NOTICE_TAG: &str = "notice_id";

/// An id as an SES message tag value, which may hold only ASCII letters, digits, `_` and `-`
/// (ids may also hold `.`): every other byte, and `_` itself, is written `_` and two hex digits
/// (`acme.co` → `acme_2eco`, `ntc_1` → `ntc_5f1`); [`from_tag_value`] reads it back.
pub fn tag_value(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The id a tag value written by [`tag_value`] holds; `None` when it is not such a value.
pub fn from_tag_value(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let hex = value.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Who a message goes to and how SES is to report on it: the sender, the recipient, the
/// configuration set whose event destination reports bounces and complaints, and the tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub configuration_set: &'a str,
    pub org_id: &'a str,
    pub notice_id: &'a str,
}

impl Envelope<'_> {
    fn tags(&self) -> Result<Vec<MessageTag>, String> {
        [(ORG_TAG, self.org_id), (NOTICE_TAG, self.notice_id)]
            .into_iter()
            .map(|(name, id)| MessageTag::builder().name(name).value(tag_value(id)).build().map_err(|e| e.to_string()))
            .collect()
    }
}

/// Sends `raw` as `envelope` says: accepted with SES's message id, refused for good, or failed
/// after every attempt of `policy`.
pub async fn send(client: &aws_sdk_sesv2::Client, envelope: &Envelope<'_>, raw: &[u8], policy: Policy) -> Sent {
    let content = match RawMessage::builder().data(Blob::new(raw.to_vec())).build() {
        Ok(m) => EmailContent::builder().raw(m).build(),
        Err(e) => return Sent::Refused(e.to_string()),
    };
    let tags = match envelope.tags() {
        Ok(t) => t,
        Err(e) => return Sent::Refused(format!("the message's tags: {e}")),
    };
    let to = envelope.to;
    let request = client
        .send_email()
        .from_email_address(envelope.from)
        .destination(Destination::builder().to_addresses(to).build())
        .content(content)
        .configuration_set_name(envelope.configuration_set)
        .set_email_tags(Some(tags));
    let sent = retry::send(&policy, || async {
        let sent = request.clone().send().await;
        if let Err(e) = &sent {
            tracing::warn!(%to, class = ?e.class(), reason = %described(e), "SES send failed");
        }
        sent
    })
    .await;
    match sent {
        Ok(out) => Sent::Accepted(out.message_id().unwrap_or_default().to_string()),
        Err(e) => match e.class() {
            Class::Throttled | Class::Transient => Sent::Failed(described(&e)),
            Class::Race | Class::Permanent | Class::TooLarge => Sent::Refused(described(&e)),
        },
    }
}

/// The SES client: the SDK's settings (`AWS_ENDPOINT_URL_SESV2` locally) over the one HTTP
/// stack, without the SDK's own retries — [`send`] retries, under the one policy, the failures
/// that pass.
pub fn client(config: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    let mut conf = aws_sdk_sesv2::config::Builder::from(config)
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled());
    if let Some(trace) = crate::app::trace::Trace::sesv2() {
        conf = conf.interceptor(trace);
    }
    aws_sdk_sesv2::Client::from_conf(conf.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_becomes_a_tag_value_ses_takes_and_reads_back() {
        for id in ["globex", "acme.co", "ntc_0f3a", "a_b.c-d", "_", "x__2e", "Émile"] {
            let v = tag_value(id);
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{v}");
            assert_eq!(from_tag_value(&v).as_deref(), Some(id), "{v}");
        }
        assert_eq!(tag_value("acme.co"), "acme_2eco");
        assert_eq!(tag_value("globex"), "globex");
        for bad in ["a.b", "a_", "a_z1", "a b"] {
            assert_eq!(from_tag_value(bad), None, "{bad}");
        }
        assert!(tag_value(&"._".repeat(32)).len() <= 256, "a 64-character id fits a tag value");
    }
}
