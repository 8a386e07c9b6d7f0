//! Probes what the sandbox leaks: environment, arguments, files outside any
//! grant, the network, the clocks, and randomness. It reports what it saw
//! through its (refused) forward so the test can check every finding.
use std::hash::{BuildHasher, Hasher};

fn findings() -> String {
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map(|s| s.len().to_string())
        .unwrap_or_else(|e| format!("denied({})", e.kind()));
    let root = std::fs::read_dir("/")
        .map(|d| d.count().to_string())
        .unwrap_or_else(|e| format!("denied({})", e.kind()));
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "none".into());
    let tcp = std::net::TcpStream::connect("127.0.0.1:22")
        .map(|_| "connected".to_string())
        .unwrap_or_else(|e| format!("denied({})", e.kind()));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .map(|_| "bound".to_string())
        .unwrap_or_else(|e| format!("denied({})", e.kind()));
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(u64::MAX);
    let t0 = std::time::Instant::now();
    let spent = t0.elapsed().as_micros();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    format!(
        "PROBE env={env:?} args={args:?} passwd={passwd} root={root} cwd={cwd} tcp={tcp} udp={udp} wall={wall} elapsed_us={spent} random={}",
        h.finish()
    )
}

hostile_common::hostile_readout!(Probe, "probe", |this, features| {
    Err(scivid_sdk::Error(findings()))
});
