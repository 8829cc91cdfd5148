//! How much the process can hold at once: attempts in flight (`--workers`) and HTTP
//! connections (`--max-connections`) each take a file descriptor, so at start the process
//! raises its open-file soft limit as far as the hard limit allows, says in one log line what
//! it can hold, and refuses a configuration it could not honour — rather than failing with
//! `EMFILE` under load.

/// Descriptors kept for everything else: the database's connections and files, the
/// listeners, the mail transport, logs.
pub const SPARE_DESCRIPTORS: u64 = 256;

/// The open files `workers` attempts and `connections` HTTP connections need, with
/// `database_pool` connections to the database beside them.
pub fn descriptors_needed(workers: usize, connections: usize, database_pool: u32) -> u64 {
    (workers as u64)
        .saturating_add(connections as u64)
        .saturating_add(u64::from(database_pool))
        .saturating_add(SPARE_DESCRIPTORS)
}

/// Refuses a need the limit cannot meet, naming the flags to change.
pub fn check(needed: u64, limit: u64) -> Result<(), String> {
    if needed <= limit {
        return Ok(());
    }
    Err(format!(
        "--workers and --max-connections need about {needed} open files, and this process may \
         open {limit} (its hard limit, `ulimit -Hn`): lower them, or raise the limit"
    ))
}

/// Raises the open-file soft limit to the hard limit and returns it (`None` where the
/// platform does not say).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_need_counts_every_descriptor_and_never_overflows() {
        assert_eq!(
            descriptors_needed(2048, 512, 16),
            2048 + 512 + 16 + SPARE_DESCRIPTORS
        );
        assert_eq!(
            descriptors_needed(usize::MAX, usize::MAX, u32::MAX),
            u64::MAX
        );
        assert!(check(1000, 1000).is_ok());
        let refused = check(1001, 1000).unwrap_err();
        assert!(
            refused.contains("--workers") && refused.contains("1000"),
            "{refused}"
        );
    }
}
