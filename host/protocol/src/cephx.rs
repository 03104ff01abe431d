//! The client side of cephx: authenticating to the monitors with an entity's
//! key, holding the tickets they hand out (for the monitors, OSDs and managers),
//! renewing them before they expire, and building the authorizers that open
//! sessions with OSDs and managers.
//!
//! On a reconnection the client presents its global id and its last auth ticket,
//! so that monitors that refuse insecure global id reclaim
//! (`auth_allow_insecure_global_id_reclaim = false`) keep its id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::crypto::CryptoKey;
use crate::encoding::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::types::{EntityName, entity};

/// `CEPH_AUTH_CEPHX`.
pub const CEPH_AUTH_CEPHX: u32 = 2;
/// `AUTH_MODE_MON`: the first request to the monitors.
const AUTH_MODE_MON: u8 = 10;
const GET_AUTH_SESSION_KEY: u16 = 0x0100;
const GET_PRINCIPAL_SESSION_KEY: u16 = 0x0200;

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The monitors refused us (wrong key, unknown entity, missing caps).
    #[error("{0}")]
    Refused(String),
    /// A reply could not be decoded (or decrypted: a wrong key shows here).
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// A ticket for one service.
#[derive(Clone, Debug)]
pub struct Ticket {
    /// The key of sessions with the service.
    pub session_key: CryptoKey,
    /// The service's secret id the ticket is sealed with.
    pub secret_id: u64,
    /// The sealed ticket, opaque to us.
    pub blob: Vec<u8>,
    /// When it stops being valid.
    pub expires: Instant,
    /// When to ask for a new one (three quarters into its validity).
    pub renew_after: Instant,
}

impl Ticket {
    fn encode_blob(&self, e: &mut Encoder) {
        e.u8(1).u64(self.secret_id).blob(&self.blob);
    }
}

/// An authorizer presented to an OSD or a manager, kept to check its reply.
#[derive(Clone, Debug)]
pub struct Authorizer {
    /// What to send (`AUTH_REQUEST`'s payload).
    pub bytes: Vec<u8>,
    base: Vec<u8>,
    nonce: u64,
    session_key: CryptoKey,
}

impl Authorizer {
    /// The key of the session it opens (its handshake signatures).
    pub fn session_key(&self) -> &CryptoKey {
        &self.session_key
    }

    /// Answer the service's challenge (`AUTH_REPLY_MORE`): the same authorizer,
    /// with the challenge plus one sealed in.
    pub fn answer_challenge(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        // The challenge comes sealed without a length (`encode_encrypt_enc_bl`).
        let plain = self.session_key.open(payload)?;
        let mut d = Decoder::new(&plain);
        d.u8()?;
        let challenge = d.u64()?;
        let mut msg = Encoder::new();
        msg.u8(2)
            .u64(self.nonce)
            .bool(true)
            .u64(challenge.wrapping_add(1));
        let mut e = Encoder::new();
        e.raw(&self.base);
        self.session_key.seal_blob(msg.as_bytes(), &mut e);
        self.bytes = e.into_bytes();
        Ok(self.bytes.clone())
    }

    /// Check the service's `AUTH_DONE` payload; gives the connection secret.
    pub fn verify_reply(&self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        let plain = self.session_key.open_blob(&mut Decoder::new(payload))?;
        let mut d = Decoder::new(&plain);
        let v = d.u8()?;
        let nonce_plus_one = d.u64()?;
        if nonce_plus_one != self.nonce.wrapping_add(1) {
            return Err(AuthError::Refused(
                "the service's authorizer reply does not match our nonce".into(),
            ));
        }
        Ok(if v >= 2 {
            d.blob()?.to_vec()
        } else {
            Vec::new()
        })
    }
}

/// What a successful authentication with the monitors gives a connection.
#[derive(Debug)]
pub struct Session {
    /// The key that signs the handshake.
    pub session_key: CryptoKey,
    /// The secure mode's key and nonces (empty in crc mode).
    pub connection_secret: Vec<u8>,
}

/// A cephx client: an entity, its key, and its tickets.
#[derive(Debug)]
pub struct CephxClient {
    name: EntityName,
    key: CryptoKey,
    want: u32,
    global_id: u64,
    server_challenge: u64,
    tickets: HashMap<u32, Ticket>,
}

impl CephxClient {
    /// A client for `name` with its `key`, wanting tickets for `want` (a mask of
    /// [`entity`] types).
    pub fn new(name: EntityName, key: CryptoKey, want: u32) -> CephxClient {
        CephxClient {
            name,
            key,
            want,
            global_id: 0,
            server_challenge: 0,
            tickets: HashMap::new(),
        }
    }

    /// The entity authenticated.
    pub fn name(&self) -> &EntityName {
        &self.name
    }

    /// The global id the monitors gave us (0 before the first session).
    pub fn global_id(&self) -> u64 {
        self.global_id
    }

    /// Remember the global id the monitors assigned (`AUTH_DONE`).
    pub fn set_global_id(&mut self, id: u64) {
        self.global_id = id;
    }

    /// The ticket for `service`, if we hold a valid one.
    pub fn ticket(&self, service: u32) -> Option<&Ticket> {
        self.tickets
            .get(&service)
            .filter(|t| t.expires > Instant::now())
    }

    /// The first request to a monitor (`AUTH_REQUEST` payload): who we are and
    /// the global id we had, if any.
    pub fn initial_request(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(AUTH_MODE_MON);
        self.name.encode(&mut e);
        e.u64(self.global_id);
        e.into_bytes()
    }

    /// Services whose tickets are missing or due for renewal.
    fn need(&self, now: Instant) -> u32 {
        let mut need = 0;
        let mut bit = 1;
        while bit <= self.want.max(entity::AUTH) {
            if (self.want | entity::AUTH) & bit != 0 {
                match self.tickets.get(&bit) {
                    Some(t) if now < t.renew_after => {}
                    _ => need |= bit,
                }
            }
            bit <<= 1;
        }
        need
    }

    /// Answer the monitor's challenge (`AUTH_REPLY_MORE`) with a request for an
    /// auth session key and every ticket we want.
    pub fn answer_challenge(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut d = Decoder::new(payload);
        d.u8()?;
        self.server_challenge = d.u64()?;
        Ok(self.auth_session_request(self.need(Instant::now()) | entity::AUTH))
    }

    fn auth_session_request(&self, need: u32) -> Vec<u8> {
        let client_challenge: u64 = rand::random();
        let mut blob = Encoder::new();
        blob.u64(self.server_challenge).u64(client_challenge);
        let mut sealed = Encoder::new();
        self.key.seal_blob(blob.as_bytes(), &mut sealed);
        let sealed = sealed.into_bytes();
        let mut key = 0u64;
        for chunk in sealed.chunks_exact(8) {
            key ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        let mut e = Encoder::new();
        e.u16(GET_AUTH_SESSION_KEY);
        // Version 3 tells the monitors we present our old ticket on reconnects.
        e.u8(3).u64(client_challenge).u64(key);
        match self.tickets.get(&entity::AUTH) {
            Some(t) => t.encode_blob(&mut e),
            None => {
                e.u8(1).u64(0).blob(&[]);
            }
        }
        e.u32(need);
        e.into_bytes()
    }

    /// Take the monitor's answer to an auth session key request (`AUTH_DONE`'s
    /// payload, or an `MAuthReply`'s).
    pub fn handle_reply(&mut self, payload: &[u8]) -> Result<Option<Session>, AuthError> {
        let mut d = Decoder::new(payload);
        let kind = d.u16()?;
        let status = d.i32()?;
        if status < 0 {
            return Err(AuthError::Refused(format!(
                "cephx request refused: {}",
                crate::errno_name(status.wrapping_neg())
            )));
        }
        match kind {
            GET_AUTH_SESSION_KEY => {
                let key = self.key.clone();
                self.take_tickets(&mut d, &key)?;
                let auth = self
                    .tickets
                    .get(&entity::AUTH)
                    .ok_or_else(|| AuthError::Refused("no auth ticket in the reply".into()))?
                    .session_key
                    .clone();
                let mut connection_secret = Vec::new();
                if !d.is_empty() {
                    let cbl = d.blob()?;
                    if !cbl.is_empty() {
                        let plain = auth.open_blob(&mut Decoder::new(cbl))?;
                        connection_secret = Decoder::new(&plain).blob()?.to_vec();
                    }
                    let extra = d.blob()?;
                    if !extra.is_empty() {
                        self.take_tickets(&mut Decoder::new(extra), &auth)?;
                    }
                }
                Ok(Some(Session {
                    session_key: auth,
                    connection_secret,
                }))
            }
            GET_PRINCIPAL_SESSION_KEY => {
                let auth = self
                    .tickets
                    .get(&entity::AUTH)
                    .ok_or_else(|| {
                        AuthError::Refused("service tickets before an auth ticket".into())
                    })?
                    .session_key
                    .clone();
                self.take_tickets(&mut d, &auth)?;
                Ok(None)
            }
            k => Err(AuthError::Refused(format!(
                "unexpected cephx reply type {k:#x}"
            ))),
        }
    }

    fn take_tickets(&mut self, d: &mut Decoder, secret: &CryptoKey) -> DecodeResult<()> {
        d.u8()?;
        let n = d.count(8)?;
        let now = Instant::now();
        for _ in 0..n {
            let service = d.u32()?;
            d.u8()?;
            let plain = secret.open_blob(d)?;
            let mut a = Decoder::new(&plain);
            a.u8()?;
            let session_key = CryptoKey::decode(&mut a)?;
            let validity = crate::types::UTime::decode(&mut a)?.as_duration();
            let encrypted = d.bool()?;
            let ticket_bl = if encrypted {
                let old = self
                    .tickets
                    .get(&service)
                    .map(|t| t.session_key.clone())
                    .ok_or_else(|| DecodeError {
                        what: "a ticket sealed with a session key we do not have".into(),
                    })?;
                let plain = old.open_blob(d)?;
                Decoder::new(&plain).blob()?.to_vec()
            } else {
                d.blob()?.to_vec()
            };
            let mut t = Decoder::new(&ticket_bl);
            t.u8()?;
            let secret_id = t.u64()?;
            let blob = t.blob()?.to_vec();
            let validity = validity.max(Duration::from_secs(1));
            self.tickets.insert(
                service,
                Ticket {
                    session_key,
                    secret_id,
                    blob,
                    expires: now + validity,
                    renew_after: now + validity - validity / 4,
                },
            );
        }
        Ok(())
    }

    /// A renewal to send on an established monitor session (`MAuth`), if a
    /// ticket is due: a new auth session key when the auth ticket is due
    /// (answering the session's challenge again), else the service tickets.
    pub fn renewal(&self) -> Option<Vec<u8>> {
        let need = self.need(Instant::now());
        if need & entity::AUTH != 0 {
            return Some(self.auth_session_request(need));
        }
        // A missing manager ticket alone is not worth a request (as Ceph does).
        if need == 0 || need == entity::MGR {
            return None;
        }
        let auth = self.tickets.get(&entity::AUTH)?;
        let mut e = Encoder::new();
        e.u16(GET_PRINCIPAL_SESSION_KEY);
        let a = self.build_authorizer(entity::AUTH, auth);
        e.raw(&a.bytes);
        e.u8(1).u32(need);
        Some(e.into_bytes())
    }

    /// An authorizer for `service` (an OSD or a manager), if we hold its ticket.
    pub fn authorizer(&self, service: u32) -> Option<Authorizer> {
        let t = self.ticket(service)?;
        Some(self.build_authorizer(service, t))
    }

    fn build_authorizer(&self, service: u32, t: &Ticket) -> Authorizer {
        let nonce: u64 = rand::random();
        let mut base = Encoder::new();
        base.u8(1).u64(self.global_id).u32(service);
        t.encode_blob(&mut base);
        let base = base.into_bytes();
        let mut msg = Encoder::new();
        msg.u8(2).u64(nonce).bool(false).u64(0);
        let mut e = Encoder::new();
        e.raw(&base);
        t.session_key.seal_blob(msg.as_bytes(), &mut e);
        Authorizer {
            bytes: e.into_bytes(),
            base,
            nonce,
            session_key: t.session_key.clone(),
        }
    }
}
