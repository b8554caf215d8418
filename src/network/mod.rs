//! What pyswap fetches: requests with their limits, proxies and retries (`fetch`) and the
//! download cache of archives (`cache`). It uses the ground modules only, never storage,
//! settings or commands (ARCHITECTURE.md).

pub(crate) mod cache;
pub mod fetch;
