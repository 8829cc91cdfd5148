//! What retention keeps: everything newer than `--retention-days`, and, whatever its age, any
//! event that still has a delivery pending or paused (nothing accepted is dropped before it
//! is delivered or has failed for good). Older finished events go with their deliveries and
//! attempts; old inbox captures and sent or dead-lettered emails go too.

/// How many events one pruning step removes, so that deliveries never wait long on it.
pub const BATCH: u32 = 500;

/// The moment before which finished data is removed (Unix ms), or `None` to keep everything
/// (`days == 0`).
pub fn cutoff_ms(now_ms: i64, days: u32) -> Option<i64> {
    (days > 0).then(|| now_ms - i64::from(days) * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_back_from_now_or_forever() {
        assert_eq!(cutoff_ms(100 * 86_400_000, 30), Some(70 * 86_400_000));
        assert_eq!(cutoff_ms(5, 0), None);
    }
}
