//! Checked settings: flags and environment merged once by `cli`, then handed to commands.

use std::time::Duration;

use crate::catalog::Location;
use crate::home::Home;
use crate::output::Output;
use crate::platform::{Platform, PlatformError};

#[derive(Debug)]
pub struct Settings {
    pub home: Home,
    pub profile: String,
    pub catalogue: Location,
    /// `None`: detect the host.
    pub platform: Option<Platform>,
    pub out: Output,
    /// How long a command waits for a lock held by another pyswap.
    pub lock_wait: Duration,
    pub validate_timeout: Duration,
}

impl Settings {
    pub fn platform(&self) -> Result<Platform, PlatformError> {
        match &self.platform {
            Some(p) => Ok(p.clone()),
            None => Platform::detect(),
        }
    }
}
