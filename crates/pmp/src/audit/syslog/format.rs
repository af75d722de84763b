//! One audit entry as an RFC 5424 syslog message: facility authpriv, severity notice for a
//! success and warning for a failure or a refusal, the event kind as MSGID, every field in one
//! structured-data element, and the free-text detail as the UTF-8 message.

use crate::audit::chain::Stored;

/// authpriv: security and authorisation messages, which SIEMs route apart from the rest.
const FACILITY: u8 = 10;
const NOTICE: u8 = 5;
const WARNING: u8 = 4;
/// The SD-ID of our element. 32473 is the private enterprise number RFC 5612 sets aside for
/// examples; it stays until the project registers its own.
const SD_ID: &str = "pmp@32473";
/// Receivers must accept 480 octets and should accept 2048 (RFC 5426); most take far more.
/// Longer messages have their detail shortened so the structured fields always arrive.
pub const MAX_LEN: usize = 8192;

/// Who sends: fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct Origin {
    hostname: String,
    procid: String,
}

impl Origin {
    /// This machine's name and this process's id.
    pub fn local() -> Self {
        let name = hostname::get()
            .ok()
            .and_then(|n| n.into_string().ok())
            .unwrap_or_default();
        Self::new(&name, std::process::id())
    }

    fn new(hostname: &str, pid: u32) -> Self {
        Self {
            hostname: header_field(hostname, 255),
            procid: pid.to_string(),
        }
    }
}

/// The message for `row`, at most [`MAX_LEN`] bytes.
pub fn message(origin: &Origin, row: &Stored) -> String {
    let e = row.entry();
    let severity = if e.outcome == "success" {
        NOTICE
    } else {
        WARNING
    };
    let timestamp =
        jiff::Timestamp::from_second(e.at).map_or_else(|_| "-".to_owned(), |t| t.to_string());
    let mut out = format!(
        "<{}>1 {timestamp} {} pmp {} {} [{SD_ID}",
        FACILITY * 8 + severity,
        origin.hostname,
        origin.procid,
        header_field(e.kind, 32),
    );
    let seq = row.id.to_string();
    let params = [
        ("seq", seq.as_str()),
        ("actor", e.actor),
        ("user", e.username.unwrap_or("")),
        ("user_id", e.user_id.unwrap_or("")),
        ("ip", e.ip),
        ("outcome", e.outcome),
        ("target", e.target),
        ("request_id", e.request_id),
        ("user_agent", e.user_agent),
        ("hash", row.hash.as_deref().unwrap_or("")),
    ];
    for (name, value) in params.into_iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!(" {name}=\"{}\"", param_value(value)));
    }
    out.push(']');
    let detail = printable(e.detail);
    if !detail.is_empty() {
        // The BOM tells the receiver the message is UTF-8 (RFC 5424 section 6.4).
        out.push_str(" \u{feff}");
        out.push_str(&detail);
    }
    truncate(out, MAX_LEN)
}

/// A header field: printable US-ASCII without spaces, at most `max` characters, or the NILVALUE.
fn header_field(raw: &str, max: usize) -> String {
    let field: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() {
        "-".to_owned()
    } else {
        field
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped as RFC 5424 requires, control characters dropped so
/// a crafted user agent cannot start a forged line at a line-based receiver.
fn param_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in printable(raw).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `raw` with control characters (newlines included) and bidi overrides replaced by spaces.
fn printable(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Cuts `message` to `max` bytes at a character boundary.
fn truncate(mut message: String, max: usize) -> String {
    if message.len() > max {
        let mut end = max;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_printable_ascii_or_nil() {
        assert_eq!(header_field("login.failed", 32), "login.failed");
        assert_eq!(header_field("a b\nc", 32), "abc");
        assert_eq!(header_field("ünï", 32), "n");
        assert_eq!(header_field("", 32), "-");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
        assert_eq!(Origin::new("host name", 7).hostname, "hostname");
    }

    #[test]
    fn param_values_escape_what_rfc_5424_requires() {
        assert_eq!(param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(param_value("x\r\n<14>1 forged"), "x  <14>1 forged");
        assert_eq!(param_value("\u{202e}evil"), " evil");
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let cut = truncate("é".repeat(10), 5);
        assert_eq!(cut, "éé");
        assert_eq!(truncate("short".to_owned(), 10), "short");
    }
}
