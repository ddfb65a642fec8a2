//! Finding audit lines in text, in the forms people have them (sans-IO: text in, audit
//! objects out).
//!
//! The text is read line by line. A line is one *record*; a line that is only `{` or `[`
//! opens a record that spans lines (`wrangler tail --format json` prints each event as
//! indented JSON over many lines, and a log drain's body may be a pretty-printed array),
//! closed when its brackets balance, or cut short by the next unindented `{` or `[` line. A record is JSON from its first `{` (or `[`) on, so a
//! prefix such as a `docker logs -t` / `kubectl logs --timestamps` time or `[stdout] ` is
//! skipped. What the JSON holds decides the [`Form`]:
//!
//! - an audit object itself (an `event` of this product and a `ts`): [`Form::Bare`], or
//!   [`Form::Prefixed`] after a prefix;
//! - `logs[].message[]` (`wrangler tail --format json`): [`Form::WranglerTail`];
//! - `Logs[].Message[]` (Logpush / Workers trace events NDJSON): [`Form::Logpush`];
//! - `message` (a Vercel log drain entry, NDJSON or a JSON array body): [`Form::Vercel`];
//!
//! where each message is itself an audit line (possibly with a prefix). A JSON array is read
//! element by element. A record with no audit line is *skipped*; text that looks like an audit
//! line (it mentions `"event"`, or has this product's `event` without a valid `ts`) but does not
//! parse is *malformed*. Nothing of a skipped or malformed record is kept.

use serde_json::{Map, Value};

use crate::rfc3339::parse_millis;

/// A record longer than this (bytes) is given up: counted, never parsed.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// The `event` prefixes of this product's audit lines.
const EVENT_PREFIXES: [&str; 8] = [
    "auth.",
    "keys.",
    "config.",
    "webhook.",
    "admin.",
    "worker.",
    "middleware.",
    "handshake.",
];

/// Where an audit line was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The whole line.
    Bare,
    /// The line after a prefix (a time stamp, a stream name).
    Prefixed,
    /// A `logs[].message[]` entry of `wrangler tail --format json`.
    WranglerTail,
    /// A `Logs[].Message[]` entry of a Logpush Workers trace event.
    Logpush,
    /// The `message` of a Vercel log drain entry.
    Vercel,
}

impl Form {
    /// Every form, in report order.
    pub const ALL: [Form; 5] = [
        Form::Bare,
        Form::Prefixed,
        Form::WranglerTail,
        Form::Logpush,
        Form::Vercel,
    ];

    /// The form's name in the report (`bare`, `prefixed`, `wrangler_tail`, `logpush`, `vercel`).
    pub fn name(self) -> &'static str {
        match self {
            Form::Bare => "bare",
            Form::Prefixed => "prefixed",
            Form::WranglerTail => "wrangler_tail",
            Form::Logpush => "logpush",
            Form::Vercel => "vercel",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Lines of text.
    pub lines: u64,
    /// Records (a line, or a JSON value over several lines).
    pub records: u64,
    /// Audit lines found, by [`Form`] (indexed as [`Form::ALL`]).
    pub by_form: [u64; 5],
    /// Records that held no audit line.
    pub skipped: u64,
    /// Audit lines that did not parse (or had no valid `ts`).
    pub malformed: u64,
}

impl InputStats {
    /// Audit lines found, all forms.
    pub fn audit_lines(&self) -> u64 {
        self.by_form.iter().sum()
    }

    /// Audit lines found in `form`.
    pub fn in_form(&self, form: Form) -> u64 {
        self.by_form[form.index()]
    }
}

/// One audit line found: its parsed `ts` and its fields.
pub struct Found<'a> {
    /// `ts` in Unix milliseconds.
    pub ts_ms: i64,
    /// The whole object (read by named fields only).
    pub fields: &'a Map<String, Value>,
}

/// A record spanning lines, until its brackets balance.
struct Block {
    text: String,
    depth: i64,
}

/// The line reader: text in chunks, audit objects out through a callback.
#[derive(Default)]
pub struct Reader {
    pending: String,
    block: Option<Block>,
    /// What was read so far.
    pub stats: InputStats,
}

impl Reader {
    /// Reads `chunk`; a last line without its newline waits for the next chunk (or
    /// [`Reader::finish`]).
    pub fn push(&mut self, chunk: &str, sink: &mut impl FnMut(Found<'_>)) {
        let mut rest = chunk;
        while let Some(nl) = rest.find('\n') {
            let (line, after) = rest.split_at(nl);
            rest = after.get(1..).unwrap_or("");
            if self.pending.is_empty() {
                self.line(line, sink);
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.push_str(line);
                self.line(&whole, sink);
            }
        }
        if self.pending.len() + rest.len() > MAX_RECORD_BYTES {
            // A "line" this long is not a log line: given up, counted once.
            self.pending.clear();
            self.stats.lines += 1;
            self.stats.records += 1;
            self.stats.skipped += 1;
            return;
        }
        self.pending.push_str(rest);
    }

    /// Reads the last line (without a newline) and closes an unfinished record.
    pub fn finish(&mut self, sink: &mut impl FnMut(Found<'_>)) {
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() {
            self.line(&last, sink);
        }
        if let Some(block) = self.block.take() {
            self.record(&block.text, sink);
        }
    }

    fn line(&mut self, line: &str, sink: &mut impl FnMut(Found<'_>)) {
        self.stats.lines += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.block.is_some() && (line == "{" || line == "[") {
            // An unindented opening bracket starts a new top-level value: the open one was cut
            // short (a tail interrupted mid-print) and must not swallow what follows.
            if let Some(cut) = self.block.take() {
                self.record(&cut.text, sink);
            }
        }
        if let Some(block) = &mut self.block {
            block.text.push_str(line);
            block.text.push('\n');
            block.depth += bracket_depth(line);
            if block.depth <= 0 || block.text.len() > MAX_RECORD_BYTES {
                if let Some(block) = self.block.take() {
                    self.record(&block.text, sink);
                }
            }
            return;
        }
        let trimmed = line.trim();
        if trimmed == "{" || trimmed == "[" {
            let mut text = String::from(trimmed);
            text.push('\n');
            self.block = Some(Block { text, depth: 1 });
            return;
        }
        if !trimmed.is_empty() {
            self.record(trimmed, sink);
        }
    }

    /// One record: counted as audit lines found, malformed or skipped.
    fn record(&mut self, text: &str, sink: &mut impl FnMut(Found<'_>)) {
        self.stats.records += 1;
        let mut tally = Tally::default();
        match parse_after_prefix(text) {
            Some((value, prefixed)) => self.value(&value, prefixed, &mut tally, sink),
            None => {
                if looks_like_audit(text) {
                    tally.malformed += 1;
                }
            }
        }
        self.stats.malformed += tally.malformed;
        if tally.found == 0 && tally.malformed == 0 {
            self.stats.skipped += 1;
        }
    }

    fn value(
        &mut self,
        value: &Value,
        prefixed: bool,
        tally: &mut Tally,
        sink: &mut impl FnMut(Found<'_>),
    ) {
        match value {
            Value::Array(items) => {
                for item in items {
                    self.value(item, false, tally, sink);
                }
            }
            Value::Object(map) => {
                let own = if prefixed { Form::Prefixed } else { Form::Bare };
                if self.audit(map, own, tally, sink) {
                    return;
                }
                if let Some(Value::Array(logs)) = map.get("logs") {
                    for entry in logs {
                        self.messages(entry.get("message"), Form::WranglerTail, tally, sink);
                    }
                } else if let Some(Value::Array(logs)) = map.get("Logs") {
                    for entry in logs {
                        self.messages(entry.get("Message"), Form::Logpush, tally, sink);
                    }
                } else if map.get("message").is_some() {
                    self.messages(map.get("message"), Form::Vercel, tally, sink);
                }
            }
            _ => {}
        }
    }

    /// The messages of a log entry: a string (one or more lines), an object, or an array of
    /// those.
    fn messages(
        &mut self,
        message: Option<&Value>,
        form: Form,
        tally: &mut Tally,
        sink: &mut impl FnMut(Found<'_>),
    ) {
        match message {
            Some(Value::String(text)) => {
                for line in text.lines() {
                    match parse_after_prefix(line.trim()) {
                        Some((Value::Object(map), _)) => {
                            self.audit(&map, form, tally, sink);
                        }
                        Some(_) => {}
                        None => {
                            if looks_like_audit(line) {
                                tally.malformed += 1;
                            }
                        }
                    }
                }
            }
            Some(Value::Object(map)) => {
                self.audit(map, form, tally, sink);
            }
            Some(Value::Array(items)) => {
                for item in items {
                    self.messages(Some(item), form, tally, sink);
                }
            }
            _ => {}
        }
    }

    /// Hands `map` to the sink when it is an audit line; `true` when it had this product's
    /// `event` (found, or malformed for want of a valid `ts`).
    fn audit(
        &mut self,
        map: &Map<String, Value>,
        form: Form,
        tally: &mut Tally,
        sink: &mut impl FnMut(Found<'_>),
    ) -> bool {
        let Some(event) = map.get("event").and_then(Value::as_str) else {
            return false;
        };
        if !EVENT_PREFIXES.iter().any(|p| event.starts_with(p)) {
            return false;
        }
        match map.get("ts").and_then(Value::as_str).map(parse_millis) {
            Some(Ok(ts_ms)) => {
                tally.found += 1;
                self.stats.by_form[form.index()] += 1;
                sink(Found { ts_ms, fields: map });
            }
            _ => tally.malformed += 1,
        }
        true
    }
}

/// Audit lines found and malformed in one record.
#[derive(Default)]
struct Tally {
    found: u64,
    malformed: u64,
}

/// The JSON value from the first `{` (or a leading `[`) on, and whether a prefix came before.
fn parse_after_prefix(text: &str) -> Option<(Value, bool)> {
    if !text.contains('{') {
        return None;
    }
    if text.starts_with('[') || text.starts_with('{') {
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            return Some((value, false));
        }
    }
    let start = text.find('{')?;
    if start == 0 {
        return None;
    }
    let value = serde_json::from_str::<Value>(text.get(start..)?).ok()?;
    Some((value, true))
}

/// Text that does not parse but names an audit line's `event` field.
fn looks_like_audit(text: &str) -> bool {
    text.contains("\"event\"") || text.contains("\\\"event\\\"")
}

/// The change of bracket depth over one line of JSON (brackets in strings ignored).
fn bracket_depth(line: &str) -> i64 {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for b in line.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"ts":"2026-11-25T16:02:11.342Z","level":"warn","event":"auth.denied","reason":"token-expired","status":401}"#;

    /// Reads `chunks` and answers the stats and the `event` + `ts` of each line found.
    fn read(chunks: &[&str]) -> (InputStats, Vec<(String, i64)>) {
        let mut reader = Reader::default();
        let mut found = Vec::new();
        let mut sink = |f: Found<'_>| {
            let event = f.fields["event"].as_str().unwrap_or("").to_owned();
            found.push((event, f.ts_ms));
        };
        for chunk in chunks {
            reader.push(chunk, &mut sink);
        }
        reader.finish(&mut sink);
        (reader.stats, found)
    }

    fn quoted(line: &str) -> String {
        Value::String(line.to_owned()).to_string()
    }

    #[test]
    fn bare_and_prefixed_lines() {
        let text = format!(
            "{LINE}\n2026-11-25T16:02:11.342000000Z {LINE}\n[stdout] {LINE}\nplain text\n\n"
        );
        let (stats, found) = read(&[&text]);
        assert_eq!(stats.in_form(Form::Bare), 1);
        assert_eq!(stats.in_form(Form::Prefixed), 2);
        assert_eq!(stats.skipped, 1);
        assert_eq!(stats.lines, 5);
        assert_eq!(stats.records, 4);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0], ("auth.denied".to_owned(), 1_795_622_531_342));
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_result() {
        let text = format!("{LINE}\nnoise\n{LINE}");
        let whole = read(&[&text]);
        for cut in 1..text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let (a, b) = text.split_at(cut);
            let parts = read(&[a, b]);
            assert_eq!(parts.0, whole.0, "cut at {cut}");
            assert_eq!(parts.1, whole.1, "cut at {cut}");
        }
        assert_eq!(whole.0.audit_lines(), 2);
    }

    #[test]
    fn wrangler_tail_pretty_printed_over_lines() {
        let event = serde_json::json!({
            "wallTime": 3, "cpuTime": 1, "truncated": false, "outcome": "ok",
            "scriptName": "clerk-edge-guard", "diagnosticsChannelEvents": [], "exceptions": [],
            "logs": [
                {"message": [LINE], "level": "log", "timestamp": 1},
                {"message": ["some other log"], "level": "log", "timestamp": 2},
                {"message": [LINE, "{\"event\":\"auth.denied\",\"ts\":"], "level": "log", "timestamp": 2}
            ],
            "eventTimestamp": 1_795_622_531_342i64,
            "event": {"request": {"url": "https://x/app?{", "method": "GET", "headers": {}}}
        });
        let pretty = serde_json::to_string_pretty(&event).unwrap_or_default();
        let text = format!("Successfully created tail\n{pretty}\n{pretty}\n");
        let (stats, found) = read(&[&text]);
        assert_eq!(stats.in_form(Form::WranglerTail), 4);
        assert_eq!(stats.malformed, 2);
        assert_eq!(stats.skipped, 1);
        assert_eq!(stats.records, 3);
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn logpush_and_vercel_records() {
        let logpush = serde_json::json!({
            "EventTimestampMs": 1, "Outcome": "ok", "ScriptName": "w", "Exceptions": [],
            "Logs": [{"Level": "log", "Message": [LINE], "TimestampMs": 1}]
        })
        .to_string();
        let vercel = format!(
            r#"{{"id":"1","message":{},"timestamp":1,"type":"stdout","source":"edge","projectId":"p","deploymentId":"d","host":"h"}}"#,
            quoted(&format!("{LINE}\n{LINE}"))
        );
        let array = format!("[{vercel},{vercel}]");
        let text = format!("{logpush}\n{vercel}\n{array}\n[\n  {vercel},\n  {vercel}\n]\n");
        let (stats, _) = read(&[&text]);
        assert_eq!(stats.in_form(Form::Logpush), 1);
        assert_eq!(stats.in_form(Form::Vercel), 2 + 4 + 4);
        assert_eq!(stats.records, 4);
        assert_eq!(stats.skipped + stats.malformed, 0);
    }

    #[test]
    fn malformed_and_foreign_json() {
        let text = concat!(
            "{\"ts\":\"2026-11-25T16:02:11Z\",\"event\":\"auth.denied\",\"token\":\"eyJ\n",
            "{\"event\":\"auth.denied\",\"ts\":\"yesterday\"}\n",
            "{\"event\":\"page_view\",\"ts\":\"2026-11-25T16:02:11Z\"}\n",
            "{\"level\":30,\"msg\":\"ready\"}\n",
            "[1,2,3]\n",
        );
        let (stats, found) = read(&[text]);
        assert_eq!(stats.malformed, 2);
        assert_eq!(stats.skipped, 3);
        assert!(found.is_empty());
    }

    #[test]
    fn a_block_cut_short_does_not_swallow_the_next_records() {
        let event = serde_json::json!({"logs": [{"message": [LINE]}], "eventTimestamp": 1});
        let pretty = serde_json::to_string_pretty(&event).unwrap_or_default();
        let cut: String = pretty.lines().take(6).collect::<Vec<_>>().join("\n");
        let (stats, found) = read(&[&format!("{cut}\n{pretty}\n{LINE}\n")]);
        assert_eq!(found.len(), 2);
        assert_eq!(stats.in_form(Form::WranglerTail), 1);
        assert_eq!(stats.in_form(Form::Bare), 1);
        assert_eq!((stats.records, stats.malformed, stats.skipped), (3, 1, 0));
    }

    #[test]
    fn an_unclosed_block_is_read_at_the_end() {
        let (stats, found) = read(&["{\n\"a\": 1\n"]);
        assert_eq!((stats.records, stats.skipped, found.len()), (1, 1, 0));
    }
}
