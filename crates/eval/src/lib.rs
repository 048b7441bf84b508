//! Go expression parsing and evaluation for stillgo.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use parser::{parse_expr, ParseError};
pub mod eval;
pub mod call;
pub mod freeze;

pub use eval::{eval_ast, eval_str, format_const, format_val, package_of, prepare_assignment, truthy, Const, EvalError, Scope, Val};
