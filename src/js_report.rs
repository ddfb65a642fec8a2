//! wasm-bindgen export of the post-incident report ([`crate::report`]) for `pkg-js/report.js`
//! and the `clerk-edge-guard report` command (feature `report-cli`: a wasm of its own,
//! `pkg-js/dist/clerk_edge_guard_report_bg.wasm`, so the middleware's wasm does not carry the
//! report).
//!
//! A class, so that the CLI can stream a file of any size through it: `push` each chunk of
//! text, then `finish` once for the JSON facts, and `markdown` for the Markdown of the same
//! report.

use wasm_bindgen::prelude::wasm_bindgen;

use crate::report::{Report, ReportBuilder, ReportOptions};

/// The report being built, then the finished report.
#[wasm_bindgen(js_name = IncidentReport)]
pub struct IncidentReport {
    builder: Option<ReportBuilder>,
    report: Option<Report>,
}

#[wasm_bindgen(js_class = IncidentReport)]
impl IncidentReport {
    /// A report over `from`..`to` (empty strings: no bound). Throws the option error's
    /// message (naming the option and the accepted forms) for a bad time.
    #[wasm_bindgen(constructor)]
    pub fn new(from: &str, to: &str) -> Result<IncidentReport, String> {
        let options = ReportOptions::parse(Some(from), Some(to)).map_err(|e| e.0)?;
        Ok(Self {
            builder: Some(ReportBuilder::new(options)),
            report: None,
        })
    }

    /// Reads a chunk of text; ignored after `finish`.
    pub fn push(&mut self, chunk: &str) {
        if let Some(builder) = &mut self.builder {
            builder.push(chunk);
        }
    }

    /// Ends the input and answers the report's JSON text (the same text on later calls).
    pub fn finish(&mut self) -> String {
        self.finished().to_json().to_string()
    }

    /// The Markdown report (ends the input first if `finish` was not called).
    pub fn markdown(&mut self) -> String {
        self.finished().to_markdown()
    }
}

impl IncidentReport {
    fn finished(&mut self) -> &Report {
        if let Some(builder) = self.builder.take() {
            self.report = Some(builder.finish());
        }
        self.report
            .get_or_insert_with(|| ReportBuilder::new(ReportOptions::default()).finish())
    }
}
