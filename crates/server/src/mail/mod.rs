//! The email outbox sender.
//!
//! Emails are queued in the store inside the transaction that disables a webhook, so a crash
//! cannot lose one. This task claims due emails under a lease (so several server processes
//! never send one at the same time), sends them — over SMTP, or as `.eml` files into the
//! outbox directory — and marks each sent, or records the failure and the next try that
//! `domain::email` chose; after repeated failures an email is dead-lettered and the rest of
//! the outbox goes on. Each email has a stable id that is its file name and its `Message-ID`:
//! a crash between sending and marking rewrites the same file, and an SMTP resend carries the
//! same `Message-ID`, so a resend is recognisable as the same email.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use std::sync::Arc;

use crate::clock::{Clock, SharedClock};
use crate::domain::email::{after_send_failure, EmailNext};
use crate::shutdown::Shutdown;
use crate::store::{EmailClaim, Outbox, OutboxEmail};

/// How often (ms on the server's clock) the outbox is checked besides when an email is queued
/// here: for emails queued by other processes sharing the store, and for later tries.
const POLL_MS: i64 = 250;

/// The mailer's signals: a bell the delivery engine rings when it queued an email (which
/// then goes out at once, not at the next round), and the time on the server's clock at
/// which the mailer began its last finished round — what a test waits on instead of sleeping.
#[derive(Debug)]
pub struct Mailbox {
    /// Rung when an email was queued.
    queued: tokio::sync::Notify,
    /// When the last finished round began (`None` before the first).
    round_began: tokio::sync::watch::Sender<Option<i64>>,
}

impl Mailbox {
    /// Signals no one has used yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Mailbox {
            queued: tokio::sync::Notify::new(),
            round_began: tokio::sync::watch::Sender::new(None),
        })
    }

    /// Says that an email was queued: the mailer looks at the outbox now.
    pub fn email_queued(&self) {
        self.queued.notify_one();
    }

    /// Ends once the mailer has finished a round that began at `at_ms` or later on the
    /// server's clock: one that saw every email due by then.
    pub async fn looked_since(&self, at_ms: i64) {
        let mut began = self.round_began.subscribe();
        let _ = began
            .wait_for(|began| began.is_some_and(|began| began >= at_ms))
            .await;
    }
}

/// Where emails go.
pub enum MailTransport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory.
    Files(PathBuf),
}

/// Why an email could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL is not usable.
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    /// The message could not be built (bad address).
    #[error("invalid email: {0}")]
    Message(String),
    /// The SMTP server refused or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// Writing the file failed.
    #[error("outbox file: {0}")]
    Io(#[from] std::io::Error),
}

impl MailTransport {
    /// SMTP when a URL is given, files otherwise. `smtp://host:port` is plain SMTP (local
    /// sinks); `smtp://host:port?tls=required` requires STARTTLS; `smtps://host:port`
    /// (default port 465) is TLS from the first byte. `user:password@` logs in. With
    /// `ca_file` (PEM), that certificate authority is trusted besides the public roots.
    pub fn new(
        smtp_url: Option<&str>,
        ca_file: Option<&std::path::Path>,
        outbox_dir: PathBuf,
    ) -> Result<Self, MailError> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let Some(text) = smtp_url else {
            return Ok(MailTransport::Files(outbox_dir));
        };
        let bad = |why: &str| MailError::Url(format!("{text}: {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']']);
        let starttls = url
            .query_pairs()
            .any(|(k, v)| k == "tls" && v == "required");
        let (implicit, port) = match url.scheme() {
            "smtps" => (true, url.port().unwrap_or(465)),
            "smtp" => (false, url.port().unwrap_or(25)),
            _ => return Err(bad("use smtp://, smtp://…?tls=required or smtps://")),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)));
        if implicit || starttls {
            let mut parameters = TlsParameters::builder(host.to_owned());
            if let Some(ca_file) = ca_file {
                let pem = std::fs::read(ca_file)?;
                let certificate = Certificate::from_pem(&pem)
                    .map_err(|e| bad(&format!("{}: {e}", ca_file.display())))?;
                parameters = parameters.add_root_certificate(certificate);
            }
            let parameters = parameters.build_rustls()?;
            builder = builder.tls(if implicit {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            });
        }
        if !url.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        Ok(MailTransport::Smtp(builder.build()))
    }

    async fn send(&self, from: &str, queued: &OutboxEmail) -> Result<(), MailError> {
        let message = Message::builder()
            .from(
                from.parse()
                    .map_err(|e| MailError::Message(format!("from: {e}")))?,
            )
            .to(queued
                .email
                .recipient
                .parse()
                .map_err(|e| MailError::Message(format!("to: {e}")))?)
            .subject(&queued.email.subject)
            .message_id(Some(format!("<{}@cdhooks>", queued.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(queued.email.body.clone())
            .map_err(|e| MailError::Message(e.to_string()))?;
        match self {
            MailTransport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            MailTransport::Files(dir) => {
                let partial = dir.join(format!(".{}.eml.partial", queued.id));
                let formatted = message.formatted();
                let (target, written) = (dir.clone(), partial.clone());
                tokio::task::spawn_blocking(move || {
                    crate::private_files::create_dir(&target)?;
                    crate::private_files::write(&written, &formatted)
                })
                .await
                .map_err(std::io::Error::other)??;
                tokio::fs::rename(&partial, dir.join(format!("{}.eml", queued.id))).await?;
            }
        }
        Ok(())
    }
}

/// Emails claimed at once.
const BATCH: u32 = 20;
/// How long a claim on an email lasts: longer than an SMTP exchange may take.
const EMAIL_LEASE: Duration = Duration::from_secs(120);

/// Sends queued emails until shutdown.
pub async fn run(
    store: Arc<dyn Outbox>,
    transport: MailTransport,
    from: String,
    clock: SharedClock,
    metrics: Arc<crate::metrics::Metrics>,
    mailbox: Arc<Mailbox>,
    mut shutdown: Shutdown,
) {
    while !shutdown.is_shutdown() {
        let now = clock.now_ms();
        let claim = EmailClaim {
            token: rand::random(),
            until_ms: now + EMAIL_LEASE.as_millis() as i64,
            max: BATCH,
        };
        match store.claim_emails(now, claim).await {
            Ok(emails) => {
                for queued in emails {
                    send_one(&*store, &transport, &from, &*clock, &metrics, queued).await;
                }
            }
            Err(error) => tracing::error!(%error, "reading the outbox failed"),
        }
        mailbox.round_began.send_replace(Some(now));
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = mailbox.queued.notified() => {}
            _ = clock.sleep_until(now + POLL_MS) => {}
        }
    }
}

async fn send_one(
    store: &dyn Outbox,
    transport: &MailTransport,
    from: &str,
    clock: &dyn Clock,
    metrics: &crate::metrics::Metrics,
    queued: OutboxEmail,
) {
    use crate::metrics::EmailLabel;
    let result = match transport.send(from, &queued).await {
        Ok(()) => {
            tracing::info!(email = %queued.id, to = %queued.email.recipient, "email sent");
            metrics
                .emails
                .get_or_create(&EmailLabel { outcome: "sent" })
                .inc();
            store
                .email_sent(&queued.id, queued.claim_token, clock.now_ms())
                .await
        }
        Err(error) => {
            let now = clock.now_ms();
            let next = after_send_failure(queued.tries + 1, now);
            let outcome = match next {
                EmailNext::RetryAt(_) => "failed",
                EmailNext::Dead => "dead",
            };
            metrics.emails.get_or_create(&EmailLabel { outcome }).inc();
            match next {
                EmailNext::RetryAt(at) => tracing::warn!(
                    email = %queued.id, %error, retry_in_s = (at - now) / 1000,
                    "email not sent; will retry"
                ),
                EmailNext::Dead => tracing::error!(
                    email = %queued.id, %error, tries = queued.tries + 1,
                    "email not sent; giving up (dead-lettered)"
                ),
            }
            store
                .email_failed(
                    &queued.id,
                    queued.claim_token,
                    &error.to_string(),
                    next,
                    now,
                )
                .await
        }
    };
    if let Err(error) = result {
        tracing::error!(email = %queued.id, %error, "could not record the email's outcome");
    }
}
