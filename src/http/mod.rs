//! HTTP helpers every handler shares, and nothing else: reading a body under the size and
//! time limits and parsing it into fields, and CORS. A leaf: it knows settings and domain
//! types, never a handler (docs/architecture.md).

pub mod body;
pub mod cors;
pub mod json;
pub mod parse;
pub mod problem;

pub use problem::{respond as problem_answer, Answer, ErrorEntry, Problem};
