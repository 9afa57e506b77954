//! Slack's Web API calls honour HTTPS_PROXY / HTTP_PROXY and NO_PROXY, as the Salesforce and
//! model calls do. One test per binary: the proxy variables are process-wide.

mod common;

use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crmbot::slack::web::SlackWeb;

/// A CONNECT proxy that records each CONNECT target and tunnels it.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(target.clone());
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn slack_calls_go_through_the_proxy_unless_no_proxy_says_otherwise() {
    let (proxy, seen) = connect_proxy().await;
    // By name, so NO_PROXY=127.0.0.1 does not cover it.
    let slack = common::start_auth_test_slack("localhost").await;
    // SAFETY: the only test in this binary; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("HTTP_PROXY", &proxy);
        std::env::set_var("HTTPS_PROXY", &proxy);
        std::env::set_var("NO_PROXY", "127.0.0.1");
    }
    let token = SecretString::from("xoxb-test");
    let timeout = std::time::Duration::from_secs(5);
    let web = SlackWeb::new(&slack, &token, timeout).unwrap();
    let me = web.auth_test().await.expect("auth.test through the proxy");
    assert_eq!(me.team, "Acme");
    let through = seen.lock().unwrap().clone();
    assert_eq!(through.len(), 1, "{through:?}");
    assert!(through[0].starts_with("localhost:"), "{through:?}");

    unsafe {
        std::env::set_var("NO_PROXY", "localhost,127.0.0.1");
    }
    let web = SlackWeb::new(&slack, &token, timeout).unwrap();
    web.auth_test().await.expect("auth.test without the proxy");
    assert_eq!(seen.lock().unwrap().len(), 1, "NO_PROXY is honoured");
}
