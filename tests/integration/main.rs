//! Integration tests against DynamoDB Local (`make test` starts it).

mod allocation;
mod authz;
mod console_hosting;
mod docs;
mod expiry;
mod faults;
mod hostile;
mod http_server;
mod imports;
mod jobs;
mod leading_keys;
mod long_commits;
mod mail;
mod orders;
mod orgs;
mod properties;
mod publish;
mod renewal;
mod round_trips;
mod steps;
mod sweeps;
mod template;
mod tenancy;
mod usage;
mod users;
mod workbooks;
