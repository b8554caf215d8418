pub mod archive;
pub mod catalog;
pub mod fetch;
pub mod platform;
pub mod tree;
pub mod version;
