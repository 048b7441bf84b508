//! The Go expression language of stillgo: lexer, parser, evaluator, and
//! the resolution of calls (what `call EXPR` must run). Evaluation reads
//! the stopped program's memory and never runs its code; calls are run by
//! `stillgo-world`, driven by the session.

pub mod ast;
pub mod diag;
pub mod lexer;
pub mod parser;

pub use parser::{parse_expr, ParseError};
pub mod eval;
pub mod call;

pub use eval::{eval_ast, eval_str, format_const, format_val, package_of, prepare_assignment, truthy, Const, EvalError, Scope, Val};
