//! Sizes the engine's room to what holds the attempts up (see [`super::room`]): every
//! [`LOOK_EVERY`] it sees whether due work waits for room, how long attempts take, how much of its cores the process used, and how late the look
//! itself woke — a process whose tasks wait for a thread is busy — and resizes the room by
//! [`super::room::next_capacity`]. How busy the machine is counts too: a process sharing two cores
//! with others may use little of them while there is nothing to spare.

use std::sync::Arc;
use std::time::Duration;

use super::room::{Look, LOOK_EVERY};
use super::DeliveryEngine;
use crate::shutdown::Shutdown;

/// Looks at the room until shutdown (not at all when `--workers` is `--max-in-flight`).
pub(super) async fn run(engine: &Arc<DeliveryEngine>, mut shutdown: Shutdown) {
    if engine.room.is_fixed() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut looked_at = tokio::time::Instant::now();
    let mut cpu = process_cpu();
    let mut machine_idle = MachineIdle::default();
    let (mut finished, mut took) = engine.room.finished();
    loop {
        let due = looked_at + LOOK_EVERY;
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(looked_at);
        let late = now.saturating_duration_since(due);
        let cpu_now = process_cpu();
        let busy = match (cpu, cpu_now) {
            (Some(before), Some(after)) => {
                after.saturating_sub(before).as_secs_f64() / elapsed.as_secs_f64().max(1e-3) / cores
            }
            _ => 0.0,
        };
        let (finished_now, took_now) = engine.room.finished();
        let attempt_time = match finished_now - finished {
            0 if engine.room.in_use() > 0 => elapsed,
            0 => Duration::ZERO,
            done => (took_now - took) / done as u32,
        };
        (finished, took) = (finished_now, took_now);
        let starved = engine.room.is_full() && due_work_waits(engine).await;
        let before = engine.room.capacity();
        let after = engine.room.resize(Look {
            starved,
            attempt_time,
            busy,
            machine_idle: machine_idle.share(),
            late,
        });
        if after != before {
            engine.metrics.room.set(after as i64);
            tracing::debug!(before, after, busy, ?late, "resized the delivery room");
        }
        if after > before {
            engine.wake();
        }
        (looked_at, cpu) = (now, cpu_now);
    }
}

/// The machine's unused CPU time between looks, from `/proc/stat` (Linux).
#[derive(Default)]
struct MachineIdle {
    /// Idle and total ticks at the last look.
    last: Option<(u64, u64)>,
}

impl MachineIdle {
    /// The share of CPU time unused since the last call (1 where unknown).
    fn share(&mut self) -> f64 {
        let Some((idle, total)) = machine_ticks() else {
            return 1.0;
        };
        let share = match self.last {
            Some((last_idle, last_total)) if total > last_total => {
                idle.saturating_sub(last_idle) as f64 / (total - last_total) as f64
            }
            _ => 1.0,
        };
        self.last = Some((idle, total));
        share
    }
}

/// Idle (with I/O wait) and total CPU ticks of the machine so far.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((idle, ticks.iter().sum()))
}

/// Whether a delivery is due now (and so waits for room).
async fn due_work_waits(engine: &DeliveryEngine) -> bool {
    let now = engine.clock.now_ms();
    matches!(engine.store.next_due_at().await, Ok(Some(due)) if due <= now)
}

/// The CPU time this process has used (user and system), where the platform says.
fn process_cpu() -> Option<Duration> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: getrusage only writes the struct passed to it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return None;
        }
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        Some(time(usage.ru_utime) + time(usage.ru_stime))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_machine_idle_share_is_a_share() {
        let mut idle = super::MachineIdle::default();
        assert_eq!(idle.share(), 1.0, "nothing to compare with yet");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let share = idle.share();
        assert!((0.0..=1.0).contains(&share), "{share}");
    }

    #[test]
    fn the_process_cpu_time_moves_forward() {
        let Some(before) = super::process_cpu() else {
            return;
        };
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(super::process_cpu().unwrap() > before);
    }
}
