//! A failure as the one line a learner reads: what went wrong and, where it is known, what to do.

use std::fmt;

/// A failure explained for a learner: what went wrong and, where we know it, what to do.
#[derive(Debug)]
pub struct Failure {
    message: String,
    hint: Option<String>,
}

impl Failure {
    /// A failure with its message; add a hint with [`hint`](Self::hint).
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what the learner can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds `more` to the hint (after it, if there is one): another thing the learner can do.
    pub fn and_hint(mut self, more: &str) -> Self {
        self.hint = Some(match self.hint {
            Some(hint) => format!("{hint}; {more}"),
            None => more.to_string(),
        });
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hint {
            Some(hint) => write!(f, "{} (hint: {hint})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Failure {}
