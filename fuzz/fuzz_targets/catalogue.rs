//! The catalogue parser (and resolution over what it accepts) on arbitrary input: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pyswap::catalogue::{Catalogue, Location};
use pyswap::ground::platform::Platform;
use pyswap::ground::version::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(catalogue) = Catalogue::from_bytes(data, Location::Embedded) else {
        return;
    };
    let platform = Platform::parse("linux-x86_64-gnu").unwrap();
    for request in [
        "3",
        "3.12",
        "3.11.9",
        ">=3.10,<3.13",
        "cpython-3.12.3-linux-x86_64-gnu",
    ] {
        let request = Request::parse(request).unwrap();
        let _ = catalogue.resolve(&request, &platform, false);
        let _ = catalogue.resolve(&request, &platform, true);
    }
});
