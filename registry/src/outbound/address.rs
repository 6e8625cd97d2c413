//! Which addresses the server refuses to connect to on a user's behalf: everything that is not
//! a public unicast address on the internet.
//!
//! The ranges are IANA's special-purpose registries (RFC 6890 and its updates): loopback,
//! unspecified, private (RFC 1918), carrier-grade NAT (RFC 6598), link-local (which holds the
//! cloud metadata address 169.254.169.254), unique-local (RFC 4193), multicast, broadcast,
//! documentation, benchmarking and reserved ranges. An IPv6 address that carries an IPv4
//! address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`
//! and 6to4 `2002::/16`) is judged by the IPv4 address it carries, so no IPv6 spelling
//! reaches a refused IPv4 destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: the kind of range it is in, as the caller is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, and IPv6 site-local `fec0::/10`.
    Private,
    /// `100.64.0.0/10`.
    CarrierGradeNat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Other special-purpose ranges: `192.0.0.0/24`, `192.88.99.0/24`, `240.0.0.0/4`,
    /// `100::/64`, Teredo `2001::/32`, local-use NAT64 `64:ff9b:1::/48`.
    Reserved,
}

impl Refusal {
    /// The kind of address, for messages ("resolves to a private address (loopback)").
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Unspecified => "unspecified",
            Refusal::Loopback => "loopback",
            Refusal::Private => "private",
            Refusal::CarrierGradeNat => "carrier-grade NAT",
            Refusal::LinkLocal => "link-local",
            Refusal::UniqueLocal => "unique-local",
            Refusal::Multicast => "multicast",
            Refusal::Broadcast => "broadcast",
            Refusal::Documentation => "documentation",
            Refusal::Benchmarking => "benchmarking",
            Refusal::Reserved => "reserved",
        }
    }
}

/// `None` for a public address the server may connect to; otherwise why not.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    const RANGES: [([u8; 4], u32, Refusal); 16] = [
        ([0, 0, 0, 0], 8, Refusal::Unspecified),
        ([127, 0, 0, 0], 8, Refusal::Loopback),
        ([10, 0, 0, 0], 8, Refusal::Private),
        ([172, 16, 0, 0], 12, Refusal::Private),
        ([192, 168, 0, 0], 16, Refusal::Private),
        ([100, 64, 0, 0], 10, Refusal::CarrierGradeNat),
        ([169, 254, 0, 0], 16, Refusal::LinkLocal),
        ([192, 0, 0, 0], 24, Refusal::Reserved),
        ([192, 0, 2, 0], 24, Refusal::Documentation),
        ([198, 51, 100, 0], 24, Refusal::Documentation),
        ([203, 0, 113, 0], 24, Refusal::Documentation),
        ([198, 18, 0, 0], 15, Refusal::Benchmarking),
        ([192, 88, 99, 0], 24, Refusal::Reserved),
        ([224, 0, 0, 0], 4, Refusal::Multicast),
        ([255, 255, 255, 255], 32, Refusal::Broadcast),
        ([240, 0, 0, 0], 4, Refusal::Reserved),
    ];
    RANGES
        .iter()
        .find(|(network, prefix, _)| in_v4(ip, *network, *prefix))
        .map(|(_, _, refusal)| *refusal)
}

fn in_v6(ip: Ipv6Addr, network: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(network)) & mask
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Some(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Refusal::Loopback);
    }
    // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96): the IPv4 address they carry.
    if bits >> 32 == 0xffff || bits >> 32 == 0 {
        return refusal_v4(Ipv4Addr::from(bits as u32));
    }
    // NAT64's well-known prefix (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return refusal_v4(Ipv4Addr::from(bits as u32));
    }
    // 6to4 (2002::/16) carries an IPv4 address in bits 16..48.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return refusal_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    const RANGES: [([u16; 8], u32, Refusal); 10] = [
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, Refusal::LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Refusal::Private),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Refusal::UniqueLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Refusal::Multicast),
        (
            [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
            32,
            Refusal::Documentation,
        ),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Refusal::Documentation),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, Refusal::Benchmarking),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, Refusal::Reserved),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Refusal::Reserved),
        ([0x64, 0xff9b, 0x1, 0, 0, 0, 0, 0], 48, Refusal::Reserved),
    ];
    if let Some((_, _, refusal)) = RANGES
        .iter()
        .find(|(network, prefix, _)| in_v6(ip, *network, *prefix))
    {
        return Some(*refusal);
    }
    // Everything outside 2000::/3 (global unicast) is unassigned or special-purpose.
    (!in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)).then_some(Refusal::Reserved)
}
