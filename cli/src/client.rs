//! The connection to the scheduler: the gRPC client with the admin secret attached, and the one
//! mapping from a gRPC status to the line a user reads and the exit code it ends with.

use std::time::Duration;

use skippy_proto::v1::training_service_client::TrainingServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::args::{GlobalArgs, Secret};
use crate::exit::{self, Failure};

/// The generated client over a channel that carries the admin secret.
pub type Client = TrainingServiceClient<InterceptedService<Channel, Auth>>;

/// Largest message accepted from the scheduler (results carry `metrics.json`).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Adds `authorization: Bearer <secret>` to every call when a secret is set.
#[derive(Clone)]
pub struct Auth {
    /// The header value, built once.
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// A scheduler to talk to: the client, and what error messages need to know.
#[derive(Clone)]
pub struct SchedulerClient {
    /// The generated client (cheap to clone: one shared HTTP/2 connection).
    pub client: Client,
    /// The URL, for error messages.
    pub url: String,
    /// Whether a secret is sent, to explain UNAUTHENTICATED.
    has_secret: bool,
}

/// What a call was about, so a NOT_FOUND says what was missing.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A call about no particular job.
    Scheduler,
    /// A call about this job.
    Job(&'a str),
    /// A call about one artifact of a job.
    Artifact(&'a str, &'a str),
}

impl SchedulerClient {
    /// A client for the URL and secret of the global flags. The connection is made on the first
    /// call and remade after it breaks; nothing is sent until then.
    pub fn connect(global: &GlobalArgs) -> anyhow::Result<Self> {
        let ca_pem = match &global.ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                Failure::new(exit::USAGE, format!("cannot read the CA certificate {}: {e}", path.display()))
            })?),
            None => None,
        };
        Self::connect_to(&global.scheduler, global.admin_secret.as_ref(), ca_pem.as_deref())
    }

    /// A client for `url`, sending `secret` if set (an empty secret counts as none); an
    /// `https://` URL is reached over TLS, trusting the system's roots and `ca_pem`.
    pub fn connect_to(url: &str, secret: Option<&Secret>, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let url = normalise_url(url)?;
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| Failure::new(exit::USAGE, format!("invalid scheduler URL {url:?}: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        let endpoint = skippy_proto::tls::secure(endpoint, ca_pem)
            .map_err(|e| Failure::new(exit::USAGE, format!("TLS for scheduler {url:?}: {e}")))?;
        let header = authorization(secret)?;
        let has_secret = header.is_some();
        let client = TrainingServiceClient::with_interceptor(endpoint.connect_lazy(), Auth { header })
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self { client, url, has_secret })
    }

    /// The error a user reads for a failed call about `subject`.
    pub fn error(&self, status: &Status, subject: Subject<'_>) -> anyhow::Error {
        describe_status(status, &self.url, self.has_secret, subject).into()
    }
}

/// The `authorization` value of every call: `Bearer <secret>`, or none for no (or an empty)
/// secret. Marked sensitive, so HTTP/2 header compression never indexes it and no `Debug` shows it.
fn authorization(secret: Option<&Secret>) -> Result<Option<MetadataValue<Ascii>>, Failure> {
    let Some(secret) = secret.map(Secret::expose).filter(|s| !s.is_empty()) else { return Ok(None) };
    let mut value = format!("Bearer {secret}")
        .parse::<MetadataValue<Ascii>>()
        .map_err(|_| Failure::new(exit::USAGE, "ADMIN_SECRET is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// Adds `http://` to a bare `host:port`.
fn normalise_url(url: &str) -> Result<String, Failure> {
    let url = url.trim();
    if url.contains("://") { Ok(url.to_string()) } else { Ok(format!("http://{url}")) }
}

/// Whether a failed call is worth repeating after a pause: the scheduler was unreachable,
/// restarted, or the connection broke. Everything else is the answer.
pub fn is_transient(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled | Code::Aborted)
        || (status.code() == Code::DeadlineExceeded)
}

/// The one mapping from a gRPC status to the user's error line and exit code.
pub fn describe_status(status: &Status, url: &str, has_secret: bool, subject: Subject<'_>) -> Failure {
    let message = status.message().trim();
    let detail = if message.is_empty() { String::new() } else { format!(" ({message})") };
    match status.code() {
        Code::Unavailable => Failure::new(
            exit::FAILURE,
            format!("cannot reach the scheduler at {url}: is skippy-scheduler running? (set SKIPPY_SCHEDULER){detail}"),
        ),
        Code::Unauthenticated if has_secret => Failure::new(
            exit::FAILURE,
            format!("the scheduler at {url} refused ADMIN_SECRET: it does not match the scheduler's secret{detail}"),
        ),
        Code::Unauthenticated => Failure::new(
            exit::FAILURE,
            format!("the scheduler at {url} requires a secret: set ADMIN_SECRET (or --admin-secret){detail}"),
        ),
        Code::PermissionDenied => {
            Failure::new(exit::FAILURE, format!("permission denied by the scheduler: check ADMIN_SECRET{detail}"))
        }
        Code::NotFound => Failure::new(
            exit::NOT_FOUND,
            match subject {
                Subject::Job(id) => format!("no job {id}"),
                Subject::Artifact(id, name) => format!("no artifact {name:?} in job {id}"),
                Subject::Scheduler if message.is_empty() => "not found".to_string(),
                Subject::Scheduler => message.to_string(),
            },
        ),
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::ResourceExhausted
        | Code::AlreadyExists
        | Code::OutOfRange
            if !message.is_empty() =>
        {
            Failure::new(exit::FAILURE, message.to_string())
        }
        Code::DeadlineExceeded => {
            Failure::new(exit::FAILURE, format!("the scheduler at {url} did not answer in time{detail}"))
        }
        Code::Unimplemented => Failure::new(
            exit::FAILURE,
            format!("the scheduler at {url} does not support this call (is it an older version?){detail}"),
        ),
        code => Failure::new(exit::FAILURE, format!("scheduler error ({}){detail}", code.description())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:50051";

    fn line(status: Status, has_secret: bool, subject: Subject<'_>) -> (u8, String) {
        let f = describe_status(&status, URL, has_secret, subject);
        (f.code, f.message)
    }

    #[test]
    fn unreachable_scheduler() {
        assert_eq!(
            line(Status::unavailable("tcp connect error"), false, Subject::Scheduler),
            (
                1,
                "cannot reach the scheduler at http://127.0.0.1:50051: is skippy-scheduler running? \
                 (set SKIPPY_SCHEDULER) (tcp connect error)"
                    .into()
            )
        );
    }

    #[test]
    fn the_secret_is_sent_as_a_sensitive_header() {
        let secret = Secret::new("0123456789abcdef".into());
        let value = authorization(Some(&secret)).unwrap().expect("a header");
        assert!(value.is_sensitive(), "never indexed by HPACK");
        assert_eq!(value.to_str().unwrap(), "Bearer 0123456789abcdef");
        assert!(!format!("{value:?}").contains("0123456789abcdef"), "{value:?}");
        assert!(authorization(None).unwrap().is_none());
    }

    #[test]
    fn authentication_mentions_admin_secret() {
        let (code, msg) = line(Status::unauthenticated(""), false, Subject::Scheduler);
        assert_eq!(code, 1);
        assert_eq!(
            msg,
            "the scheduler at http://127.0.0.1:50051 requires a secret: set ADMIN_SECRET (or --admin-secret)"
        );
        let (_, msg) = line(Status::unauthenticated("bad token"), true, Subject::Scheduler);
        assert_eq!(
            msg,
            "the scheduler at http://127.0.0.1:50051 refused ADMIN_SECRET: it does not match the scheduler's secret \
             (bad token)"
        );
    }

    #[test]
    fn not_found_names_the_job() {
        let job = "tr_1754727123_a1b2c3d4";
        assert_eq!(line(Status::not_found("job not found"), false, Subject::Job(job)), (4, format!("no job {job}")));
        assert_eq!(
            line(Status::not_found("x"), false, Subject::Artifact(job, "model.safetensors")),
            (4, format!("no artifact \"model.safetensors\" in job {job}"))
        );
    }

    #[test]
    fn refusals_show_the_server_message() {
        for status in [
            Status::invalid_argument("unknown symbol \"DOGE\"; known: BTC, ETH"),
            Status::failed_precondition("unknown symbol \"DOGE\"; known: BTC, ETH"),
            Status::resource_exhausted("unknown symbol \"DOGE\"; known: BTC, ETH"),
        ] {
            assert_eq!(
                line(status, false, Subject::Job("tr_1_00000000")),
                (1, "unknown symbol \"DOGE\"; known: BTC, ETH".into())
            );
        }
        assert_eq!(
            line(Status::internal("boom"), false, Subject::Scheduler).1,
            "scheduler error (Internal error) (boom)"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(normalise_url("127.0.0.1:50051").unwrap(), "http://127.0.0.1:50051");
        assert_eq!(normalise_url(" http://h:1 ").unwrap(), "http://h:1");
        assert_eq!(normalise_url("https://h:1").unwrap(), "https://h:1");
    }

    #[test]
    fn only_connection_trouble_is_retried() {
        assert!(is_transient(&Status::unavailable("")));
        assert!(is_transient(&Status::unknown("transport error")));
        assert!(!is_transient(&Status::not_found("")));
        assert!(!is_transient(&Status::unauthenticated("")));
        assert!(!is_transient(&Status::invalid_argument("")));
    }
}
