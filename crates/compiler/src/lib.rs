//! sluice-compiler (stub while the registry is being written).
pub mod registry;
