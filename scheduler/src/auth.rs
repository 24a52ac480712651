//! Who may call what. Clients (the CLI, the REST gateway, grpcurl) present `ADMIN_SECRET`,
//! trainers their own `SKIPPY_TRAINER_TOKEN`, as `authorization: Bearer <token>` metadata; each
//! service accepts only its own token, compared in constant time. Health and reflection stay
//! open. Without secrets the scheduler runs only when told so, and then only on loopback; a
//! secret shorter than [`MIN_SECRET_LEN`] or left at an example's placeholder is refused at
//! start-up. Refused calls are logged with the peer's address, at most once per peer per
//! [`FAILURE_LOG_EVERY`] ([`FailureLog`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::config::Config;

/// A secret from a flag or the environment. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for sending it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret (32 hex digits).
    pub fn generate() -> Secret {
        Secret(uuid::Uuid::new_v4().simple().to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Secret, String> {
        if s.is_empty() {
            return Err("the secret is empty".into());
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the secret must be visible ASCII without spaces (it travels in a header)".into());
        }
        Ok(Secret(s.to_string()))
    }
}

/// The two roles a caller can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client of `TrainingService` (`ADMIN_SECRET`).
    Client,
    /// A trainer on `TrainerService` (`SKIPPY_TRAINER_TOKEN`).
    Trainer,
}

impl Role {
    fn api(self) -> &'static str {
        match self {
            Role::Client => "the client API (TrainingService)",
            Role::Trainer => "the trainer API (TrainerService)",
        }
    }

    fn secret_name(self) -> &'static str {
        match self {
            Role::Client => "ADMIN_SECRET",
            Role::Trainer => "SKIPPY_TRAINER_TOKEN",
        }
    }
}

/// Shortest secret the scheduler starts with.
pub const MIN_SECRET_LEN: usize = 16;

/// How to make a secret, as refusals say it.
const MAKE_ONE: &str = "make one with `openssl rand -hex 16`";

/// Text of the placeholders in the README, the deploy files and common examples: a secret holding
/// one was copied, not made (compared without regard to case).
const PLACEHOLDERS: &[&str] = &["your-secret-key", "replace-me", "replace-with", "changeme", "change-me"];

/// Refuses a secret too short to resist guessing, or one still holding an example's placeholder.
/// `name` is the variable that gave it (`ADMIN_SECRET`); the secret itself is never shown.
pub fn check_strength(name: &'static str, secret: &Secret) -> Result<(), AuthConfigError> {
    let text = secret.expose().to_ascii_lowercase();
    if let Some(placeholder) = PLACEHOLDERS.iter().find(|p| text.contains(*p)) {
        return Err(AuthConfigError::Placeholder { name, placeholder });
    }
    let len = secret.expose().chars().count();
    if len < MIN_SECRET_LEN {
        return Err(AuthConfigError::TooShort { name, len });
    }
    Ok(())
}

/// What the scheduler checks: digests of both tokens, or nothing (`--insecure-no-auth`); and
/// where refusals are logged.
#[derive(Clone)]
pub struct Auth {
    tokens: Option<([u8; 32], [u8; 32])>,
    failures: Arc<FailureLog>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.tokens.is_some() { "Auth(bearer tokens)" } else { "Auth(none)" })
    }
}

/// Why the scheduler refuses to start with the authentication it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// One secret would serve for both services.
    #[error("ADMIN_SECRET and SKIPPY_TRAINER_TOKEN are the same: they must differ, or a trainer could act as a client")]
    SameSecret,
    /// `--insecure-no-auth` on addresses other than loopback.
    #[error(
        "--insecure-no-auth serves only loopback addresses, but {} is not one; bind to 127.0.0.1, or add \
         --insecure-allow-remote if the network is otherwise protected",
        .0.join(" and ")
    )]
    RemoteWithoutAuth(Vec<String>),
    /// `--insecure-no-auth` together with a secret.
    #[error("--insecure-no-auth was given together with a secret: drop one or the other")]
    NoAuthWithSecret,
    /// Secrets missing.
    #[error(
        "refusing to start without authentication: set {} (or --admin-secret / --trainer-token); for a \
         development scheduler on loopback only, pass --insecure-no-auth",
        .0.join(" and ")
    )]
    Missing(Vec<&'static str>),
    /// A secret shorter than [`MIN_SECRET_LEN`].
    #[error("{name} is {len} characters long; a secret needs at least {MIN_SECRET_LEN}: {MAKE_ONE}")]
    TooShort {
        /// The variable that gave it.
        name: &'static str,
        /// Its length in characters.
        len: usize,
    },
    /// A secret still holding an example's placeholder.
    #[error("{name} holds the placeholder {placeholder:?} of an example, not a secret: {MAKE_ONE}")]
    Placeholder {
        /// The variable that gave it.
        name: &'static str,
        /// The placeholder found in it.
        placeholder: &'static str,
    },
}

impl Auth {
    /// The policy the configuration asks for, checked against the addresses actually bound:
    /// secrets are required unless `--insecure-no-auth`, which in turn requires loopback
    /// listeners unless `--insecure-allow-remote`.
    pub fn from_config(config: &Config, bound: &[SocketAddr]) -> Result<Auth, AuthConfigError> {
        match (&config.admin_secret, &config.trainer_token, config.insecure_no_auth) {
            (Some(admin), Some(trainer), false) => {
                check_strength("ADMIN_SECRET", admin)?;
                check_strength("SKIPPY_TRAINER_TOKEN", trainer)?;
                if admin == trainer {
                    return Err(AuthConfigError::SameSecret);
                }
                let tokens = Some((digest(admin.expose()), digest(trainer.expose())));
                Ok(Auth { tokens, failures: Default::default() })
            }
            (None, None, true) => {
                let remote: Vec<String> =
                    bound.iter().filter(|a| !a.ip().is_loopback()).map(|a| a.to_string()).collect();
                if !remote.is_empty() && !config.insecure_allow_remote {
                    return Err(AuthConfigError::RemoteWithoutAuth(remote));
                }
                Ok(Auth { tokens: None, failures: Default::default() })
            }
            (Some(_), Some(_), true) | (Some(_), None, true) | (None, Some(_), true) => {
                Err(AuthConfigError::NoAuthWithSecret)
            }
            (admin, trainer, false) => {
                let missing: Vec<&str> =
                    [(admin.is_none(), "ADMIN_SECRET"), (trainer.is_none(), "SKIPPY_TRAINER_TOKEN")]
                        .into_iter()
                        .filter_map(|(m, name)| m.then_some(name))
                        .collect();
                Err(AuthConfigError::Missing(missing))
            }
        }
    }

    /// Whether calls are checked at all.
    pub fn enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// The interceptor guarding the service of `role`.
    pub fn guard(&self, role: Role) -> Guard {
        Guard { auth: self.clone(), role }
    }

    /// Checks one call's `authorization` value (gRPC metadata or HTTP header, as bytes).
    pub fn check(&self, role: Role, authorization: Option<&[u8]>) -> Result<(), Status> {
        let Some((admin, trainer)) = &self.tokens else { return Ok(()) };
        let (own, other) = match role {
            Role::Client => (admin, trainer),
            Role::Trainer => (trainer, admin),
        };
        let Some(value) = authorization else {
            return Err(Status::unauthenticated(format!(
                "{} needs `authorization: Bearer <{}>` metadata",
                role.api(),
                role.secret_name()
            )));
        };
        let token = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let Some(token) = token else {
            return Err(Status::unauthenticated("the authorization metadata must be `Bearer <token>`"));
        };
        let presented = digest(token.trim());
        if bool::from(presented.ct_eq(own)) {
            return Ok(());
        }
        if bool::from(presented.ct_eq(other)) {
            let theirs = match role {
                Role::Client => "a trainer token",
                Role::Trainer => "the client secret",
            };
            return Err(Status::permission_denied(format!("{theirs} cannot call {}", role.api())));
        }
        Err(Status::unauthenticated(format!("wrong bearer token for {} (expected {})", role.api(), role.secret_name())))
    }

    /// [`Auth::check`] for a caller at `peer` (`None`: in-process), a refusal logged (rate-limited).
    pub fn check_from(&self, role: Role, authorization: Option<&[u8]>, peer: Option<SocketAddr>) -> Result<(), Status> {
        self.check(role, authorization).inspect_err(|refused| self.failures.note(peer, refused))
    }
}

/// The interceptor of one service.
#[derive(Debug, Clone)]
pub struct Guard {
    auth: Auth,
    role: Role,
}

impl Interceptor for Guard {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let authorization = request.metadata().get("authorization").map(|v| v.as_encoded_bytes());
        self.auth.check_from(self.role, authorization, request.remote_addr())?;
        Ok(request)
    }
}

/// Longest time between two log lines about one peer's refused calls.
pub const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// Peers remembered at once; beyond them, refusals from new peers are counted together.
const FAILURE_PEERS: usize = 256;

/// Refused calls, logged with the caller's address: the first of each peer at once, then at most
/// one line per peer per [`FAILURE_LOG_EVERY`] saying how many were not logged. The table is
/// bounded ([`FAILURE_PEERS`]), so a flood from many addresses costs no memory, only lines
/// counted together.
#[derive(Debug, Default)]
pub struct FailureLog {
    table: Mutex<FailureTable>,
}

impl FailureLog {
    /// Notes a refusal of a caller at `peer` (`None`: in-process), logging it if its turn has
    /// come.
    pub fn note(&self, peer: Option<SocketAddr>, refused: &Status) {
        let admitted = self.table.lock().unwrap_or_else(|p| p.into_inner()).admit(peer.map(|p| p.ip()), Instant::now());
        let Some(Line { peer, not_logged }) = admitted else { return };
        let peer = match peer {
            Peer::Address(Some(ip)) => ip.to_string(),
            Peer::Address(None) => "in-process".to_string(),
            Peer::Others => "other peers (too many to follow one by one)".to_string(),
        };
        tracing::warn!(
            %peer,
            code = ?refused.code(),
            reason = refused.message(),
            not_logged,
            "authentication failed (further failures from this peer within {FAILURE_LOG_EVERY:?} are counted, not logged)"
        );
    }
}

/// Whose refusals a log line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// One address (`None`: in-process).
    Address(Option<IpAddr>),
    /// Every peer beyond the table's capacity.
    Others,
}

/// A log line due: about whom, and how many refusals since the last line went unlogged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line {
    peer: Peer,
    not_logged: u64,
}

/// The last line logged per peer, and refusals counted since.
#[derive(Debug, Default)]
struct FailureTable {
    /// (peer, when its last line was logged, refusals since then).
    peers: Vec<(Option<IpAddr>, Instant, u64)>,
    /// Refusals from peers that found the table full, and when their last line was logged.
    others: (Option<Instant>, u64),
}

impl FailureTable {
    /// Counts a refusal of `peer` at `now`; returns the line to log, if one is due.
    fn admit(&mut self, peer: Option<IpAddr>, now: Instant) -> Option<Line> {
        let due = |last: Instant| now.saturating_duration_since(last) >= FAILURE_LOG_EVERY;
        if let Some(entry) = self.peers.iter_mut().find(|(p, _, _)| *p == peer) {
            if !due(entry.1) {
                entry.2 += 1;
                return None;
            }
            let not_logged = std::mem::take(&mut entry.2);
            entry.1 = now;
            return Some(Line { peer: Peer::Address(peer), not_logged });
        }
        // A new peer: a free row, or the row of a peer quiet for a whole period.
        if self.peers.len() < FAILURE_PEERS {
            self.peers.push((peer, now, 0));
            return Some(Line { peer: Peer::Address(peer), not_logged: 0 });
        }
        if let Some(entry) = self.peers.iter_mut().find(|(_, last, _)| due(*last)) {
            // The row's unlogged count goes to the next line about other peers.
            self.others.1 += entry.2;
            *entry = (peer, now, 0);
            return Some(Line { peer: Peer::Address(peer), not_logged: 0 });
        }
        let (last, count) = &mut self.others;
        if last.is_some_and(|l| !due(l)) {
            *count += 1;
            return None;
        }
        *last = Some(now);
        Some(Line { peer: Peer::Others, not_logged: std::mem::take(count) })
    }
}

/// Fixed-length digests make the comparison independent of the tokens' lengths too.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-secret-0123456789";
    const TRAINER: &str = "trainer-token-0123456789";

    fn with_secrets(admin: &str, trainer: &str) -> Config {
        let mut c = Config::local("runs".into());
        c.insecure_no_auth = false;
        c.admin_secret = Some(admin.parse().unwrap());
        c.trainer_token = Some(trainer.parse().unwrap());
        c
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    const LOOPBACK: &str = "127.0.0.1:50051";
    const REMOTE: &str = "10.0.0.5:50051";

    #[test]
    fn each_service_takes_only_its_own_token() {
        let auth = Auth::from_config(&with_secrets(ADMIN, TRAINER), &[]).unwrap();
        assert!(auth.check(Role::Client, Some(&bearer(ADMIN))).is_ok());
        assert!(auth.check(Role::Trainer, Some(&bearer(TRAINER))).is_ok());
        let e = auth.check(Role::Client, Some(&bearer(TRAINER))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.message().contains("trainer token cannot call the client API"), "{}", e.message());
        let e = auth.check(Role::Trainer, Some(&bearer(ADMIN))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let wrong = bearer("admin-secret-012345678X");
        for bad in [Some(&wrong[..]), Some(&bearer("")[..]), Some(&b"Basic abc"[..]), Some(&b"\xff"[..]), None] {
            let e = auth.check(Role::Client, bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(!e.message().contains(ADMIN), "never echo a secret: {}", e.message());
        }
    }

    #[test]
    fn no_secrets_no_start_unless_insecure_and_then_loopback_only() {
        let mut c = Config::local("runs".into());
        c.insecure_no_auth = false;
        let e = Auth::from_config(&c, &[LOOPBACK.parse().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("ADMIN_SECRET and SKIPPY_TRAINER_TOKEN") && e.contains("--insecure-no-auth"), "{e}");
        c.admin_secret = Some(ADMIN.parse().unwrap());
        let e = Auth::from_config(&c, &[]).unwrap_err().to_string();
        assert!(e.contains("set SKIPPY_TRAINER_TOKEN"), "{e}");

        let mut c = Config::local("runs".into());
        assert!(!Auth::from_config(&c, &[LOOPBACK.parse().unwrap()]).unwrap().enabled());
        let e = Auth::from_config(&c, &[REMOTE.parse().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("10.0.0.5:50051") && e.contains("--insecure-allow-remote"), "{e}");
        c.insecure_allow_remote = true;
        assert!(Auth::from_config(&c, &[REMOTE.parse().unwrap()]).is_ok());

        let e = Auth::from_config(&with_secrets(ADMIN, ADMIN), &[]).unwrap_err().to_string();
        assert!(e.contains("must differ"), "{e}");
    }

    #[test]
    fn short_secrets_and_placeholders_are_refused_saying_how_to_make_one() {
        let refused = |admin: &str, trainer: &str| Auth::from_config(&with_secrets(admin, trainer), &[]).unwrap_err();
        let e = refused("fifteen-chars-x", TRAINER);
        assert_eq!(e, AuthConfigError::TooShort { name: "ADMIN_SECRET", len: 15 });
        assert_eq!(
            e.to_string(),
            "ADMIN_SECRET is 15 characters long; a secret needs at least 16: make one with `openssl rand -hex 16`"
        );
        assert_eq!(refused(ADMIN, "s3cret").to_string().split(' ').next(), Some("SKIPPY_TRAINER_TOKEN"));
        // The placeholders of the deploy files (k8s/secret.yaml, systemd/skippy.env.example) and of
        // common examples, whatever their case and length.
        for placeholder in [
            "REPLACE-ME-admin-secret",
            "replace-with-openssl-rand-hex-32",
            "your-secret-key",
            "Your-Secret-Key-0123456789",
            "changeme-changeme-changeme",
        ] {
            let e = refused(placeholder, TRAINER);
            assert!(matches!(e, AuthConfigError::Placeholder { name: "ADMIN_SECRET", .. }), "{placeholder}: {e:?}");
            let text = e.to_string();
            assert!(text.contains("openssl rand -hex 16"), "{text}");
            // The placeholder is named, not the whole value.
            assert!(placeholder.len() == 15 || !text.contains(placeholder), "{text}");
        }
        assert!(Auth::from_config(&with_secrets("0123456789abcdef", "fedcba9876543210"), &[]).is_ok(), "16 is enough");
    }

    #[test]
    fn secrets_are_never_printed() {
        let c = with_secrets(ADMIN, TRAINER);
        let shown = format!("{c:?} {:?}", Auth::from_config(&c, &[]).unwrap());
        assert!(!shown.contains(ADMIN) && !shown.contains(TRAINER), "{shown}");
        assert!("has space".parse::<Secret>().is_err() && "".parse::<Secret>().is_err());
    }

    #[test]
    fn refusals_are_logged_once_per_peer_per_period_with_what_was_not() {
        let mut table = FailureTable::default();
        let t0 = Instant::now();
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        let line = |peer, not_logged| Some(Line { peer: Peer::Address(peer), not_logged });
        assert_eq!(table.admit(a, at(0.0)), line(a, 0));
        for i in 1..=50 {
            assert_eq!(table.admit(a, at(i as f64 * 0.1)), None, "within the period");
        }
        assert_eq!(table.admit(b, at(1.0)), line(b, 0), "another peer is logged at once");
        assert_eq!(table.admit(None, at(1.0)), line(None, 0), "in-process is a peer of its own");
        assert_eq!(table.admit(a, at(10.0)), line(a, 50), "the next line says how many were not logged");
        assert_eq!(table.admit(a, at(15.0)), None);

        // Many peers at once: the table stays bounded and the rest are counted together.
        let mut table = FailureTable::default();
        let known = |i: usize| Some(IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]));
        let stranger = |i: u8| Some(IpAddr::from([192, 168, 0, i]));
        let others = |not_logged| Some(Line { peer: Peer::Others, not_logged });
        for i in 0..FAILURE_PEERS {
            assert_eq!(table.admit(known(i), at(0.0)), line(known(i), 0));
        }
        assert_eq!(table.admit(stranger(1), at(1.0)), others(0));
        for i in 2..100 {
            assert_eq!(table.admit(stranger(i), at(2.0)), None);
        }
        assert_eq!(table.peers.len(), FAILURE_PEERS, "no more rows than the bound");
        for i in 0..FAILURE_PEERS {
            assert_eq!(table.admit(known(i), at(10.5)), line(known(i), 0), "every row busy again");
        }
        assert_eq!(table.admit(stranger(100), at(11.5)), others(98), "the strangers' count, once a period");
        assert_eq!(table.admit(stranger(101), at(21.0)), line(stranger(101), 0), "a quiet row is reused");
    }
}
