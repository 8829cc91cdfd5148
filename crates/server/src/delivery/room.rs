//! The engine's room: how many attempts this process runs at once.
//!
//! Every claim first reserves room, and claims at most what it reserved, so everything a
//! process claims starts at once — nothing waits in memory while its lease runs out.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A counter of attempts in flight with a fixed capacity.
#[derive(Debug)]
pub struct Room {
    /// Attempts in flight or reserved for claims under way.
    used: AtomicUsize,
    /// The most at once (`--workers`).
    capacity: usize,
}

impl Room {
    /// Room for `capacity` attempts at once (at least one).
    pub fn new(capacity: usize) -> Self {
        Room {
            used: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Reserves up to `wanted` places; returns how many it got (0 when full).
    pub fn reserve(&self, wanted: usize) -> usize {
        let mut got = 0;
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                got = self.capacity.saturating_sub(used).min(wanted);
                (got > 0).then_some(used + got)
            });
        got
    }

    /// Gives back `count` places (a claim got fewer than reserved, or an attempt finished).
    pub fn release(&self, count: usize) {
        if count > 0 {
            self.used.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Places in use.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::Room;

    #[test]
    fn reserves_never_exceed_the_capacity() {
        let room = Room::new(4);
        assert_eq!(room.reserve(3), 3);
        assert_eq!(room.reserve(3), 1);
        assert_eq!(room.reserve(1), 0);
        room.release(2);
        assert_eq!(room.in_use(), 2);
        assert_eq!(room.reserve(usize::MAX), 2);
        room.release(4);
        assert_eq!(room.in_use(), 0);
        assert_eq!(Room::new(0).reserve(5), 1);
    }
}
