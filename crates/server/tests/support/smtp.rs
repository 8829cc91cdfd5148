//! A real SMTP sink over TCP: speaks enough SMTP for lettre and keeps each message.

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
}

/// The sink's address and what it received.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// A plain SMTP sink.
    pub async fn start() -> SmtpSink {
        Self::start_with(None).await
    }

    /// An SMTP sink speaking TLS from the first byte (`smtps://`), with `acceptor`'s certificate.
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> SmtpSink {
        Self::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (sink, tls) = (sink.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                session(stream, sink).await;
                            }
                        }
                        None => session(stream, sink).await,
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

/// One SMTP conversation: enough of the protocol for lettre, each message kept.
async fn session<S>(stream: S, sink: Arc<Mutex<Vec<Mail>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
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
            b"250-sink\r\n250 AUTH PLAIN LOGIN\r\n"
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
}
