//! Integration tests: the pyswap binary against catalogues and archives built by the tests,
//! served from file:// and from an HTTP server on 127.0.0.1. Nothing leaves this machine.

mod common;
mod concurrency;
mod crash;
mod errors;
mod help;
mod lifecycle;
