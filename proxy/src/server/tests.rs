use super::*;

#[tokio::test(start_paused = true)]
async fn a_connection_without_requests_is_idle_after_the_timeout() {
    let activity = Activity::default();
    let started = tokio::time::Instant::now();
    activity.idle_for(Duration::from_secs(60)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_keeps_the_connection_busy_and_its_end_restarts_the_clock() {
    let activity = Activity::default();
    let request = activity.start();
    let idle = tokio::spawn({
        let activity = activity.clone();
        async move { activity.idle_for(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!idle.is_finished(), "idle while a request was in flight");
    let ended = tokio::time::Instant::now();
    drop(request);
    idle.await.unwrap();
    assert_eq!(ended.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_short_request_restarts_the_clock() {
    let activity = Activity::default();
    let idle = tokio::spawn({
        let activity = activity.clone();
        async move { activity.idle_for(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_secs(8)).await;
    drop(activity.start());
    let restarted = tokio::time::Instant::now();
    idle.await.unwrap();
    assert_eq!(restarted.elapsed(), Duration::from_secs(10));
}
