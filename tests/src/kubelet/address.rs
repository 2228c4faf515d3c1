//! The pod IP of the kubelet stand-in: the host's first global-unicast IPv4 address.
//!
//! The API server proxies to pods and services only at global-unicast addresses
//! (`IsGlobalUnicast` in ResourceLocation of pkg/registry/core/pod/strategy.go and
//! pkg/registry/core/service/storage/storage.go), and Endpoints refuse loopback, so pods that
//! run on the host cannot report 127.0.0.1. The addresses come from `/proc/net/fib_trie` (the
//! kernel's routing tables, always there on Linux; no `ip` binary needed).

use std::net::Ipv4Addr;

/// The host's own IPv4 addresses in the order `/proc/net/fib_trie` lists them (ascending),
/// each once: the keys followed by a `/32 host LOCAL` leaf.
pub fn local_ipv4_addresses(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(key) = line.strip_prefix("|-- ") {
            last = key.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last.filter(|ip| !out.contains(ip))
        {
            out.push(ip);
        }
    }
    out
}

/// Go's `net.IP.IsGlobalUnicast` for IPv4: not unspecified, loopback, multicast, link-local
/// or the limited broadcast address. (Private ranges count as global unicast.)
pub fn is_global_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_link_local()
        || ip.is_broadcast())
}

/// The first global-unicast address among the host's own.
pub fn pod_ip(fib_trie: &str) -> Option<Ipv4Addr> {
    local_ipv4_addresses(fib_trie)
        .into_iter()
        .find(|ip| is_global_unicast(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 169.254.0.0/16 2 0 2
           |-- 169.254.3.4
              /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 127.0.0.1
              /32 host LOCAL
           |-- 192.0.2.2
              /32 host LOCAL
           |-- 10.1.2.3
              /32 host LOCAL
";

    #[test]
    fn local_addresses_are_the_host_local_leaves_once_each() {
        let all = local_ipv4_addresses(TRIE);
        let want: Vec<Ipv4Addr> = ["127.0.0.1", "169.254.3.4", "192.0.2.2", "10.1.2.3"]
            .iter()
            .map(|s| s.parse().expect("an address"))
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn the_pod_ip_skips_loopback_and_link_local() {
        assert_eq!(pod_ip(TRIE), Some(Ipv4Addr::new(192, 0, 2, 2)));
    }

    #[test]
    fn no_global_address_means_none() {
        let only_loopback = "Local:\n  |-- 127.0.0.1\n     /32 host LOCAL\n";
        assert_eq!(pod_ip(only_loopback), None);
        assert_eq!(pod_ip(""), None);
    }

    #[test]
    fn global_unicast_as_go_defines_it() {
        for (ip, want) in [
            ("10.0.0.1", true),
            ("192.168.1.1", true),
            ("8.8.8.8", true),
            ("0.0.0.0", false),
            ("127.0.0.2", false),
            ("169.254.1.1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
        ] {
            let parsed: Ipv4Addr = ip.parse().expect("an address");
            assert_eq!(is_global_unicast(parsed), want, "{ip}");
        }
    }
}
