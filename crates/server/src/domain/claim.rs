//! Which due deliveries a process claims: only what it can start now, shared fairly.
//!
//! - A webhook never has more attempts in flight than its concurrency limit, counted over
//!   every process ([`free_slots`]): a slow endpoint's backlog waits in the store, not in
//!   memory, so nothing claimed ever waits long enough for its lease to run out.
//! - Webhooks with due work are served round-robin ([`round_robin`]): each gets one delivery
//!   before any gets a second, starting from a rotating offset, so one endpoint's backlog —
//!   slow, timing out or dead — costs the others nothing beyond its own share.
//! - A webhook's own deliveries keep their order of due time (each queue comes oldest first).

/// The attempts a webhook may start now: its limit less what is in flight.
pub fn free_slots(limit: u32, in_flight: u32) -> u32 {
    limit.saturating_sub(in_flight)
}

/// The slots a webhook offers to new deliveries claimed at once (when their event is stored):
/// none while older due deliveries of it wait unclaimed — a new event must not overtake them —
/// else its free slots.
pub fn slots_at_once(limit: u32, in_flight: u32, older_waiting: bool) -> u32 {
    if older_waiting {
        0
    } else {
        free_slots(limit, in_flight)
    }
}

/// Whether a delivery left unclaimed when its event was stored calls for a claim now (waking
/// the claim loop, announcing it to other processes): only while its webhook has a free slot
/// (`None`: not known here, so yes). A webhook at its limit gets its next deliveries claimed
/// as its attempts finish, in the transactions that record their results.
pub fn worth_a_claim(free_slots: Option<u32>) -> bool {
    free_slots.is_none_or(|free| free > 0)
}

/// The claims one request may still make at once: at most its lease's room, each taking a
/// free slot of the delivery's webhook.
#[derive(Debug, Clone, Copy)]
pub struct AtOnce {
    /// Claims left to this request.
    room: u32,
}

impl AtOnce {
    /// For a request with a lease of `lease_max` (none: it claims nothing).
    pub fn new(lease_max: Option<u32>) -> Self {
        AtOnce {
            room: lease_max.unwrap_or(0),
        }
    }

    /// Whether the next delivery, to a webhook with `slots` free (`None`: not claimable now),
    /// is claimed at once; if so it takes the slot.
    pub fn take(&mut self, slots: Option<&mut u32>) -> bool {
        match slots {
            Some(slots) if self.room > 0 && *slots > 0 => {
                self.room -= 1;
                *slots -= 1;
                true
            }
            _ => false,
        }
    }
}

/// One webhook's due deliveries, oldest first, already cut to its free slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQueue<T> {
    /// The deliveries, in due order.
    pub due: Vec<T>,
}

/// Takes at most `max` deliveries from `queues`, one per webhook per turn, beginning with
/// the queue at `start` (modulo their number) so that no webhook is always served first.
pub fn round_robin<T>(queues: Vec<DueQueue<T>>, max: usize, start: usize) -> Vec<T> {
    let count = queues.len();
    if count == 0 {
        return Vec::new();
    }
    let mut iters: Vec<_> = queues.into_iter().map(|q| q.due.into_iter()).collect();
    iters.rotate_left(start % count);
    let mut picked = Vec::new();
    while picked.len() < max {
        let before = picked.len();
        for queue in iters.iter_mut() {
            if picked.len() == max {
                break;
            }
            if let Some(item) = queue.next() {
                picked.push(item);
            }
        }
        if picked.len() == before {
            break;
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(items: &[u32]) -> DueQueue<u32> {
        DueQueue {
            due: items.to_vec(),
        }
    }

    #[test]
    fn only_a_webhook_with_room_calls_for_a_claim() {
        assert!(worth_a_claim(Some(1)));
        assert!(!worth_a_claim(Some(0)));
        assert!(worth_a_claim(None));
    }

    #[test]
    fn free_slots_never_go_negative() {
        assert_eq!(free_slots(16, 0), 16);
        assert_eq!(free_slots(16, 15), 1);
        assert_eq!(free_slots(16, 16), 0);
        assert_eq!(free_slots(16, 40), 0);
        assert_eq!(free_slots(0, 0), 0);
    }

    #[test]
    fn a_new_event_never_overtakes_waiting_deliveries() {
        assert_eq!(slots_at_once(16, 3, false), 13);
        assert_eq!(slots_at_once(16, 3, true), 0);
        assert_eq!(slots_at_once(16, 16, false), 0);
    }

    #[test]
    fn claims_at_once_stop_at_the_requests_room_and_the_webhooks_slots() {
        let (mut a, mut b) = (2u32, 5u32);
        let mut request = AtOnce::new(Some(3));
        let taken: Vec<bool> = (0..3).map(|_| request.take(Some(&mut a))).collect();
        assert_eq!(taken, [true, true, false], "webhook a had 2 slots");
        assert!(request.take(Some(&mut b)));
        assert!(
            !request.take(Some(&mut b)),
            "the request's room of 3 is used up"
        );
        assert_eq!((a, b), (0, 4));
        assert!(!AtOnce::new(None).take(Some(&mut b)));
        assert!(!AtOnce::new(Some(9)).take(None));
    }

    #[test]
    fn every_webhook_gets_one_before_any_gets_a_second() {
        let picked = round_robin(
            vec![queue(&[10, 11, 12, 13]), queue(&[20]), queue(&[30, 31])],
            5,
            0,
        );
        assert_eq!(picked, [10, 20, 30, 11, 31]);
    }

    #[test]
    fn the_start_rotates_who_is_served_first() {
        let queues = || vec![queue(&[10, 11]), queue(&[20, 21]), queue(&[30, 31])];
        assert_eq!(round_robin(queues(), 2, 0), [10, 20]);
        assert_eq!(round_robin(queues(), 2, 1), [20, 30]);
        assert_eq!(round_robin(queues(), 2, 2), [30, 10]);
        assert_eq!(round_robin(queues(), 2, 5), [30, 10]);
    }

    #[test]
    fn a_webhook_keeps_its_order_and_nothing_is_taken_twice() {
        let picked = round_robin(vec![queue(&[1, 2, 3]), queue(&[7, 8])], 100, 1);
        assert_eq!(picked, [7, 1, 8, 2, 3]);
    }

    #[test]
    fn edges() {
        assert!(round_robin::<u32>(vec![], 10, 3).is_empty());
        assert!(round_robin(vec![queue(&[1])], 0, 0).is_empty());
        assert!(round_robin(vec![queue(&[]), queue(&[])], 4, 0).is_empty());
        assert_eq!(round_robin(vec![queue(&[]), queue(&[5])], 4, 0), [5]);
    }
}
