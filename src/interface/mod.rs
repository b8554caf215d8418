//! The interface layer: what the operator sets and sees: settings (flags, environment, the
//! manifest), output (stdout data, stderr talk, progress), logging and metrics.

pub(crate) mod log;
pub(crate) mod metrics;
pub mod output;
pub(crate) mod settings;
