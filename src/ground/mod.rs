//! The ground layer: small pieces with no pyswap concern of their own, which every other layer
//! may use (exit statuses and the registry of error reasons, the clock, text for terminals,
//! tree digests, deletion that follows no link, `/proc`, the grammars of versions and
//! platforms). Nothing here uses another layer (ARCHITECTURE.md).

pub(crate) mod clock;
pub mod crash;
pub mod exit;
pub mod interrupt;
pub(crate) mod inuse;
pub(crate) mod mapped;
pub(crate) mod nofollow;
pub mod platform;
pub(crate) mod remove;
pub mod secret;
pub(crate) mod spawn;
pub mod text;
pub mod tree;
pub(crate) mod units;
pub mod version;
