//! Deliveries over TLS, as a provider's production makes every one: a receiver on loopback
//! with a certificate from a CA made in the test, trusted through `--target-ca-file`. A
//! trusted certificate delivers (and the receiver verifies); an untrusted, expired or
//! wrong-host one fails the attempt as `tls`, with a reason the customer can act on, and
//! nothing is sent.

mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use support::TestServer;
use tokio_rustls::rustls;

/// A CA made for the test: its PEM, and what signs leaf certificates with it.
struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names`, valid from `not_before` to `not_after` (years).
    fn leaf(
        &self,
        names: &[&str],
        years: (i32, i32),
    ) -> (rustls::pki_types::CertificateDer<'static>, KeyPair) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().clone(), key)
    }
}

/// A request's body and `X-Webhook-Signature`.
type Request = (Vec<u8>, String);

/// What an https receiver got: the bodies and `X-Webhook-Signature` headers, how many TLS
/// handshakes it completed and how many of those resumed an earlier session.
#[derive(Clone, Default)]
struct Got {
    requests: Arc<std::sync::Mutex<Vec<Request>>>,
    handshakes: Arc<std::sync::atomic::AtomicUsize>,
    resumed: Arc<std::sync::atomic::AtomicUsize>,
}

impl Got {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
    fn handshakes(&self) -> usize {
        self.handshakes.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn resumed(&self) -> usize {
        self.resumed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An https receiver on 127.0.0.1 with the given certificate; answers 204 to everything and
/// keeps connections open.
async fn https_receiver(
    cert: rustls::pki_types::CertificateDer<'static>,
    key: KeyPair,
) -> (String, Got) {
    https_receiver_at(Ipv4Addr::LOCALHOST, cert, key, true).await
}

/// An https receiver on `ip` with the given certificate; answers 204 to everything and, unless
/// `keep_alive`, closes the connection after each answer.
async fn https_receiver_at(
    ip: Ipv4Addr,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: KeyPair,
    keep_alive: bool,
) -> (String, Got) {
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Got::default();
    let for_server = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, got) = (acceptor.clone(), for_server.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                got.handshakes
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    got.resumed
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        let got = got.clone();
                        async move {
                            let signature = request
                                .headers()
                                .get("x-webhook-signature")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let body = collect(request.into_body()).await;
                            got.requests.lock().unwrap().push((body, signature));
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(204)
                                    .body(String::new())
                                    .unwrap(),
                            )
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://{ip}:{port}/hook"), got)
}

/// A request body, whole.
async fn collect(mut body: Incoming) -> Vec<u8> {
    use http_body::Body;
    let mut bytes = Vec::new();
    while let Some(Ok(frame)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    bytes
}

/// A server trusting `ca` for deliveries (https only, one attempt per delivery).
async fn trusting(ca: &TestCa) -> TestServer {
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &ca.pem).unwrap();
    let ca_path = ca_file.path().to_owned();
    let s = TestServer::start_with(move |c| {
        c.target_ca_file = vec![ca_path];
        c.allow_http = false;
        c.max_attempts = 1;
    })
    .await;
    drop(ca_file);
    s
}

/// A server trusting `ca` for deliveries, with one webhook to `url`; the delivery's first
/// attempt, once it is recorded.
async fn first_attempt(ca: &TestCa, url: &str) -> (TestServer, serde_json::Value) {
    let s = trusting(ca).await;
    let hook = s.webhook(url, &["*"], "your_webhook_secret").await;
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    let id = hook["id"].as_str().unwrap();
    let list = s
        .wait_for(
            &format!("/v1/webhooks/{id}/deliveries"),
            Duration::from_secs(15),
            |list| list["data"][0]["attempt_count"] == 1,
        )
        .await;
    let attempt = list["data"][0]["attempts"][0].clone();
    (s, attempt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_a_trusted_ca_delivers_over_https() {
    let ca = TestCa::new("cdhooks test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"], (2020, 4000));
    let (url, got) = https_receiver(cert, key).await;
    let (s, attempt) = first_attempt(&ca, &url).await;
    assert_eq!(attempt["status_code"], 204, "{attempt}");
    assert!(attempt["error_kind"].is_null(), "{attempt}");
    let requests = got.requests();
    assert_eq!(requests.len(), 1);
    let (body, signature) = &requests[0];
    assert_eq!(
        signature,
        cdhooks_core::legacy::sign_hex(b"your_webhook_secret", body).as_str(),
        "the receiver verifies what came over TLS"
    );
    // Further deliveries to the endpoint reuse the connection: no handshake each.
    for n in 0..4 {
        s.emit("server.started", json!({"n": n})).await;
        support::eventually("the next delivery", Duration::from_secs(10), || {
            got.requests().len() == n + 2
        })
        .await;
    }
    assert_eq!(got.handshakes(), 1, "one TLS handshake for five deliveries");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_to_many_hosts_resume_their_tls_sessions() {
    // A provider delivers to far more hosts than rustls remembers by default (32): endpoints
    // on as many loopback addresses, each closing the connection after every answer, so each
    // round of deliveries opens a connection to every one of them. The second round resumes
    // the sessions of the first: no full handshake, no certificate chain verified again.
    const HOSTS: usize = 100;
    let ca = TestCa::new("cdhooks test CA");
    let s = trusting(&ca).await;
    let mut receivers = Vec::new();
    for i in 0..HOSTS {
        let ip = Ipv4Addr::new(127, 2, 0, 1 + i as u8);
        let (cert, key) = ca.leaf(&[&ip.to_string()], (2020, 4000));
        let (url, got) = https_receiver_at(ip, cert, key, false).await;
        s.webhook(&url, &["*"], "your_webhook_secret").await;
        receivers.push(got);
    }
    for round in 1..=2 {
        s.emit("server.started", json!({"round": round})).await;
        support::eventually("every host's delivery", Duration::from_secs(15), || {
            receivers.iter().all(|got| got.requests().len() == round)
        })
        .await;
    }
    let handshakes: usize = receivers.iter().map(Got::handshakes).sum();
    let resumed: usize = receivers.iter().map(Got::resumed).sum();
    assert_eq!(handshakes, 2 * HOSTS, "a new connection for every delivery");
    assert_eq!(resumed, HOSTS, "the second connection to each host resumed");
    s.stop().await;
}

#[tokio::test]
async fn a_target_ca_file_that_is_not_a_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let mut config = support::test_config(dir.path());
    config.target_ca_file = vec![bad.clone()];
    let error = match cdhooks_server::start(config).await {
        Ok(server) => {
            server.stop().await;
            panic!("started with a CA file that holds no certificate")
        }
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with(&format!("--target-ca-file {}", bad.display())),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_expired_or_wrong_host_certificates_fail_as_tls_and_send_nothing() {
    let trusted = TestCa::new("cdhooks test CA");
    let stranger = TestCa::new("someone else's CA");
    for (ca, names, years, reason) in [
        (
            &stranger,
            &["127.0.0.1"][..],
            (2020, 4000),
            "not signed by a trusted",
        ),
        (&trusted, &["127.0.0.1"][..], (2000, 2001), "expired"),
        (
            &trusted,
            &["example.com"][..],
            (2020, 4000),
            "not valid for",
        ),
    ] {
        let (cert, key) = ca.leaf(names, years);
        let (url, got) = https_receiver(cert, key).await;
        let (s, attempt) = first_attempt(&trusted, &url).await;
        assert_eq!(attempt["error_kind"], "tls", "{reason}: {attempt}");
        assert!(attempt["status_code"].is_null(), "{attempt}");
        let message = attempt["error"].as_str().unwrap();
        assert!(message.contains(reason), "{reason}: {message}");
        assert!(got.requests().is_empty(), "{reason}: a request got through");
        s.stop().await;
    }
}
