//! What is on disk under `PYSWAP_HOME` (store-layout.md describes every file): the home and its
//! marker, the locks, the content-addressed store, the SQLite database, profiles with their
//! generations, and `.python-version` pins. Nothing here knows about the network, settings or
//! commands (ARCHITECTURE.md).

pub mod db;
pub(crate) mod home;
pub mod lock;
pub(crate) mod objects;
pub(crate) mod pin;
pub(crate) mod profile;
pub mod store;
