//! The build without the `aws-trace` feature (the one deployed): no AWS client carries an
//! interceptor. Asking such a build for a trace is a mistake that stops the process at start-up
//! rather than writing an empty trace a test would take for "this function sends nothing".

/// The environment variable a traced build appends its trace to (see the `aws-trace` feature).
pub const ENV: &str = "SEATKEEPER_AWS_TRACE";

/// No interceptor exists in this build: every constructor answers `None`.
#[derive(Debug, Clone)]
pub enum Trace {}

impl Trace {
    fn none() -> Option<Trace> {
        if std::env::var_os(ENV).is_some_and(|v| !v.is_empty()) {
            panic!("{ENV} is set, but this build has no AWS trace: build with `--features seatkeeper/aws-trace`");
        }
        None
    }

    pub fn dynamodb() -> Option<Trace> {
        Self::none()
    }

    pub fn s3() -> Option<Trace> {
        Self::none()
    }

    pub fn sesv2() -> Option<Trace> {
        Self::none()
    }

    pub fn eventbridge() -> Option<Trace> {
        Self::none()
    }
}

impl aws_sdk_dynamodb::config::Intercept for Trace {
    fn name(&self) -> &'static str {
        match *self {}
    }
}
