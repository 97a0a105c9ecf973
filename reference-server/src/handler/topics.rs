//! Pub/sub: exact topic names, each with its subscribers' mailboxes.
//!
//! A publish is framed once and posted to every subscriber but the publisher (upstream's
//! `excludeClientId`). The lock is held while posting, so an `unsubscribe` that returns has
//! seen the last publish that could reach it: nothing arrives after its `unsubscribe_response`.

use super::Peer;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Topics {
    /// Topic → connection id → mailbox. A topic with no subscriber is removed.
    by_name: Mutex<BTreeMap<String, BTreeMap<u64, Peer>>>,
}

impl Topics {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<u64, Peer>>> {
        self.by_name
            .lock()
            .expect("the topics lock is never poisoned")
    }

    /// Idempotent.
    pub fn subscribe(&self, topic: &str, peer: &Peer) {
        self.lock()
            .entry(topic.to_owned())
            .or_default()
            .insert(peer.id, peer.clone());
    }

    /// Idempotent; an unknown topic is not an error.
    pub fn unsubscribe(&self, topic: &str, connection: u64) {
        let mut topics = self.lock();
        if let Some(subscribers) = topics.get_mut(topic) {
            subscribers.remove(&connection);
            if subscribers.is_empty() {
                topics.remove(topic);
            }
        }
    }

    /// Posts `frame` to every subscriber of `topic` except `publisher`; returns how many took it.
    pub fn publish(&self, topic: &str, frame: &Bytes, publisher: u64) -> usize {
        let topics = self.lock();
        let Some(subscribers) = topics.get(topic) else {
            return 0;
        };
        subscribers
            .values()
            .filter(|peer| peer.id != publisher)
            .filter(|peer| peer.mailbox.post(frame.clone()))
            .count()
    }

    /// Topics with at least one subscriber, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}
