//! One recipient's message as raw MIME (RFC 5322, built with `mail-builder`): the text and HTML
//! alternatives and the attachments, which SES's simple content would drop.

use chrono::{DateTime, Utc};
use mail_builder::headers::raw::Raw;
use mail_builder::mime::BodyPart;
use mail_builder::MessageBuilder;

use super::render::Rendered;
use crate::domain::notice::Notice;

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The headers that tie a message to its notice, for whoever reads the mail (and `/dev/mail`).
pub const NOTICE_HEADER: &str = "X-Seatkeeper-Notice";
pub const KIND_HEADER: &str = "X-Seatkeeper-Kind";

/// The raw message of `rendered` from `from` to `to`, dated `now`.
pub fn build(
    notice: &Notice,
    rendered: &Rendered,
    attachments: &[Attachment],
    from: &str,
    to: &str,
    now: DateTime<Utc>,
) -> std::io::Result<Vec<u8>> {
    let mut message = MessageBuilder::new()
        .from(("Seatkeeper", from))
        .to(to)
        .subject(rendered.subject.as_str())
        .date(now.timestamp())
        .message_id(format!("{}.{}@seatkeeper", notice.notice_id, crate::command::new_id("msg")))
        .header(NOTICE_HEADER, Raw::new(notice.notice_id.as_str()))
        .header(KIND_HEADER, Raw::new(notice.kind.as_str()))
        .text_body(rendered.text.as_str())
        .html_body(rendered.html.as_str());
    for a in attachments {
        message =
            message.attachment(a.content_type.as_str(), a.name.as_str(), BodyPart::Binary(a.body.as_slice().into()));
    }
    message.write_to_vec()
}
