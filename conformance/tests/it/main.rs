//! Integration tests of the conformance suite: it passes a correct server, catches every
//! injected fault with exactly the expected case, validates files, and writes valid reports.

mod ecg;
mod handler;
mod monitor;
mod mutations;
mod proxy_record;
mod reports;
mod retroboard;
mod server_suite;
mod support;
mod tls;
mod validate;
