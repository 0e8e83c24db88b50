//! Reading Gatehouse's Prometheus metrics from its admin listener.

use super::{TestServer, client};

/// The metrics text the admin listener serves (OpenMetrics).
pub async fn scrape(server: &TestServer) -> String {
    let response = client().get(server.admin_url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    response.text().await.unwrap()
}

/// The value of one series (`name{labels}`) of a scrape; 0 when it is not there yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}
