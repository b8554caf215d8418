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
mod day_one;
mod disk;
mod errors;
mod first_week;
mod hardening3;
mod help;
mod hostile;
mod interface;
mod lifecycle;
mod manifest;
mod network;
mod output;
mod rollout;
mod running;
mod server;
mod services;
mod shared_host;
mod signed;
mod system_home;
mod trust;
mod validation;
mod venvs;
