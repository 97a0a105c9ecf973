//! The floor for the generator's CPU per received frame, as `raw-broadcast` is the server's:
//! N clients do a normal WebSocket handshake and NHEM auth, then a few threads each own many
//! sockets on one edge-triggered epoll set and do one read per readable socket, counting the
//! frames from their headers and parsing nothing. What it spends per frame is the kernel's
//! receive path (the read, the ACK, epoll) plus the least user-space work there can be;
//! `loadgen`'s reader threads do that plus JSON, latency and loss, so the difference between
//! the two is what loadgen's own code costs. `--stamps` reads with `recvmsg` and asks the
//! kernel for `SO_TIMESTAMPNS` as loadgen does; `--window-us` is loadgen's wake-up window.
//!
//! It prints one JSON object: frames per second per client and CPU µs per frame over the
//! measured window (after the connections are up and a warm-up has passed).

use clap::Parser;
use loadgen::wire::{self, OP_PING, OP_PONG, OP_TEXT};
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{recvmsg, MsgFlags};
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::client::Request;

/// A poll that returned this many events or more is followed by the next at once (as loadgen).
const BUSY: usize = 128;
/// The shared read buffer: larger than any burst one socket gets between two wake-ups.
const READ_BUFFER: usize = 64 * 1024;

#[derive(Parser, Debug)]
#[command(
    about = "The cheapest NHEM broadcast reader: the floor for a load generator's CPU per received frame",
    long_about = "Connects --clients WebSocket clients to an NHEM server, authenticates them, then reads \
                  on --threads threads (one epoll set each, one read per readable socket) and counts \
                  frames without parsing them. Prints one JSON object with CPU µs per frame over the \
                  measured window. Compare with `loadgen run` against the same server in the same \
                  session: bench/broadcast-bench.sh does, given a SERVER:CLIENTS:raw-reader spec, and so does every round of bench/broadcast-matrix.sh. A wrong password shows as no frames (fps_per_client 0)."
)]
struct Args {
    /// The server's WebSocket URL (ws:// only).
    #[arg(long, default_value = "ws://127.0.0.1:30415/")]
    ws: String,
    /// How many clients to connect.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// The NHEM password sent in the auth message.
    #[arg(long, default_value = "31415")]
    password: String,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds between the last connection and the start of the measurement.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Reader threads (loadgen uses one per core, at most 4).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A reader wakes at most once per this many µs unless it is busy (loadgen: 1000; 0: at once).
    #[arg(long, default_value_t = 1000)]
    window_us: u64,
    /// Read with recvmsg and the kernel's receive timestamps (SO_TIMESTAMPNS), as loadgen does.
    #[arg(long)]
    stamps: bool,
}

/// Counts the frames in a byte stream of unmasked server frames, from their headers alone;
/// keeps only the payloads of pings, which the server expects answered (it closes a client
/// that does not pong).
#[derive(Debug, Default)]
struct FrameCounter {
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass over.
    skip: u64,
    /// The current frame is a ping: its payload so far.
    ping: Option<Vec<u8>>,
}

/// The length of a frame header whose second byte is `b1`.
fn header_len(b1: u8) -> usize {
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameCounter {
    /// Takes the next bytes of the stream; returns how many text frames began in them and
    /// calls `on_ping` with each complete ping's payload.
    fn feed(&mut self, mut bytes: &[u8], on_ping: &mut impl FnMut(&[u8])) -> u64 {
        let mut text_frames = 0;
        loop {
            if self.skip > 0 {
                if bytes.is_empty() {
                    return text_frames;
                }
                let n = self.skip.min(bytes.len() as u64) as usize;
                if let Some(ping) = self.ping.as_mut() {
                    ping.extend_from_slice(&bytes[..n]);
                }
                self.skip -= n as u64;
                bytes = &bytes[n..];
                if self.skip == 0 {
                    if let Some(ping) = self.ping.take() {
                        on_ping(&ping);
                    }
                }
                continue;
            }
            let want = if self.have < 2 {
                2
            } else {
                header_len(self.header[1])
            };
            if self.have == want && self.have >= 2 {
                let h = &self.header;
                self.skip = match h[1] & 0x7f {
                    126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                    127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                    n => u64::from(n),
                };
                match h[0] & 0x0f {
                    OP_TEXT => text_frames += 1,
                    OP_PING if self.skip == 0 => on_ping(&[]),
                    OP_PING => self.ping = Some(Vec::with_capacity(self.skip as usize)),
                    _ => {}
                }
                self.have = 0;
                continue;
            }
            if bytes.is_empty() {
                return text_frames;
            }
            let n = (want - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
        }
    }
}

/// A client's pong to `payload` (masked, as a client's frames must be).
fn pong(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    wire::encode(OP_PONG, payload, wire::mask(), &mut frame);
    frame
}

/// Connects, upgrades (loadgen's handshake, which checks the server's accept key) and sends
/// the auth message; returns the socket, non-blocking, and what followed the handshake's
/// response.
async fn connect(
    request: &Request,
    password: &str,
    stamps: bool,
) -> Result<(std::net::TcpStream, Vec<u8>), String> {
    let authority = request
        .uri()
        .authority()
        .ok_or("the URL has no host")?
        .as_str();
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    if stamps {
        loadgen::mux::stamp_arrivals(&stream);
    }
    let ahead = tokio::time::timeout(
        Duration::from_secs(10),
        wire::handshake(&mut stream, request),
    )
    .await
    .map_err(|_| "no handshake answer within 10 s".to_string())?
    .map_err(|e| format!("handshake: {e}"))?;
    let auth = serde_json::json!({"type": "auth", "password": password}).to_string();
    let mut frame = Vec::new();
    wire::encode(OP_TEXT, auth.as_bytes(), wire::mask(), &mut frame);
    stream
        .write_all(&frame)
        .await
        .map_err(|e| format!("auth: {e}"))?;
    let stream = stream.into_std().map_err(|e| e.to_string())?;
    Ok((stream, ahead))
}

/// One reader thread's sockets.
struct Reader {
    sockets: Vec<(mio::net::TcpStream, FrameCounter)>,
    stamps: bool,
    window: Duration,
}

impl Reader {
    /// Reads until `stop`; adds the frames it counted to `frames` after every wake-up and
    /// returns how many sockets the server closed.
    fn run(mut self, frames: &AtomicU64, stop: &AtomicBool) -> std::io::Result<usize> {
        let mut poll = Poll::new()?;
        for (i, (stream, _)) in self.sockets.iter_mut().enumerate() {
            poll.registry()
                .register(stream, Token(i), Interest::READABLE)?;
        }
        let mut open = vec![true; self.sockets.len()];
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let mut woke = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if events.iter().count() < BUSY {
                let due = woke + self.window;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(10))) {
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            woke = Instant::now();
            let mut counted = 0;
            for event in events.iter() {
                let i = event.token().0;
                let (stream, counter) = &mut self.sockets[i];
                while open[i] {
                    let read = if self.stamps {
                        let mut iov = [IoSliceMut::new(&mut buf)];
                        recvmsg::<()>(
                            stream.as_raw_fd(),
                            &mut iov,
                            Some(&mut control),
                            MsgFlags::empty(),
                        )
                        .map(|msg| {
                            // Taken as loadgen takes it, so the cost is the same.
                            let _ = msg.cmsgs().map(|mut c| c.next());
                            msg.bytes
                        })
                        .map_err(std::io::Error::from)
                    } else {
                        stream.read(&mut buf)
                    };
                    match read {
                        Ok(0) => open[i] = false,
                        Ok(n) => {
                            counted += counter.feed(&buf[..n], &mut |payload| {
                                // A control frame is tiny: the socket's buffer takes it whole.
                                let _ = stream.write_all(&pong(payload));
                            });
                            if n < buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => open[i] = false,
                    }
                }
            }
            frames.fetch_add(counted, Ordering::Relaxed);
        }
        Ok(open.iter().filter(|o| !**o).count())
    }
}

fn fail(message: String) -> ! {
    eprintln!("raw-reader: {message}");
    std::process::exit(2);
}

fn main() {
    let args = Args::parse();
    if !args.ws.starts_with("ws://") {
        fail(format!(
            "--ws {}: only ws:// URLs (e.g. ws://127.0.0.1:30415/)",
            args.ws
        ));
    }
    let request = client_io::ws::upgrade_request(&args.ws, &[])
        .unwrap_or_else(|e| fail(format!("--ws {}: {e}", args.ws)));
    if args.clients == 0 || args.threads == 0 || args.seconds == 0 {
        fail("--clients, --threads and --seconds must be at least 1".into());
    }
    let mut per_thread: Vec<Vec<(mio::net::TcpStream, FrameCounter)>> =
        (0..args.threads).map(|_| Vec::new()).collect();
    // Clients connect one after the other, as a ramp would; the reading is on plain threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("cannot start a runtime: {e}")));
    for i in 0..args.clients {
        let (stream, ahead) = runtime
            .block_on(connect(&request, &args.password, args.stamps))
            .unwrap_or_else(|e| {
                fail(format!(
                    "client {i}: {e} (is an NHEM server listening at {}?)",
                    args.ws
                ))
            });
        let mut counter = FrameCounter::default();
        counter.feed(&ahead, &mut |_| {});
        per_thread[i % args.threads].push((mio::net::TcpStream::from_std(stream), counter));
    }
    let frames = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (cpu, rss_mib, closed, window) = std::thread::scope(|scope| {
        let readers: Vec<_> = per_thread
            .into_iter()
            .map(|sockets| {
                let reader = Reader {
                    sockets,
                    stamps: args.stamps,
                    window: Duration::from_micros(args.window_us),
                };
                let (frames, stop) = (&frames, &stop);
                scope.spawn(move || reader.run(frames, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(args.warmup));
        let (cpu0, frames0, t0) = (
            cpu_seconds(),
            frames.load(Ordering::Relaxed),
            Instant::now(),
        );
        std::thread::sleep(Duration::from_secs(args.seconds));
        let (cpu1, frames1, t1) = (
            cpu_seconds(),
            frames.load(Ordering::Relaxed),
            Instant::now(),
        );
        let rss_mib = loadgen::monitor::rss_mib().unwrap_or(0.0);
        stop.store(true, Ordering::Relaxed);
        let mut closed = 0;
        for reader in readers {
            match reader.join() {
                Ok(Ok(n)) => closed += n,
                Ok(Err(e)) => fail(format!("reader: {e}")),
                Err(_) => fail("a reader thread panicked".into()),
            }
        }
        (cpu1 - cpu0, rss_mib, closed, (frames1 - frames0, t1 - t0))
    });
    let (counted, elapsed) = window;
    let seconds = elapsed.as_secs_f64();
    println!(
        "{{\"clients\":{},\"threads\":{},\"stamps\":{},\"window_us\":{},\"seconds\":{seconds:.3},\
         \"frames\":{counted},\"fps_per_client\":{:.2},\"cpu_us_per_frame\":{:.3},\
         \"cpu_utilization\":{:.3},\"rss_kib_per_client\":{:.2},\"closed_by_server\":{closed}}}",
        args.clients,
        args.threads,
        args.stamps,
        args.window_us,
        counted as f64 / seconds / args.clients as f64,
        cpu * 1e6 / counted.max(1) as f64,
        cpu / seconds,
        rss_mib * 1024.0 / args.clients as f64,
    );
}

/// CPU seconds this process has used; the same meter as loadgen's report.
fn cpu_seconds() -> f64 {
    loadgen::monitor::cpu_seconds().unwrap_or_else(|| fail("cannot read /proc/self/stat".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode;
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    /// A server's (unmasked) frame, encoded by tungstenite: the counter is checked against an
    /// encoder that is not ours.
    fn server_frame(opcode: u8, payload_len: usize) -> Vec<u8> {
        let header = FrameHeader {
            opcode: OpCode::from(opcode),
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        Frame::from_payload(header, vec![b'x'; payload_len].into())
            .format(&mut out)
            .expect("a Vec takes any frame");
        out
    }

    proptest! {
        /// However the stream is cut into reads, every text frame is counted once and no other.
        #[test]
        fn counts_text_frames_across_any_read_boundaries(
            frames in prop::collection::vec((prop::sample::select(vec![1u8, 2, 9, 10]), 0usize..70_000), 1..12),
            ping_len in 0usize..126,
            cuts in prop::collection::vec(1usize..5_000, 0..40),
        ) {
            // Pings are control frames: at most 125 bytes.
            let frames: Vec<(u8, usize)> =
                frames.into_iter().map(|(op, len)| (op, if op == 9 { ping_len } else { len })).collect();
            let stream: Vec<u8> = frames.iter().flat_map(|(op, len)| server_frame(*op, *len)).collect();
            let expected = frames.iter().filter(|(op, _)| *op == 1).count() as u64;
            let expected_pings: Vec<usize> =
                frames.iter().filter(|(op, _)| *op == 9).map(|(_, len)| *len).collect();
            let mut counter = FrameCounter::default();
            let mut pings = Vec::new();
            let mut on_ping = |payload: &[u8]| pings.push(payload.len());
            let mut counted = 0;
            let mut rest = &stream[..];
            for cut in cuts {
                let n = cut.min(rest.len());
                counted += counter.feed(&rest[..n], &mut on_ping);
                rest = &rest[n..];
            }
            counted += counter.feed(rest, &mut on_ping);
            prop_assert_eq!(counted, expected);
            prop_assert_eq!(pings, expected_pings);
            prop_assert_eq!(counter.have, 0);
            prop_assert_eq!(counter.skip, 0);
        }
    }
}
