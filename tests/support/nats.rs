//! A real `nats-server` with JetStream for the sink tests: on a port from the OS, its store
//! in a directory of the test's, stopped and started again on the same store (a sink
//! restart), killed when dropped. It requires a token (`--auth`), as a production server
//! would some credential. A missing `nats-server` fails the test, naming the fix.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    pub port: u16,
    /// What clients must present.
    pub token: String,
    store: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub fn start(dir: &Path) -> NatsServer {
        let mut s = NatsServer {
            port: super::free_port(),
            token: format!("nats-token-{}", super::free_port()),
            store: dir.join("nats"),
            child: None,
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A client with the server's token.
    pub async fn connect(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        async_nats::ConnectOptions::with_token(self.token.clone())
            .connect(self.url())
            .await
    }

    /// Starts the server (again) on its port and store; returns once it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "nats-server is running");
        let log = std::fs::File::create(self.store.with_extension("log")).unwrap();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .args(["--auth", &self.token])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nats-server is required for the sink tests (apt-get install nats-server; scripts/test installs it): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server never listened on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
