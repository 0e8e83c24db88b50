//! A TCP relay on loopback between Gatehouse and a server (PostgreSQL) whose line the
//! test can cut — every connection dropped, new ones closed at once — and mend: an outage
//! of the database, as Gatehouse sees it, without stopping the shared test server. It can
//! also lose one answer: the request reaches the server whole, and the line to Gatehouse
//! drops before the server's answer comes back (a COMMIT that commits, unacknowledged).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What makes the relay drop a connection's answer: a message containing `after` went
/// by on that connection, then one containing `on`.
#[derive(Clone)]
struct LoseAnswer {
    after: &'static [u8],
    on: &'static [u8],
}

pub struct TcpCut {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    lose: Arc<Mutex<Option<LoseAnswer>>>,
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl TcpCut {
    /// Relays connections to `target` from a new loopback port.
    pub async fn start(target: SocketAddr) -> TcpCut {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let lose: Arc<Mutex<Option<LoseAnswer>>> = Arc::default();
        let relays: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_open, armed, kept) = (open.clone(), lose.clone(), relays.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let armed = armed.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        relay(inbound, outbound, armed).await;
                    }
                });
                kept.lock().unwrap().push(relay);
            }
        });
        TcpCut {
            addr,
            open,
            lose,
            relays,
            accepting,
        }
    }

    /// Drops every connection and refuses new ones until [`TcpCut::mend`].
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    pub fn mend(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Once: on the first connection where a message containing `after` goes to the
    /// server and then one containing `on`, the relay passes that one on, then closes
    /// the connection to Gatehouse, and throws away what the server answers.
    pub fn lose_answer(&self, after: &'static [u8], on: &'static [u8]) {
        *self.lose.lock().unwrap() = Some(LoseAnswer { after, on });
    }

    /// Whether the answer [`TcpCut::lose_answer`] asked to lose has been lost.
    pub fn answer_lost(&self) -> bool {
        self.lose.lock().unwrap().is_none()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn relay(inbound: TcpStream, outbound: TcpStream, armed: Arc<Mutex<Option<LoseAnswer>>>) {
    let (mut from_client, to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let deaf = Arc::new(AtomicBool::new(false));
    let deaf_answers = deaf.clone();
    let mut answers = AbortOnDrop(tokio::spawn(async move {
        let mut to_client = Some(to_client);
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = from_server.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            if deaf_answers.load(Ordering::SeqCst) {
                // Gatehouse's line goes; what the server says is dropped.
                to_client = None;
                continue;
            }
            let Some(client) = to_client.as_mut() else { break };
            if client.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    }));
    let mut buffer = vec![0u8; 64 * 1024];
    let mut seen_after = false;
    while let Ok(n) = from_client.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        let lose_now = {
            let mut armed = armed.lock().unwrap();
            match armed.as_ref() {
                Some(lose) => {
                    // Both may come in one chunk (pipelined statements).
                    seen_after |= contains(chunk, lose.after);
                    let now = seen_after && contains(chunk, lose.on);
                    if now {
                        *armed = None;
                    }
                    now
                }
                None => false,
            }
        };
        if lose_now {
            // Before the message goes: its answer must find the line deaf.
            deaf.store(true, Ordering::SeqCst);
        }
        if to_server.write_all(chunk).await.is_err() || lose_now {
            break;
        }
    }
    // The answers task ends with the server's side of the connection.
    let _ = (&mut answers.0).await;
}

/// The task relaying answers ends with the relay (which `cut` aborts).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}
