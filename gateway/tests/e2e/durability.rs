//! Durable posts: a Redis running `appendonly yes` with `appendfsync always`, killed with
//! SIGKILL under a stream of posts and started again on its files. Every post that got 201 is
//! still readable, in every follower's feed, and replayed by resume; the pushgate processes
//! ride through the crash without being restarted.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pushgate_fanout::testing::{RedisServer, ServerOptions};
use pushgate_protocol::{Codec, Cursor, ServerFrame};
use reqwest::Method;
use serde_json::json;
use tokio::sync::watch;

use crate::cluster::{API_KEY, Backend, Deployment, users};
use crate::support::WsClient;

/// Posts acknowledged before the crash, and again after the restart, before the checks.
const POSTS_PER_PHASE: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_post_survives_a_kill_9_of_redis_with_appendfsync_always() {
    let mut redis = RedisServer::start_with(ServerOptions {
        durable: true,
        ..ServerOptions::default()
    });
    // A worker takes its own events back soon after the crash (they stay pending in its name).
    let backend = Backend::at(&redis.url()).flag("--claim-after-ms=1000");
    let mut deployment = Deployment::start_on(backend, 2, 1).await;
    let followers = users(6);
    for user in &followers {
        deployment.follow(user, "alice").await;
    }
    // Two followers keep their sockets open through the crash.
    let mut live = Vec::new();
    for user in &followers[..2] {
        let (url, _) = deployment.home(user).await;
        let client = WsClient::connect_url(&url, &deployment.token(user), Codec::Json, None)
            .await
            .expect("connects");
        live.push(client);
    }

    // The stream of posts: ID and content of those that got 201, and how many were refused.
    let (accepted_tx, mut accepted) = watch::channel(Vec::<(u64, String)>::new());
    let refused = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (api, refused, stop) = (deployment.api.clone(), refused.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let content = format!("post {n}");
                let body = json!({ "content": content, "author": "alice" });
                let (status, post) = api
                    .call(Method::POST, "/v1/posts", API_KEY, Some(body))
                    .await;
                match (status, post["id"].as_u64()) {
                    (201, Some(id)) => accepted_tx.send_modify(|posts| posts.push((id, content))),
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // Pacing, so the stream spans the crash rather than racing ahead of it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let wait_for = |accepted: &mut watch::Receiver<Vec<(u64, String)>>, n: usize| {
        let mut accepted = accepted.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(40),
                accepted.wait_for(|ids| ids.len() >= n),
            )
            .await
            .unwrap_or_else(|_| panic!("{n} posts never got 201"))
            .expect("poster alive")
            .len()
        }
    };
    wait_for(&mut accepted, POSTS_PER_PHASE).await;

    redis.stop(); // SIGKILL, mid-stream.
    let refused_before = refused.load(Ordering::Relaxed);
    pushgate_fanout::testing::eventually("posts to be refused while Redis is down", || async {
        refused.load(Ordering::Relaxed) > refused_before
    })
    .await;
    let before_restart = accepted.borrow().len();
    redis.restart(); // Same port and directory: the AOF is replayed before it answers PING.
    wait_for(&mut accepted, before_restart + POSTS_PER_PHASE).await;
    stop.store(true, Ordering::Relaxed);
    poster.await.expect("poster");
    let accepted = accepted.borrow().clone();
    eprintln!(
        "{} posts got 201 ({before_restart} before the restart), {} refused",
        accepted.len(),
        refused.load(Ordering::Relaxed)
    );

    // No process was restarted.
    for process in deployment
        .gateways
        .iter_mut()
        .chain(&mut deployment.workers)
    {
        assert!(
            process.child.try_wait().expect("status").is_none(),
            "a process died"
        );
    }

    // Every accepted post is readable, under the ID it was given (a store that lost its ID
    // counter would hand the same IDs out again).
    let wanted: HashSet<u64> = accepted.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        wanted.len(),
        accepted.len(),
        "IDs are never reused: {accepted:?}"
    );
    for chunk in accepted.chunks(100) {
        let list: Vec<String> = chunk.iter().map(|(id, _)| id.to_string()).collect();
        let path = format!("/v1/posts?ids={}", list.join(","));
        let (status, body) = deployment.call(Method::GET, &path, API_KEY, None).await;
        assert_eq!(status, 200, "{body}");
        let found: Vec<(u64, String)> = body["posts"]
            .as_array()
            .expect("posts")
            .iter()
            .filter_map(|p| Some((p["id"].as_u64()?, p["content"].as_str()?.to_owned())))
            .collect();
        assert_eq!(found, chunk, "every acknowledged post is still there");
    }

    // In every follower's feed, once the worker has finished what the crash interrupted.
    for user in &followers {
        let token = deployment.token(user);
        let missing = std::sync::Mutex::new(Vec::new());
        let check = || async {
            let (status, page) = deployment
                .call(Method::GET, "/v1/feed?limit=500", &token, None)
                .await;
            let ids: HashSet<u64> = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item["id"].as_u64())
                .collect();
            let mut gone: Vec<u64> = wanted.difference(&ids).copied().collect();
            gone.sort_unstable();
            *missing.lock().expect("lock") = gone;
            status == 200 && wanted.is_subset(&ids)
        };
        if tokio::time::timeout(Duration::from_secs(40), async {
            while !check().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .is_err()
        {
            panic!("{user}'s feed lacks {:?}", missing.lock().expect("lock"));
        }
    }

    // Replayed, once each and in order, by a resume from the start.
    for user in &followers {
        let (url, _) = deployment.home(user).await;
        let token = deployment.token(user);
        let mut client = WsClient::connect_url(&url, &token, Codec::Json, Some(Cursor::default()))
            .await
            .expect("connects");
        let mut replayed = Vec::new();
        let complete = loop {
            match client.next().await {
                ServerFrame::Post { id, .. } => replayed.push(id),
                ServerFrame::Resumed { complete, .. } => break complete,
                _ => {}
            }
        };
        assert!(complete, "{user}'s resume is complete");
        assert!(
            replayed.windows(2).all(|w| w[0] < w[1]),
            "{user}: in order, once each: {replayed:?}"
        );
        let got: HashSet<u64> = replayed.into_iter().collect();
        assert!(
            wanted.is_subset(&got),
            "{user} missed {:?}",
            wanted.difference(&got)
        );
    }

    // The sockets that stayed open get live pushes again: the gateways resubscribed by
    // themselves. (A push published before that is on the feed, not lost.)
    for (client, user) in live.iter_mut().zip(&followers) {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        'probing: loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{user}'s open socket never got a new post: {seen:?}"
            );
            let probe = deployment.post("alice", "after the crash").await;
            while let Some(frame) = client.try_next(Duration::from_secs(2)).await {
                if let ServerFrame::Post { id, .. } = frame {
                    seen.push(id);
                    if id >= probe {
                        break 'probing;
                    }
                }
            }
        }
        let unique: HashSet<u64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{user}: no push twice: {seen:?}");
    }
}
