//! Owns the give-up marker of the streaming lexer and its key memory: the input holds a case
//! they do not handle exactly like serde_json, so the caller hands it to serde_json.

/// The lexer (or the key memory it uses) gave up on the input; see `lex`'s module comment.
#[derive(Debug, PartialEq, Eq)]
pub struct Bail;

pub type Lexed<T> = Result<T, Bail>;
