//! The service's error documents: the JFS XML `<error>` (whose `code` must equal the HTTP status,
//! because rclone reads the status from it), the API JSON error of allocate/upload/customer, and the
//! OAuth error JSON of the token endpoint.

use super::xml::XmlWriter;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// One failed request: status, Java exception class and human text.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    /// Fully qualified class, e.g. `no.jotta.backup.errors.NoSuchFileException`.
    pub exception: &'static str,
    pub message: String,
}

pub type Outcome<T> = Result<T, Failure>;

impl Failure {
    pub fn new(status: StatusCode, exception: &'static str, message: impl Into<String>) -> Self {
        Failure { status, exception, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "no.jotta.backup.errors.NoSuchFileException", message)
    }
    pub fn no_such_path(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "no.jotta.backup.errors.NoSuchPathException", message)
    }
    pub fn no_such_mount_point(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "no.jotta.backup.errors.NoSuchMountPointException", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "no.jotta.backup.errors.InvalidArgumentException", message)
    }
    pub fn illegal_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "java.lang.IllegalArgumentException", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "no.jotta.backup.errors.UniqueFileException", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "org.springframework.security.authentication.BadCredentialsException",
            message,
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "java.lang.RuntimeException", message)
    }
    pub fn from_io(err: std::io::Error) -> Self {
        Self::internal(format!("storage error: {err}"))
    }

    /// The class name without its package, used as `error_id` in JSON errors.
    pub fn short_name(&self) -> &'static str {
        self.exception.rsplit('.').next().unwrap_or(self.exception)
    }
}

/// A random-looking trace id like the service's `x-id`.
fn x_id() -> String {
    format!("{:018}", rand::random::<u64>() % 1_000_000_000_000_000_000)
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

pub fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=UTF-8"));
    resp
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    resp
}

/// JFS form: `<error><code/><message/><reason/><cause/><hostname/><x-id/></error>`.
pub fn to_xml(f: &Failure, host: &str) -> Response {
    xml_response(f.status, xml_body(f, host))
}

/// The body of the JFS error document (the in-process remote reads it with the client's parser).
pub fn xml_body(f: &Failure, host: &str) -> String {
    let mut w = XmlWriter::document(true);
    w.open("error", &[]);
    w.leaf("code", &f.status.as_u16().to_string());
    w.leaf("message", &format!("{}: {}", f.exception, f.message));
    w.leaf("reason", reason(f.status));
    w.leaf("cause", "");
    w.leaf("hostname", host);
    w.leaf("x-id", &x_id());
    w.close("error");
    w.finish()
}

/// API form: `{"code","message","cause","error_id","x-id"}`.
pub fn to_json(f: &Failure) -> Response {
    let body = serde_json::json!({
        "code": f.status.as_u16(),
        "message": format!("{}: {}", f.exception, f.message),
        "cause": "",
        "error_id": f.short_name(),
        "x-id": x_id(),
    });
    json_response(f.status, &body)
}

/// OAuth form: `{"error","error_description"}`.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, &serde_json::json!({"error": error, "error_description": description}))
}
