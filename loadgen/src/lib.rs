//! `loadgen`: how many clients can an NHEM server feed at 60 FPS, and with what latency?
//!
//! It talks to servers only over the wire (any NHEM server, not only ours) and depends on
//! nothing but `protocol`. Clients (`client`) measure one-way latency per frame against the
//! frame's scheduled timestamp into HdrHistograms (`recorder`, `histo`), correcting for
//! coordinated omission; the generator watches its own CPU and timer lag (`monitor`); `report`
//! writes JSON, Markdown, HTML and merges shards exactly; `slo` gates CI on objectives.

pub mod client;
pub mod frame;
pub mod histo;
pub mod html;
pub mod monitor;
pub mod mux;
pub mod profiles;
pub mod recorder;
pub mod report;
pub mod run;
pub mod slo;
mod stream;
pub mod wire;
