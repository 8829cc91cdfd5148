//! How much the process can hold at once: attempts in flight (from `--workers` up to
//! `--max-in-flight`) and HTTP connections (`--max-connections`) each take a file descriptor,
//! so at start the process raises its open-file soft limit as far as the hard limit allows,
//! sizes what it holds to fit, says in one log line what that is, and refuses a configuration
//! it could not honour — rather than failing with `EMFILE` under load.

/// Descriptors kept for everything else: the database's connections and files, the
/// listeners, the mail transport, logs.
pub const SPARE_DESCRIPTORS: u64 = 256;

/// The most attempts in flight by default, when the open-file limit holds them: enough for
/// 4,000 deliveries a second to endpoints a second away (or 16,000 to endpoints 250 ms away).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// The open files `attempts` attempts and `connections` HTTP connections need, with
/// `database_pool` connections to the database beside them.
pub fn descriptors_needed(attempts: usize, connections: usize, database_pool: u32) -> u64 {
    (attempts as u64)
        .saturating_add(connections as u64)
        .saturating_add(u64::from(database_pool))
        .saturating_add(SPARE_DESCRIPTORS)
}

/// What the process holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Attempts in flight to begin with, and the fewest the engine keeps (`--workers`).
    pub workers: usize,
    /// The most attempts in flight while endpoints are slow.
    pub max_in_flight: usize,
}

/// Sizes the attempts in flight to the open-file `limit` (`None`: unknown, nothing checked):
/// `--max-in-flight` as given, or by default [`DEFAULT_MAX_IN_FLIGHT`] or as many as the limit
/// leaves beside the connections. A need the limit cannot meet is refused, naming the flags to
/// change.
pub fn plan(
    workers: usize,
    max_in_flight: Option<usize>,
    connections: usize,
    database_pool: u32,
    limit: Option<u64>,
) -> Result<Capacity, String> {
    let workers = workers.max(1);
    let refused = |flags: &str, needed: u64, limit: u64| {
        format!(
            "{flags} and --max-connections need about {needed} open files, and this process may \
             open {limit} (its hard limit, `ulimit -Hn`): lower them, or raise the limit"
        )
    };
    match max_in_flight {
        Some(max) if max < workers => Err(format!(
            "--max-in-flight {max} is below --workers {workers}: the engine starts with \
             --workers attempts in flight and grows up to --max-in-flight"
        )),
        Some(max) => {
            let needed = descriptors_needed(max, connections, database_pool);
            match limit {
                Some(limit) if needed > limit => Err(refused("--max-in-flight", needed, limit)),
                _ => Ok(Capacity {
                    workers,
                    max_in_flight: max,
                }),
            }
        }
        None => {
            let Some(limit) = limit else {
                return Ok(Capacity {
                    workers,
                    max_in_flight: DEFAULT_MAX_IN_FLIGHT.max(workers),
                });
            };
            let needed = descriptors_needed(workers, connections, database_pool);
            if needed > limit {
                return Err(refused("--workers", needed, limit));
            }
            let left = limit - descriptors_needed(0, connections, database_pool);
            Ok(Capacity {
                workers,
                max_in_flight: (left.min(DEFAULT_MAX_IN_FLIGHT as u64) as usize).max(workers),
            })
        }
    }
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
    }

    #[test]
    fn the_default_ceiling_fits_the_open_file_limit() {
        let room = |limit| plan(64, None, 512, 16, limit).map(|c| c.max_in_flight);
        assert_eq!(room(None), Ok(DEFAULT_MAX_IN_FLIGHT));
        assert_eq!(room(Some(1 << 20)), Ok(DEFAULT_MAX_IN_FLIGHT));
        // A limit of 2,048 leaves 2048 - 512 - 16 - 256 for attempts.
        assert_eq!(room(Some(2048)), Ok(2048 - 512 - 16 - 256));
        // Never below --workers; and --workers the limit cannot hold is refused.
        assert_eq!(room(Some(512 + 16 + 256 + 64)), Ok(64));
        let refused = room(Some(800)).unwrap_err();
        assert!(
            refused.contains("--workers") && refused.contains("800"),
            "{refused}"
        );
    }

    #[test]
    fn a_ceiling_given_is_honoured_or_refused() {
        assert_eq!(
            plan(4, Some(4), 512, 16, Some(20_000)),
            Ok(Capacity {
                workers: 4,
                max_in_flight: 4
            })
        );
        let refused = plan(64, Some(100_000), 512, 16, Some(20_000)).unwrap_err();
        assert!(
            refused.contains("--max-in-flight") && refused.contains("20000"),
            "{refused}"
        );
        let below = plan(64, Some(8), 512, 16, None).unwrap_err();
        assert!(below.contains("below --workers"), "{below}");
    }
}
