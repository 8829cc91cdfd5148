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

/// One webhook's current secret that matches the `LIKE` pattern `$1` (previous secrets were
/// current once, under the same key).
pub const SECRET_LIKE: &str = "SELECT secret FROM webhooks WHERE secret LIKE $1 LIMIT 1";

/// Adds an API key: `$1` id, `$2` account, `$3` name, `$4` prefix, `$5` hash, `$6` created
/// at, `$7` scope.
pub const INSERT_API_KEY: &str =
    "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at, scope)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A webhook's Ed25519 signing keys (as stored), by its id (`$1`).
pub const SIGNING_KEYS: &str =
    "SELECT signing_key, previous_signing_keys FROM webhooks WHERE id = $1";

/// Which of a webhook's signing credentials a rotation replaces: each is a current value and
/// a list of rotated-out ones still signing, in two columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The HMAC secret (`v1` and the docs' hex signature).
    Secret,
    /// The Ed25519 key (`v1a`).
    SigningKey,
}

impl Credential {
    /// The columns of the current value and of the rotated-out ones.
    pub fn columns(self) -> (&'static str, &'static str) {
        match self {
            Credential::Secret => ("secret", "previous_secrets"),
            Credential::SigningKey => ("signing_key", "previous_signing_keys"),
        }
    }

    /// Sets the rotated-out values (`$1`) and the new one (`$2`), as a rotation decided them.
    pub fn rotate_statement(self) -> &'static str {
        match self {
            Credential::Secret => {
                "UPDATE webhooks SET previous_secrets = $1, secret = $2, updated_at = $3
                WHERE account_id = $4 AND id = $5"
            }
            Credential::SigningKey => {
                "UPDATE webhooks SET previous_signing_keys = $1, signing_key = $2, updated_at = $3
                WHERE account_id = $4 AND id = $5"
            }
        }
    }
}

/// Enabled webhooks whose circuit is open: a failure streak at `$1` (`health::OPENS_AFTER`) or
/// more.
pub const OPEN_CIRCUITS: &str =
    "SELECT COUNT(*) FROM webhooks WHERE enabled = TRUE AND failure_streak >= $1";

/// Applies `domain::health`'s changes to a webhook (`$4`, its seq): `$1` true sets its failure
/// streak to 0, else it grows by `$2`; a hold `$3` (Unix ms, or NULL) extends its hold.
pub const APPLY_HEALTH: &str = "UPDATE webhooks
     SET failure_streak = CASE WHEN $1 THEN 0 ELSE failure_streak + $2 END,
         held_until = CASE WHEN $3 IS NULL THEN held_until
                           WHEN held_until IS NULL OR held_until < $3 THEN $3
                           ELSE held_until END
     WHERE seq = $4";
