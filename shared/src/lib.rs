//! Seatkeeper's shared crate: pure domain decisions (`domain`), the one adapter over the single
//! DynamoDB table (`store`), the API Gateway HTTP adapter (`http`) and the wiring every Lambda
//! uses (`lambda`). Every command reads straight down (`command`): event → `http` (parse) →
//! `handlers` (load, authorise) → `domain` (decide: typed changes) → `store::apply` (one
//! conditional transaction) → response; a lost race comes back typed and is run again. A table
//! is set up before it serves anyone (`store::setup`: the vendor root and the org ids' case
//! guards), locally at start and in AWS by the deployment (`deploy`).

pub mod app;
pub mod command;
pub mod deploy;
pub mod domain;
pub mod files;
pub mod handlers;
pub mod http;
pub mod imports;
pub mod lambda;
pub mod mail;
pub mod report;
pub mod store;
pub mod sweeps;

pub use app::App;
