//! The crate's one error type. Every variant carries enough context (file, line, field, what was
//! expected and what was found) for a user to fix the input without reading our source.

use std::path::PathBuf;

/// Convenient alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in motionseg.
///
/// `file` fields hold the path (or a caller-given name such as `"<stdin>"`) of the input the
/// error is about; `line` fields are 1-based line numbers in that input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused to read or write a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A token or line of a text format was not what the grammar allows.
    #[error("{file}:{line}: {field}: expected {expected}, found {found}")]
    Parse {
        /// The input file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Which field or keyword was being read (e.g. `"CHANNELS"`, `"bone lfemur"`).
        field: String,
        /// What the grammar expected there.
        expected: String,
        /// What was actually there (truncated for display).
        found: String,
    },

    /// The input is well-formed token by token but inconsistent as a whole (a frame count that
    /// disagrees with the data, a missing bone, a reference to an unknown joint, ...).
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The input file.
        file: String,
        /// 1-based line number, when the problem has one.
        line: Option<usize>,
        /// What is wrong, in words.
        message: String,
    },

    /// An array had the wrong shape or held values we refuse to use (NaN, infinity).
    #[error("{file}: {field}: expected {expected}, found {found}")]
    Shape {
        /// The input file.
        file: String,
        /// The array or field concerned.
        field: String,
        /// The expected shape or value range.
        expected: String,
        /// What was found.
        found: String,
    },

    /// The ONNX Runtime library or a model session failed (missing or wrong-version library,
    /// corrupt model, failed inference).
    #[error("{context}: {message}")]
    Runtime {
        /// What was being done, naming the file involved.
        context: String,
        /// What ONNX Runtime (or the check around it) said.
        message: String,
    },

    /// A caller passed a parameter outside its valid range.
    #[error("invalid parameter {name}: {message}")]
    Param {
        /// The parameter's name.
        name: &'static str,
        /// Why it is invalid.
        message: String,
    },

    /// A live session (see `motionseg::service`) was refused or ended early: bad input over the
    /// wire, an unknown model, too many sessions, an idle or vanished client, shutdown.
    #[error("session {session}: {field}: {message}")]
    Session {
        /// The server-assigned session id (0 before one was assigned).
        session: u64,
        /// What kind of failure, which decides the status the client sees.
        kind: SessionErrorKind,
        /// The message field concerned, with the frame's sequence number for frames
        /// (e.g. `"frame seq=17 values[3]"`).
        field: String,
        /// What is wrong, in words.
        message: String,
    },
}

/// The kinds of [`Error::Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The client sent something the protocol does not allow (bad frame, bad session start).
    InvalidInput,
    /// The session asked for a model the server does not have.
    UnknownModel,
    /// The server already runs its maximum number of sessions.
    Busy,
    /// The client sent nothing for longer than the idle timeout.
    IdleTimeout,
    /// The client went away mid-stream.
    Disconnected,
    /// The server is shutting down and takes no new sessions.
    ShuttingDown,
}

impl Error {
    /// Builds an [`Error::Parse`], shortening `found` so that binary garbage does not flood a
    /// terminal.
    pub fn parse(
        file: &str,
        line: usize,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: &str,
    ) -> Self {
        Error::Parse {
            file: file.to_owned(),
            line,
            field: field.into(),
            expected: expected.into(),
            found: shorten(found),
        }
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Invalid { file: file.to_owned(), line, message: message.into() }
    }

    /// Builds an [`Error::Session`].
    pub fn session(
        session: u64,
        kind: SessionErrorKind,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Session { session, kind, field: field.into(), message: message.into() }
    }

    /// Builds an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// A number for a message: plain when ordinary, in exponent form when huge or tiny (Rust prints
/// `1e300` as 301 digits otherwise).
///
/// ```
/// assert_eq!(motionseg::error::num(120.0), "120");
/// assert_eq!(motionseg::error::num(1e300), "1e300");
/// assert_eq!(motionseg::error::num(-2.5e-7), "-2.5e-7");
/// ```
pub fn num(x: f64) -> String {
    shown(x, x)
}

/// [`num`] for an `f32`, printed as the `f32` it is (`3e30`, not its `f64` expansion).
///
/// ```
/// assert_eq!(motionseg::error::num32(3e30), "3e30");
/// ```
pub fn num32(x: f32) -> String {
    shown(x, f64::from(x))
}

/// `x` in exponent form when `value` (its size) is huge or tiny, else plain.
fn shown<T: std::fmt::Display + std::fmt::LowerExp>(x: T, value: f64) -> String {
    if value != 0.0 && value.is_finite() && !(1e-3..1e9).contains(&value.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Quotes a found token for display: at most 40 characters, control characters escaped, and
/// `end of file` for an empty token.
pub(crate) fn shorten(found: &str) -> String {
    if found.is_empty() {
        return "end of input".to_owned();
    }
    let mut s: String = found.chars().take(40).flat_map(char::escape_debug).collect();
    if found.chars().count() > 40 {
        s.push('…');
    }
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_file_line_and_field() {
        let e = Error::parse("a.amc", 12, "bone lfemur", "3 numbers", "1.0 x");
        assert_eq!(e.to_string(), "a.amc:12: bone lfemur: expected 3 numbers, found \"1.0 x\"");
    }

    #[test]
    fn shorten_escapes_and_truncates() {
        assert_eq!(shorten(""), "end of input");
        assert_eq!(shorten("a\u{0}b"), "\"a\\0b\"");
        assert!(shorten(&"x".repeat(100)).ends_with("…\""));
    }
}
