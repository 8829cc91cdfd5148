//! Email over TLS: the owner's email of a disabled webhook goes to an SMTP server that speaks
//! TLS from the first byte (`smtps://`) or upgrades with STARTTLS (`smtp://…?tls=required`,
//! the usual submission port 587), with a certificate made for the test and trusted through
//! `--smtp-ca-file`; without that trust, or without STARTTLS offered, nothing is sent in the
//! clear instead.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::smtp::{Mail, SmtpSink};
use support::{eventually, TestServer};

/// A self-signed certificate for 127.0.0.1 and its TLS acceptor; the PEM written to `dir`.
fn tls_for_loopback(dir: &std::path::Path) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let ca_file = dir.join("smtp-ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(
        certified.signing_key.serialize_der(),
    )
    .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

async fn disable_a_webhook(s: &TestServer) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    s.webhook(
        &format!("http://{closed}/down"),
        &["*"],
        "your_webhook_secret",
    )
    .await;
    s.emit("server.error", json!({})).await;
}

/// The one email `sink` receives when a webhook is disabled on a server that mails through
/// `url`, trusting `ca_file`.
async fn the_owners_email(sink: &SmtpSink, url: String, ca_file: std::path::PathBuf) -> Mail {
    let s = TestServer::start_with(|c| {
        c.smtp_url = Some(url.clone());
        c.smtp_ca_file = Some(ca_file.clone());
        c.max_attempts = 1;
    })
    .await;
    disable_a_webhook(&s).await;
    eventually("the owner's email", Duration::from_secs(15), || {
        !sink.mails().is_empty()
    })
    .await;
    s.stop().await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = mails.into_iter().next().unwrap();
    assert!(mail.to[0].contains("owner@example.com"), "{mail:?}");
    assert!(mail.data.contains("disabled"), "{}", mail.data);
    mail
}

#[tokio::test]
async fn the_disabling_email_goes_over_implicit_tls_to_a_trusted_server() {
    let certs = tempfile::tempdir().unwrap();
    let (acceptor, ca_file) = tls_for_loopback(certs.path());
    let sink = SmtpSink::start_tls(acceptor).await;
    let url = format!("smtps://mailer:s%40cret@127.0.0.1:{}", sink.addr.port());
    assert!(the_owners_email(&sink, url, ca_file).await.over_tls);
}

#[tokio::test]
async fn the_disabling_email_goes_over_starttls_to_a_trusted_server() {
    let certs = tempfile::tempdir().unwrap();
    let (acceptor, ca_file) = tls_for_loopback(certs.path());
    let sink = SmtpSink::start_starttls(acceptor).await;
    let port = sink.addr.port();
    let url = format!("smtp://mailer:s%40cret@127.0.0.1:{port}?tls=required");
    let mail = the_owners_email(&sink, url, ca_file).await;
    assert!(mail.over_tls, "the message went in the clear");
}

/// Disables a webhook on a server that mails through `url` (trusting only the public roots),
/// waits until the mailer has tried and failed (its `/metrics` count of failed emails), and
/// checks that `sink` received nothing: `why` says what went wrong if it did. A test that
/// only waited could pass with a mailer that never tried.
async fn nothing_is_sent(sink: &SmtpSink, url: String, why: &str) {
    let s = TestServer::start_with(|c| {
        c.smtp_url = Some(url.clone());
        c.max_attempts = 1;
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics = format!(
        "http://{}/metrics",
        s.server.as_ref().unwrap().metrics_addr.unwrap()
    );
    disable_a_webhook(&s).await;
    let failed_line = "cdhooks_emails_total{outcome=\"failed\"} ";
    support::eventually_async(
        "the mailer's failed try",
        Duration::from_secs(15),
        || async {
            let text = s
                .http
                .get(&metrics)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .filter_map(|line| line.strip_prefix(failed_line))
                .any(|count| count.trim().parse::<f64>().is_ok_and(|n| n >= 1.0))
        },
    )
    .await;
    assert!(sink.mails().is_empty(), "{why}");
    s.stop().await;
}

#[tokio::test]
async fn tls_required_sends_nothing_to_a_server_without_starttls() {
    let sink = SmtpSink::start().await;
    let port = sink.addr.port();
    let url = format!("smtp://mailer:s%40cret@127.0.0.1:{port}?tls=required");
    nothing_is_sent(
        &sink,
        url,
        "an email went in the clear although TLS was required",
    )
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_sends_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let (acceptor, _) = tls_for_loopback(certs.path());
    let sink = SmtpSink::start_tls(acceptor).await;
    let url = format!("smtps://127.0.0.1:{}", sink.addr.port());
    let why = "an email went to a server whose certificate is not trusted";
    nothing_is_sent(&sink, url, why).await;
}
