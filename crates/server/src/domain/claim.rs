//! Which due deliveries a process claims: only what it can start now, shared fairly.
//!
//! - A webhook never has more attempts in flight than its concurrency limit, counted over
//!   every process ([`free_slots`]): a slow endpoint's backlog waits in the store, not in
//!   memory, so nothing claimed ever waits long enough for its lease to run out.
//! - Webhooks with due work are served round-robin ([`round_robin`]): each gets one delivery
//!   before any gets a second, starting from a rotating offset, so one endpoint's backlog —
//!   slow, timing out or dead — costs the others nothing beyond its own share.
//! - A webhook's own deliveries keep their order of due time (each queue comes oldest first).
//! - Processes sharing a store split the webhooks between them ([`Shard`]): each claims the
//!   backlogs and retries of its own share, so a busy webhook is claimed for by one process
//!   rather than contended for by all.

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

/// The slots a webhook's `finished` attempts hand straight back to its own next due
/// deliveries, in the transaction that records their results (no claim of its own needed):
/// as many as finished, less any excess of its `in_flight` (the finished ones still counted)
/// over its limit — and none while another webhook of the process's share waits with a free
/// slot, which then gets its turn through the round-robin claim. A hand-back never raises a
/// webhook's attempts in flight.
pub fn handed_back(limit: u32, in_flight: u32, finished: u32, others_waiting: bool) -> u32 {
    if others_waiting {
        0
    } else {
        finished.min(free_slots(limit, in_flight.saturating_sub(finished)))
    }
}

/// Whether a delivery left unclaimed when its event was stored calls for a claim now (waking
/// the claim loop, announcing it to other processes): only while its webhook has a free slot
/// (`None`: not known here, so yes). A webhook at its limit gets its next deliveries claimed
/// as its attempts finish, in the transactions that record their results.
pub fn worth_a_claim(free_slots: Option<u32>) -> bool {
    free_slots.is_none_or(|free| free > 0)
}

/// The share of the webhooks a process claims for when several processes share a store: the
/// webhooks whose key, modulo the number of live processes, is this process's place among
/// them (ordered by their ids).
///
/// Every process reads the same list of live processes, so each webhook has one claimer; while
/// the list changes (a process starting, stopping or dying) two processes may briefly claim for
/// one webhook — its lock and in-flight count keep that safe — or none, until the next
/// heartbeat. New deliveries of an idle webhook are still claimed at once by whichever process
/// accepted their event; the share decides who works a webhook's backlog and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's place among the live ones.
    index: u32,
    /// How many processes are live.
    count: u32,
}

impl Shard {
    /// A process alone: every webhook is its own.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The share of the process `me` among the `live` ones (in any order; `me` counts as
    /// live even if the list does not name it yet).
    pub fn among<'a>(live: impl IntoIterator<Item = &'a str>, me: &'a str) -> Shard {
        let mut ids: Vec<&str> = live.into_iter().chain([me]).collect();
        ids.sort_unstable();
        ids.dedup();
        let index = ids.iter().position(|id| *id == me).unwrap_or(0);
        Shard {
            index: index as u32,
            count: ids.len() as u32,
        }
    }

    /// This process's place among the live ones (the remainder its webhooks' keys leave).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many processes are live (the modulus).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the webhook with key `webhook_seq` is in this share.
    pub fn owns(&self, webhook_seq: i64) -> bool {
        webhook_seq.rem_euclid(i64::from(self.count.max(1))) == i64::from(self.index)
    }
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

/// A webhook with due work and a free slot, as a claim first finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithWork<K> {
    /// The webhook's key.
    pub key: K,
    /// When its oldest due delivery fell due (Unix ms).
    pub oldest_due_ms: i64,
    /// Whether its circuit is open (`domain::health::is_open`).
    pub failing: bool,
}

/// The webhooks one claim serves, of those with due work and a free slot: at most `max`
/// whose circuit is closed and `max_failing` whose circuit is open — each gives the claim a
/// delivery at least, so more could add nothing — those whose oldest due delivery has waited
/// longest first (then by key). Returned in that order.
///
/// A claim reads the queues and takes the locks of only these, so its cost follows what it
/// takes rather than how many webhooks have work: with a thousand far endpoints, each with a
/// backlog, a claim of 150 locked and read all thousand.
pub fn served<K: Ord + Copy>(
    mut with_work: Vec<WithWork<K>>,
    max: u32,
    max_failing: u32,
) -> Vec<K> {
    with_work.sort_by_key(|w| (w.oldest_due_ms, w.key));
    let (mut healthy, mut failing) = (max as usize, max_failing as usize);
    with_work
        .into_iter()
        .filter(|w| {
            let budget = if w.failing {
                &mut failing
            } else {
                &mut healthy
            };
            let take = *budget > 0;
            *budget = budget.saturating_sub(1);
            take
        })
        .map(|w| w.key)
        .collect()
}

/// One webhook's due deliveries, oldest first, already cut to its free slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQueue<T> {
    /// The deliveries, in due order.
    pub due: Vec<T>,
}

/// Cuts `queues` (each with whether its webhook's circuit is open) so that at most
/// `max_failing` deliveries go to webhooks whose circuit is open — their share of the
/// process's room, so that failing endpoints can never take all of it. Which of them get a
/// turn rotates with `start`; the other queues pass untouched.
pub fn within_failing_share<T>(
    queues: Vec<(DueQueue<T>, bool)>,
    max_failing: u32,
    start: usize,
) -> Vec<DueQueue<T>> {
    let (failing, mut healthy): (Vec<_>, Vec<_>) = queues.into_iter().partition(|(_, open)| *open);
    let mut failing: Vec<DueQueue<T>> = failing.into_iter().map(|(queue, _)| queue).collect();
    if !failing.is_empty() {
        let count = failing.len();
        failing.rotate_left(start % count);
    }
    let mut budget = max_failing as usize;
    for mut queue in failing {
        if budget == 0 {
            break;
        }
        queue.due.truncate(budget);
        budget -= queue.due.len();
        healthy.push((queue, true));
    }
    healthy.into_iter().map(|(queue, _)| queue).collect()
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

    #[test]
    fn failing_webhooks_get_at_most_their_share_in_turn() {
        let queue = |due: Vec<u32>| DueQueue { due };
        let queues = || {
            vec![
                (queue(vec![1]), true),
                (queue(vec![10, 11, 12]), false),
                (queue(vec![2]), true),
                (queue(vec![3]), true),
            ]
        };
        let kept = |max_failing, start| -> Vec<Vec<u32>> {
            within_failing_share(queues(), max_failing, start)
                .into_iter()
                .map(|q| q.due)
                .collect()
        };
        assert_eq!(kept(0, 0), vec![vec![10, 11, 12]]);
        assert_eq!(kept(1, 0), vec![vec![10, 11, 12], vec![1]]);
        assert_eq!(
            kept(1, 1),
            vec![vec![10, 11, 12], vec![2]],
            "the turn rotates"
        );
        assert_eq!(kept(5, 0).len(), 4, "room for all of them");
    }

    #[test]
    fn finished_attempts_hand_their_slots_back_unless_another_webhook_waits() {
        assert_eq!(handed_back(16, 16, 3, false), 3);
        assert_eq!(handed_back(16, 10, 3, false), 3);
        assert_eq!(handed_back(16, 16, 3, true), 0);
        // Over the limit (it was lowered): only what brings it back under.
        assert_eq!(handed_back(4, 6, 3, false), 1);
        assert_eq!(handed_back(4, 9, 3, false), 0);
    }

    fn queue(items: &[u32]) -> DueQueue<u32> {
        DueQueue {
            due: items.to_vec(),
        }
    }

    #[test]
    fn live_processes_split_the_webhooks_so_each_has_exactly_one_claimer() {
        let live = ["ins_b", "ins_c", "ins_a"];
        let shards: Vec<Shard> = live.iter().map(|me| Shard::among(live, me)).collect();
        assert_eq!(shards[2], Shard { index: 0, count: 3 }, "ordered by id");
        for webhook in 1..=30 {
            let owners = shards.iter().filter(|s| s.owns(webhook)).count();
            assert_eq!(owners, 1, "webhook {webhook}");
        }
        let owned = |shard: &Shard| (1..=30).filter(|w| shard.owns(*w)).count();
        assert!(shards.iter().all(|s| owned(s) == 10), "an even split");
    }

    #[test]
    fn a_process_not_yet_listed_counts_itself_and_alone_owns_everything() {
        assert_eq!(
            Shard::among(["ins_a"], "ins_b"),
            Shard { index: 1, count: 2 }
        );
        assert_eq!(Shard::among([], "ins_a"), Shard::WHOLE);
        assert_eq!(Shard::among(["ins_a", "ins_a"], "ins_a"), Shard::WHOLE);
        assert!((-3..100).all(|w| Shard::WHOLE.owns(w)));
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

    #[test]
    fn a_claim_serves_the_longest_waiting_webhooks_up_to_what_it_can_take() {
        let with_work = |key: i64, oldest_due_ms: i64, failing: bool| WithWork {
            key,
            oldest_due_ms,
            failing,
        };
        let all = vec![
            with_work(1, 300, false),
            with_work(2, 100, true),
            with_work(3, 100, false),
            with_work(4, 200, false),
            with_work(5, 50, true),
            with_work(6, 100, false),
        ];
        assert_eq!(served(all.clone(), 2, 1), [5, 3, 6]);
        assert_eq!(served(all.clone(), 3, 0), [3, 6, 4]);
        assert_eq!(served(all.clone(), 10, 10), [5, 2, 3, 6, 4, 1]);
        assert!(served(all, 0, 0).is_empty());
    }
}
