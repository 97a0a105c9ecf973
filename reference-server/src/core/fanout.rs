//! A broadcast written by a few tasks that each own many sockets.
//!
//! With one writer task per connection, every frame woke every connection's task through the
//! broadcast channel before it wrote. Here a shard task per worker thread takes each frame
//! once and writes it to each of its connections with a non-blocking `try_write`: no wake-up
//! per connection. A connection whose socket would block, or whose writer is busy (a reply, a
//! ping), gets the frame queued instead, and its writer task is woken to finish it under the
//! slow-consumer policy; beyond the queue's capacity frames are skipped and counted, as the
//! broadcast channel's lag did. Measured on the floor server (same machine, 1,000 clients):
//! 7.14 and 6.53 µs of CPU per frame against 8.15 and 7.46 for one task per connection.
//! A shard that fell behind takes every waiting frame at once and writes them to each socket
//! in one vectored write, so being behind makes a pass cheaper per frame and it catches up.
//!
//! Only plain TCP connections take this path; a TLS stream cannot be written from two tasks
//! without a lock around rustls, so those writers read the broadcast channel themselves.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::sync::Notify;

use super::StreamMetrics;

/// Shared frames, framed once by a producer: sent here, written by the shards (plain TCP) or
/// read from the channel by each TLS connection's writer.
pub struct FanOut {
    tx: broadcast::Sender<Bytes>,
    /// How many frames a connection may have queued behind its writer before frames are
    /// skipped (the channel's capacity).
    capacity: usize,
    shards: OnceLock<Vec<Arc<Shard>>>,
    metrics: OnceLock<Arc<StreamMetrics>>,
}

impl FanOut {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        FanOut {
            tx: broadcast::channel(capacity).0,
            capacity,
            shards: OnceLock::new(),
            metrics: OnceLock::new(),
        }
    }

    /// Sends a frame to every subscribed connection; nobody subscribed is fine.
    pub fn send(&self, frame: Bytes) {
        let _ = self.tx.send(frame);
    }

    /// A receiver of the frames, for a writer that cannot share its socket (TLS).
    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.tx.subscribe()
    }

    /// Puts `sink` on a shard (the shards start with the first one, on the current runtime),
    /// with this fan-out's queue capacity.
    pub(super) async fn attach(&self, sink: Arc<Sink>, metrics: &Arc<StreamMetrics>) {
        lock(&sink.state).capacity = self.capacity;
        let metrics = self.metrics.get_or_init(|| metrics.clone()).clone();
        let shards = self.shards.get_or_init(|| {
            let workers = tokio::runtime::Handle::current().metrics().num_workers();
            (0..workers.clamp(1, 8))
                .map(|_| {
                    let shard = Arc::new(Shard::default());
                    tokio::spawn(shard.clone().run(self.tx.subscribe(), metrics.clone()));
                    shard
                })
                .collect()
        });
        let shard = &shards[(sink.id as usize) % shards.len()];
        let _ = sink.shard.set(Arc::downgrade(shard));
        shard.sinks.lock().await.push(sink);
    }
}

/// Some of the connections, written by one task.
#[derive(Default)]
struct Shard {
    /// An async lock, held through a frame's whole pass (yields included): a connection joins
    /// or leaves between frames, so none is passed over or offered a frame twice.
    sinks: tokio::sync::Mutex<Vec<Arc<Sink>>>,
}

/// Sockets a shard writes before it yields: a pass over 5,000 sockets takes ~35 ms, which
/// would hold its worker thread from every other task (the producer's timer, handshakes).
const SOCKETS_PER_TURN: usize = 256;

/// Most frames a shard takes from the channel for one pass. A shard that fell behind writes
/// every waiting frame to a socket in one vectored write, so its client is woken and reads
/// once: a pass costs less per frame the further behind it is, and the shard catches up.
/// Writing each frame in its own pass kept a saturated shard a whole queue behind (p99 near
/// 16 frames × 16.7 ms at 2,500 clients) where the floor, whose tasks each write their own
/// backlog in a row, stayed near two frames.
const FRAMES_PER_PASS: usize = 16;

impl Shard {
    async fn run(self: Arc<Self>, mut rx: broadcast::Receiver<Bytes>, metrics: Arc<StreamMetrics>) {
        let mut batch = Vec::with_capacity(FRAMES_PER_PASS);
        loop {
            batch.clear();
            // Frames the shard itself fell behind by: so did each of its connections.
            let mut lagged = 0;
            match rx.recv().await {
                Ok(frame) => batch.push(frame),
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(RecvError::Closed) => return,
            }
            while batch.len() < FRAMES_PER_PASS {
                match rx.try_recv() {
                    Ok(frame) => batch.push(frame),
                    Err(TryRecvError::Lagged(n)) => lagged += n,
                    // Closed: the next `recv` says so.
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            let mut sinks = self.sinks.lock().await;
            let (mut sent, mut gone) = (0, false);
            let mut start = 0;
            while start < sinks.len() {
                let end = (start + SOCKETS_PER_TURN).min(sinks.len());
                for sink in &sinks[start..end] {
                    let kept = (lagged == 0 || sink.skip(lagged))
                        && match sink.offer(&batch) {
                            Offer::Taken { sent: n } => {
                                sent += n;
                                true
                            }
                            Offer::Gone => false,
                        };
                    gone |= !kept;
                }
                start = end;
                if start < sinks.len() {
                    tokio::task::yield_now().await;
                }
            }
            if gone {
                sinks.retain(|sink| !sink.is_gone());
            }
            drop(sinks);
            metrics.frames_sent_total.fetch_add(sent, Relaxed);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A plain TCP connection's write half and its end of the fan-out, shared by its writer task
/// and, once attached, its shard.
///
/// What a shard reads for every frame (the lock, the state, the socket's handle) comes first
/// and starts a cache line: at 2,000 clients each sink is cold again by its next frame, and
/// every separate allocation on the way to the socket was one more miss per socket per frame
/// (perf: the lock, a closing flag of its own and the write half behind its own `Arc` were
/// 90% of `Sink::offer`'s samples).
#[repr(C, align(64))]
pub(super) struct Sink {
    socket: OwnedWriteHalf,
    state: Mutex<SinkState>,
    pub id: u64,
    /// The writer has frames to finish, or frames were skipped.
    pub wake: Notify,
    /// Where it is attached, so that leaving takes it off at once (and closes the socket)
    /// rather than at the next frame, which a stopped stream may never send.
    shard: OnceLock<std::sync::Weak<Shard>>,
}

/// The flags a shard reads for every frame first, the queue (touched only when the shard
/// cannot write) last.
#[derive(Default)]
#[repr(C)]
struct SinkState {
    /// The writer is writing (a reply, a ping, frames the shard could not finish): the shard
    /// queues behind it, so frames stay whole and in order.
    writer_busy: bool,
    /// The writer has taken the socket to send a close frame: no stream frame may follow it.
    closed: bool,
    /// The writer has ended: the shard forgets the sink.
    gone: bool,
    /// How many frames may wait for the writer before frames are skipped (the fan-out's).
    capacity: usize,
    /// Frames skipped since the writer last looked.
    skipped: u64,
    /// Stream frames for the writer, in order; the first may be the rest of a cut frame.
    queued: VecDeque<Bytes>,
}

enum Offer {
    /// The sink took the frames: `sent` of them written whole, the rest queued for its writer
    /// (or skipped beyond its queue's capacity).
    Taken {
        sent: u64,
    },
    Gone,
}

/// What the writer takes from its sink.
pub(super) enum Turn {
    /// Every queued frame, joined so that a backlog costs one write rather than one per frame
    /// (the writer holds the socket until it asks again); `count` frames are finished by it.
    Frames { bytes: Bytes, count: u64 },
    /// Nothing queued: the shard writes again.
    Done,
}

impl Sink {
    /// A connection's write half; it takes frames from a fan-out once attached to it.
    pub fn new(id: u64, socket: OwnedWriteHalf) -> Arc<Self> {
        Arc::new(Sink {
            state: Mutex::new(SinkState::default()),
            socket,
            id,
            wake: Notify::new(),
            shard: OnceLock::new(),
        })
    }

    /// The connection's TCP stream, for the shard's sends and the writer's.
    fn stream(&self) -> &tokio::net::TcpStream {
        self.socket.as_ref()
    }

    /// Offers `frames`, in order: written now if the socket is the shard's to write and takes
    /// them, otherwise queued for the writer.
    fn offer(&self, frames: &[Bytes]) -> Offer {
        let mut state = lock(&self.state);
        if state.gone {
            return Offer::Gone;
        }
        if state.closed || frames.is_empty() {
            return Offer::Taken { sent: 0 };
        }
        if state.writer_busy {
            let skipped = state.skipped;
            for frame in frames {
                self.enqueue(&mut state, frame.clone());
            }
            if state.skipped != skipped {
                drop(state);
                self.wake.notify_one();
            }
            return Offer::Taken { sent: 0 };
        }
        // The lock is held through the write: the writer cannot start one in between.
        // Straight to the socket, past tokio's readiness record: the shard never waits for
        // readiness, and reading that record was a cache miss per socket per frame (perf).
        // The writer, which does wait, clears a stale "writable" at its first `WouldBlock`.
        let socket = socket2::SockRef::from(self.stream());
        let written = match frames {
            [frame] => socket.send(frame),
            _ => {
                let mut slices = [io::IoSlice::new(&[]); FRAMES_PER_PASS];
                for (slice, frame) in slices.iter_mut().zip(frames) {
                    *slice = io::IoSlice::new(frame);
                }
                socket.send_vectored(&slices[..frames.len().min(FRAMES_PER_PASS)])
            }
        };
        // Would block, or failed: the writer's own write finds out which, under its budget.
        let mut left = written.unwrap_or(0);
        let mut sent = 0;
        for frame in frames {
            if left >= frame.len() {
                left -= frame.len();
                sent += 1;
            } else if left > 0 {
                // The rest of a cut frame: always queued, nothing may follow it but its rest.
                state.queued.push_back(frame.slice(left..));
                left = 0;
            } else {
                self.enqueue(&mut state, frame.clone());
            }
        }
        if sent < frames.len() as u64 {
            state.writer_busy = true;
            drop(state);
            self.wake.notify_one();
        }
        Offer::Taken { sent }
    }

    /// Queues `frame` for the writer, or skips it once the queue is full.
    fn enqueue(&self, state: &mut SinkState, frame: Bytes) {
        if state.queued.len() < state.capacity {
            state.queued.push_back(frame);
        } else {
            state.skipped += 1;
        }
    }

    /// `n` frames passed this connection by; `true`: keep the sink.
    fn skip(&self, n: u64) -> bool {
        let mut state = lock(&self.state);
        state.skipped += n;
        let keep = !state.gone;
        drop(state);
        self.wake.notify_one();
        keep
    }

    /// The writer is about to write something of its own: from now on the shard queues.
    /// With `closing` it is the connection's close frame (or follows it), and the shard
    /// writes and queues nothing more.
    pub fn hold(&self, closing: bool) {
        let mut state = lock(&self.state);
        state.writer_busy = true;
        state.closed |= closing;
    }

    /// The queued frames for the writer to write, and the frames skipped since it last
    /// asked. On `Done` with `release` the shard writes again; without, the writer keeps the
    /// socket (it has a frame of its own to write).
    pub fn next(&self, release: bool) -> (Turn, u64) {
        let mut state = lock(&self.state);
        let skipped = std::mem::take(&mut state.skipped);
        let count = state.queued.len() as u64;
        let bytes = match count {
            0 => {
                state.writer_busy = !release;
                return (Turn::Done, skipped);
            }
            1 => state.queued.pop_front().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(state.queued.iter().map(Bytes::len).sum());
                for frame in state.queued.drain(..) {
                    joined.extend_from_slice(&frame);
                }
                joined.freeze()
            }
        };
        state.writer_busy = true;
        (Turn::Frames { bytes, count }, skipped)
    }

    fn is_gone(&self) -> bool {
        lock(&self.state).gone
    }

    /// The writer has ended.
    pub async fn leave(&self) {
        {
            let mut state = lock(&self.state);
            state.gone = true;
            state.queued.clear();
        }
        // Not under the sink's lock: the shard takes its list's lock, then each sink's.
        if let Some(shard) = self.shard.get().and_then(std::sync::Weak::upgrade) {
            let mut sinks = shard.sinks.lock().await;
            sinks.retain(|sink| !std::ptr::eq(&**sink, self));
        }
    }
}

/// A plain TCP connection's write half as its writer task writes it (`AsyncWrite`); its shard
/// writes the same socket through the sink, never at once.
#[derive(Clone)]
pub(super) struct SharedHalf(pub Arc<Sink>);

impl AsyncWrite for SharedHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let stream = self.0.stream();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.0.stream()).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A connected pair: the server's write half and the client's stream.
    pub(in crate::core) async fn pair() -> (OwnedWriteHalf, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_, write) = server.into_split();
        (write, client)
    }

    /// A sink with queue `capacity`, as attaching to a fan-out of that capacity sets it.
    fn sink(socket: OwnedWriteHalf, capacity: usize) -> Arc<Sink> {
        let sink = Sink::new(7, socket);
        lock(&sink.state).capacity = capacity;
        sink
    }

    #[test]
    fn what_a_shard_reads_per_frame_is_in_one_cache_line() {
        use std::mem::{align_of, offset_of, size_of};
        assert_eq!(align_of::<Sink>(), 64);
        // The socket's handle, the lock word and the state up to its skip count.
        let end = offset_of!(Sink, state)
            + size_of::<Mutex<()>>().max(align_of::<SinkState>())
            + offset_of!(SinkState, queued);
        assert!(end <= 64, "what a shard reads ends at byte {end}");
    }

    async fn read_exactly(client: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        client.read_exact(&mut buf).await.expect("read");
        buf
    }

    #[tokio::test]
    async fn an_idle_sink_is_written_by_the_shard_and_a_busy_one_queues_in_order() {
        let (socket, mut client) = pair().await;
        let sink = sink(socket, 2);
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"one")]),
            Offer::Taken { sent: 1 }
        ));
        assert_eq!(read_exactly(&mut client, 3).await, b"one");

        // The writer holds the socket: frames queue behind it, then are skipped and counted.
        sink.hold(false);
        for frame in [&b"two"[..], b"three", b"four", b"five"] {
            assert!(matches!(
                sink.offer(&[Bytes::copy_from_slice(frame)]),
                Offer::Taken { sent: 0 }
            ));
        }
        let (turn, skipped) = sink.next(false);
        assert!(
            matches!(turn, Turn::Frames { bytes, count: 2 } if bytes == "twothree"),
            "the queue in one write"
        );
        assert_eq!(skipped, 2, "capacity 2: four and five were skipped");
        // Not released: the writer still has the socket, the shard keeps queueing.
        assert!(matches!(sink.next(false), (Turn::Done, 0)));
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"six")]),
            Offer::Taken { sent: 0 }
        ));
        assert!(matches!(sink.next(true), (Turn::Frames { bytes, count: 1 }, 0) if bytes == "six"));
        assert!(matches!(sink.next(true), (Turn::Done, 0)));
        // Released: the shard writes again.
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"seven")]),
            Offer::Taken { sent: 1 }
        ));
        assert_eq!(read_exactly(&mut client, 5).await, b"seven");
        sink.leave().await;
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"x")]),
            Offer::Gone
        ));
    }

    #[tokio::test]
    async fn a_connection_whose_writer_sent_its_close_gets_no_more_frames() {
        let (socket, mut client) = pair().await;
        let sink = sink(socket, 4);
        // The writer takes the socket for the close frame, writes it, and gives it back.
        sink.hold(true);
        assert!(matches!(sink.next(true), (Turn::Done, 0)));
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"late")]),
            Offer::Taken { sent: 0 }
        ));
        assert!(
            matches!(sink.next(true), (Turn::Done, 0)),
            "nothing queued either"
        );
        drop(sink);
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            client.read_to_end(&mut rest),
        )
        .await;
        assert!(rest.is_empty(), "{rest:?}");
    }

    #[tokio::test]
    async fn a_frame_the_socket_takes_in_part_is_finished_by_the_writer() {
        let (socket, mut client) = pair().await;
        let sink = sink(socket, 4);
        // Far more than loopback buffers take while the client does not read.
        let frame = Bytes::from(vec![b'x'; 64 << 20]);
        assert!(matches!(
            sink.offer(std::slice::from_ref(&frame)),
            Offer::Taken { sent: 0 }
        ));
        let Turn::Frames {
            bytes: rest,
            count: 1,
        } = sink.next(true).0
        else {
            panic!("the rest of the frame is the writer's");
        };
        let written = frame.len() - rest.len();
        assert!(written > 0 && !rest.is_empty(), "cut at {written}");
        assert_eq!(&frame[written..], &rest[..]);
        // Until the writer has finished it, the shard writes nothing after it.
        assert!(matches!(
            sink.offer(&[Bytes::from_static(b"next")]),
            Offer::Taken { sent: 0 }
        ));
        let got = read_exactly(&mut client, written).await;
        assert!(got.iter().all(|&b| b == b'x'));
    }

    #[tokio::test]
    async fn a_batch_is_written_in_order_and_one_cut_leaves_its_rest_and_the_frames_after() {
        let (socket, mut client) = pair().await;
        let sink = sink(socket, 3);
        let batch: Vec<Bytes> = [&b"ab"[..], b"cde", b"f"]
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();
        assert!(matches!(sink.offer(&batch), Offer::Taken { sent: 3 }));
        assert_eq!(read_exactly(&mut client, 6).await, b"abcdef");

        // A client that does not read: a batch of big frames fills the socket part way.
        let big: Vec<Bytes> = (0..5u8)
            .map(|k| Bytes::from(vec![b'a' + k; 16 << 20]))
            .collect();
        let Offer::Taken { sent } = sink.offer(&big) else {
            panic!("the sink is not gone");
        };
        assert!(sent < 5, "loopback took {sent} frames of 16 MiB whole");
        // The cut frame's rest first, then whole frames up to the queue's capacity (3).
        let (Turn::Frames { bytes, count }, skipped) = sink.next(true) else {
            panic!("the rest of the cut frame is the writer's");
        };
        let cut = &big[sent as usize];
        let after = &big[sent as usize + 1..];
        let kept = after.len().min(2);
        assert_eq!(count, 1 + kept as u64);
        let whole: usize = after[..kept].iter().map(Bytes::len).sum();
        let rest = bytes.len() - whole;
        assert!(rest > 0 && rest < cut.len(), "a rest of {rest}");
        assert_eq!(&cut[cut.len() - rest..], &bytes[..rest]);
        assert_eq!(
            bytes[rest..],
            after[..kept].concat(),
            "whole frames after the cut, in order"
        );
        assert_eq!(
            skipped,
            (after.len() - kept) as u64,
            "beyond capacity: skipped"
        );
        assert!(matches!(sink.next(true), (Turn::Done, 0)));
    }

    #[tokio::test]
    async fn a_busy_sink_queues_a_batch_up_to_its_capacity_and_skips_the_rest() {
        let (socket, _client) = pair().await;
        let sink = sink(socket, 2);
        sink.hold(false);
        let batch: Vec<Bytes> = (0..5u8).map(|k| Bytes::from(vec![k])).collect();
        assert!(matches!(sink.offer(&batch), Offer::Taken { sent: 0 }));
        assert!(
            matches!(sink.next(false), (Turn::Frames { bytes, count: 2 }, 3) if bytes == [0u8, 1][..])
        );
        assert!(matches!(sink.next(false), (Turn::Done, 0)));
    }

    #[tokio::test]
    async fn a_sent_frame_reaches_an_attached_connection_and_leaving_detaches_it() {
        let (socket, mut client) = pair().await;
        let fanout = FanOut::new(4);
        let metrics = Arc::new(StreamMetrics::default());
        let sink = Sink::new(3, socket);
        fanout.attach(sink.clone(), &metrics).await;
        fanout.send(Bytes::from_static(b"frame"));
        assert_eq!(read_exactly(&mut client, 5).await, b"frame");
        let shard = sink
            .shard
            .get()
            .and_then(std::sync::Weak::upgrade)
            .expect("attached");
        assert_eq!(shard.sinks.lock().await.len(), 1);
        sink.leave().await;
        assert!(shard.sinks.lock().await.is_empty());
        // The shard counts its sends once it has gone through its list.
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while metrics.frames_sent_total.load(Relaxed) != 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the frame is counted as sent");
    }
}
