//! The stack on this machine: `cargo xtask dev`, the supervisor that starts and stops the
//! services (the benchmarks and checks start them through it too), the token proxy the
//! third-party MCP clients go through, a small client of the services' API, and a PostgreSQL
//! schema of its own for one run; and stand-in Kubernetes clusters (`cargo xtask standin`).

pub mod api;
pub mod dev;
pub mod scratch_schema;
pub mod standin;
pub mod supervisor;
pub mod token_proxy;
