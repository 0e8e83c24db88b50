//! A person's browser, as far as the tests need one: it keeps cookies and follows
//! nothing by itself, so each step of a login can be looked at.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Browser {
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

/// What a request answered.
#[derive(Debug)]
pub struct Page {
    /// The URL this page was fetched from.
    pub url: String,
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the form field `name` (hidden inputs carry the CSRF token and ids).
    /// The `action` of the page's first form.
    pub fn form_action(&self) -> String {
        self.body
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form in:\n{}", self.body))
            .to_string()
    }

    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote");
        self.body[start..start + end].to_string()
    }

    /// Every hidden field of the page's form, in order, with HTML escapes undone.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        let unescape = |text: &str| {
            text.replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#x27;", "'")
                .replace("&#x60;", "`")
                .replace("&#x3D;", "=")
                .replace("&amp;", "&")
        };
        self.body
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|rest| {
                let (name, rest) = rest.split_once('"').expect("a field name");
                let value = rest
                    .strip_prefix(" value=\"")
                    .and_then(|v| v.split_once('"'))
                    .expect("a field value")
                    .0;
                (unescape(name), unescape(value))
            })
            .collect()
    }

    /// The query parameters of the redirect.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let location = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("not a redirect: {self:?}"));
        let url = url::Url::parse(location).expect("absolute redirect");
        url.query_pairs().into_owned().collect()
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            http: super::client(),
            cookies: Mutex::new(HashMap::new()),
        }
    }
}

impl Browser {
    pub async fn get(&self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(url, request).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(url).form(form);
        self.send(url, request).await
    }

    /// Follows redirects that stay on `base` (Gatehouse's own pages); stops at the first
    /// page, or at a redirect elsewhere (to the relying party).
    pub async fn follow(&self, base: &str, page: Page) -> Page {
        self.follow_while(page, |url| url.starts_with(base)).await
    }

    /// Follows redirects (relative ones against the page that sent them) while `more`
    /// says so of the next URL.
    pub async fn follow_while(&self, mut page: Page, more: impl Fn(&str) -> bool) -> Page {
        for _ in 0..20 {
            let Some(location) = page.location.clone() else {
                return page;
            };
            let next = url::Url::parse(&page.url).unwrap().join(&location).unwrap().to_string();
            if !more(&next) {
                return page;
            }
            page = self.get(&next).await;
        }
        panic!("too many redirects");
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    async fn send(&self, url: &str, request: reqwest::RequestBuilder) -> Page {
        let cookie_header = {
            let cookies = self.cookies.lock().unwrap();
            cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let request = if cookie_header.is_empty() {
            request
        } else {
            request.header("cookie", cookie_header)
        };
        let response = request.send().await.expect("request");
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
            let (name, content) = pair.split_once('=').unwrap();
            let mut cookies = self.cookies.lock().unwrap();
            if attributes.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_string(), content.to_string());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            url: url.to_string(),
            status,
            location,
            headers,
            body,
        }
    }
}

/// Logs in through a `local` upstream's form as `user`, allowing on the consent page if
/// one is shown; returns the answer to the relying party.
pub async fn local_login(base: &str, browser: &Browser, authorize_url: &str, user: &str, password: &str) -> Page {
    let page = browser.get(authorize_url).await;
    local_login_from(base, browser, page, user, password).await
}

/// [`local_login`] from the `page` a sign-in started with (a redirect to the login form).
pub async fn local_login_from(base: &str, browser: &Browser, page: Page, user: &str, password: &str) -> Page {
    let page = browser.follow(base, page).await;
    if page.location.is_some() {
        return page;
    }
    let action = page.form_action();
    let page = browser
        .post(
            &format!("{base}{action}"),
            &[
                ("csrf", &page.field("csrf")),
                ("username", user),
                ("password", password),
            ],
        )
        .await;
    if page.location.is_some() || !page.body.contains("name=\"decision\"") {
        return page;
    }
    browser
        .post(
            &format!("{base}/consent"),
            &[
                ("pending", &page.field("pending")),
                ("csrf", &page.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await
}

/// Logs `user` in for the confidential client `app` / `app-secret` with offline_access
/// (see [`local_login`]) and redeems the code; returns the token endpoint's answer.
pub async fn local_login_tokens(
    base: &str,
    browser: &Browser,
    user: &str,
    password: &str,
    redirect_uri: &str,
) -> serde_json::Value {
    let url = format!(
        "{base}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={redirect_uri}"
    );
    let answer = local_login(base, browser, &url, user, password).await;
    let code = answer.redirect_params()["code"].clone();
    let response = super::client()
        .post(format!("{base}/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "the code exchange failed");
    response.json().await.expect("token JSON")
}
