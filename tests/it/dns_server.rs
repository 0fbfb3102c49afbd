//! An authoritative DNS server on loopback UDP for the doctor's tests: it answers from a
//! zone the test writes (and may change between runs, as an operator fixes a record),
//! NXDOMAIN for names it does not hold. Messages are read and written with hickory-proto,
//! the same library the resolver under test uses, but nothing of the resolver itself.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use mail_auth::hickory_resolver::proto::op::{Message, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, MX, TXT};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// One record of the test zone.
#[derive(Clone, Debug)]
pub enum Rr {
    /// A TXT record; a value longer than 255 bytes is split into character-strings, as
    /// zone files publish long DKIM keys.
    Txt(String),
    Mx(u16, String),
    A(Ipv4Addr),
}

pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Vec<(String, Rr)>>>,
}

impl DnsServer {
    pub fn start(zone: Vec<(&str, Rr)>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind DNS port");
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(
            zone.into_iter()
                .map(|(name, rr)| (normal(name), rr))
                .collect::<Vec<_>>(),
        ));
        let shared = zone.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf) {
                if let Some(reply) = answer(&buf[..len], &shared.lock().unwrap()) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Self { addr, zone }
    }

    /// Replaces every record at `name` with `records`.
    pub fn set(&self, name: &str, records: Vec<Rr>) {
        let name = normal(name);
        let mut zone = self.zone.lock().unwrap();
        zone.retain(|(n, _)| *n != name);
        zone.extend(records.into_iter().map(|rr| (name.clone(), rr)));
    }

    /// The `[doctor]` table pointing mailroom at this server.
    pub fn config(&self) -> String {
        format!("[doctor]\nnameservers = [\"{}\"]\n", self.addr)
    }
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn answer(request: &[u8], zone: &[(String, Rr)]) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    let query = request.queries.first()?.clone();
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(query.clone());
    let name = normal(&query.name.to_ascii());
    let owner = Name::from_ascii(format!("{name}.")).ok()?;
    let at_name: Vec<&Rr> = zone
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, rr)| rr)
        .collect();
    // A name that only has records below it (e.g. _domainkey) exists too (RFC 8020).
    let exists = zone
        .iter()
        .any(|(n, _)| *n == name || n.ends_with(&format!(".{name}")));
    if !exists {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    for rr in at_name {
        let data = match (rr, query.query_type) {
            (Rr::Txt(text), RecordType::TXT) => {
                RData::TXT(TXT::from_bytes(text.as_bytes().chunks(255).collect()))
            }
            (Rr::Mx(preference, host), RecordType::MX) => RData::MX(MX::new(
                *preference,
                Name::from_ascii(format!("{}.", host.trim_end_matches('.'))).ok()?,
            )),
            (Rr::A(ip), RecordType::A) => RData::A(A(*ip)),
            _ => continue,
        };
        reply.add_answer(Record::from_rdata(owner.clone(), 60, data));
    }
    reply.to_vec().ok()
}
