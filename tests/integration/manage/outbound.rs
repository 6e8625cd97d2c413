//! The outbound client (server-side request forgery): which addresses it refuses, checked on
//! addresses directly, and what it does end to end against loopback listeners that count their
//! connections. No test sends traffic outside the loopback range.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use entity::sea_orm_active_enums::IdpKind;
use entity::tenant_idp_config;
use registry::outbound::{
    Destination, Outbound, OutboundError, OutboundSettings, Refusal, refusal,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use tests::app::{TestApp, error_code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Ops;

#[test]
fn every_special_range_and_its_edges_is_classified() {
    use Refusal::*;
    let table: &[(&str, Option<Refusal>)] = &[
        // IPv4: each range's first and last address, and the public neighbours.
        ("0.0.0.0", Some(Unspecified)),
        ("0.255.255.255", Some(Unspecified)),
        ("1.0.0.0", None),
        ("9.255.255.255", None),
        ("10.0.0.0", Some(Private)),
        ("10.255.255.255", Some(Private)),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.64.0.0", Some(CarrierGradeNat)),
        ("100.127.255.255", Some(CarrierGradeNat)),
        ("100.128.0.0", None),
        ("126.255.255.255", None),
        ("127.0.0.1", Some(Loopback)),
        ("127.255.255.255", Some(Loopback)),
        ("128.0.0.0", None),
        ("169.253.255.255", None),
        ("169.254.0.0", Some(LinkLocal)),
        ("169.254.169.254", Some(LinkLocal)),
        ("169.254.255.255", Some(LinkLocal)),
        ("169.255.0.0", None),
        ("172.15.255.255", None),
        ("172.16.0.0", Some(Private)),
        ("172.31.255.255", Some(Private)),
        ("172.32.0.0", None),
        ("192.0.0.0", Some(Reserved)),
        ("192.0.0.255", Some(Reserved)),
        ("192.0.1.255", None),
        ("192.0.2.0", Some(Documentation)),
        ("192.0.2.255", Some(Documentation)),
        ("192.0.3.0", None),
        ("192.88.99.1", Some(Reserved)),
        ("192.167.255.255", None),
        ("192.168.0.0", Some(Private)),
        ("192.168.255.255", Some(Private)),
        ("192.169.0.0", None),
        ("198.17.255.255", None),
        ("198.18.0.0", Some(Benchmarking)),
        ("198.19.255.255", Some(Benchmarking)),
        ("198.20.0.0", None),
        ("198.51.100.7", Some(Documentation)),
        ("203.0.113.255", Some(Documentation)),
        ("223.255.255.255", None),
        ("224.0.0.0", Some(Multicast)),
        ("239.255.255.255", Some(Multicast)),
        ("240.0.0.0", Some(Reserved)),
        ("255.255.255.254", Some(Reserved)),
        ("255.255.255.255", Some(Broadcast)),
        ("8.8.8.8", None),
        // IPv6.
        ("::", Some(Unspecified)),
        ("::1", Some(Loopback)),
        ("::2", Some(Unspecified)), // IPv4-compatible 0.0.0.2
        ("2001:4860:4860::8888", None),
        ("2606:4700::1111", None),
        ("fe80::", Some(LinkLocal)),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LinkLocal)),
        ("fec0::1", Some(Private)),
        ("fc00::", Some(UniqueLocal)),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UniqueLocal)),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
        ("ff00::", Some(Multicast)),
        ("ff02::1", Some(Multicast)),
        ("2001:db8::", Some(Documentation)),
        (
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            Some(Documentation),
        ),
        ("2001:db9::", None),
        ("3fff::1", Some(Documentation)),
        ("2001:2::1", Some(Benchmarking)),
        ("2001::1", Some(Reserved)),
        ("100::1", Some(Reserved)),
        ("64:ff9b:1::1", Some(Reserved)),
        ("4000::1", Some(Reserved)),
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Reserved)),
        ("3ffe:ffff::1", None),
        // IPv4 carried in IPv6: judged by the IPv4 address.
        ("::ffff:127.0.0.1", Some(Loopback)),
        ("::ffff:169.254.169.254", Some(LinkLocal)),
        ("::ffff:10.1.2.3", Some(Private)),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", Some(Loopback)),
        ("::10.0.0.1", Some(Private)),
        ("::8.8.8.8", None),
        ("64:ff9b::7f00:1", Some(Loopback)),
        ("64:ff9b::a9fe:a9fe", Some(LinkLocal)),
        ("64:ff9b::c0a8:101", Some(Private)),
        ("64:ff9b::808:808", None),
        ("2002:7f00:1::", Some(Loopback)),
        ("2002:c0a8:101::1", Some(Private)),
        ("2002:808:808::1", None),
    ];
    for (text, expected) in table {
        let ip: IpAddr = text.parse().unwrap();
        assert_eq!(refusal(ip), *expected, "{text}");
    }
}

#[test]
fn allow_rules_parse_host_and_port() {
    let rule: Destination = "LocalHost:8080".parse().unwrap();
    assert_eq!((rule.host.as_str(), rule.port), ("localhost", 8080));
    let rule: Destination = "[::1]:9".parse().unwrap();
    assert_eq!(
        (rule.host.as_str(), rule.port, rule.to_string()),
        ("::1", 9, "[::1]:9".into())
    );
    for bad in ["localhost", "localhost:x", "http://a:1", "a:1/path", ":80"] {
        assert!(bad.parse::<Destination>().is_err(), "{bad}");
    }
}

/// What a test listener answers.
#[derive(Clone)]
enum Behaviour {
    /// 200 with this JSON body.
    Body(String),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with `n` bytes, streamed without a length.
    Large(usize),
    /// Reads the request and never answers.
    Silent,
}

/// A loopback listener (on `bind`) that counts the connections it accepts; its port and count.
async fn listener(bind: &str, behaviour: Behaviour) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let behaviour = behaviour.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = match &behaviour {
                    Behaviour::Body(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    Behaviour::Redirect(to) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    Behaviour::Large(_) => {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_owned()
                    }
                    Behaviour::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                };
                let _ = socket.write_all(head.as_bytes()).await;
                if let Behaviour::Large(n) = behaviour {
                    let chunk = vec![b' '; 64 * 1024];
                    let mut sent = 0;
                    while sent < n {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                        sent += chunk.len();
                    }
                }
            });
        }
    });
    (port, hits)
}

/// Saves an OIDC identity provider for `tenant` with `url` as it is (past `setIdpConfig`'s own
/// check, as a config saved under other rules would be) and verifies it; the response.
async fn verify(ops: &Ops, url: &str) -> Value {
    let row = tenant_idp_config::ActiveModel {
        tenant_id: Set(ops.acme),
        r#type: Set(IdpKind::Oidc),
        metadata: Set(json!({ "discovery_url": url, "client_id": "registry" })),
        ..Default::default()
    };
    <entity::prelude::TenantIdpConfig as sea_orm::EntityTrait>::delete_many()
        .exec(&ops.app.db.db)
        .await
        .unwrap();
    let row = row.insert(&ops.app.db.db).await.unwrap();
    ops.gql(
        "mutation($id: UUID!) { verifyIdpConfig(id: $id) { verified } }",
        json!({ "id": row.id }),
    )
    .await
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn loopback_destinations_are_refused_without_an_allow_rule_and_never_contacted() {
    let (port, hits) = listener("127.0.0.1:0", Behaviour::Body("{}".into())).await;
    let (port6, hits6) = listener("[::1]:0", Behaviour::Body("{}".into())).await;
    let ops = Ops::new().await;
    let path = "/.well-known/openid-configuration";
    for url in [
        format!("https://127.0.0.1:{port}{path}"),
        format!("http://127.0.0.1:{port}{path}"),
        format!("https://localhost:{port}{path}"),
        format!("https://[::1]:{port6}{path}"),
        format!("https://[::ffff:127.0.0.1]:{port}{path}"),
        format!("https://0.0.0.0:{port}{path}"),
    ] {
        // Refused when saved (what can be told without resolving) ...
        let set = ops
            .gql(
                "mutation($t: UUID!, $m: JSON!) { setIdpConfig(tenantId: $t, type: OIDC, metadata: $m) { id } }",
                json!({ "t": ops.acme, "m": { "discovery_url": url, "client_id": "x" } }),
            )
            .await;
        let refused_on_save = set.get("errors").is_some();
        if refused_on_save {
            assert_eq!(error_code(&set), "BAD_USER_INPUT", "{url}: {set}");
            assert_eq!(
                set["errors"][0]["extensions"]["field"],
                "metadata.discovery_url"
            );
        } else {
            assert!(url.contains("localhost"), "{url} was saved: {set}");
        }
        // ... and when fetched, whatever was saved.
        let verified = verify(&ops, &url).await;
        assert_eq!(error_code(&verified), "BAD_USER_INPUT", "{url}: {verified}");
        let text = message(&verified);
        assert!(
            text.contains("resolves to a private address") || text.contains("must be an https URL"),
            "{url}: {text}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the IPv4 listener saw no request"
    );
    assert_eq!(
        hits6.load(Ordering::SeqCst),
        0,
        "the IPv6 listener saw no request"
    );
}

#[tokio::test]
async fn an_allowed_destination_redirecting_to_a_refused_one_is_refused_at_the_redirect() {
    let (second, second_hits) = listener("127.0.0.1:0", Behaviour::Body("{}".into())).await;
    let target = format!("http://127.0.0.1:{second}/.well-known/openid-configuration");
    let (first, first_hits) = listener("127.0.0.1:0", Behaviour::Redirect(target)).await;
    let allow = vec![format!("127.0.0.1:{first}").parse().unwrap()];
    let ops = Ops::with_app(
        TestApp::spawn({
            let mut settings = TestApp::settings();
            settings.outbound.allow = allow;
            settings
        })
        .await,
    )
    .await;
    let verified = verify(
        &ops,
        &format!("http://127.0.0.1:{first}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(error_code(&verified), "BAD_USER_INPUT", "{verified}");
    assert!(
        message(&verified).contains("redirects to a refused address"),
        "{verified}"
    );
    assert_eq!(
        first_hits.load(Ordering::SeqCst),
        1,
        "the allowed listener was asked"
    );
    assert_eq!(
        second_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

/// The client allowing exactly the loopback listener on `port`.
fn allowing(port: u16) -> Outbound {
    Outbound::new(OutboundSettings {
        allow: vec![format!("127.0.0.1:{port}").parse().unwrap()],
        allow_private: false,
    })
}

#[tokio::test]
async fn redirects_are_followed_at_most_three_times() {
    // Four listeners in a chain, each redirecting to the next; all allowed.
    let (end, _) = listener("127.0.0.1:0", Behaviour::Body("{\"ok\":1}".into())).await;
    let mut next = format!("http://127.0.0.1:{end}/");
    let mut ports = vec![end];
    for _ in 0..4 {
        let (port, _) = listener("127.0.0.1:0", Behaviour::Redirect(next)).await;
        next = format!("http://127.0.0.1:{port}/");
        ports.push(port);
    }
    let client = Outbound::new(OutboundSettings {
        allow: ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
            .collect(),
        allow_private: false,
    });
    // Three redirects reach the end; four do not.
    let three = format!("http://127.0.0.1:{}/", ports[3]);
    let fetched = client.get(&three).await.unwrap();
    assert_eq!(fetched.body, b"{\"ok\":1}");
    assert_eq!(
        client.get(&next).await.unwrap_err(),
        OutboundError::TooManyRedirects
    );
}

#[tokio::test]
async fn a_response_over_one_mebibyte_is_cut_off() {
    let (port, _) = listener("127.0.0.1:0", Behaviour::Large(2 * 1024 * 1024)).await;
    let result = allowing(port)
        .get(&format!("http://127.0.0.1:{port}/"))
        .await;
    assert_eq!(result.unwrap_err(), OutboundError::TooLarge);
    let (port, _) = listener("127.0.0.1:0", Behaviour::Large(512 * 1024)).await;
    let fetched = allowing(port)
        .get(&format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(
        fetched.body.len(),
        512 * 1024,
        "under the limit: read whole"
    );
}

#[tokio::test]
async fn a_silent_destination_hits_the_time_limit() {
    let (port, hits) = listener("127.0.0.1:0", Behaviour::Silent).await;
    let started = Instant::now();
    let result = allowing(port)
        .get(&format!("http://127.0.0.1:{port}/"))
        .await;
    let took = started.elapsed();
    assert_eq!(result.unwrap_err(), OutboundError::TimedOut);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(
        took >= registry::outbound::TIME_LIMIT
            && took < registry::outbound::TIME_LIMIT + Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn the_allow_rule_names_a_port_and_private_mode_allows_loopback() {
    let (port, hits) = listener("127.0.0.1:0", Behaviour::Body("{}".into())).await;
    // A rule for another port does not allow this one.
    let other = allowing(port.wrapping_add(1).max(1));
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}/"),
    ] {
        let refused = other.get(&url).await;
        assert_eq!(
            refused.unwrap_err(),
            OutboundError::Refused(Refusal::Loopback),
            "{url}"
        );
    }
    let refused = other.get(&format!("http://localhost:{port}/")).await;
    assert_eq!(refused.unwrap_err(), OutboundError::NotHttps);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Private mode (dev) reaches loopback, over http too.
    let dev = Outbound::new(OutboundSettings {
        allow: Vec::new(),
        allow_private: true,
    });
    let fetched = dev.get(&format!("http://localhost:{port}/")).await.unwrap();
    assert_eq!(fetched.body, b"{}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wrong_issuer_from_an_allowed_destination_is_quoted_cut_short() {
    let long = "x".repeat(1_000);
    let (port, hits) = listener(
        "127.0.0.1:0",
        Behaviour::Body(json!({ "issuer": long }).to_string()),
    )
    .await;
    let allow = vec![format!("127.0.0.1:{port}").parse().unwrap()];
    let ops = Ops::with_app(
        TestApp::spawn({
            let mut settings = TestApp::settings();
            settings.outbound.allow = allow;
            settings
        })
        .await,
    )
    .await;
    let verified = verify(
        &ops,
        &format!("http://127.0.0.1:{port}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(error_code(&verified), "BAD_USER_INPUT", "{verified}");
    let text = message(&verified);
    assert!(text.contains("issuer"), "{text}");
    let quoted = text.split("expected").next().unwrap();
    assert_eq!(quoted.matches('x').count(), 200, "{text}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
