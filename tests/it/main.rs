//! Integration tests: the pyswap binary against catalogues and archives built by the tests,
//! served from file:// and from an HTTP server on 127.0.0.1. Nothing leaves this machine.

// End-to-end stories read best top to bottom in one function, and the malicious-archive table
// pairs each case with its builder closure.
#![allow(clippy::too_many_lines, clippy::type_complexity)]

mod architecture;
mod bytecode;
mod common;
mod concurrency;
mod corpus;
mod crash;
mod disk;
mod env;
mod errors;
mod gc_safety;
mod help;
mod hostile;
mod interface;
mod lifecycle;
mod manifest;
mod metrics;
mod minors;
mod network;
mod objects;
mod output;
mod pin;
mod requests;
mod rollout;
mod running;
mod server;
mod services;
mod shared_host;
mod signatures;
mod system_home;
mod uninstall;
mod validation;
mod venvs;
