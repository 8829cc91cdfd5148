//! The engine's room: how many attempts this process runs at once.
//!
//! Every claim first reserves room, and claims at most what it reserved, so everything a
//! process claims starts at once — nothing waits in memory while its lease runs out.
//!
//! The room's size follows what holds the attempts up. Against endpoints that answer at
//! once, `--workers` attempts keep the CPU busy and more would only queue for it (and hold
//! memory while they do). Against endpoints 50–500 ms away, attempts mostly wait, and the
//! room must hold thousands for the CPU to stay busy. So the room starts at `--workers`
//! and, looked at every [`LOOK_EVERY`], doubles while due work waits for room, attempts take
//! long, and the process and its machine have CPU to spare, up to `--max-in-flight`; it shrinks back when the process is busy or the
//! work is gone ([`next_capacity`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How often the engine looks at its room's size.
pub const LOOK_EVERY: Duration = Duration::from_millis(100);

/// A counter of attempts in flight with a capacity between a floor and a ceiling.
#[derive(Debug)]
pub struct Room {
    /// Attempts in flight or reserved for claims under way.
    used: AtomicUsize,
    /// The most at once now.
    capacity: AtomicUsize,
    /// The fewest the capacity goes down to (`--workers`).
    floor: usize,
    /// The most the capacity grows to (`--max-in-flight`).
    ceiling: usize,
    /// Attempts finished since the start.
    finished: AtomicUsize,
    /// The time they took, added up (µs).
    finished_micros: AtomicU64,
}

impl Room {
    /// Room for `floor` attempts at once (at least one), able to grow to `ceiling`.
    pub fn new(floor: usize, ceiling: usize) -> Self {
        let floor = floor.max(1);
        Room {
            used: AtomicUsize::new(0),
            capacity: AtomicUsize::new(floor),
            floor,
            ceiling: ceiling.max(floor),
            finished: AtomicUsize::new(0),
            finished_micros: AtomicU64::new(0),
        }
    }

    /// Counts a finished attempt that took `took` (whether its place is given back or handed
    /// on).
    pub fn attempt_over(&self, took: Duration) {
        self.finished_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts finished since the start, and the time they took added up.
    pub fn finished(&self) -> (usize, Duration) {
        (
            self.finished.load(Ordering::Relaxed),
            Duration::from_micros(self.finished_micros.load(Ordering::Relaxed)),
        )
    }

    /// Reserves up to `wanted` places; returns how many it got (0 when full).
    pub fn reserve(&self, wanted: usize) -> usize {
        let capacity = self.capacity.load(Ordering::Acquire);
        let mut got = 0;
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                got = capacity.saturating_sub(used).min(wanted);
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

    /// The most at once now.
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Acquire)
    }

    /// Whether (nearly) every place is taken: at least 90 % of them, since a finished
    /// attempt's place is free for a moment before it goes to the next delivery.
    pub fn is_full(&self) -> bool {
        self.in_use() * 10 >= self.capacity() * 9
    }

    /// Whether the room keeps one size (`--workers` is `--max-in-flight`).
    pub fn is_fixed(&self) -> bool {
        self.floor == self.ceiling
    }

    /// Resizes the room after a look ([`next_capacity`]); returns the new capacity.
    pub fn resize(&self, look: Look) -> usize {
        let next = next_capacity(
            self.capacity(),
            self.in_use(),
            self.floor,
            self.ceiling,
            look,
        );
        self.capacity.store(next, Ordering::Release);
        next
    }
}

/// What the engine saw in one look at its room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    /// The room was full and due work waited in the store.
    pub starved: bool,
    /// How long the attempts that finished since the last look took on average, from being
    /// started to their outcome (at least the time between looks when attempts are in flight
    /// and none finished).
    pub attempt_time: Duration,
    /// The share of its cores the process used since the last look (0 to 1).
    pub busy: f64,
    /// The share of the machine's CPU time that went unused since the last look (1 where
    /// the platform does not say): a process sharing its machine may use little of it while
    /// the machine has nothing to spare.
    pub machine_idle: f64,
    /// How late the look itself woke up: the process's tasks waiting for a thread.
    pub late: Duration,
}

/// Attempts that take longer than this on average wait on their endpoints rather than on
/// this process: only then does more room help. (Against endpoints that answer at once, a
/// busy process's attempts take a few milliseconds, queued for its threads.)
pub const GROW_ABOVE_ATTEMPT_TIME: Duration = Duration::from_millis(50);
/// The process is idle enough to hold more attempts below this share of its cores...
pub const GROW_BELOW_BUSY: f64 = 0.6;
/// ...and while the machine leaves more than this share of its CPU time unused...
pub const GROW_ABOVE_MACHINE_IDLE: f64 = 0.2;
/// ...and when its tasks wait less than this for a thread.
pub const GROW_BELOW_LATE: Duration = Duration::from_millis(2);
/// Past this share of its cores, or this delay, more attempts in flight only queue for the
/// CPU: the room shrinks.
pub const SHRINK_ABOVE_BUSY: f64 = 0.9;
/// See [`SHRINK_ABOVE_BUSY`].
pub const SHRINK_ABOVE_LATE: Duration = Duration::from_millis(10);

/// The room's next capacity, with `in_use` places taken: twice as much (up to `ceiling`) when
/// due work waits for room, the attempts in flight take long (they wait on their endpoints)
/// and the process is idle enough; a quarter less (down to `floor`) when the process is busy. When no work
/// waits it goes down slowly, a 32nd at a time and never below twice what is in use, so that
/// room grown for slow endpoints is there for their next events (and for attempts hanging on
/// dead ones) and given back seconds after they are gone.
pub fn next_capacity(
    capacity: usize,
    in_use: usize,
    floor: usize,
    ceiling: usize,
    look: Look,
) -> usize {
    let busy = look.busy > SHRINK_ABOVE_BUSY || look.late > SHRINK_ABOVE_LATE;
    let idle = look.busy < GROW_BELOW_BUSY
        && look.machine_idle > GROW_ABOVE_MACHINE_IDLE
        && look.late < GROW_BELOW_LATE;
    let waiting_on_endpoints = look.attempt_time > GROW_ABOVE_ATTEMPT_TIME;
    let next = if busy {
        capacity - capacity / 4
    } else if look.starved && idle && waiting_on_endpoints {
        capacity.saturating_mul(2)
    } else if look.starved {
        capacity
    } else {
        (capacity - capacity / 32)
            .max(in_use.saturating_mul(2))
            .min(capacity)
    };
    next.clamp(floor, ceiling.max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_never_exceed_the_capacity() {
        let room = Room::new(4, 4);
        assert_eq!(room.reserve(3), 3);
        assert_eq!(room.reserve(3), 1);
        assert_eq!(room.reserve(1), 0);
        assert!(room.is_full());
        room.release(2);
        assert_eq!(room.in_use(), 2);
        assert!(!room.is_full());
        assert_eq!(room.reserve(usize::MAX), 2);
        room.release(4);
        assert_eq!(room.in_use(), 0);
        assert_eq!(Room::new(0, 0).reserve(5), 1);
    }

    const IDLE: Look = Look {
        starved: true,
        attempt_time: Duration::from_millis(250),
        busy: 0.1,
        machine_idle: 0.8,
        late: Duration::from_micros(300),
    };

    #[test]
    fn the_room_grows_while_work_waits_and_the_process_idles() {
        let room = Room::new(64, 4096);
        let mut sizes = vec![room.capacity()];
        for _ in 0..8 {
            sizes.push(room.resize(IDLE));
        }
        assert_eq!(sizes, [64, 128, 256, 512, 1024, 2048, 4096, 4096, 4096]);
        room.reserve(usize::MAX);
        assert_eq!(room.in_use(), 4096, "the grown room is there to reserve");
    }

    #[test]
    fn a_busy_process_holds_no_more_than_it_has_and_gives_room_back() {
        let at = |capacity, look| next_capacity(capacity, 0, 64, 4096, look);
        // Busy: more in flight would only wait for the CPU.
        let busy = Look { busy: 0.95, ..IDLE };
        assert_eq!(at(1024, busy), 768);
        let late = Look {
            late: Duration::from_millis(20),
            ..IDLE
        };
        assert_eq!(at(1024, late), 768);
        assert_eq!(at(64, busy), 64, "never below --workers");
        // In between: work waits, but the CPU has little to spare — the room holds.
        let middling = Look { busy: 0.7, ..IDLE };
        assert_eq!(at(1024, middling), 1024);
        // Attempts that are over in milliseconds wait for this process, not for their
        // endpoints: more of them would only queue (the loopback fan-out's case).
        let quick = Look {
            attempt_time: Duration::from_millis(9),
            busy: 0.5,
            ..IDLE
        };
        assert_eq!(at(64, quick), 64);
        // A process using little of a machine that has nothing to spare (a receiver and a
        // load client beside it on two cores) does not grow either.
        let crowded = Look {
            machine_idle: 0.05,
            ..IDLE
        };
        assert_eq!(at(64, crowded), 64);
        // No work waiting: the room goes back down slowly, never below twice what is in use.
        let quiet = Look {
            starved: false,
            ..IDLE
        };
        assert_eq!(at(1024, quiet), 992);
        assert_eq!(at(64, quiet), 64);
        assert_eq!(next_capacity(1024, 800, 64, 4096, quiet), 1024);
        assert_eq!(next_capacity(1024, 400, 64, 4096, quiet), 992);
        // A ceiling below the floor is the floor.
        assert_eq!(next_capacity(8, 0, 8, 4, IDLE), 8);
    }
}
