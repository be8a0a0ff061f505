//! IP networks (CIDR ranges) and the `TRUSTED_PROXIES` list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::values::quote;

/// An IP network in CIDR form, e.g. `10.0.0.0/8` or `::1/128`; host bits are always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// A network from its address and prefix length; fails if the prefix is too long or host bits are set.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, String> {
        let max = max_prefix(addr);
        if prefix_len > max {
            return Err(format!("prefix length {prefix_len} is longer than {max}"));
        }
        let network = mask(addr, prefix_len);
        if network != addr {
            return Err(format!(
                "has host bits set (did you mean {network}/{prefix_len}?)"
            ));
        }
        Ok(Self { addr, prefix_len })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in this network; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) also matches as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.contains_exact(ip) {
            return true;
        }
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains_exact(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    fn contains_exact(&self, ip: IpAddr) -> bool {
        let same_family = matches!(
            (self.addr, ip),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        );
        same_family && mask(ip, self.prefix_len) == self.addr
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// Parses `ADDR/PREFIX` or a bare address (a /32 or /128 network).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_part
            .parse()
            .map_err(|_| format!("{} is not an IP address or CIDR range", quote(s)))?;
        let prefix_len = match prefix_part {
            None => max_prefix(addr),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let max = max_prefix(addr);
                match p.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => {
                        return Err(format!(
                            "{}: prefix length {p} is longer than {max}",
                            quote(s)
                        ));
                    }
                }
            }
            Some(_) => {
                return Err(format!(
                    "{}: the prefix length after '/' must be a number",
                    quote(s)
                ));
            }
        };
        Self::new(addr, prefix_len).map_err(|e| format!("{}: {e}", quote(s)))
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The peers whose forwarding headers (`X-Forwarded-For`, `Forwarded`) may be believed; empty trusts none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR ranges; empty entries are ignored.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(IpNet::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is in one of the trusted networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with all bits after the first `prefix_len` cleared (`prefix_len` at most the family's width).
fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix_len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix_len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn contains_table() {
        // (network, address, expected)
        let cases = [
            ("10.0.0.0/8", "10.255.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("192.168.1.0/24", "192.168.1.255", true),
            ("192.168.1.0/24", "192.168.2.0", false),
            ("172.16.0.0/12", "172.31.255.255", true),
            ("172.16.0.0/12", "172.32.0.0", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("127.0.0.1/32", "::ffff:127.0.0.1", true),
            ("::1/128", "::1", true),
            ("::1", "::2", false),
            ("::1/128", "127.0.0.1", false),
            ("fd00::/8", "fd12:3456::1", true),
            ("fd00::/8", "fe80::1", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "2001:db8::1", true),
            ("::ffff:0:0/96", "::ffff:1.2.3.4", true),
        ];
        for (net, addr, expected) in cases {
            let parsed: IpNet = net.parse().unwrap();
            assert_eq!(parsed.contains(ip(addr)), expected, "{net} contains {addr}");
        }
    }

    #[test]
    fn bad_networks_are_rejected_with_a_reason() {
        let cases = [
            ("foo", "not an IP address"),
            ("10.0.0.0/33", "longer than 32"),
            ("::/129", "longer than 128"),
            ("10.0.0.0/", "must be a number"),
            ("10.0.0.0/+8", "must be a number"),
            ("10.0.0.0/8/8", "must be a number"),
            ("10.0.0.0/9999", "longer than 32"),
            ("::/256", "longer than 128"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
            ("10.0.0/8", "not an IP address"),
            ("fe80::1%eth0", "not an IP address"),
        ];
        for (input, want) in cases {
            let err = input.parse::<IpNet>().unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn list_parsing_and_display() {
        let list = TrustedProxies::parse_list(" 10.0.0.0/8, ,::1 ,192.168.0.1").unwrap();
        let shown: Vec<String> = list.networks().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128", "192.168.0.1/32"]);
        assert!(list.contains(ip("10.9.9.9")));
        assert!(list.contains(ip("::1")));
        assert!(list.contains(ip("192.168.0.1")));
        assert!(!list.contains(ip("192.168.0.2")));
        assert!(TrustedProxies::default().is_empty());
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
        assert!(TrustedProxies::parse_list("10.0.0.0/8,nope").is_err());
    }
}
