use crate::FileId;

/// Severity, nginx's log levels that configuration checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `[emerg]`: the configuration is rejected.
    Emerg,
    /// `[alert]`
    Alert,
    /// `[crit]`
    Crit,
    /// `[error]`
    Error,
    /// `[warn]`: printed, the test still succeeds.
    Warn,
    /// `[notice]`
    Notice,
    /// `[info]`
    Info,
}

impl Level {
    /// nginx's name for the level, as printed between brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }
}

/// One message about the configuration: nginx's text plus where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub level: Level,
    /// The message, in nginx's words, without the ` in FILE:LINE` suffix.
    pub message: String,
    /// Where nginx reports it: file and line. `None` for checks nginx reports with no
    /// position (`no "events" section in configuration`, `unknown "x" variable`).
    pub at: Option<(FileId, u32)>,
    /// For messages nginx itself would not print: the sluice rule's name, printed as a
    /// trailing ` (sluice: RULE)` so users and scripts can tell them apart.
    pub rule: Option<&'static str>,
}

impl Diagnostic {
    /// An `[emerg]` at a file and line.
    pub fn emerg(message: impl Into<String>, file: FileId, line: u32) -> Self {
        Diagnostic {
            level: Level::Emerg,
            message: message.into(),
            at: Some((file, line)),
            rule: None,
        }
    }

    /// A diagnostic of any level, with or without a position.
    pub fn new(level: Level, message: impl Into<String>, at: Option<(FileId, u32)>) -> Self {
        Diagnostic {
            level,
            message: message.into(),
            at,
            rule: None,
        }
    }

    /// The same diagnostic, marked as sluice's own rule.
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }
}
