//! sluice-runtime: serving a compiled config (tokio, hyper, rustls live only here).
