//! Sizes the engine's room to what holds the attempts up (see [`super::room`]): every
//! [`LOOK_EVERY`] it sees whether due work waits for room, how much of its cores the process
//! used, and how late the look itself woke — a process whose tasks wait for a thread is busy
//! — and resizes the room by [`super::room::next_capacity`].

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
    loop {
        let due = looked_at + LOOK_EVERY;
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = tokio::time::Instant::now();
        let late = now.saturating_duration_since(due);
        let cpu_now = process_cpu();
        let busy = match (cpu, cpu_now) {
            (Some(before), Some(after)) => {
                after.saturating_sub(before).as_secs_f64()
                    / now.duration_since(looked_at).as_secs_f64().max(1e-3)
                    / cores
            }
            _ => 0.0,
        };
        let starved = engine.room.is_full() && due_work_waits(engine).await;
        let before = engine.room.capacity();
        let after = engine.room.resize(Look {
            starved,
            busy,
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
