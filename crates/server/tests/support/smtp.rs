//! A real SMTP sink over TCP: speaks enough SMTP for lettre (in the clear, over TLS from the
//! first byte, or upgraded with STARTTLS) and keeps each message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// Whether it came over TLS.
    pub over_tls: bool,
}

/// How the sink's connections are secured.
#[derive(Clone)]
enum Security {
    Plain,
    /// TLS from the first byte (`smtps://`).
    Implicit(tokio_rustls::TlsAcceptor),
    /// In the clear until the client asks for `STARTTLS` (offered in the `EHLO` reply).
    StartTls(tokio_rustls::TlsAcceptor),
}

/// Where a conversation is.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// In the clear; `STARTTLS` offered or not.
    Clear { offer_starttls: bool },
    /// Over TLS from the first byte.
    Implicit,
    /// Over TLS after `STARTTLS` (greeted already, in the clear).
    Upgraded,
}

/// The sink's address and what it received.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// A plain SMTP sink (no `STARTTLS` offered).
    pub async fn start() -> SmtpSink {
        Self::start_with(Security::Plain).await
    }

    /// An SMTP sink speaking TLS from the first byte (`smtps://`), with `acceptor`'s certificate.
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> SmtpSink {
        Self::start_with(Security::Implicit(acceptor)).await
    }

    /// An SMTP sink that offers `STARTTLS` (`smtp://…?tls=required`), with `acceptor`'s
    /// certificate.
    pub async fn start_starttls(acceptor: tokio_rustls::TlsAcceptor) -> SmtpSink {
        Self::start_with(Security::StartTls(acceptor)).await
    }

    async fn start_with(security: Security) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, security) = (sink.clone(), security.clone());
                tokio::spawn(async move {
                    let clear = |offer_starttls| Stage::Clear { offer_starttls };
                    match security {
                        Security::Plain => {
                            session(stream, sink, clear(false)).await;
                        }
                        Security::Implicit(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                session(stream, sink, Stage::Implicit).await;
                            }
                        }
                        Security::StartTls(acceptor) => {
                            let Some(stream) = session(stream, sink.clone(), clear(true)).await
                            else {
                                return;
                            };
                            if let Ok(stream) = acceptor.accept(stream).await {
                                session(stream, sink, Stage::Upgraded).await;
                            }
                        }
                    }
                });
            }
        });
        SmtpSink { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

/// One SMTP conversation: enough of the protocol for lettre, each message kept. Returns the
/// stream when the client asked for `STARTTLS` (offered at `stage`), to go on over TLS.
async fn session<S>(stream: S, sink: Arc<Mutex<Vec<Mail>>>, stage: Stage) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    if stage != Stage::Upgraded {
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    }
    let over_tls = matches!(stage, Stage::Implicit | Stage::Upgraded);
    let offer_starttls = stage
        == (Stage::Clear {
            offer_starttls: true,
        });
    let (mut from, mut to, mut data, mut in_data) =
        (String::new(), Vec::new(), String::new(), false);
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if line == "." {
                in_data = false;
                sink.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: to.clone(),
                    data: std::mem::take(&mut data),
                    over_tls,
                });
                let _ = write.write_all(b"250 OK queued\r\n").await;
            } else {
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            let _ = write.flush().await;
            continue;
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if offer_starttls {
                b"250-sink\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"
            } else {
                b"250-sink\r\n250 AUTH PLAIN LOGIN\r\n"
            }
        } else if upper == "STARTTLS" && offer_starttls {
            let _ = write.write_all(b"220 ready to start TLS\r\n").await;
            let _ = write.flush().await;
            return Some(lines.into_inner().into_inner().unsplit(write));
        } else if upper.starts_with("AUTH") {
            b"235 authenticated\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(line[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            in_data = true;
            b"354 go ahead\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            let _ = write.flush().await;
            break;
        } else {
            b"250 OK\r\n"
        };
        let _ = write.write_all(reply).await;
        let _ = write.flush().await;
    }
    None
}
