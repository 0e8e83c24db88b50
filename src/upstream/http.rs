//! The one HTTP client for calls to upstreams: no redirects followed (a token endpoint
//! that redirects is not trusted), time limits so that a silent upstream cannot hang a
//! login, a User-Agent (GitHub's API refuses requests without one), and a size limit on
//! every answer (`limits.upstream_response_bytes`), so that a broken or hostile upstream
//! cannot make Gatehouse buffer gigabytes. openidconnect's discovery, JWKS and token
//! requests go through it too (it is their `AsyncHttpClient`).

use crate::telemetry::Telemetry;
use oauth2::{HttpClientError, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct UpstreamHttp {
    client: reqwest::Client,
    most_bytes: usize,
    telemetry: Telemetry,
    /// The upstream and endpoint calls are counted under (see [`UpstreamHttp::to`]).
    target: Option<(Arc<str>, &'static str)>,
}

impl UpstreamHttp {
    pub fn new(most_bytes: usize, telemetry: Telemetry) -> Result<UpstreamHttp, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(UpstreamHttp {
            client,
            most_bytes,
            telemetry,
            target: None,
        })
    }

    /// The same client, its calls counted as calls to `endpoint` (`token`, `userinfo`,
    /// `discovery`, ...) of the upstream `upstream`.
    pub fn to(&self, upstream: &str, endpoint: &'static str) -> UpstreamHttp {
        UpstreamHttp {
            target: Some((Arc::from(upstream), endpoint)),
            ..self.clone()
        }
    }

    fn count(&self, started: Instant, outcome: Result<reqwest::StatusCode, ()>) {
        if let Some((upstream, endpoint)) = &self.target {
            let outcome = match outcome {
                Ok(status) if status.is_success() => "ok",
                Ok(_) => "error_status",
                Err(()) => "failed",
            };
            self.telemetry
                .upstream_call(upstream, endpoint, outcome, started.elapsed());
        }
    }

    /// Where calls to upstreams that are not HTTP (a directory's binds and searches) are
    /// counted too.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The client itself, for requests whose answers are not read.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads its answer's body, refusing one over the limit.
    pub async fn fetch(&self, request: reqwest::RequestBuilder) -> Result<(reqwest::StatusCode, Vec<u8>), FetchError> {
        let started = Instant::now();
        let fetched = async {
            let response = request.send().await.map_err(FetchError::Http)?;
            let status = response.status();
            Ok((status, self.body(response).await?))
        }
        .await;
        self.count(started, fetched.as_ref().map(|(status, _)| *status).map_err(|_| ()));
        fetched
    }

    async fn body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let too_large = FetchError::TooLarge(self.most_bytes);
        if response
            .content_length()
            .is_some_and(|length| length > self.most_bytes as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
            if body.len() + chunk.len() > self.most_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Http(reqwest::Error),
    #[error("the answer is larger than {0} bytes (limits.upstream_response_bytes)")]
    TooLarge(usize),
}

impl<'c> oauth2::AsyncHttpClient<'c> for UpstreamHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let started = Instant::now();
            let answered = async {
                let request = reqwest::Request::try_from(request).map_err(Box::new)?;
                let response = self.client.execute(request).await.map_err(Box::new)?;
                let mut answer = oauth2::http::Response::builder()
                    .status(response.status())
                    .version(response.version());
                for (name, value) in response.headers() {
                    answer = answer.header(name, value);
                }
                let body = self.body(response).await.map_err(|e| match e {
                    FetchError::Http(e) => HttpClientError::Reqwest(Box::new(e)),
                    too_large @ FetchError::TooLarge(_) => HttpClientError::Other(too_large.to_string()),
                })?;
                answer.body(body).map_err(HttpClientError::Http)
            }
            .await;
            self.count(started, answered.as_ref().map(|r| r.status()).map_err(|_| ()));
            answered
        })
    }
}

/// Makes aws-lc-rs, the library that signs Gatehouse's tokens, rustls' crypto provider
/// for this process, so that TLS to upstreams needs no second crypto library. rustls
/// refuses to make a client before a provider is chosen; calling this again is harmless.
pub fn install_tls_provider() {
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
