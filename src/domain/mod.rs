//! The domain layer: what pyswap does with a runtime: unpack an archive, compile its bytecode,
//! install it into the store, validate it, move venvs, gc, verify, mirror, and the version
//! policy and maintenance windows. It uses storage, network and the catalogue, never settings,
//! clap or commands (ARCHITECTURE.md).

pub mod archive;
pub mod bytecode;
pub(crate) mod gc;
pub(crate) mod install;
pub(crate) mod mirror;
pub(crate) mod optimise;
pub(crate) mod policy;
pub mod validate;
pub(crate) mod venv;
pub(crate) mod verify;
pub(crate) mod window;
