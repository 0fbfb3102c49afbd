//! An SMTP server for the tests and benches: `mailin` speaks the protocol, this file runs it
//! over sockets, a thread per connection, with STARTTLS through rustls on ring (the one TLS
//! provider in the crate's tree: mailin-embedded, which this replaces, pulled in aws-lc-rs,
//! a second provider and a C build, for the tests alone).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use mailin::{Action, AuthMechanism, Handler, Session, SessionBuilder};

/// How a server greets and what it offers.
pub struct Options {
    pub name: &'static str,
    /// Offers STARTTLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Offers AUTH PLAIN (after STARTTLS, as mailin requires).
    pub auth: bool,
}

/// Serves `listener` in the background until the test process ends; each connection gets
/// its own clone of `handler`.
pub fn serve<H>(listener: TcpListener, handler: H, options: Options)
where
    H: Handler + Clone + Send + 'static,
{
    let mut builder = SessionBuilder::new(options.name);
    if options.tls.is_some() {
        builder.enable_start_tls();
    }
    if options.auth {
        builder.enable_auth(AuthMechanism::Plain);
    }
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (builder, handler, tls) = (builder.clone(), handler.clone(), options.tls.clone());
            std::thread::spawn(move || {
                let _ = connection(stream, &builder, handler, tls);
            });
        }
    });
}

fn connection<H: Handler>(
    stream: TcpStream,
    builder: &SessionBuilder,
    handler: H,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    // A stuck client must not keep a test's thread forever.
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    // Each reply goes out as one write (see `converse`), so Nagle's algorithm would only
    // hold it back waiting for the client's delayed ACK (40 ms on Linux).
    stream.set_nodelay(true)?;
    let remote = stream
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let mut session = builder.build(remote, handler);
    let mut plain = BufReader::new(stream);
    session.greeting().write_to(plain.get_mut())?;
    if !converse(&mut session, &mut plain)? {
        return Ok(());
    }
    // STARTTLS: the client waits for our 220 before its handshake, so nothing it sent is
    // left in the buffer of the plain-text reader.
    let config = tls.ok_or_else(|| std::io::Error::other("STARTTLS without TLS"))?;
    let server = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut secure = BufReader::new(rustls::StreamOwned::new(server, plain.into_inner()));
    session.tls_active();
    converse(&mut session, &mut secure)?;
    Ok(())
}

/// Feeds the client's lines to the session and writes its replies. Returns true when the
/// client asked for STARTTLS (and was told to go ahead).
fn converse<H: Handler, S: Read + Write>(
    session: &mut Session<H>,
    stream: &mut BufReader<S>,
) -> std::io::Result<bool> {
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line)? == 0 {
            return Ok(false);
        }
        let reply = session.process(&line);
        if !matches!(reply.action, Action::NoReply) {
            // mailin writes a reply piecewise; one write per reply keeps a multi-line
            // EHLO answer in one segment.
            let mut out = Vec::with_capacity(128);
            reply.write_to(&mut out)?;
            stream.get_mut().write_all(&out)?;
            stream.get_mut().flush()?;
        }
        match reply.action {
            Action::Close => return Ok(false),
            Action::UpgradeTls => return Ok(true),
            Action::Reply | Action::NoReply => {}
        }
    }
}
