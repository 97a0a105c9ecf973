//! Many sockets per thread: where broadcast clients' sessions run by default.
//!
//! One tokio task per client on tungstenite cost ~9 µs of CPU per received frame (perf at
//! 1,000–2,000 clients): two read syscalls per frame (the second returns `WouldBlock`), a task
//! wake-up, tungstenite zeroing its read buffer before each read, four histogram records. That
//! is more than the server spends sending the frame, so the generator measured its own
//! queueing. Here each of a few threads owns many sockets on one epoll set (mio,
//! edge-triggered): one `recvmsg` per frame (a read shorter than the space offered drained the
//! socket; the next arrival raises a new edge), frames parsed in place ([`crate::wire`]), and
//! the kernel's receive timestamp (`SO_TIMESTAMPNS`) taken as the arrival time, so a busy
//! reader does not add its own delay to the server's latency. How far the reader lags behind
//! the kernel is measured ([`ReaderLag::read`]) and so is its timer lag, which the report's
//! trust verdict includes.
//!
//! The client's task connects, says hello and waits (see [`crate::client`]); its session's
//! measurements go through the same [`StreamState::on_text`] as on the per-task path.

use crate::client::Target;
use crate::frame::now_us;
use crate::recorder::Recorder;
use crate::stream::{greeting, Answer, Greeting, Local, StreamState};
use crate::wire::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use std::io::{ErrorKind, IoSliceMut, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// The readers' own timer: how late it fires is the generator's scheduling lag.
const TICK: Duration = Duration::from_millis(10);
const WAKER: Token = Token(usize::MAX);
/// A reader wakes at most once per window unless it is busy: frames are stamped by the kernel,
/// so reading them a little later changes no latency, and fewer wake-ups cost less. At 2,000
/// clients: 600 polls a second instead of 10,000, 6.8 µs of CPU per frame instead of 7.4–7.9,
/// and p99 20–24 ms instead of 30–47 (two runs each, `LOADGEN_BATCH_US` experiment). One frame
/// period is 16.7 ms, so a socket does not get two frames within a window.
const BATCH_WINDOW: Duration = Duration::from_millis(1);
/// A poll that returned this many events or more is followed by the next at once.
const BUSY: usize = 128;
/// A session's own buffer when it first keeps a partial frame; it doubles when a message does
/// not fit.
const FIRST_BUFFER: usize = 2048;
/// The reader's shared buffer, which every read with nothing pending goes to.
const SCRATCH: usize = 64 << 10;
/// Free space below which the buffer is compacted or grown before a read.
const MIN_SPARE: usize = 512;

/// How a reader thread kept up: timer lag, and kernel arrival → processing (µs).
pub struct ReaderLag {
    pub tick: Histogram<u64>,
    pub read: Histogram<u64>,
    /// Reads the kernel gave no timestamp for (their arrival was taken at the read).
    pub unstamped: u64,
}

impl ReaderLag {
    fn new() -> Self {
        ReaderLag {
            tick: crate::histo::new_us(),
            read: crate::histo::new_us(),
            unstamped: 0,
        }
    }
}

/// A session handed to a reader, and where its state goes back when it ends.
struct Handoff {
    stream: std::net::TcpStream,
    ahead: Vec<u8>,
    state: StreamState,
    until: Instant,
    done: oneshot::Sender<(StreamState, bool)>,
}

/// The reader threads of one run.
pub struct Readers {
    queues: Vec<(mpsc::Sender<Handoff>, Arc<Waker>)>,
    next: AtomicUsize,
    threads: Mutex<Vec<std::thread::JoinHandle<ReaderLag>>>,
}

impl Readers {
    /// Starts `count` threads; each stops by itself once `target.end` has passed and its
    /// sessions are closed.
    pub fn start(
        count: usize,
        target: Arc<Target>,
        recorder: Arc<Recorder>,
    ) -> std::io::Result<Self> {
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (tx, rx) = mpsc::channel();
            let (target, recorder) = (target.clone(), recorder.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("loadgen-reader-{i}"))
                    .spawn(move || Reader::new(poll, rx, &target, &recorder).run())?,
            );
            queues.push((tx, waker));
        }
        Ok(Readers {
            queues,
            next: AtomicUsize::new(0),
            threads: Mutex::new(threads),
        })
    }

    /// Runs a started session on a reader until `until` or until the server ends it; gives
    /// back the stream state and whether the connection ended early.
    pub(crate) async fn run(
        &self,
        stream: tokio::net::TcpStream,
        ahead: Vec<u8>,
        state: StreamState,
        until: Instant,
    ) -> (StreamState, bool) {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(_) => return (state, true),
        };
        let (done, finished) = oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        let (queue, waker) = &self.queues[i];
        let handoff = Handoff {
            stream,
            ahead,
            state,
            until,
            done,
        };
        if let Err(mpsc::SendError(back)) = queue.send(handoff) {
            // The reader has stopped: the run is over.
            return (back.state, false);
        }
        let _ = waker.wake();
        finished.await.unwrap_or_else(|_| {
            // Only a reader that panicked drops a session unanswered.
            (StreamState::new(0, None), true)
        })
    }

    /// Waits for the threads (they stop by themselves after the run's end) and merges their lag.
    pub fn join(&self) -> ReaderLag {
        let mut all = ReaderLag::new();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            if let Ok(lag) = thread.join() {
                let _ = all.tick.add(&lag.tick);
                let _ = all.read.add(&lag.read);
                all.unstamped += lag.unstamped;
            }
        }
        all
    }
}

/// Asks the kernel to stamp what `socket` receives (`SO_TIMESTAMPNS`); where it cannot, the
/// readers take the arrival time at the read and the report counts those reads.
pub fn stamp_arrivals(socket: &impl std::os::fd::AsFd) {
    let _ = setsockopt(socket, sockopt::ReceiveTimestampns, &true);
}

/// Sends `hello` and reads frames (10 s at most) until the profile's ready message, on the
/// codec, keeping in `ahead` what follows it; `Ok(false)`: the server refused.
pub async fn start_session(
    stream: &mut tokio::net::TcpStream,
    ahead: &mut Vec<u8>,
    profile: &dyn crate::profiles::LoadProfile,
    hello: &[String],
    ready: &str,
    timeout: Duration,
) -> Result<bool, &'static str> {
    let mut out = Vec::new();
    for message in hello {
        wire::encode(OP_TEXT, message.as_bytes(), wire::mask(), &mut out);
    }
    // The server may have refused at once: its close frame is still there to read.
    let sent = stream.write_all(&out).await.is_ok();
    let answer = tokio::time::timeout(timeout, async {
        loop {
            while let Ok(Some(frame)) = wire::parse(ahead) {
                let payload = &ahead[frame.payload.clone()];
                let mut reply = None;
                match frame.opcode {
                    OP_TEXT if frame.fin => {
                        let text = std::str::from_utf8(payload).unwrap_or("");
                        match greeting(profile, text, ready) {
                            Greeting::Ready(accepted) => {
                                ahead.drain(..frame.len);
                                return Some(accepted);
                            }
                            Greeting::Reply(r) => reply = Some((OP_TEXT, r.into_bytes())),
                            Greeting::Other => {}
                        }
                    }
                    OP_PING => reply = Some((OP_PONG, payload.to_vec())),
                    OP_CLOSE => return (wire::close_code(payload) == Some(1008)).then_some(false),
                    _ => {}
                }
                ahead.drain(..frame.len);
                if let Some((opcode, bytes)) = reply {
                    let mut out = Vec::new();
                    wire::encode(opcode, &bytes, wire::mask(), &mut out);
                    let _ = stream.write_all(&out).await;
                }
            }
            if wire::parse(ahead).is_err()
                || !matches!(stream.read_buf(ahead).await, Ok(n) if n > 0)
            {
                return None;
            }
        }
    })
    .await;
    match answer {
        Ok(Some(accepted)) => Ok(accepted),
        _ if !sent => Err("closed during hello"),
        _ => Err("no ready message"),
    }
}

/// One reader thread: its sockets, and one batch of measurements for all of them.
struct Reader<'a> {
    poll: Poll,
    handoffs: mpsc::Receiver<Handoff>,
    target: &'a Target,
    local: Local<'a>,
    sessions: Vec<Option<Session>>,
    free: Vec<usize>,
    lag: ReaderLag,
    /// The earliest `until` among the sessions (`None`: no session).
    next_until: Option<Instant>,
    /// Where a session with nothing pending reads: one buffer, warm in cache, instead of
    /// thousands of per-session buffers, each cold again by its next frame.
    scratch: Vec<u8>,
}

/// How a session goes on after what it just read.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Open,
    /// It ended: early (the server closed, or an error) or not (its time was up).
    Ended {
        early: bool,
    },
}

impl<'a> Reader<'a> {
    fn new(
        poll: Poll,
        handoffs: mpsc::Receiver<Handoff>,
        target: &'a Target,
        recorder: &'a Recorder,
    ) -> Self {
        Reader {
            poll,
            handoffs,
            target,
            local: Local::new(recorder),
            sessions: Vec::new(),
            free: Vec::new(),
            lag: ReaderLag::new(),
            next_until: None,
            scratch: vec![0; SCRATCH],
        }
    }

    fn run(mut self) -> ReaderLag {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        let mut woke = Instant::now();
        loop {
            if events.iter().count() < BUSY {
                let due = woke + BATCH_WINDOW;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    self.local.recorder.ending(format!("reader: {e}"));
                    break;
                }
            }
            let now = Instant::now();
            woke = now;
            while next_tick <= now {
                crate::histo::record(&mut self.lag.tick, (now - next_tick).as_micros() as u64);
                next_tick += TICK;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    self.adopt();
                    continue;
                }
                let i = event.token().0;
                let Some(session) = self.sessions.get_mut(i).and_then(Option::as_mut) else {
                    continue;
                };
                let mut flow = Flow::Open;
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    flow = session.read(
                        &mut self.scratch,
                        self.target,
                        &mut self.local,
                        &mut self.lag,
                    );
                }
                if flow == Flow::Open && !session.out.is_empty() {
                    flow = session.flush();
                }
                if let Flow::Ended { early } = flow {
                    self.end(i, early);
                }
            }
            if self.next_until.is_some_and(|until| until <= now) {
                self.end_due(now);
            }
            if now >= self.target.end && self.next_until.is_none() {
                break;
            }
        }
        // Sessions handed over as the run ended go back untouched.
        while let Ok(handoff) = self.handoffs.try_recv() {
            let _ = handoff.done.send((handoff.state, false));
        }
        self.local.finish();
        self.lag
    }

    /// Takes in the sessions clients have handed over.
    fn adopt(&mut self) {
        while let Ok(handoff) = self.handoffs.try_recv() {
            let i = self.free.pop().unwrap_or_else(|| {
                self.sessions.push(None);
                self.sessions.len() - 1
            });
            let mut stream = mio::net::TcpStream::from_std(handoff.stream);
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                self.local
                    .recorder
                    .ending("reader: cannot watch the socket");
                let _ = handoff.done.send((handoff.state, true));
                self.free.push(i);
                continue;
            }
            let buf = handoff.ahead;
            let filled = buf.len();
            self.next_until = Some(
                self.next_until
                    .map_or(handoff.until, |u| u.min(handoff.until)),
            );
            let mut session = Session {
                stream,
                buf,
                start: 0,
                filled,
                message: None,
                out: Vec::new(),
                state: handoff.state,
                until: handoff.until,
                done: handoff.done,
            };
            // What arrived with the ready message is read now: no edge will announce it.
            let flow = session.frames(now_us(), self.target, &mut self.local);
            self.sessions[i] = Some(session);
            if let Flow::Ended { early } = flow {
                self.end(i, early);
            }
        }
    }

    /// Closes the sessions whose time is up.
    fn end_due(&mut self, now: Instant) {
        let mut next = None;
        for i in 0..self.sessions.len() {
            let Some(session) = self.sessions[i].as_mut() else {
                continue;
            };
            if session.until <= now {
                wire::encode(
                    OP_CLOSE,
                    &1000u16.to_be_bytes(),
                    wire::mask(),
                    &mut session.out,
                );
                let _ = session.flush();
                self.end(i, false);
            } else {
                next = Some(next.map_or(session.until, |n: Instant| n.min(session.until)));
            }
        }
        self.next_until = next;
    }

    fn end(&mut self, i: usize, early: bool) {
        if let Some(mut session) = self.sessions[i].take() {
            let _ = self.poll.registry().deregister(&mut session.stream);
            let _ = session.done.send((session.state, early));
            self.free.push(i);
        }
        if self.sessions.iter().all(Option::is_none) {
            self.next_until = None;
        }
    }
}

/// One connection on a reader.
struct Session {
    stream: mio::net::TcpStream,
    /// Received bytes not yet parsed (a partial frame) are `buf[start..filled]`; `buf` is
    /// zeroed once, when it grows, not before every read. Empty until a partial frame is kept.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// A fragmented message so far, with its opcode.
    message: Option<(u8, Vec<u8>)>,
    /// Frames to send that the socket did not take yet.
    out: Vec<u8>,
    state: StreamState,
    until: Instant,
    done: oneshot::Sender<(StreamState, bool)>,
}

impl Session {
    /// Reads until the socket is drained, handling each complete frame: into `scratch` when
    /// nothing is pending, after the pending bytes in the session's buffer otherwise.
    fn read(
        &mut self,
        scratch: &mut [u8],
        target: &Target,
        local: &mut Local<'_>,
        lag: &mut ReaderLag,
    ) -> Flow {
        let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
        loop {
            let pending = self.start < self.filled;
            if pending {
                self.make_room();
            }
            let fd = self.stream.as_raw_fd();
            let into = if pending {
                &mut self.buf[self.filled..]
            } else {
                &mut *scratch
            };
            let offered = into.len();
            let mut iov = [IoSliceMut::new(into)];
            let received =
                recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::empty()).map(|msg| {
                    let stamp = msg.cmsgs().ok().and_then(|mut cmsgs| {
                        cmsgs.find_map(|c| match c {
                            ControlMessageOwned::ScmTimestampns(ts) => {
                                Some(ts.tv_sec() * 1_000_000 + ts.tv_nsec() / 1000)
                            }
                            _ => None,
                        })
                    });
                    (msg.bytes, stamp)
                });
            match received {
                Ok((0, _)) => {
                    local.recorder.ending("closed without close frame");
                    return Flow::Ended { early: true };
                }
                Ok((n, stamp)) => {
                    let now = now_us();
                    lag.unstamped += u64::from(stamp.is_none());
                    let arrived = stamp.map_or(now, |s| s.min(now));
                    crate::histo::record(&mut lag.read, (now - arrived).max(1) as u64);
                    let flow = if pending {
                        self.filled += n;
                        self.frames(arrived, target, local)
                    } else {
                        self.frames_from(&scratch[..n], arrived, target, local)
                    };
                    if let Flow::Ended { early } = flow {
                        return Flow::Ended { early };
                    }
                    if n < offered {
                        return self.flush();
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return self.flush(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    local
                        .recorder
                        .ending(format!("error: {}", crate::client::error_kind(e.desc())));
                    return Flow::Ended { early: true };
                }
            }
        }
    }

    /// Makes at least [`MIN_SPARE`] bytes free after `filled`: moves unparsed bytes to the
    /// front, or doubles the buffer.
    fn make_room(&mut self) {
        if self.buf.len() - self.filled >= MIN_SPARE {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.filled < MIN_SPARE {
            let doubled = (self.buf.len() * 2).max(FIRST_BUFFER);
            self.buf.resize(doubled, 0);
        }
    }

    /// Handles the complete frames read into the reader's scratch buffer and keeps the rest (a
    /// partial frame) in the session's own buffer. Nothing was pending before them.
    fn frames_from(
        &mut self,
        data: &[u8],
        arrived_us: i64,
        target: &Target,
        local: &mut Local<'_>,
    ) -> Flow {
        let (used, flow) = self.handle(data, arrived_us, target, local);
        let rest = &data[used..];
        if flow == Flow::Open && !rest.is_empty() {
            let need = rest.len() + MIN_SPARE;
            if self.buf.len() < need {
                self.buf.resize(need.max(FIRST_BUFFER), 0);
            }
            self.buf[..rest.len()].copy_from_slice(rest);
            (self.start, self.filled) = (0, rest.len());
        }
        flow
    }

    /// Handles every complete frame in the session's buffer, seen at `arrived_us`.
    fn frames(&mut self, arrived_us: i64, target: &Target, local: &mut Local<'_>) -> Flow {
        // Taken out for the while: `handle` borrows the session's other fields.
        let buf = std::mem::take(&mut self.buf);
        let (used, flow) = self.handle(&buf[self.start..self.filled], arrived_us, target, local);
        self.buf = buf;
        self.start += used;
        flow
    }

    /// Handles every complete frame at the front of `data`, seen at `arrived_us`; gives how
    /// many bytes those frames took.
    fn handle(
        &mut self,
        data: &[u8],
        arrived_us: i64,
        target: &Target,
        local: &mut Local<'_>,
    ) -> (usize, Flow) {
        let mut used = 0;
        loop {
            let frame = match wire::parse(&data[used..]) {
                Ok(Some(frame)) => frame,
                Ok(None) => return (used, Flow::Open),
                Err(e) => {
                    local.recorder.ending(format!("error: {e}"));
                    return (used, Flow::Ended { early: true });
                }
            };
            let bytes = &data[used + frame.payload.start..used + frame.payload.end];
            used += frame.len;
            let flow = match (frame.opcode, frame.fin, self.message.as_mut()) {
                (OP_TEXT, true, None) => on_text(
                    &mut self.state,
                    &mut self.out,
                    bytes,
                    arrived_us,
                    target,
                    local,
                ),
                (OP_BINARY, true, None) => Flow::Open,
                (OP_TEXT | OP_BINARY, false, None) => {
                    self.message = Some((frame.opcode, bytes.to_vec()));
                    Flow::Open
                }
                (OP_CONTINUATION, fin, Some((_, message))) => {
                    message.extend_from_slice(bytes);
                    if message.len() > wire::MAX_MESSAGE {
                        local.recorder.ending("error: message over 16 MiB");
                        return (used, Flow::Ended { early: true });
                    }
                    match (fin, self.message.take()) {
                        (true, Some((OP_TEXT, message))) => on_text(
                            &mut self.state,
                            &mut self.out,
                            &message,
                            arrived_us,
                            target,
                            local,
                        ),
                        (true, _) => Flow::Open,
                        (false, unfinished) => {
                            self.message = unfinished;
                            Flow::Open
                        }
                    }
                }
                (OP_PING, _, _) => {
                    let pong = bytes.to_vec();
                    wire::encode(OP_PONG, &pong, wire::mask(), &mut self.out);
                    Flow::Open
                }
                (OP_PONG, _, _) => Flow::Open,
                (OP_CLOSE, _, _) => {
                    let code = wire::close_code(bytes);
                    local
                        .recorder
                        .ending(code.map_or("close (no code)".into(), |c| format!("close {c}")));
                    let echo = code.map(u16::to_be_bytes).unwrap_or_default();
                    wire::encode(
                        OP_CLOSE,
                        &echo[..code.map_or(0, |_| 2)],
                        wire::mask(),
                        &mut self.out,
                    );
                    let _ = self.flush();
                    return (used, Flow::Ended { early: true });
                }
                _ => {
                    local.recorder.ending("error: continuation out of place");
                    return (used, Flow::Ended { early: true });
                }
            };
            if flow != Flow::Open {
                return (used, flow);
            }
        }
    }

    /// Writes what is waiting to be sent; what the socket does not take waits for its next
    /// writable edge.
    fn flush(&mut self) -> Flow {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Flow::Ended { early: true },
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Flow::Ended { early: true },
            }
        }
        Flow::Open
    }
}

/// A complete text message: measured, and answered when the profile asks for it.
fn on_text(
    state: &mut StreamState,
    out: &mut Vec<u8>,
    bytes: &[u8],
    arrived_us: i64,
    target: &Target,
    local: &mut Local<'_>,
) -> Flow {
    let Ok(text) = std::str::from_utf8(bytes) else {
        local.recorder.ending("error: text frame not UTF-8");
        return Flow::Ended { early: true };
    };
    if let Answer::Reply(reply) = state.on_text(text, arrived_us, target, local) {
        wire::encode(OP_TEXT, reply.as_bytes(), wire::mask(), out);
    }
    Flow::Open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Scenario;
    use crate::profiles::StreamShape;

    /// A server-to-client (unmasked) frame, encoded by tungstenite: the reader is checked
    /// against an encoder that is not ours.
    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        use tokio_tungstenite::tungstenite::protocol::frame::{coding::OpCode, Frame, FrameHeader};
        let header = FrameHeader {
            opcode: OpCode::from(opcode),
            ..FrameHeader::default()
        };
        let mut frame = Vec::new();
        Frame::from_payload(header, payload.to_vec().into())
            .format(&mut frame)
            .expect("a Vec takes any frame");
        frame
    }

    fn data(frame_count: u64) -> Vec<u8> {
        let json = format!(
            r#"{{"type":"data","timestamp":"{}","frame_count":{frame_count},"current_value":127.45,"peak_signal":0,"baseline":120.0,"status":"running"}}"#,
            protocol::timestamp::Timestamp::now().as_str()
        );
        server_frame(OP_TEXT, json.as_bytes())
    }

    #[test]
    fn frames_cut_across_reads_or_packed_into_one_are_each_handled_once_in_order() {
        let profile = crate::profiles::find("nhem").expect("nhem is registered");
        let target = Target {
            profile,
            ws_url: String::new(),
            headers: Vec::new(),
            http_url: None,
            hello: Vec::new(),
            filtered_hello: None,
            shape: StreamShape::of(profile, None),
            ping_every: None,
            end: Instant::now() + Duration::from_secs(60),
            scenario: Scenario::Broadcast,
            rate: 0.0,
        };
        let recorder = Recorder::default();
        let mut local = Local::new(&recorder);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        client.set_nonblocking(true).expect("non-blocking");
        let (done, _finished) = oneshot::channel();
        let mut session = Session {
            stream: mio::net::TcpStream::from_std(client),
            buf: Vec::new(),
            start: 0,
            filled: 0,
            message: None,
            out: Vec::new(),
            state: StreamState::new(target.shape.period_us, None),
            until: target.end,
            done,
        };
        let (mut scratch, mut lag) = (vec![0; SCRATCH], ReaderLag::new());

        // Five messages and a ping, written so that reads see: part of a header; the rest of
        // a frame, a whole one and part of the next; a ping between two halves of a frame
        // whose payload is cut mid-way (its rest then arrives with the last frame whole).
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for k in 0..3 {
            stream.extend(data(k));
            ends.push(stream.len());
        }
        stream.extend(server_frame(OP_PING, b"are you there"));
        let ping_end = stream.len();
        stream.extend(data(3));
        stream.extend(data(4));
        let cuts = [1, ends[0] + 3, ends[1] + 40, ping_end + 30, stream.len()];
        let mut from = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            server.write_all(&stream[from..cut]).expect("write");
            from = cut;
            // Loopback has queued the bytes by the time the write returns.
            let flow = session.read(&mut scratch, &target, &mut local, &mut lag);
            assert_eq!(flow, Flow::Open, "after piece {i}");
        }
        assert_eq!(local.counters.received, 5);
        assert_eq!(local.counters.lost, 0);
        assert_eq!(session.start, session.filled, "nothing left pending");
        assert!(session.out.is_empty(), "the pong was sent");
        let mut pong = [0; 64];
        let n = std::io::Read::read(&mut server, &mut pong).expect("pong");
        assert_eq!(pong[0], 0x80 | OP_PONG, "{:?}", &pong[..n]);
        assert_eq!(usize::from(pong[1] & 0x7f), b"are you there".len());
    }
}
