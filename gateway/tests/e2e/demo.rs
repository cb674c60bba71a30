//! The demo page: `pushgate dev` serves it at `GET /` with the SDK bundle beside it; turned
//! off with `--demo=false` or `PUSHGATE_DEMO=false`. (The page itself is driven in Chromium
//! by the JavaScript tests.)

use crate::support::{Process, TestNode};

#[tokio::test]
async fn dev_serves_the_page_and_the_sdk_it_loads() {
    let node = TestNode::start().await;
    let page = reqwest::get(node.url("/")).await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("text");
    assert!(html.contains(pushgate_gateway::demo::SDK_PATH), "{html}");

    let sdk = reqwest::get(node.url(pushgate_gateway::demo::SDK_PATH))
        .await
        .expect("GET the SDK");
    assert_eq!(sdk.status(), 200);
    assert!(
        sdk.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/javascript")
    );
    let js = sdk.text().await.expect("text");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../clients/js/dist/index.js"
    ))
    .expect("read the committed bundle");
    assert_eq!(
        js, committed,
        "the binary serves the committed dist/index.js"
    );
    assert!(js.contains("PushgateClient"));
}

#[tokio::test]
async fn the_flag_and_its_env_var_turn_the_page_off() {
    let off_by_flag = Process::spawn(
        &[
            "dev".into(),
            "--listen=127.0.0.1:0".into(),
            "--demo=false".into(),
        ],
        &[],
    );
    let off_by_env = Process::spawn(
        &["dev".into(), "--listen=127.0.0.1:0".into()],
        &[("PUSHGATE_DEMO", "false")],
    );
    let on_by_flag = Process::spawn(
        &["dev".into(), "--listen=127.0.0.1:0".into(), "--demo".into()],
        &[],
    );
    for (process, want) in [(&off_by_flag, 404), (&off_by_env, 404), (&on_by_flag, 200)] {
        let status = reqwest::get(format!("http://{}/", process.addr))
            .await
            .expect("GET /")
            .status();
        assert_eq!(status, want, "GET / on {}", process.addr);
    }
}
