//! Integration tests against DynamoDB Local (`make test` starts it).

mod allocation;
mod http_server;
mod orders;
mod orgs;
mod template;
