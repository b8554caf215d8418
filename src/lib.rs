//! pyswap: install and switch Python runtimes through an immutable, content-addressed store.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. Domain modules own one concern
//! each and never see clap; `cli` turns flags and environment into `settings::Settings` once,
//! and `commands` are short scripts over the domain modules (ARCHITECTURE.md has the layers).
//!
//! The public surface is what `main.rs`, the benches, the fuzz targets, the example and the
//! integration tests use (`cli::run`, the exit statuses, unpacking, tree digests, the
//! catalogue parser, reading the database); every other item is `pub(crate)`, and
//! `unreachable_pub` keeps it so: a `pub` that nothing outside can reach would read as API.

#![warn(unreachable_pub)]
// The docs are the developers' (CI builds them with `--document-private-items`), so public docs
// may link to crate-private items; a link to nothing still fails.
#![allow(rustdoc::private_intra_doc_links)]

mod activation;
pub mod catalogue;
pub mod cli;
mod commands;
pub mod domain;
pub mod ground;
pub mod interface;
pub mod network;
pub mod storage;
