//! The course's helper commands, in Rust so that they run the same on Linux, macOS and
//! Windows: `scripts/broker` ([`broker`]), `scripts/demo` ([`demo`]), `scripts/test` and
//! `scripts/bench`. The files in `scripts/` are thin shims that `cargo run` these programs
//! (`src/bin/`); on Windows, `cargo run -p scripts --bin demo -- all` runs the demo.
//!
//! [`nodes`] is the one place that says where the course's RabbitMQ nodes live (their names and
//! ports); [`guide`] reads a chapter guide's runnable blocks, which the demo runs and the test
//! harness executes. The test harness (package `harness`) uses both.

pub mod api;
pub mod bench;
pub mod broker;
pub mod demo;
pub mod guide;
pub mod nodes;
pub mod process;
pub mod test;
pub mod workspace;
