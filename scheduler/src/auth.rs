//! Who may call what. Clients (the CLI, the REST gateway, grpcurl) present `ADMIN_SECRET`,
//! trainers their own `SKIPPY_TRAINER_TOKEN`, as `authorization: Bearer <token>` metadata; each
//! service accepts only its own token, compared in constant time. Health and reflection stay
//! open. Without secrets the scheduler runs only when told so, and then only on loopback.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

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

/// What the scheduler checks: digests of both tokens, or nothing (`--insecure-no-auth`).
#[derive(Clone)]
pub struct Auth {
    tokens: Option<([u8; 32], [u8; 32])>,
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
}

impl Auth {
    /// The policy the configuration asks for, checked against the addresses actually bound:
    /// secrets are required unless `--insecure-no-auth`, which in turn requires loopback
    /// listeners unless `--insecure-allow-remote`.
    pub fn from_config(config: &Config, bound: &[SocketAddr]) -> Result<Auth, AuthConfigError> {
        match (&config.admin_secret, &config.trainer_token, config.insecure_no_auth) {
            (Some(admin), Some(trainer), false) => {
                if admin == trainer {
                    return Err(AuthConfigError::SameSecret);
                }
                Ok(Auth { tokens: Some((digest(admin.expose()), digest(trainer.expose()))) })
            }
            (None, None, true) => {
                let remote: Vec<String> =
                    bound.iter().filter(|a| !a.ip().is_loopback()).map(|a| a.to_string()).collect();
                if !remote.is_empty() && !config.insecure_allow_remote {
                    return Err(AuthConfigError::RemoteWithoutAuth(remote));
                }
                Ok(Auth { tokens: None })
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

    /// Checks one call's metadata.
    pub fn check(&self, role: Role, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let Some((admin, trainer)) = &self.tokens else { return Ok(()) };
        let (own, other) = match role {
            Role::Client => (admin, trainer),
            Role::Trainer => (trainer, admin),
        };
        let Some(value) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(format!(
                "{} needs `authorization: Bearer <{}>` metadata",
                role.api(),
                role.secret_name()
            )));
        };
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
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
}

/// The interceptor of one service.
#[derive(Debug, Clone)]
pub struct Guard {
    auth: Auth,
    role: Role,
}

impl Interceptor for Guard {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.auth.check(self.role, request.metadata())?;
        Ok(request)
    }
}

/// Fixed-length digests make the comparison independent of the tokens' lengths too.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataMap;

    fn with_secrets(admin: &str, trainer: &str) -> Config {
        let mut c = Config::local("runs".into());
        c.insecure_no_auth = false;
        c.admin_secret = Some(admin.parse().unwrap());
        c.trainer_token = Some(trainer.parse().unwrap());
        c
    }

    fn bearer(token: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", format!("Bearer {token}").parse().unwrap());
        m
    }

    const LOOPBACK: &str = "127.0.0.1:50051";
    const REMOTE: &str = "10.0.0.5:50051";

    #[test]
    fn each_service_takes_only_its_own_token() {
        let auth = Auth::from_config(&with_secrets("admin-secret", "trainer-token"), &[]).unwrap();
        assert!(auth.check(Role::Client, &bearer("admin-secret")).is_ok());
        assert!(auth.check(Role::Trainer, &bearer("trainer-token")).is_ok());
        let e = auth.check(Role::Client, &bearer("trainer-token")).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.message().contains("trainer token cannot call the client API"), "{}", e.message());
        let e = auth.check(Role::Trainer, &bearer("admin-secret")).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        for bad in [bearer("admin-secreT"), bearer(""), MetadataMap::new()] {
            let e = auth.check(Role::Client, &bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(!e.message().contains("admin-secret"), "never echo a secret: {}", e.message());
        }
    }

    #[test]
    fn no_secrets_no_start_unless_insecure_and_then_loopback_only() {
        let mut c = Config::local("runs".into());
        c.insecure_no_auth = false;
        let e = Auth::from_config(&c, &[LOOPBACK.parse().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("ADMIN_SECRET and SKIPPY_TRAINER_TOKEN") && e.contains("--insecure-no-auth"), "{e}");
        c.admin_secret = Some("a".parse().unwrap());
        let e = Auth::from_config(&c, &[]).unwrap_err().to_string();
        assert!(e.contains("set SKIPPY_TRAINER_TOKEN"), "{e}");

        let mut c = Config::local("runs".into());
        assert!(!Auth::from_config(&c, &[LOOPBACK.parse().unwrap()]).unwrap().enabled());
        let e = Auth::from_config(&c, &[REMOTE.parse().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("10.0.0.5:50051") && e.contains("--insecure-allow-remote"), "{e}");
        c.insecure_allow_remote = true;
        assert!(Auth::from_config(&c, &[REMOTE.parse().unwrap()]).is_ok());

        let e = Auth::from_config(&with_secrets("same", "same"), &[]).unwrap_err().to_string();
        assert!(e.contains("must differ"), "{e}");
    }

    #[test]
    fn secrets_are_never_printed() {
        let c = with_secrets("admin-secret", "trainer-token");
        let shown = format!("{c:?} {:?}", Auth::from_config(&c, &[]).unwrap());
        assert!(!shown.contains("admin-secret") && !shown.contains("trainer-token"), "{shown}");
        assert!("has space".parse::<Secret>().is_err() && "".parse::<Secret>().is_err());
    }
}
