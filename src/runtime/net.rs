//! The network the replicas talk over: every listener and every client connection of the
//! runtime is made here, so the rest of the runtime is the same on either network.
//!
//! - **live** (the default): loopback TCP in real time, through the OS.
//! - **sim**: turmoil's simulated TCP on a virtual clock. The whole run (replicas, load,
//!   runner) is one simulated host; a message between two of its sockets arrives one
//!   simulation tick later (1 ms), and the clock moves only when every task waits, so CPU
//!   time never shows up as latency.
//!
//! Which one a call uses is where it runs: inside a turmoil simulation it is sim,
//! anywhere else live. The command line decides by starting the run inside one or not.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::codegen::http;
use tonic::transport::Channel;
use tonic::transport::server::Connected;

/// The network a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Net {
    /// Real servers on 127.0.0.1, in real time.
    #[default]
    Live,
    /// The same servers over a simulated network, in virtual time, deterministic per seed.
    Sim,
    /// Real servers on 127.0.0.1 in real time, each replica a process of its own (a
    /// live run's network; never where code runs, which is live).
    Processes,
}

impl Net {
    /// The network of the code running now.
    pub fn current() -> Net {
        if turmoil::in_simulation() {
            Net::Sim
        } else {
            Net::Live
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Net::Live => "live",
            Net::Sim => "sim",
            Net::Processes => "processes",
        }
    }
}

/// The simulation's tick: how far the virtual clock moves per step, and how long a
/// message between two sockets takes.
pub const SIM_TICK: Duration = Duration::from_millis(1);

/// A listener on 127.0.0.1 with a port the network assigns.
pub enum Listener {
    Live(tokio::net::TcpListener),
    Sim(turmoil::net::TcpListener),
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listener::Live(listener) => f.debug_tuple("Live").field(listener).finish(),
            Listener::Sim(_) => f.write_str("Sim"),
        }
    }
}

/// A listener on 127.0.0.1 with a port the network assigns, and its address.
pub async fn listen() -> io::Result<(Listener, SocketAddr)> {
    listen_at(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))).await
}

/// A listener on `local` (port 0: one the network assigns), and its address: a replica
/// of its own process (`simulate serve`) listens where it is told.
pub async fn listen_at(local: SocketAddr) -> io::Result<(Listener, SocketAddr)> {
    match Net::current() {
        Net::Live | Net::Processes => {
            let listener = tokio::net::TcpListener::bind(local).await?;
            let addr = listener.local_addr()?;
            Ok((Listener::Live(listener), addr))
        }
        Net::Sim => {
            let listener = turmoil::net::TcpListener::bind(local).await?;
            let addr = listener.local_addr()?;
            Ok((Listener::Sim(listener), addr))
        }
    }
}

impl Listener {
    /// The next connection, and the handle that resets it when its replica is killed.
    pub async fn accept(&self) -> io::Result<(Conn, Reset)> {
        match self {
            Listener::Live(listener) => {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let duplicate = socket2::SockRef::from(&stream).try_clone().ok();
                Ok((Conn::Live(stream), Reset::Live(duplicate)))
            }
            Listener::Sim(listener) => {
                let (stream, _) = listener.accept().await?;
                let kill = Arc::new(Kill::default());
                let conn = Conn::Sim {
                    stream,
                    kill: Arc::clone(&kill),
                };
                Ok((conn, Reset::Sim(kill)))
            }
        }
    }
}

/// Resets one accepted connection, as when the process behind it dies.
#[derive(Debug)]
pub enum Reset {
    /// A second handle on the OS socket.
    Live(Option<socket2::Socket>),
    /// The flag the connection's reads and writes check.
    Sim(Arc<Kill>),
}

impl Reset {
    pub fn reset(self) {
        match self {
            Reset::Live(Some(socket)) => {
                // Linger 0 makes the close a reset, as when a process dies.
                let _ = socket.set_linger(Some(Duration::ZERO));
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
            Reset::Live(None) => {}
            Reset::Sim(kill) => {
                kill.killed.store(true, Ordering::SeqCst);
                kill.waker.wake();
            }
        }
    }
}

/// A simulated connection's kill switch. turmoil's streams have no reset of their own:
/// once set, the connection's next read or write fails, the server drops it, and the
/// peer reads the end of the stream, as a caller does when a process dies.
#[derive(Debug, Default)]
pub struct Kill {
    killed: AtomicBool,
    waker: AtomicWaker,
}

impl Kill {
    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        self.waker.register(cx.waker());
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            Ok(())
        }
    }
}

/// An accepted connection on either network.
pub enum Conn {
    Live(tokio::net::TcpStream),
    Sim {
        stream: turmoil::net::TcpStream,
        kill: Arc<Kill>,
    },
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conn::Live(stream) => f.debug_tuple("Live").field(stream).finish(),
            Conn::Sim { kill, .. } => f.debug_struct("Sim").field("kill", kill).finish(),
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Live(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::Sim { stream, kill } => {
                kill.check(cx)?;
                Pin::new(stream).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Live(stream) => Pin::new(stream).poll_write(cx, buf),
            Conn::Sim { stream, kill } => {
                kill.check(cx)?;
                Pin::new(stream).poll_write(cx, buf)
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Live(stream) => Pin::new(stream).poll_flush(cx),
            Conn::Sim { stream, kill } => {
                kill.check(cx)?;
                Pin::new(stream).poll_flush(cx)
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Live(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::Sim { stream, .. } => Pin::new(stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Live(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Conn::Sim { stream, kill } => {
                kill.check(cx)?;
                Pin::new(stream).poll_write_vectored(cx, bufs)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Live(stream) => stream.is_write_vectored(),
            Conn::Sim { stream, .. } => stream.is_write_vectored(),
        }
    }
}

/// A client channel to `addr`: one HTTP/2 connection, opened on first use. In sim it must
/// be made inside the simulation, where tonic spawns its connection's task.
pub fn channel(addr: SocketAddr) -> Channel {
    let uri = http::Uri::try_from(format!("http://{addr}"))
        .expect("an IP address and port always form a valid URI");
    let endpoint = tonic::transport::Endpoint::from(uri);
    match Net::current() {
        Net::Live | Net::Processes => endpoint.tcp_nodelay(true).connect_lazy(),
        Net::Sim => endpoint.connect_with_connector_lazy(tower::service_fn(
            move |_: http::Uri| async move {
                let stream = turmoil::net::TcpStream::connect(addr).await?;
                Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(stream))
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    #[test]
    fn a_reset_simulated_connection_fails_its_pending_read_and_ends_the_peers_stream() {
        let mut sim = turmoil::Builder::new().build();
        sim.client("test", async {
            let (listener, addr) = listen().await?;
            let connect = tokio::spawn(turmoil::net::TcpStream::connect(addr));
            let (mut conn, reset) = listener.accept().await?;
            let mut client = connect.await??;
            // The server side waits to read, as a tonic connection does between calls.
            let server = tokio::spawn(async move {
                let mut buf = [0u8; 8];
                conn.read(&mut buf).await
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(!server.is_finished(), "nothing was sent: the read waits");
            reset.reset();
            let read = server.await?;
            assert_eq!(
                read.map_err(|err| err.kind()),
                Err(io::ErrorKind::ConnectionReset)
            );
            // The server dropped its end: the caller reads the end of the stream.
            let mut buf = [0u8; 8];
            let read =
                tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf)).await??;
            assert_eq!(read, 0);
            Ok(())
        });
        sim.run().expect("the simulation runs to the end");
    }

    #[test]
    fn the_network_is_where_the_code_runs() {
        assert_eq!(Net::current(), Net::Live);
        let mut sim = turmoil::Builder::new().build();
        sim.client("test", async {
            assert_eq!(Net::current(), Net::Sim);
            Ok(())
        });
        sim.run().expect("the simulation runs to the end");
    }
}
