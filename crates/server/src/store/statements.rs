//! Statements both stores run as they are: written once, in the numbered-parameter form
//! (`$1`, `$2`, …) that PostgreSQL takes and SQLite reads as named parameters, numbered by
//! their first appearance — so each statement must first name `$1`, then `$2`, and so on.

/// Drops an inbox's oldest captures beyond what it keeps (`$1` the token, `$2` the most
/// requests, `$3` the most body bytes over the kept ones; the newest is always kept).
pub const TRIM_INBOX: &str = "DELETE FROM inbox_requests WHERE token = $1 AND seq IN (
    SELECT seq FROM (
        SELECT seq,
               ROW_NUMBER() OVER (ORDER BY seq DESC) AS n,
               SUM(LENGTH(body)) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) AS kept
        FROM inbox_requests WHERE token = $1) AS ranked
    WHERE n > $2 OR (n > 1 AND kept > $3))";

/// One stored secret (current or previous) that matches the `LIKE` pattern `$1`.
pub const SECRET_LIKE: &str = "SELECT secret FROM webhooks WHERE secret LIKE $1
    UNION ALL SELECT previous_secret FROM webhooks WHERE previous_secret LIKE $1
    LIMIT 1";
