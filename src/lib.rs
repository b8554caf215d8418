//! pyswap: install and switch Python runtimes through an immutable, content-addressed store.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Domain modules own one concern
//! each and never see clap; `cli` turns flags and environment into [`settings::Settings`] once,
//! and `commands` are short scripts over the domain modules.

pub mod activation;
pub mod archive;
pub mod bytecode;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod crash;
pub mod db;
pub mod exit;
pub mod fetch;
pub mod gc;
pub mod home;
pub mod install;
pub mod interrupt;
pub mod inuse;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod mirror;
pub mod output;
pub mod pin;
pub mod platform;
pub mod policy;
pub mod profile;
pub mod remove;
pub mod secret;
pub mod settings;
pub mod store;
pub mod text;
pub mod tree;
pub mod validate;
pub mod venv;
pub mod verify;
pub mod version;
pub mod window;
