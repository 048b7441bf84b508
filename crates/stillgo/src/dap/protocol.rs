//! The Debug Adapter Protocol wire format: `Content-Length` framed JSON
//! messages (https://microsoft.github.io/debug-adapter-protocol/overview),
//! and typed structs for the messages stillgo reads and writes.
//!
//! Reading never trusts the peer: header lines and bodies are bounded, a
//! body that is not a request yields a typed error the server answers (or
//! closes the connection on), never a panic.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Largest message body accepted. Real clients send a few KiB; a bigger
/// claim is an attack or a broken client, and reading it would let the
/// peer make the debugger allocate without bound.
pub const MAX_BODY: usize = 64 << 20;
/// Longest header line accepted.
const MAX_HEADER_LINE: usize = 8 << 10;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the stream between messages: a normal end.
    #[error("end of stream")]
    Eof,
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The stream cannot be resynchronized (bad headers, a body too large
    /// or cut short): the connection must be closed.
    #[error("protocol error: {0}")]
    Fatal(String),
}

/// Reads one framed message body. `Ok(bytes)` is the complete body; what
/// it contains is checked by [`parse_request`].
pub fn read_message(r: &mut impl BufRead) -> Result<Vec<u8>, FrameError> {
    let mut length: Option<usize> = None;
    let mut first = true;
    loop {
        let line = read_header_line(r, first)?;
        first = false;
        if line.is_empty() {
            if length.is_none() {
                // Blank lines between messages are tolerated; a header block
                // without Content-Length is not.
                first = true;
                continue;
            }
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(FrameError::Fatal(format!("malformed header line {:?}", truncate(&line, 80))));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| FrameError::Fatal(format!("invalid Content-Length {:?}", truncate(value.trim(), 40))))?;
            if n > MAX_BODY {
                return Err(FrameError::Fatal(format!("message of {n} bytes exceeds the limit of {MAX_BODY} bytes")));
            }
            length = Some(n);
        }
        // Other headers (Content-Type) are allowed by the protocol and ignored.
    }
    let n = length.unwrap_or(0);
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Fatal(format!("connection closed in the middle of a {n}-byte message"))
        } else {
            FrameError::Io(e)
        }
    })?;
    Ok(body)
}

/// One header line without its CRLF; "" for the blank separator line.
fn read_header_line(r: &mut impl BufRead, at_message_start: bool) -> Result<String, FrameError> {
    let mut buf = Vec::new();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if avail.is_empty() {
            if buf.is_empty() && at_message_start {
                return Err(FrameError::Eof);
            }
            return Err(FrameError::Fatal("connection closed in the middle of a message header".into()));
        }
        let (take, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if buf.len() > MAX_HEADER_LINE {
            return Err(FrameError::Fatal(format!("header line longer than {MAX_HEADER_LINE} bytes")));
        }
        if done {
            break;
        }
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| FrameError::Fatal("header is not UTF-8".into()))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Writes one framed message.
pub fn write_message(w: &mut dyn Write, body: &[u8]) -> std::io::Result<()> {
    write!(w, "Content-Length: {}\r\n\r\n", body.len())?;
    w.write_all(body)?;
    w.flush()
}

/// A request as received: the envelope is typed, the arguments are parsed
/// into the command's own struct by the handler.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    #[serde(default)]
    pub arguments: Option<Json>,
}

/// Why a message body is not a usable request, with what is known of it
/// so the error response can name the request.
#[derive(Debug)]
pub struct BadRequest {
    pub seq: i64,
    pub command: String,
    pub message: String,
}

pub fn parse_request(body: &[u8]) -> Result<Request, BadRequest> {
    let json: Json = serde_json::from_slice(body).map_err(|e| BadRequest {
        seq: 0,
        command: String::new(),
        message: format!("invalid JSON: {e}"),
    })?;
    // Salvage seq and command for the error response when the envelope is
    // wrong but these two are readable.
    let seq = json.get("seq").and_then(Json::as_i64).unwrap_or(0);
    let command = json.get("command").and_then(Json::as_str).unwrap_or("").to_string();
    if !json.is_object() {
        return Err(BadRequest { seq, command, message: "invalid request: a message must be a JSON object".into() });
    }
    // The envelope's fields are checked by name, so the error says which.
    for (field, ok) in [
        ("seq", json.get("seq").map(Json::is_i64)),
        ("type", json.get("type").map(Json::is_string)),
        ("command", json.get("command").map(Json::is_string)),
    ] {
        match ok {
            None if field == "command" && json.get("type").and_then(Json::as_str) != Some("request") => {}
            None => return Err(BadRequest { seq, command, message: format!("invalid request: missing field `{field}`") }),
            Some(false) => {
                return Err(BadRequest { seq, command, message: format!("invalid request: field `{field}` has the wrong type") })
            }
            Some(true) => {}
        }
    }
    if json.get("type").and_then(Json::as_str) != Some("request") {
        let kind = json.get("type").and_then(Json::as_str).unwrap_or("").to_string();
        return Err(BadRequest { seq, command, message: format!("unexpected message type {kind:?}") });
    }
    let req: Request = serde_json::from_value(json).map_err(|e| BadRequest {
        seq,
        command: command.clone(),
        message: format!("invalid request: {e}"),
    })?;
    if req.kind != "request" {
        return Err(BadRequest { seq, command, message: format!("unexpected message type {:?}", req.kind) });
    }
    Ok(req)
}

impl Request {
    /// The request's arguments as the command's struct (missing arguments
    /// are read as `{}`, so commands whose fields are all optional work).
    pub fn args<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        let v = match &self.arguments {
            None | Some(Json::Null) => Json::Object(Default::default()),
            Some(v) => v.clone(),
        };
        serde_json::from_value::<T>(v.clone()).map_err(|e| {
            let e = e.to_string();
            match culprit::<T>(&v, &e) {
                Some(field) => format!("invalid arguments for {}: field `{field}`: {e}", self.command),
                None => format!("invalid arguments for {}: {e}", self.command),
            }
        })
    }
}

/// Which top-level field of `v` causes `err` (serde_json's errors from a
/// `Value` do not say): the one whose removal changes the error.
fn culprit<T: serde::de::DeserializeOwned>(v: &Json, err: &str) -> Option<String> {
    if err.starts_with("missing field") {
        return None;
    }
    let obj = v.as_object()?;
    obj.keys().take(64).find_map(|k| {
        let mut o = obj.clone();
        o.remove(k);
        match serde_json::from_value::<T>(Json::Object(o)) {
            Ok(_) => Some(k.clone()),
            Err(e) if e.to_string() != err => Some(k.clone()),
            Err(_) => None,
        }
    })
}

#[derive(Debug, Serialize)]
pub struct Response {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub request_seq: i64,
    pub success: bool,
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
}

#[derive(Debug, Serialize)]
pub struct Event {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
}

/// The error body of a failed response (`ErrorResponse.body.error`).
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorMessage,
}

#[derive(Debug, Serialize)]
pub struct ErrorMessage {
    pub id: i64,
    pub format: String,
    #[serde(rename = "showUser")]
    pub show_user: bool,
}

// ---- request arguments --------------------------------------------------------

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InitializeArgs {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub adapter_id: Option<String>,
    #[serde(default)]
    pub lines_start_at1: Option<bool>,
    #[serde(default)]
    pub columns_start_at1: Option<bool>,
}

/// `buildFlags` (and `args`) are a string in some launch configurations
/// and an array in others.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    /// The flags as arguments: a string is split like a shell splits words
    /// (quotes group, `-ldflags='-X a=b'` is one flag); list elements are
    /// taken as they are.
    pub fn args(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => crate::build::split_flags(s),
            StringOrList::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct SubstitutePath {
    pub from: String,
    pub to: String,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LaunchArgs {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub program: Option<String>,
    /// A list, or (as newer VS Code Go configurations allow) one string
    /// split like shell words.
    #[serde(default)]
    pub args: Option<StringOrList>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// Values may be null: the variable is removed from the environment.
    #[serde(default)]
    pub env: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub build_flags: Option<StringOrList>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub stop_on_entry: bool,
    #[serde(default)]
    pub no_debug: bool,
    #[serde(default)]
    pub substitute_path: Vec<SubstitutePath>,
    /// stillgo's own: whether `call` in evaluate freezes the other
    /// goroutines. Absent: the session's default.
    #[serde(default)]
    pub freeze_world: Option<bool>,
    /// stillgo's own: `next`, `stepIn` and `stepOut` freeze every other
    /// goroutine, so only the current one advances (default false).
    #[serde(default)]
    pub freeze_steps: bool,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AttachArgs {
    #[serde(default)]
    pub mode: Option<String>,
    pub process_id: Option<i64>,
    #[serde(default)]
    pub stop_on_entry: bool,
    #[serde(default)]
    pub substitute_path: Vec<SubstitutePath>,
    #[serde(default)]
    pub freeze_world: Option<bool>,
    /// See [`LaunchArgs::freeze_steps`].
    #[serde(default)]
    pub freeze_steps: bool,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize, Clone)]
pub struct Source {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SourceBreakpoint {
    pub line: u32,
    #[serde(default)]
    pub column: Option<u32>,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub hit_condition: Option<String>,
    #[serde(default)]
    pub log_message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SetBreakpointsArgs {
    pub source: Source,
    #[serde(default)]
    pub breakpoints: Option<Vec<SourceBreakpoint>>,
    /// Deprecated form: lines only.
    #[serde(default)]
    pub lines: Option<Vec<u32>>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FunctionBreakpoint {
    pub name: String,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub hit_condition: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SetFunctionBreakpointsArgs {
    pub breakpoints: Vec<FunctionBreakpoint>,
}

#[derive(Debug, Deserialize)]
pub struct SetExceptionBreakpointsArgs {
    pub filters: Vec<String>,
}

/// pause / exceptionInfo: the thread is validated, all threads stop alike.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadArgs {
    pub thread_id: i64,
}

/// next / stepIn / stepOut.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepArgs {
    pub thread_id: i64,
    /// "statement" (default), "line" or "instruction".
    #[serde(default)]
    pub granularity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackTraceArgs {
    pub thread_id: i64,
    #[serde(default)]
    pub start_frame: Option<u64>,
    #[serde(default)]
    pub levels: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopesArgs {
    pub frame_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablesArgs {
    pub variables_reference: i64,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub start: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateArgs {
    pub expression: String,
    #[serde(default)]
    pub frame_id: Option<i64>,
    #[serde(default)]
    pub context: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableArgs {
    pub variables_reference: i64,
    pub name: String,
    pub value: String,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectArgs {
    #[serde(default)]
    pub restart: Option<bool>,
    #[serde(default)]
    pub terminate_debuggee: Option<bool>,
}

// Some fields are read only so that a wrong type is reported.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisassembleArgs {
    pub memory_reference: String,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub instruction_offset: Option<i64>,
    pub instruction_count: i64,
    #[serde(default)]
    pub resolve_symbols: Option<bool>,
}

// ---- response and event bodies ----------------------------------------------------

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub supports_configuration_done_request: bool,
    pub supports_function_breakpoints: bool,
    pub supports_conditional_breakpoints: bool,
    pub supports_hit_conditional_breakpoints: bool,
    pub supports_log_points: bool,
    pub supports_evaluate_for_hovers: bool,
    pub supports_set_variable: bool,
    pub supports_restart_request: bool,
    pub supports_terminate_request: bool,
    pub support_terminate_debuggee: bool,
    pub supports_exception_info_request: bool,
    pub supports_disassemble_request: bool,
    pub supports_delayed_stack_trace_loading: bool,
    pub supports_stepping_granularity: bool,
    pub supports_step_back: bool,
    pub supports_data_breakpoints: bool,
    pub supports_completions_request: bool,
    pub supports_goto_targets_request: bool,
    pub supports_read_memory_request: bool,
    pub supports_instruction_breakpoints: bool,
    pub supports_clipboard_context: bool,
    pub exception_breakpoint_filters: Vec<ExceptionFilter>,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionFilter {
    pub filter: String,
    pub label: String,
    pub description: String,
    pub default: bool,
}

#[derive(Debug, Serialize, Clone)]
pub struct SourceRef {
    pub name: String,
    pub path: String,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct BreakpointsBody {
    pub breakpoints: Vec<BreakpointOut>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Thread {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct ThreadsBody {
    pub threads: Vec<Thread>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFrame {
    pub id: i64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    pub line: u32,
    pub column: u32,
    pub instruction_pointer_reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackTraceBody {
    pub stack_frames: Vec<StackFrame>,
    pub total_frames: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub name: String,
    pub presentation_hint: &'static str,
    pub variables_reference: i64,
    pub expensive: bool,
}

#[derive(Debug, Serialize)]
pub struct ScopesBody {
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub variables_reference: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VariablesBody {
    pub variables: Vec<Variable>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateBody {
    pub result: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub variables_reference: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_variables: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed_variables: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetVariableBody {
    pub value: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub variables_reference: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueBody {
    pub all_threads_continued: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionInfoBody {
    pub exception_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub break_mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instruction {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_bytes: Option<String>,
    pub instruction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presentation_hint: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct DisassembleBody {
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoppedEvent {
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub thread_id: i64,
    pub all_threads_stopped: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hit_breakpoint_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinuedEvent {
    pub thread_id: i64,
    pub all_threads_continued: bool,
}

#[derive(Debug, Serialize)]
pub struct OutputEvent {
    pub category: &'static str,
    pub output: String,
    /// Where the output comes from (a logpoint's location).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// `breakpoint` event: the state of a breakpoint changed (after a
/// restart rebuilt the program).
#[derive(Debug, Serialize)]
pub struct BreakpointEvent {
    pub reason: &'static str,
    pub breakpoint: BreakpointOut,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitedEvent {
    pub exit_code: i64,
}

#[derive(Debug, Serialize)]
pub struct TerminatedEvent {}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{}", body.len(), body).into_bytes()
    }

    #[test]
    fn reads_consecutive_messages() {
        let mut data = framed(r#"{"seq":1,"type":"request","command":"initialize"}"#);
        data.extend(framed(r#"{"seq":2,"type":"request","command":"threads"}"#));
        let mut r = std::io::BufReader::new(&data[..]);
        let a = parse_request(&read_message(&mut r).unwrap()).unwrap();
        let b = parse_request(&read_message(&mut r).unwrap()).unwrap();
        assert_eq!((a.seq, a.command.as_str()), (1, "initialize"));
        assert_eq!((b.seq, b.command.as_str()), (2, "threads"));
        assert!(matches!(read_message(&mut r), Err(FrameError::Eof)));
    }

    #[test]
    fn rejects_huge_and_truncated_bodies() {
        let data = format!("Content-Length: {}\r\n\r\n", MAX_BODY + 1);
        let mut r = std::io::BufReader::new(data.as_bytes());
        assert!(matches!(read_message(&mut r), Err(FrameError::Fatal(m)) if m.contains("exceeds")));
        let data = b"Content-Length: 10\r\n\r\n{\"a\"";
        let mut r = std::io::BufReader::new(&data[..]);
        assert!(matches!(read_message(&mut r), Err(FrameError::Fatal(m)) if m.contains("middle")));
        let data = b"Content-Length: x\r\n\r\n";
        let mut r = std::io::BufReader::new(&data[..]);
        assert!(matches!(read_message(&mut r), Err(FrameError::Fatal(_))));
    }

    #[test]
    fn bad_requests_keep_seq_and_command() {
        let e = parse_request(b"{not json").unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{}", e.message);
        let e = parse_request(br#"{"seq":7,"type":"request"}"#).unwrap_err();
        assert_eq!(e.seq, 7);
        assert!(e.message.contains("command"), "{}", e.message);
        let e = parse_request(br#"{"seq":"x","type":"request","command":"next"}"#).unwrap_err();
        assert_eq!(e.command, "next");
        let r = parse_request(br#"{"seq":3,"type":"request","command":"stackTrace","arguments":{"threadId":"one"}}"#).unwrap();
        let e = r.args::<StackTraceArgs>().unwrap_err();
        assert!(e.contains("field `threadId`") && e.contains("invalid type"), "{e}");
        let r = parse_request(br#"{"seq":4,"type":"request","command":"setBreakpoints","arguments":{"source":{"path":"/a.go"},"breakpoints":[{"line":"x"}]}}"#).unwrap();
        let e = r.args::<SetBreakpointsArgs>().unwrap_err();
        assert!(e.contains("field `breakpoints`"), "{e}");
    }
}
