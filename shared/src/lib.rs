//! Seatkeeper's shared crate: pure domain decisions (`domain`), the one adapter over the single
//! DynamoDB table (`store`), the API Gateway HTTP adapter (`http`) and the wiring every Lambda
//! uses (`lambda`). A request reads straight down: event → `http` (parse, authorise) →
//! `domain` (decide) → `store` (conditional write) → response.

pub mod app;
pub mod domain;
pub mod handlers;
pub mod http;
pub mod lambda;
pub mod report;
pub mod store;
pub mod sweeps;

pub use app::App;
