//! Audit events as rows of `COPY audit_log ... FROM STDIN` in its text format.

use std::fmt::Write as _;

use crate::history::Event;

/// Appends one row in COPY's text format.
pub(crate) fn encode(buf: &mut Vec<u8>, e: &Event) {
    let mut line = String::with_capacity(400);
    let _ = write!(line, "{}\t", e.tenant_id);
    match e.project_id {
        Some(p) => {
            let _ = write!(line, "{p}\t");
        }
        None => line.push_str("\\N\t"),
    }
    for field in [&e.actor_id, &e.actor_name] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    for field in [e.actor_type, e.action] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    for field in [&e.target_id, &e.target_type, &e.target_name] {
        escape_into(&mut line, field);
        line.push('\t');
    }
    match e.product {
        Some(p) => escape_into(&mut line, p),
        None => line.push_str("\\N"),
    }
    line.push('\t');
    escape_into(&mut line, &e.metadata.to_string());
    line.push('\t');
    match e.source_ip {
        Some(ip) => {
            let _ = write!(line, "{ip}");
        }
        None => line.push_str("\\N"),
    }
    line.push('\t');
    match e.user_agent {
        Some(ua) => escape_into(&mut line, ua),
        None => line.push_str("\\N"),
    }
    let _ = writeln!(
        line,
        "\t{}",
        e.created_at.format("%Y-%m-%d %H:%M:%S%.6f+00")
    );
    buf.extend_from_slice(line.as_bytes());
}

/// COPY text format: backslash, tab, newline and carriage return are escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}
