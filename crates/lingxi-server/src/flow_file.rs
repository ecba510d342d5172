//! Flow definitions as text, JSON or YAML: parsed into the engine's `FlowSpec` and compiled,
//! with every problem naming the file, the flow, the step and (where the parser or a search
//! of the text finds it) the line. Used for the shipped demo flows and by `lingxi flows check`.

use lingxi_engine::flow::spec::StepSpec;
use lingxi_engine::flow::{Flow, FlowSpec};
use serde_json::Value;
use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By extension: `.json`, `.yaml` or `.yml`.
    pub fn of(file: &str) -> Option<Format> {
        let ext = file.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// One problem of a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFileError {
    pub file: String,
    pub flow: Option<String>,
    pub step: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FlowFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(flow) = &self.flow {
            write!(f, ": flow `{flow}`")?;
        }
        if let Some(step) = &self.step {
            write!(f, ", step `{step}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads and checks a flow file (the format from its extension).
pub fn load(path: &Path) -> Result<Flow, Vec<FlowFileError>> {
    let file = path.display().to_string();
    let fail =
        |message: String| vec![FlowFileError { file: file.clone(), flow: None, step: None, line: None, message }];
    let format = Format::of(&file).ok_or_else(|| fail("use a .json, .yaml or .yml file".into()))?;
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(&file, format, &text)
}

/// Parses and compiles one flow; every problem found, not just the first.
pub fn parse(file: &str, format: Format, text: &str) -> Result<Flow, Vec<FlowFileError>> {
    let typed = match format {
        Format::Json => serde_json::from_str::<FlowSpec>(text).map_err(|e| (e.to_string(), Some(e.line()))),
        Format::Yaml => {
            serde_norway::from_str::<FlowSpec>(text).map_err(|e| (e.to_string(), e.location().map(|l| l.line())))
        }
    };
    let spec = match typed {
        Ok(spec) => spec,
        Err((message, line)) => return Err(vec![shape_error(file, format, text, &message, line)]),
    };
    Flow::compile(&spec).map_err(|errs| {
        errs.into_iter()
            .map(|e| {
                // `steps.reset.options[1].next` → step `reset`, `options[1].next: …`
                let (step, message) = match e.path.strip_prefix("steps.") {
                    Some(rest) => {
                        let name = rest.split(['.', '[']).next().unwrap_or(rest).to_owned();
                        let within = rest[name.len()..].trim_start_matches('.');
                        let message =
                            if within.is_empty() { e.message.clone() } else { format!("{within}: {}", e.message) };
                        (Some(name), message)
                    }
                    None => (None, e.to_string()),
                };
                let line = step.as_deref().and_then(|s| line_of_step(format, text, s));
                FlowFileError { file: file.into(), flow: Some(spec.id.clone()), step, line, message }
            })
            .collect()
    })
}

/// A text that is well-formed but not a flow: read it untyped to say which flow and which
/// step, by checking each step on its own (the typed parser gave the line, not the step).
fn shape_error(file: &str, format: Format, text: &str, message: &str, line: Option<usize>) -> FlowFileError {
    let untyped: Option<Value> = match format {
        Format::Json => serde_json::from_str(text).ok(),
        Format::Yaml => serde_norway::from_str(text).ok(),
    };
    let flow = untyped.as_ref().and_then(|v| v["id"].as_str()).map(str::to_owned);
    let bad_step = untyped.as_ref().and_then(|v| v["steps"].as_object()).and_then(|steps| {
        steps.iter().find_map(|(name, step)| {
            serde_json::from_value::<StepSpec>(step.clone()).err().map(|e| (name.clone(), e.to_string()))
        })
    });
    // The parsers append " at line L column C"; the line is reported on its own.
    let bare = message.split(" at line ").next().unwrap_or(message).to_owned();
    match bad_step {
        Some((step, step_message)) => FlowFileError {
            file: file.into(),
            flow,
            // Inside a tagged step the parser's position is that of the mapping around it.
            line: line_of_step(format, text, &step).or(line),
            step: Some(step),
            message: step_message,
        },
        None => FlowFileError { file: file.into(), flow, step: None, line, message: bare },
    }
}

/// The line (1-based) where a step is defined: `name:` in YAML, `"name":` in JSON.
fn line_of_step(format: Format, text: &str, step: &str) -> Option<usize> {
    let key = match format {
        Format::Yaml => format!("{step}:"),
        Format::Json => format!("\"{step}\""),
    };
    text.lines().position(|l| l.trim_start().starts_with(&key)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "id: lamp\ntitle: Lamp\ntrigger:\n  keywords: [[lamp]]\nstart: ask\nsteps:\n  ask:\n    type: choice\n    text: { zh: 亮了吗？, en: Is it on? }\n    options:\n      - { label: 是, next: done }\n      - { label: 否, next: human }\n  done: { type: end, resolved: true }\n  human: { type: handoff, reason: troubleshooting_failed }\n";

    #[test]
    fn the_shipped_demo_flows_load_one_from_json_one_from_yaml() {
        let mut formats = Vec::new();
        for (file, text) in lingxi_engine::flow::DEMO_FLOWS {
            let format = Format::of(file).expect("a known extension");
            parse(file, format, text).unwrap_or_else(|e| panic!("{}", e[0]));
            formats.push(format);
        }
        assert!(formats.contains(&Format::Json) && formats.contains(&Format::Yaml));
    }

    #[test]
    fn yaml_and_json_give_the_same_flow() {
        let y = parse("lamp.yaml", Format::Yaml, GOOD).expect("good yaml");
        let as_json: Value = serde_norway::from_str(GOOD).unwrap();
        let j = parse("lamp.json", Format::Json, &as_json.to_string()).expect("good json");
        assert_eq!((y.id.as_str(), j.id.as_str()), ("lamp", "lamp"));
        assert!(y.triggered_by(None, "my lamp") && j.triggered_by(None, "my lamp"));
    }

    #[test]
    fn errors_name_the_file_the_flow_the_step_and_the_line() {
        // A misspelt field in step `done` (line 13).
        let bad = GOOD.replace("done: { type: end, resolved: true }", "done: { type: end, resolvd: true }");
        let e = parse("flows/lamp.yaml", Format::Yaml, &bad).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].flow.as_deref(), e[0].step.as_deref(), e[0].line), (Some("lamp"), Some("done"), Some(13)));
        assert!(e[0].message.contains("resolvd"), "{}", e[0]);
        assert!(e[0].to_string().starts_with("flows/lamp.yaml:13: flow `lamp`, step `done`: "), "{}", e[0]);
        // A `next` naming no step: the compiler's path, split into step and place, and the step's line.
        let bad = GOOD.replace("next: human", "next: humn");
        let e = parse("lamp.yaml", Format::Yaml, &bad).unwrap_err();
        let ask = e.iter().find(|e| e.step.as_deref() == Some("ask")).expect("the dangling next");
        assert_eq!(ask.line, Some(7));
        assert!(ask.message.starts_with("options[1].next: ") && ask.message.contains("humn"), "{ask}");
        // Not YAML at all: the parser's line, no flow.
        let e = parse("lamp.yaml", Format::Yaml, "id: [unclosed\nsteps: {}\n").unwrap_err();
        assert_eq!((e[0].flow.as_deref(), e[0].line.is_some()), (None, true), "{}", e[0]);
        // JSON: the same naming.
        let e = parse(
            "lamp.json",
            Format::Json,
            r#"{"id":"lamp","title":"L","start":"a","steps":{"a":{"type":"end","x":1}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (e[0].flow.as_deref(), e[0].step.as_deref(), e[0].line),
            (Some("lamp"), Some("a"), Some(1)),
            "{}",
            e[0]
        );
        assert_eq!(Format::of("x.yml"), Some(Format::Yaml));
        assert_eq!(Format::of("x.toml"), None);
    }
}
