//! What pyswap fetches and from where: requests with their limits, proxies and retries
//! (`fetch`), the download cache of archives (`cache`), the catalogue with its cached copies
//! (`catalogue`), and mirrors (`mirror`). It may use the storage layer and the ground modules,
//! never settings or commands (ARCHITECTURE.md).

pub(crate) mod cache;
pub mod catalogue;
pub mod fetch;
pub(crate) mod mirror;
