//! The write side of a WebSocket connection, in a task of its own.
//!
//! A connection is two tasks. The reader (the profile's session) runs tungstenite over
//! [`Duplex`] and is only woken when the client sends something. The writer owns the socket's
//! write half and is woken per stream frame: it writes pre-framed bytes (see `outgoing`) from
//! the connection's [`Feed`] and whatever tungstenite produced (replies, pongs, close frames),
//! in order, whole frames at a time. A frame thus costs one wake-up and one write, without
//! polling the read side. A shared stream on plain TCP (NHEM's broadcast) is written by the
//! fan-out's shards instead (see `fanout`): the writer is woken only for what they could not
//! write at once, and holds the socket while it writes anything of its own.
//!
//! The slow-consumer policy lives here, the same for every profile: stale frames are skipped
//! and counted; a client that stays behind longer than its budget is closed with 1008; a write
//! that blocks longer than the budget drops the connection.

use super::fanout::{FanOut, SharedHalf, Sink, Turn};
use super::transport::{ReadHalf, WriteHalf};
use super::StreamMetrics;
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

/// What the reader hands to the writer, in order.
pub enum Out {
    /// Bytes tungstenite wrote: whole frames (it hands over its full output buffer at once).
    Bytes(Bytes),
    /// The client may have the stream now (e.g. it authenticated): from now on, also write it.
    Subscribe(Feed),
}

/// Where a connection's stream frames come from.
pub enum Feed {
    /// Shared frames, framed once by a producer for every client.
    Broadcast(broadcast::Receiver<Bytes>),
    /// Shared frames written by the fan-out's shards (see `fanout`); a TLS connection's
    /// writer reads them from the channel instead.
    Shared(Arc<FanOut>),
    /// This connection's own stream on absolute deadlines.
    Periodic(PeriodicFeed),
    /// Shared frames, framed once, of which this connection takes those its filter admits.
    Filtered(FilteredFeed),
}

/// A message published to many connections: its frame, framed once, and the tag a
/// connection's filter judges it by (the core does not know what a tag is).
pub struct Published {
    pub frame: Bytes,
    pub tag: Box<dyn std::any::Any + Send + Sync>,
}

/// A filter of published messages, owned by one connection's writer.
pub type Admit = Box<dyn FnMut(&Published) -> bool + Send>;

/// Shared frames through a per-connection filter: what one connection subscribed to of a
/// topic-based stream. The frame of each message is still serialized once for everyone; the
/// filter only decides whether this connection writes it.
pub struct FilteredFeed {
    rx: broadcast::Receiver<Arc<Published>>,
    admit: Admit,
}

impl FilteredFeed {
    pub fn new(rx: broadcast::Receiver<Arc<Published>>, admit: Admit) -> Self {
        FilteredFeed { rx, admit }
    }

    /// The next admitted frame. A lag counts every message passed over, admitted or not: the
    /// channel cannot tell which of them the filter would have taken.
    async fn recv(&mut self) -> Result<Bytes, RecvError> {
        loop {
            let published = self.rx.recv().await?;
            if (self.admit)(&published) {
                return Ok(published.frame.clone());
            }
        }
    }
}

/// A per-connection stream: frame `k` (from 1) is due at `t0 + k · period` and is built by
/// `make(k)`. Deadlines are absolute, so a late wake-up never shifts later frames.
pub struct PeriodicFeed {
    t0: tokio::time::Instant,
    period: Duration,
    next: u64,
    make: Box<dyn FnMut(u64) -> Bytes + Send>,
}

impl PeriodicFeed {
    pub fn new(
        t0: tokio::time::Instant,
        period: Duration,
        make: impl FnMut(u64) -> Bytes + Send + 'static,
    ) -> Self {
        PeriodicFeed {
            t0,
            period,
            next: 1,
            make: Box::new(make),
        }
    }

    fn due(&self, k: u64) -> tokio::time::Instant {
        self.t0 + self.period.mul_f64(k as f64)
    }

    /// Waits for the next deadline. Frames whose deadline passed while the writer was busy
    /// are skipped (the count is returned first), never sent late in a burst.
    async fn recv(&mut self) -> Result<Bytes, RecvError> {
        tokio::time::sleep_until(self.due(self.next)).await;
        let now = tokio::time::Instant::now();
        let late = now.saturating_duration_since(self.due(self.next));
        let stale = (late.as_nanos() / self.period.as_nanos().max(1)) as u64;
        if stale > 0 {
            self.next += stale;
            return Err(RecvError::Lagged(stale));
        }
        let frame = (self.make)(self.next);
        self.next += 1;
        Ok(frame)
    }

    fn caught_up(&self) -> bool {
        tokio::time::Instant::now() < self.due(self.next)
    }
}

impl Feed {
    async fn recv(&mut self) -> Result<Bytes, RecvError> {
        match self {
            Feed::Broadcast(rx) => rx.recv().await,
            // The shards write these frames; what they leave comes through the sink.
            Feed::Shared(_) => std::future::pending().await,
            Feed::Periodic(feed) => feed.recv().await,
            Feed::Filtered(feed) => feed.recv().await,
        }
    }

    /// Whether nothing stale is waiting (`is_empty` takes the broadcast channel's lock: the
    /// writer asks only while behind).
    fn caught_up(&self) -> bool {
        match self {
            Feed::Broadcast(rx) => rx.is_empty(),
            Feed::Shared(_) => true,
            Feed::Periodic(feed) => feed.caught_up(),
            Feed::Filtered(feed) => feed.rx.is_empty(),
        }
    }
}

/// Most reply bytes (answers, pongs, errors) a connection may have waiting for its writer.
/// A client that floods requests and never reads reaches it once its socket buffers are full;
/// it is then closed (1008) instead of growing the server by the size of its flood.
pub const MAX_QUEUED_REPLY_BYTES: usize = 256 * 1024;

/// The socket as tungstenite sees it: reads come from the read half, writes go to the writer.
pub struct Duplex {
    read: ReadHalf,
    out: mpsc::UnboundedSender<Out>,
    link: Link,
    metrics: Arc<StreamMetrics>,
}

impl Duplex {
    pub fn new(
        read: ReadHalf,
        out: mpsc::UnboundedSender<Out>,
        link: Link,
        metrics: Arc<StreamMetrics>,
    ) -> Self {
        Duplex {
            read,
            out,
            link,
            metrics,
        }
    }
}

impl AsyncRead for Duplex {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Over the reply bound the client is read no further: the session sees the end of
        // its input in whatever state it is (also before auth) and ends.
        if this.link.overflow.is_cancelled() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let queued = queue(
            &self.out,
            &self.link,
            Bytes::copy_from_slice(buf),
            &self.metrics,
        );
        Poll::Ready(queued.map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Hands whole frames to the writer, counted against [`MAX_QUEUED_REPLY_BYTES`] like the
/// reader's replies: the bound is crossed ⇒ the writer closes the connection with 1008.
fn queue(
    out: &mpsc::UnboundedSender<Out>,
    link: &Link,
    frame: Bytes,
    metrics: &StreamMetrics,
) -> io::Result<()> {
    let len = frame.len();
    let queued = link.queued_bytes.fetch_add(len, Relaxed) + len;
    // One frame larger than the bound still goes out when nothing is queued before it (a
    // profile may answer or forward messages up to its own size limit); the bound is on a
    // backlog, not on a message.
    if queued > MAX_QUEUED_REPLY_BYTES && queued > len {
        link.queued_bytes.fetch_sub(len, Relaxed);
        link.overflow.cancel();
        return Err(io::Error::other("too many unread replies"));
    }
    metrics
        .reply_queue_high_water_bytes
        .fetch_max(queued as u64, Relaxed);
    out.send(Out::Bytes(frame))
        .map_err(|_| io::ErrorKind::BrokenPipe.into())
}

/// Another task's way into one connection's writer: frames framed once elsewhere (a publish
/// to many subscribers, a server stream) go out in order with the connection's replies,
/// without waking its reader.
#[derive(Clone)]
pub struct Mailbox {
    out: mpsc::UnboundedSender<Out>,
    link: Link,
    metrics: Arc<StreamMetrics>,
}

impl Mailbox {
    pub fn new(out: mpsc::UnboundedSender<Out>, link: Link, metrics: Arc<StreamMetrics>) -> Self {
        Mailbox { out, link, metrics }
    }

    /// Queues a whole frame; `false` when the connection is gone or over its bound (it is
    /// being closed), so the sender can forget it.
    pub fn post(&self, frame: Bytes) -> bool {
        if self.link.closing.load(Relaxed) {
            return false;
        }
        queue(&self.out, &self.link, frame, &self.metrics).is_ok()
    }
}

/// Shared between a connection's two tasks.
#[derive(Clone, Default)]
pub struct Link {
    /// Set by the reader before it sends a close frame: no broadcast frame may follow that
    /// frame (the writer keeps a fan-out's shard off the socket from it on; TLS writers stop
    /// reading the channel at once).
    pub closing: Arc<AtomicBool>,
    /// Cancelled by the writer when it gives up (slow client, write error): the reader stops.
    pub writer_done: CancellationToken,
    /// Reply bytes handed to the writer and not yet written.
    pub queued_bytes: Arc<AtomicUsize>,
    /// Pongs the reader has received (the writer's pings are answered by them).
    pub pongs: Arc<AtomicU64>,
    /// Cancelled when the reader goes over [`MAX_QUEUED_REPLY_BYTES`]: the reader stops
    /// reading, the writer drops the queued replies and closes with 1008.
    pub overflow: CancellationToken,
}

/// Frames sent, added to the shared counter in batches: one atomic add per frame per client
/// would put every connection on the same contended cache line.
struct SentCount<'a> {
    pending: u64,
    metrics: &'a StreamMetrics,
}

impl SentCount<'_> {
    fn add_one(&mut self) {
        self.add(1);
    }

    fn add(&mut self, frames: u64) {
        self.pending += frames;
        if self.pending >= 64 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.metrics
            .frames_sent_total
            .fetch_add(std::mem::take(&mut self.pending), Relaxed);
    }
}

impl Drop for SentCount<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Link {
    /// Called by the session for every pong it reads.
    pub fn pong_received(&self) {
        self.pongs.fetch_add(1, Relaxed);
    }
}

/// How the writer treats a client that does not keep up.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a client may stay behind, block a write or take to answer a ping.
    pub budget: Duration,
    /// How often a streaming client is pinged (zero: never).
    pub ping_interval: Duration,
}

/// RFC 6455 pings to a streaming client, and whether it answered: the only sign that a client
/// whose kernel still accepts frames has stopped reading them.
struct Keepalive {
    policy: Policy,
    pongs: Arc<AtomicU64>,
    /// When to act next: send a ping, or check that it was answered.
    next: Instant,
    /// The pong count when the unanswered ping was sent, and when it was sent.
    awaiting: Option<(u64, Instant)>,
}

enum KeepaliveStep {
    Ping,
    Wait,
    Unanswered,
}

impl Keepalive {
    fn new(policy: Policy, pongs: Arc<AtomicU64>) -> Self {
        Keepalive {
            policy,
            pongs,
            next: Instant::now() + policy.ping_interval,
            awaiting: None,
        }
    }

    fn enabled(&self) -> bool {
        !self.policy.ping_interval.is_zero()
    }

    /// What is due at `self.next`, and when the step after it is.
    fn step(&mut self) -> KeepaliveStep {
        let now = Instant::now();
        match self.awaiting.take() {
            None => {
                self.awaiting = Some((self.pongs.load(Relaxed), now));
                self.next = now + self.policy.budget;
                KeepaliveStep::Ping
            }
            Some((before, _)) if self.pongs.load(Relaxed) == before => KeepaliveStep::Unanswered,
            Some((_, sent)) => {
                self.next = (sent + self.policy.ping_interval).max(now);
                KeepaliveStep::Wait
            }
        }
    }
}

/// A ping frame (unmasked, server to client) with an empty payload.
const PING_FRAME: [u8; 2] = [0x89, 0x00];

/// How a write into the socket ended, when it did not complete.
#[derive(Debug, PartialEq)]
enum WriteEnd {
    /// Blocked longer than the slow-client budget: the frame may be half written.
    TimedOut,
    /// The connection is gone.
    Gone,
    /// The reply bound was crossed while this write was blocked, and it did not finish within
    /// [`CLOSE_GRACE`] after that: the frame may be half written.
    Overflowed,
}

/// How long a close frame (or the frame before it) may take to reach a client being closed.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Writes `bytes`, arming the slow-client timer only when the write cannot finish at once.
/// An `overflow` during a blocked write cuts the wait to [`CLOSE_GRACE`].
/// The writer's half of the socket: plain TCP shared with a fan-out shard, or TLS.
type Socket = Either<SharedHalf, tokio::io::WriteHalf<Box<super::transport::TlsConnection>>>;

async fn write(
    socket: &mut Socket,
    bytes: &[u8],
    budget: Duration,
    overflow: &CancellationToken,
) -> Result<(), WriteEnd> {
    // TLS may keep the last record in rustls until flushed; for plain TCP the flush is free.
    let write = async {
        socket.write_all(bytes).await?;
        socket.flush().await
    };
    tokio::pin!(write);
    let result = match futures_util::poll!(&mut write) {
        Poll::Ready(result) => result,
        Poll::Pending => tokio::select! {
            timed = tokio::time::timeout(budget, &mut write) => timed.map_err(|_| WriteEnd::TimedOut)?,
            () = overflow.cancelled() => tokio::time::timeout(CLOSE_GRACE, write)
                .await
                .map_err(|_| WriteEnd::Overflowed)?,
        },
    };
    result.map_err(|_| WriteEnd::Gone)
}

/// A close frame (unmasked, server to client) with `code` and `reason`.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    let mut frame = vec![0x88, 2 + reason.len() as u8];
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason);
    frame
}

async fn next_frame(frames: &mut Option<Feed>) -> Result<Bytes, RecvError> {
    match frames {
        Some(feed) => feed.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs until the reader is gone (its channel closes) or the client is dropped as too slow
/// (`budget`: how long it may stay behind or block a write).
pub async fn run(
    socket: WriteHalf,
    mut out: mpsc::UnboundedReceiver<Out>,
    id: u64,
    metrics: Arc<StreamMetrics>,
    policy: Policy,
    link: Link,
) {
    let mut socket: Socket = match socket {
        Either::Left(plain) => Either::Left(SharedHalf(Sink::new(id, plain))),
        Either::Right(tls) => Either::Right(tls),
    };
    let budget = policy.budget;
    let mut keepalive = Keepalive::new(policy, link.pongs.clone());
    let shared_metrics = metrics.clone();
    let metrics = &*metrics;
    let mut w = Writing {
        id,
        budget,
        link: &link,
        metrics,
        sent: SentCount {
            pending: 0,
            metrics,
        },
        sink: None,
        behind_since: None,
    };
    let mut frames: Option<Feed> = None;
    // A write that ended half way: no frame (not even a close) can follow it.
    let mut frame_cut = false;
    // One cancellation future and one keepalive timer for the connection's life, the timer
    // moved only when its deadline moves: made anew in every turn of the loop, they put a
    // timer in the wheel and a waiter in the token's tree and took them out again for every
    // frame (2.7% of the server's CPU at 1,000 clients, perf). A fired timer whose deadline
    // did not move stays ready, which is right: that deadline has come.
    let overflowed = link.overflow.cancelled();
    tokio::pin!(overflowed);
    let keepalive_timer = tokio::time::sleep_until(keepalive.next.into());
    tokio::pin!(keepalive_timer);
    let mut keepalive_at = keepalive.next;
    loop {
        if keepalive.next != keepalive_at {
            keepalive_at = keepalive.next;
            keepalive_timer.as_mut().reset(keepalive_at.into());
        }
        let sink = w.sink.clone();
        tokio::select! {
            biased;
            // The replies still queued are dropped: the client is closed for not reading them.
            () = &mut overflowed => break,
            () = &mut keepalive_timer, if frames.is_some() && keepalive.enabled() => {
                match keepalive.step() {
                    KeepaliveStep::Ping => {
                        metrics.pings_sent_total.fetch_add(1, Relaxed);
                        if let Err(end) = w.write_own(&mut socket, &PING_FRAME).await {
                            frame_cut = w.ended(end);
                            break;
                        }
                    }
                    KeepaliveStep::Wait => {}
                    KeepaliveStep::Unanswered => {
                        metrics.slow_client_disconnects_total.fetch_add(1, Relaxed);
                        tracing::info!(id, "closing a client that left a ping unanswered for {} ms", budget.as_millis());
                        w.close(&mut socket, "slow consumer: ping not answered").await;
                        break;
                    }
                }
            }
            // What the fan-out's shard could not write at once, or skipped.
            () = async { match &sink { Some(sink) => sink.wake.notified().await, None => std::future::pending().await } } => {
                if let Err(end) = w.drain(&mut socket, true).await {
                    frame_cut = w.ended(end);
                    break;
                }
            }
            frame = next_frame(&mut frames), if frames.is_some() && !link.closing.load(Relaxed) => match frame {
                Ok(bytes) => {
                    match write(&mut socket, &bytes, budget, &link.overflow).await {
                        Ok(()) => w.sent.add_one(),
                        Err(end) => {
                            // A frame may be half written: nothing can follow it cleanly.
                            frame_cut = w.ended(WriterEnd::Write(end));
                            break;
                        }
                    }
                    if w.behind_since.is_some() && frames.as_ref().is_some_and(Feed::caught_up) {
                        w.behind_since = None;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    if w.skipped(skipped) {
                        w.too_far_behind(&mut socket).await;
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            item = out.recv() => match item {
                None => break,
                Some(Out::Subscribe(Feed::Shared(fanout))) => {
                    match &socket {
                        Either::Left(shared) => {
                            let sink = shared.0.clone();
                            fanout.attach(sink.clone(), &shared_metrics).await;
                            w.sink = Some(sink);
                            frames = Some(Feed::Shared(fanout));
                        }
                        Either::Right(_) => frames = Some(Feed::Broadcast(fanout.subscribe())),
                    }
                }
                Some(Out::Subscribe(rx)) => frames = Some(rx),
                Some(Out::Bytes(bytes)) => {
                    let written = w.write_own(&mut socket, &bytes).await;
                    link.queued_bytes.fetch_sub(bytes.len(), Relaxed);
                    if let Err(end) = written {
                        frame_cut = w.ended(end);
                        break;
                    }
                }
            },
        }
    }
    if link.overflow.is_cancelled() {
        metrics.reply_overflows_total.fetch_add(1, Relaxed);
        tracing::info!(
            id,
            "closing a client with {MAX_QUEUED_REPLY_BYTES} bytes of unread replies"
        );
        if !frame_cut {
            w.close(&mut socket, "too many unread replies").await;
        }
    }
    if let Some(sink) = &w.sink {
        sink.leave().await;
    }
    link.writer_done.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.shutdown()).await;
}

/// Why the writer stops, from a write of its own or from its sink.
enum WriterEnd {
    Write(WriteEnd),
    /// Frames were skipped for longer than the budget.
    TooFarBehind,
}

/// The writer's state that its writes share.
struct Writing<'a> {
    id: u64,
    budget: Duration,
    link: &'a Link,
    metrics: &'a StreamMetrics,
    sent: SentCount<'a>,
    /// The connection's end of a fan-out (plain TCP with a shared stream).
    sink: Option<Arc<Sink>>,
    /// Since when the client has been skipping frames.
    behind_since: Option<Instant>,
}

impl Writing<'_> {
    /// Counts skipped frames; `true` once the client has been behind longer than its budget.
    fn skipped(&mut self, n: u64) -> bool {
        self.metrics.record_skipped(self.id, n);
        let since = *self.behind_since.get_or_insert_with(Instant::now);
        since.elapsed() > self.budget
    }

    async fn too_far_behind(&mut self, socket: &mut Socket) {
        self.metrics
            .slow_client_disconnects_total
            .fetch_add(1, Relaxed);
        tracing::info!(
            self.id,
            "closing a client that stayed behind for {} ms",
            self.budget.as_millis()
        );
        self.close(socket, "slow consumer: fell too far behind")
            .await;
    }

    /// Counts a write that failed; `true` when a frame may be half written.
    fn ended(&mut self, end: WriterEnd) -> bool {
        match end {
            WriterEnd::Write(end) => {
                if end == WriteEnd::TimedOut {
                    self.metrics
                        .slow_client_disconnects_total
                        .fetch_add(1, Relaxed);
                    tracing::info!(
                        self.id,
                        "dropping a client that blocked a send for {} ms",
                        self.budget.as_millis()
                    );
                }
                end != WriteEnd::Gone
            }
            WriterEnd::TooFarBehind => false,
        }
    }

    /// Writes what the shard left queued, whole frames in order; with `release`, hands the
    /// socket back to the shard once the queue is empty.
    async fn drain(&mut self, socket: &mut Socket, release: bool) -> Result<(), WriterEnd> {
        let Some(sink) = self.sink.clone() else {
            return Ok(());
        };
        loop {
            let (turn, skipped) = sink.next(release);
            if skipped > 0 && self.skipped(skipped) {
                self.too_far_behind(socket).await;
                return Err(WriterEnd::TooFarBehind);
            }
            match turn {
                Turn::Frames { bytes, count } => {
                    write(socket, &bytes, self.budget, &self.link.overflow)
                        .await
                        .map_err(WriterEnd::Write)?;
                    self.sent.add(count);
                }
                Turn::Done => {
                    if skipped == 0 {
                        self.behind_since = None;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Writes a frame of the writer's own (a reply, a ping) in order with the shard's frames.
    async fn write_own(&mut self, socket: &mut Socket, bytes: &[u8]) -> Result<(), WriterEnd> {
        if let Some(sink) = &self.sink {
            // Every close frame comes this way, after the reader set `closing`.
            sink.hold(self.link.closing.load(Relaxed));
            self.drain(socket, false).await?;
        }
        write(socket, bytes, self.budget, &self.link.overflow)
            .await
            .map_err(WriterEnd::Write)?;
        self.drain(socket, true).await
    }

    /// Sends a close frame (1008 with `reason`), with a second's grace, the shard kept out.
    async fn close(&mut self, socket: &mut Socket, reason: &str) {
        if let Some(sink) = &self.sink {
            sink.hold(true);
        }
        let frame = close_frame(1008, reason);
        let _ = write(socket, &frame, CLOSE_GRACE, &CancellationToken::new()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn close_frames_parse_back() {
        let frame = close_frame(1008, "slow consumer");
        let mut cursor = std::io::Cursor::new(frame.as_slice());
        let (header, len) = FrameHeader::parse(&mut cursor)
            .expect("valid")
            .expect("complete");
        assert_eq!((header.opcode.into(), len), (8u8, 2 + 13));
        assert_eq!(&frame[2..4], &1008u16.to_be_bytes());
    }

    /// Once the writer has written a close frame (the reader's, after it set `closing`, or its
    /// own), the fan-out's shard writes nothing more to the socket, while a connection on the
    /// same shard still gets the frame.
    async fn nothing_follows_the_close_frame(own_close: bool) {
        let mut clients = Vec::new();
        let mut sinks = Vec::new();
        for id in 0..2 {
            let (socket, client) = super::super::fanout::tests::pair().await;
            clients.push(client);
            sinks.push(Sink::new(id, socket));
        }
        let fanout = FanOut::new(4);
        let metrics = Arc::new(StreamMetrics::default());
        for sink in &sinks {
            fanout.attach(sink.clone(), &metrics).await;
        }
        let link = Link::default();
        // The reader sets it before its close frame reaches the writer.
        link.closing.store(!own_close, Relaxed);
        let mut w = Writing {
            id: 0,
            budget: Duration::from_secs(5),
            link: &link,
            metrics: &metrics,
            sent: SentCount {
                pending: 0,
                metrics: &metrics,
            },
            sink: Some(sinks[0].clone()),
            behind_since: None,
        };
        let mut socket: Socket = Either::Left(SharedHalf(sinks[0].clone()));
        let close = if own_close {
            w.close(&mut socket, "bye").await;
            close_frame(1008, "bye")
        } else {
            let close = close_frame(1000, "bye");
            assert!(w.write_own(&mut socket, &close).await.is_ok());
            close
        };

        fanout.send(Bytes::from_static(b"late"));
        let mut frame = [0u8; 4];
        clients[1]
            .read_exact(&mut frame)
            .await
            .expect("the open one");
        assert_eq!(&frame, b"late");
        // The shard counts its sends when its pass is over: by then it has offered the frame
        // to the closed connection too.
        tokio::time::timeout(Duration::from_secs(10), async {
            while metrics.frames_sent_total.load(Relaxed) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the pass ends");
        assert_eq!(
            metrics.frames_sent_total.load(Relaxed),
            1,
            "the shard wrote to the closed connection"
        );
        let mut got = vec![0u8; close.len()];
        clients[0]
            .read_exact(&mut got)
            .await
            .expect("the close frame");
        assert_eq!(got, close);
        let mut more = [0u8; 16];
        let after =
            tokio::time::timeout(Duration::from_millis(200), clients[0].read(&mut more)).await;
        assert!(
            after.is_err(),
            "something followed the close frame: {after:?}"
        );
    }

    #[tokio::test]
    async fn after_the_readers_close_frame_the_shard_writes_nothing_more() {
        nothing_follows_the_close_frame(false).await;
    }

    #[tokio::test]
    async fn after_the_writers_own_close_frame_the_shard_writes_nothing_more() {
        nothing_follows_the_close_frame(true).await;
    }
}
