//! A user-space UDP relay that emulates one WAN link between two regions (the kernel here has
//! no netem). A node dials the relay's address instead of its peer's; the relay forwards each
//! datagram to the peer after the link's delay, jitter and loss, and sends replies back the
//! same way under the reverse direction's conditions. Each client address gets its own
//! upstream socket, as behind a NAT, so the peer's replies find their way back.
//!
//! Packets of one direction are delivered in order (jitter delays them, never reorders them),
//! and a partitioned direction drops everything until healed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::conditions::LinkConditions;

const MAX_DATAGRAM: usize = 65_535;
/// Datagrams waiting for their delivery time, per direction, before new ones are dropped.
const QUEUE: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to target.
    Forward,
    /// Target back to client.
    Backward,
}

/// Packet counters of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub delivered: u64,
    pub dropped: u64,
}

struct Shared {
    conditions: [RwLock<LinkConditions>; 2],
    counters: [Mutex<Counters>; 2],
    rng: Mutex<u64>,
}

impl Shared {
    /// Whether to drop the packet, and when to deliver it otherwise.
    fn admit(&self, dir: Direction) -> Option<Instant> {
        let c = *self.conditions[dir as usize].read().expect("conditions");
        let mut rng = self.rng.lock().expect("rng");
        let mut next = || {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            (*rng >> 11) as f64 / (1u64 << 53) as f64
        };
        if c.partitioned || (c.loss > 0.0 && next() < c.loss) {
            self.counters[dir as usize]
                .lock()
                .expect("counters")
                .dropped += 1;
            return None;
        }
        let jitter = c.jitter.mul_f64(next());
        Some(Instant::now() + c.delay + jitter)
    }

    fn delivered(&self, dir: Direction) {
        self.counters[dir as usize]
            .lock()
            .expect("counters")
            .delivered += 1;
    }
}

pub struct Relay {
    listen: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Listens on `listen` (port 0 for any) and relays to `target`.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        forward: LinkConditions,
        backward: LinkConditions,
    ) -> std::io::Result<Relay> {
        let socket = Arc::new(UdpSocket::bind(listen).await?);
        let listen = socket.local_addr()?;
        let shared = Arc::new(Shared {
            conditions: [RwLock::new(forward), RwLock::new(backward)],
            counters: Default::default(),
            rng: Mutex::new(0x9E37_79B9_7F4A_7C15 ^ u64::from(listen.port())),
        });
        let (back_tx, back_rx) = mpsc::channel::<(Instant, Vec<u8>, SocketAddr)>(QUEUE);
        let mut tasks = vec![tokio::spawn(deliver(
            back_rx,
            socket.clone(),
            shared.clone(),
            Direction::Backward,
        ))];
        let (fwd_tx, fwd_rx) = mpsc::channel::<(Instant, Vec<u8>, Arc<UdpSocket>)>(QUEUE);
        tasks.push(tokio::spawn(deliver_upstream(
            fwd_rx,
            target,
            shared.clone(),
        )));
        tasks.push(tokio::spawn(accept(
            socket,
            target,
            shared.clone(),
            fwd_tx,
            back_tx,
        )));
        Ok(Relay {
            listen,
            target,
            shared,
            tasks,
        })
    }

    /// The address clients dial to reach the target through this link.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Changes one direction's conditions; packets already queued keep their delivery time.
    pub fn set(&self, dir: Direction, conditions: LinkConditions) {
        *self.shared.conditions[dir as usize]
            .write()
            .expect("conditions") = conditions;
    }

    pub fn conditions(&self, dir: Direction) -> LinkConditions {
        *self.shared.conditions[dir as usize]
            .read()
            .expect("conditions")
    }

    /// Cuts (or heals) both directions at once.
    pub fn partition(&self, on: bool) {
        for c in &self.shared.conditions {
            c.write().expect("conditions").partitioned = on;
        }
    }

    pub fn counters(&self, dir: Direction) -> Counters {
        *self.shared.counters[dir as usize].lock().expect("counters")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Reads from clients; gives each client its own upstream socket and reply pump.
async fn accept(
    socket: Arc<UdpSocket>,
    target: SocketAddr,
    shared: Arc<Shared>,
    fwd: mpsc::Sender<(Instant, Vec<u8>, Arc<UdpSocket>)>,
    back: mpsc::Sender<(Instant, Vec<u8>, SocketAddr)>,
) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let unspecified: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("address");
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            continue; // ICMP errors surface here on Linux; the link keeps running
        };
        let upstream = match upstreams.get(&client) {
            Some(u) => u.clone(),
            None => {
                let Ok(u) = UdpSocket::bind(unspecified).await.map(Arc::new) else {
                    continue;
                };
                upstreams.insert(client, u.clone());
                tokio::spawn(pump_replies(
                    u.clone(),
                    client,
                    shared.clone(),
                    back.clone(),
                ));
                u
            }
        };
        if let Some(at) = shared.admit(Direction::Forward) {
            let _ = fwd.try_send((at, buf[..n].to_vec(), upstream));
        }
    }
}

async fn pump_replies(
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
    back: mpsc::Sender<(Instant, Vec<u8>, SocketAddr)>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, _)) = upstream.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(at) = shared.admit(Direction::Backward)
            && back.send((at, buf[..n].to_vec(), client)).await.is_err()
        {
            return;
        }
    }
}

async fn deliver_upstream(
    mut rx: mpsc::Receiver<(Instant, Vec<u8>, Arc<UdpSocket>)>,
    target: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut last = Instant::now();
    while let Some((at, data, upstream)) = rx.recv().await {
        last = last.max(at);
        tokio::time::sleep_until(last.into()).await;
        if upstream.send_to(&data, target).await.is_ok() {
            shared.delivered(Direction::Forward);
        }
    }
}

async fn deliver(
    mut rx: mpsc::Receiver<(Instant, Vec<u8>, SocketAddr)>,
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    dir: Direction,
) {
    let mut last = Instant::now();
    while let Some((at, data, to)) = rx.recv().await {
        last = last.max(at);
        tokio::time::sleep_until(last.into()).await;
        if socket.send_to(&data, to).await.is_ok() {
            shared.delivered(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn echo_server() -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = s.recv_from(&mut buf).await {
                let _ = s.send_to(&buf[..n], from).await;
            }
        });
        addr
    }

    async fn round_trip(
        client: &UdpSocket,
        to: SocketAddr,
        msg: &[u8],
        wait: Duration,
    ) -> Option<Duration> {
        let started = Instant::now();
        client.send_to(msg, to).await.unwrap();
        let mut buf = [0u8; 64];
        match tokio::time::timeout(wait, client.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) if &buf[..n] == msg => Some(started.elapsed()),
            _ => None,
        }
    }

    fn oneway(ms: u64) -> LinkConditions {
        LinkConditions {
            delay: Duration::from_millis(ms),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn adds_the_configured_delay_each_way() {
        let target = echo_server().await;
        let relay = Relay::start(
            "127.0.0.1:0".parse().unwrap(),
            target,
            oneway(30),
            oneway(20),
        )
        .await
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rtt = round_trip(&client, relay.addr(), b"ping", Duration::from_secs(2))
            .await
            .expect("echo");
        assert!(rtt >= Duration::from_millis(50), "{rtt:?}");
        assert!(rtt < Duration::from_millis(150), "{rtt:?}");
        assert_eq!(relay.counters(Direction::Forward).delivered, 1);
        assert_eq!(relay.counters(Direction::Backward).delivered, 1);
        // conditions change at run time
        relay.set(Direction::Forward, oneway(0));
        relay.set(Direction::Backward, oneway(0));
        let rtt = round_trip(&client, relay.addr(), b"fast", Duration::from_secs(2))
            .await
            .expect("echo");
        assert!(rtt < Duration::from_millis(40), "{rtt:?}");
    }

    #[tokio::test]
    async fn partition_drops_everything_until_healed() {
        let target = echo_server().await;
        let relay = Relay::start("127.0.0.1:0".parse().unwrap(), target, oneway(1), oneway(1))
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(
            round_trip(&client, relay.addr(), b"a", Duration::from_secs(1))
                .await
                .is_some()
        );
        relay.partition(true);
        for _ in 0..5 {
            assert!(
                round_trip(&client, relay.addr(), b"b", Duration::from_millis(100))
                    .await
                    .is_none()
            );
        }
        assert_eq!(relay.counters(Direction::Forward).dropped, 5);
        relay.partition(false);
        assert!(
            round_trip(&client, relay.addr(), b"c", Duration::from_secs(1))
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn loss_drops_about_the_configured_share() {
        let target = echo_server().await;
        let lossy = LinkConditions {
            loss: 0.3,
            ..Default::default()
        };
        let relay = Relay::start(
            "127.0.0.1:0".parse().unwrap(),
            target,
            lossy,
            LinkConditions::default(),
        )
        .await
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..1000u32 {
            client
                .send_to(&i.to_le_bytes(), relay.addr())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let c = relay.counters(Direction::Forward);
        assert_eq!(c.delivered + c.dropped, 1000);
        assert!(
            (200..=400).contains(&c.dropped),
            "dropped {} of 1000 at 30%",
            c.dropped
        );
    }

    #[test]
    fn rtt_is_split_evenly() {
        let c = LinkConditions::from_rtt(80, 5, 1.0);
        assert_eq!(c.delay, Duration::from_millis(40));
        assert_eq!(c.jitter, Duration::from_millis(5));
        assert!((c.loss - 0.01).abs() < 1e-9);
    }
}
