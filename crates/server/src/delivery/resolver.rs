//! DNS resolution that refuses forbidden addresses at connect time.
//!
//! A name that resolved to a public address at registration may later resolve to
//! `127.0.0.1` or `169.254.169.254` (DNS rebinding). Every connection the delivery client
//! makes resolves through here, and only addresses the [`TargetPolicy`] permits are dialled.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::target::TargetPolicy;

/// The error a connection fails with when every resolved address is forbidden.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to forbidden addresses (private, loopback or reserved)")]
pub struct ForbiddenTarget {
    /// The name that was resolved.
    pub host: String,
}

/// The error a connection fails with when the endpoint's name does not resolve.
#[derive(Debug, thiserror::Error)]
#[error("{host} does not resolve: {reason}")]
pub struct DnsFailure {
    /// The name that was resolved.
    pub host: String,
    /// What the resolver said.
    pub reason: std::io::Error,
}

/// A resolver that filters addresses through the policy.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    /// What may be dialled.
    policy: Arc<TargetPolicy>,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<TargetPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let looked_up = tokio::net::lookup_host((host.as_str(), 0)).await;
            let resolved = match looked_up {
                Ok(resolved) => resolved,
                Err(reason) => {
                    return Err(Box::new(DnsFailure {
                        host: host.clone(),
                        reason,
                    })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            };
            let permitted: Vec<SocketAddr> =
                resolved.filter(|addr| policy.permits(addr.ip())).collect();
            if permitted.is_empty() {
                return Err(Box::new(ForbiddenTarget { host: host.clone() })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}
