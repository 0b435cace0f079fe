//! The network the replicas talk over. Today it is loopback TCP in real time; every
//! listener and every client connection of the runtime is made here, so this is the seam
//! where a simulated network (`--net sim`, virtual time) plugs in.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::codegen::http;
use tonic::transport::Channel;

/// A listener on 127.0.0.1 with a port the OS assigns, and its address.
pub async fn listen() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A client channel to `addr`: one HTTP/2 connection, opened on first use.
pub fn channel(addr: SocketAddr) -> Channel {
    let uri = http::Uri::try_from(format!("http://{addr}"))
        .expect("an IP address and port always form a valid URI");
    tonic::transport::Endpoint::from(uri)
        .tcp_nodelay(true)
        .connect_lazy()
}
