//! The email outbox sender.
//!
//! Emails are queued in the store inside the transaction that disables a webhook, so a crash
//! cannot lose one. This task sends what is queued — over SMTP, or as `.eml` files into the
//! outbox directory — and then marks it sent. Each email has a stable id that is its file name
//! and its `Message-ID`: a crash between sending and marking rewrites the same file, and an
//! SMTP resend carries the same `Message-ID`, so a resend is recognisable as the same email.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::shutdown::Shutdown;
use crate::store::{OutboxEmail, Store};

/// How often the outbox is checked.
const POLL: Duration = Duration::from_millis(250);

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
    /// SMTP when a URL is given (e.g. `smtp://127.0.0.1:2525`), files otherwise.
    pub fn new(smtp_url: Option<&str>, outbox_dir: PathBuf) -> Result<Self, MailError> {
        match smtp_url {
            Some(text) => {
                let url =
                    url::Url::parse(text).map_err(|e| MailError::Url(format!("{text}: {e}")))?;
                if url.scheme() != "smtp" {
                    return Err(MailError::Url(format!(
                        "{text}: only smtp://host:port (plain SMTP) is supported"
                    )));
                }
                let host = url
                    .host_str()
                    .ok_or_else(|| MailError::Url(format!("{text}: no host")))?;
                Ok(MailTransport::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                        .port(url.port().unwrap_or(25))
                        .timeout(Some(Duration::from_secs(10)))
                        .build(),
                ))
            }
            None => Ok(MailTransport::Files(outbox_dir)),
        }
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
                tokio::fs::create_dir_all(dir).await?;
                let partial = dir.join(format!(".{}.eml.partial", queued.id));
                tokio::fs::write(&partial, message.formatted()).await?;
                tokio::fs::rename(&partial, dir.join(format!("{}.eml", queued.id))).await?;
            }
        }
        Ok(())
    }
}

/// Sends queued emails until shutdown.
pub async fn run(
    store: std::sync::Arc<dyn Store>,
    transport: MailTransport,
    from: String,
    mut shutdown: Shutdown,
) {
    while !shutdown.is_shutdown() {
        match store.unsent_emails(20).await {
            Ok(emails) => {
                for queued in emails {
                    match transport.send(&from, &queued).await {
                        Ok(()) => {
                            tracing::info!(email = %queued.id, to = %queued.email.recipient, "email sent");
                            if let Err(error) = store
                                .mark_email_sent(&queued.id, crate::clock::now_ms())
                                .await
                            {
                                tracing::error!(%error, "could not mark an email sent");
                            }
                        }
                        Err(error) => {
                            tracing::warn!(email = %queued.id, %error, "email not sent; will retry");
                            let _ = store
                                .mark_email_failed(&queued.id, &error.to_string())
                                .await;
                        }
                    }
                }
            }
            Err(error) => tracing::error!(%error, "reading the outbox failed"),
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
