//! The one HTTP client for URLs that users supply (an identity provider's discovery document
//! or SAML metadata; log stream destinations later). Nothing else in the server fetches such a
//! URL.
//!
//! A tenant admin chooses these URLs, and the server fetches them from inside the platform's
//! network, so each request is checked before it connects (server-side request forgery):
//!
//! - the host name is resolved once, here; every address it resolves to must be public
//!   ([`address::refusal`]), and the connection goes to exactly those addresses (the client's
//!   own resolver is replaced by one that knows only them), so DNS rebinding between the check
//!   and the connection changes nothing;
//! - `https` only; plain `http` only to a destination an allow rule names;
//! - redirects are followed by hand, each hop checked as the first, never from `https` to
//!   `http`, at most [`MAX_REDIRECTS`];
//! - at most [`MAX_BODY_BYTES`] read, [`TIME_LIMIT`] for everything, no cookies, no proxy, a
//!   fixed `User-Agent`.
//!
//! Exceptions for local use: `--outbound-allow HOST:PORT` (a destination allowed whatever its
//! addresses and over `http`), and `--outbound-allow-private` (dev mode), which allows private
//! and loopback addresses, and `http` to them.

pub mod address;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

pub use address::{Refusal, refusal};

use crate::error::ApiError;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 3;
/// Most bytes read from a response body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest one request may take, redirects and body included.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);
/// The `User-Agent` of every outbound request.
pub const USER_AGENT: &str = concat!(
    "tenant-registry/",
    env!("CARGO_PKG_VERSION"),
    " (outbound request on a user's behalf)"
);

/// A destination an allow rule names: a host (as written in URLs, lower case, IPv6 without
/// brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl FromStr for Destination {
    type Err = String;

    /// `HOST:PORT`, `[IPV6]:PORT`.
    fn from_str(text: &str) -> Result<Destination, String> {
        let url = Url::parse(&format!("http://{}", text.trim()))
            .map_err(|_| format!("{text:?} is not HOST:PORT"))?;
        let (Some(host), Some(port)) = (url.host(), url.port()) else {
            return Err(format!("{text:?} is not HOST:PORT (the port is required)"));
        };
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!("{text:?} is not HOST:PORT"));
        }
        Ok(Destination {
            host: host_text(&host),
            port,
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Domain(name) => name.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

/// The exceptions to the rules (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct OutboundSettings {
    /// Destinations allowed whatever their addresses, and over `http`.
    pub allow: Vec<Destination>,
    /// Allow private and loopback addresses (and `http` to them): dev mode and tests.
    pub allow_private: bool,
}

/// Why a URL was not fetched. Each says which rule refused it; none quotes a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// Not an absolute `http(s)` URL with a host.
    NotAUrl,
    /// `http` where only `https` is allowed.
    NotHttps,
    /// The host resolves to (or is) an address the server does not connect to.
    Refused(Refusal),
    /// The host name does not resolve.
    Unresolvable,
    /// A redirect leads somewhere refused (the inner reason).
    Redirect(Box<OutboundError>),
    /// A redirect from `https` to `http`.
    Downgrade,
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// No connection, or the connection failed.
    Unreachable,
    /// Past [`TIME_LIMIT`].
    TimedOut,
    /// A body larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// An answer other than 2xx (after redirects).
    Status(u16),
}

impl OutboundError {
    /// What the caller is told, about the URL in `field`.
    pub fn describe(&self, field: &str) -> String {
        match self {
            OutboundError::NotAUrl => format!("{field} is not an http(s) URL with a host"),
            OutboundError::NotHttps => format!(
                "{field} must be an https URL (plain http only to a destination the server's \
                 --outbound-allow names)"
            ),
            OutboundError::Refused(why) => format!(
                "{field} resolves to a private address ({}), which the server does not \
                 connect to on a user's behalf",
                why.describe()
            ),
            OutboundError::Unresolvable => format!("{field}: the host name does not resolve"),
            OutboundError::Redirect(inner) => format!(
                "{field} redirects to a refused address: {}",
                match inner.as_ref() {
                    OutboundError::NotHttps => "plain http".to_owned(),
                    OutboundError::Refused(why) => format!("a {} address", why.describe()),
                    other => other.describe("the redirect's target"),
                }
            ),
            OutboundError::Downgrade => {
                format!("{field} redirects from https to http, which is refused")
            }
            OutboundError::TooManyRedirects => {
                format!("{field} redirects more than {MAX_REDIRECTS} times")
            }
            OutboundError::Unreachable => format!("{field}: could not connect to the host"),
            OutboundError::TimedOut => format!(
                "{field}: no complete answer within {} s",
                TIME_LIMIT.as_secs()
            ),
            OutboundError::TooLarge => format!(
                "{field}: the answer is larger than {} KiB",
                MAX_BODY_BYTES / 1024
            ),
            OutboundError::Status(status) => format!("{field}: the host answered HTTP {status}"),
        }
    }

    /// `BAD_USER_INPUT` about `field`.
    pub fn into_api(self, field: &str) -> ApiError {
        ApiError::bad_input(field, self.describe(field))
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it came from, after redirects.
    pub url: Url,
    /// Its body (at most [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
}

/// The client (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    settings: OutboundSettings,
}

/// Where one hop goes: the URL, and the checked addresses its host resolved to.
struct Hop {
    url: Url,
    addresses: Vec<SocketAddr>,
}

impl Outbound {
    /// A client with these exceptions.
    pub fn new(settings: OutboundSettings) -> Outbound {
        Outbound { settings }
    }

    /// Checks what can be checked of `text` without resolving it (the scheme, and a host that
    /// is an address): for refusing a URL when it is saved, before anyone fetches it.
    pub fn check_url(&self, text: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(text).map_err(|_| OutboundError::NotAUrl)?;
        let (host, port) = host_and_port(&url)?;
        let named = self.allowed(&host, port);
        if let Some(why) = literal(&host).and_then(refusal)
            && !named
            && !self.settings.allow_private
        {
            return Err(OutboundError::Refused(why));
        }
        if url.scheme() == "http" && !named && !self.settings.allow_private {
            return Err(OutboundError::NotHttps);
        }
        Ok(url)
    }

    /// GETs `text`, following redirects, under every rule of the module.
    pub async fn get(&self, text: &str) -> Result<Fetched, OutboundError> {
        tokio::time::timeout(TIME_LIMIT, self.get_within_limit(text))
            .await
            .unwrap_or(Err(OutboundError::TimedOut))
    }

    async fn get_within_limit(&self, text: &str) -> Result<Fetched, OutboundError> {
        let mut url = Url::parse(text).map_err(|_| OutboundError::NotAUrl)?;
        let mut redirects = 0;
        loop {
            let hop = self.resolve(url).await.map_err(|e| match redirects {
                0 => e,
                _ => OutboundError::Redirect(Box::new(e)),
            })?;
            let response = send(&hop).await?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(OutboundError::TooManyRedirects);
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| hop.url.join(l).ok())
                    .ok_or(OutboundError::Redirect(Box::new(OutboundError::NotAUrl)))?;
                if hop.url.scheme() == "https" && next.scheme() != "https" {
                    return Err(OutboundError::Downgrade);
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(OutboundError::Status(status.as_u16()));
            }
            let body = read_limited(response).await?;
            return Ok(Fetched { url: hop.url, body });
        }
    }

    /// Whether an allow rule names `host` and `port`.
    fn allowed(&self, host: &Host<&str>, port: u16) -> bool {
        let host = host_text(host);
        self.settings
            .allow
            .iter()
            .any(|d| d.port == port && d.host == host)
    }

    /// The addresses `url` may be fetched at, each checked.
    async fn resolve(&self, url: Url) -> Result<Hop, OutboundError> {
        self.check_url(url.as_str())?;
        let (host, port) = host_and_port(&url)?;
        let named = self.allowed(&host, port);
        let addresses: Vec<SocketAddr> = match literal(&host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host_text(&host), port))
                .await
                .map_err(|_| OutboundError::Unresolvable)?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(OutboundError::Unresolvable);
        }
        if !named {
            if let Some(why) = addresses.iter().find_map(|a| refusal(a.ip()))
                && !self.settings.allow_private
            {
                return Err(OutboundError::Refused(why));
            }
            // `http` without an allow rule (allow-private only): to local addresses alone.
            if url.scheme() == "http" && addresses.iter().any(|a| refusal(a.ip()).is_none()) {
                return Err(OutboundError::NotHttps);
            }
        }
        Ok(Hop { url, addresses })
    }
}

fn host_and_port(url: &Url) -> Result<(Host<&str>, u16), OutboundError> {
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return Err(OutboundError::NotAUrl);
    }
    let host = url.host().ok_or(OutboundError::NotAUrl)?;
    let port = url.port_or_known_default().ok_or(OutboundError::NotAUrl)?;
    Ok((host, port))
}

fn literal(host: &Host<&str>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        Host::Domain(_) => None,
    }
}

/// A resolver that knows no name: the client of a hop connects only to the addresses given for
/// its host (`resolve_to_addrs`), and any other name fails instead of being looked up.
struct NoLookups;

impl Resolve for NoLookups {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            Err::<Addrs, _>(format!("{name} was not checked for this request").into())
        })
    }
}

/// Sends one GET of `hop`, connecting only to its checked addresses, following no redirect.
async fn send(hop: &Hop) -> Result<reqwest::Response, OutboundError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(NoLookups));
    if let Some(Host::Domain(name)) = hop.url.host() {
        builder = builder.resolve_to_addrs(name, &hop.addresses);
    }
    let client = builder.build().map_err(|e| {
        tracing::error!(error = %e, "building the outbound client");
        OutboundError::Unreachable
    })?;
    client.get(hop.url.clone()).send().await.map_err(|e| {
        tracing::info!(error = %e, url = %hop.url, "outbound request failed");
        OutboundError::Unreachable
    })
}

/// The body of `response`, refused past [`MAX_BODY_BYTES`] (read no further).
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, OutboundError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(OutboundError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| OutboundError::Unreachable)?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(OutboundError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
