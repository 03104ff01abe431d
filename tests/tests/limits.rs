//! A module's limits cover what it makes the host do. For each way a hostile
//! module can make the host hold or work for it (log lines, cluster-log entries,
//! its store, health checks, published pages, calls into a neighbour), `hostile
//! flood` tries as hard as it can beside a well-behaved neighbour, `probe`. Each
//! test asserts that the host's RSS stays under a stated bound, that `probe` keeps
//! answering (p99 under a stated bound), that the attacker is the one told and
//! counted, and that nothing of `probe`'s is lost. A module that polls in short
//! sleeps is never taken for a busy loop. Each test prints its figures (see
//! BENCHMARKS.md, "Module limits").

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::{Host, percentile, rss_mib};

/// The neighbour's p99 command latency allowed while an attack runs.
const NEIGHBOUR_P99: Duration = Duration::from_millis(250);

/// What one attack did.
struct Figures {
    rss_base: f64,
    rss_peak: f64,
    answers: Vec<Value>,
}

/// Runs `hostile flood WORDS` `rounds` times beside `probe` (after `probe` kept a
/// key and raised a check), measuring `probe`'s latency and the host's RSS all
/// along; then checks that `probe` lost nothing and was never restarted.
async fn attack(host: &Host, words: &str, rounds: usize) -> Result<Figures> {
    host.command_ok("probe", "probe store set keep me").await?;
    host.command_ok("probe", "probe health raise PROBE_FINE fine")
        .await?;
    let pid = host.pid().context("pid")?;
    let rss_base = rss_mib(pid)?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let attacker = async {
        let mut answers = Vec::new();
        for _ in 0..rounds {
            answers.push(
                host.command_json("hostile", &format!("hostile flood {words}"))
                    .await?,
            );
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        anyhow::Ok(answers)
    };
    let neighbour = async {
        let (mut samples, mut peak) = (Vec::new(), rss_base);
        while !done.load(std::sync::atomic::Ordering::SeqCst) || samples.len() < 20 {
            let t0 = Instant::now();
            host.command_ok("probe", "probe epoch").await?;
            samples.push(t0.elapsed());
            peak = peak.max(rss_mib(pid)?);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        samples.sort();
        anyhow::Ok((percentile(&samples, 0.99), peak))
    };
    let (answers, measured) = tokio::join!(attacker, neighbour);
    let (answers, (p99, rss_peak)) = (answers?, measured?);
    let kept = host.command_json("probe", "probe store get keep").await?;
    ensure!(kept.to_string().contains("me"), "probe's key: {kept}");
    let health = host.cluster("health").await?;
    ensure!(health["checks"].get("PROBE_FINE").is_some(), "{health}");
    let probe = host.module("probe").await?;
    ensure!(
        probe["state"] == "running" && probe["restarts"] == 0,
        "{probe}"
    );
    println!(
        "{words:<34} rounds {rounds:>3}: host RSS {rss_base:.0} -> peak {rss_peak:.0} MiB, \
         probe p99 {p99:.1?}"
    );
    ensure!(p99 < NEIGHBOUR_P99, "probe's p99 was {p99:?}");
    Ok(Figures {
        rss_base,
        rss_peak,
        answers,
    })
}

/// That the first flood was stopped by `quota`, and the error says so.
fn stopped_by(f: &Figures, quota: &str) -> Result<()> {
    let first = &f.answers[0];
    let error = first["error"].as_str().unwrap_or_default();
    ensure!(error.contains(quota), "not stopped by {quota}: {first}");
    Ok(())
}

async fn holds(host: &Host, module: &str) -> Result<Value> {
    Ok(host.module(module).await?["holds"].clone())
}

/// `hostile` (calm) beside `probe`, with `hostile`'s section's extra settings.
async fn start(hostile: &str, probe: &str) -> Result<Host> {
    let config = format!(
        "[modules.hostile]\n{hostile}\n[modules.hostile.options]\nmode = \"calm\"\n\
         [modules.probe]\n{probe}\n"
    );
    Host::start(&["hostile", "probe"], Some(&config), &[]).await
}

#[tokio::test]
async fn cluster_log_floods_are_rated_cut_and_bounded() -> Result<()> {
    let host = start("", "").await?;
    // 1 MiB messages, as fast as the module can write them.
    let f = attack(&host, "clog 200 1048576", 10).await?;
    ensure!(f.rss_peak < f.rss_base + 64.0, "RSS {:.0} MiB", f.rss_peak);
    let h = holds(&host, "hostile").await?;
    ensure!(h["clog_dropped"].as_u64() > Some(1000), "{h}");
    ensure!(h["clog_cut"].as_u64() > Some(0), "{h}");
    let (_, metrics) = host.get("/metrics").await?;
    ensure!(
        metrics.contains(
            "wasm_mgr_module_log_refused_total{log=\"cluster_log\",module=\"hostile\",why=\"rate\"}"
        ),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn log_floods_are_rated_and_cut() -> Result<()> {
    let host = start("", "").await?;
    let before = host.log().len();
    let f = attack(&host, "log 2000 1048576", 5).await?;
    let written = host.log().len() - before;
    ensure!(written < 8 << 20, "the host log grew by {written} bytes");
    ensure!(f.rss_peak < f.rss_base + 64.0, "RSS {:.0} MiB", f.rss_peak);
    let h = holds(&host, "hostile").await?;
    ensure!(h["log_dropped"].as_u64() > Some(5000), "{h}");
    ensure!(h["log_cut"].as_u64() > Some(0), "{h}");
    Ok(())
}

#[tokio::test]
async fn the_store_has_a_quota_per_module() -> Result<()> {
    let host = start("store_quota = \"16M\"", "").await?;
    let f = attack(&host, "store 100 1048576", 2).await?;
    stopped_by(&f, "store_quota")?;
    ensure!(f.answers[0]["ok"].as_u64() < Some(16), "{:?}", f.answers[0]);
    let h = holds(&host, "hostile").await?;
    ensure!(h["store_bytes"].as_u64() <= Some(16 << 20), "{h}");
    ensure!(f.rss_peak < f.rss_base + 96.0, "RSS {:.0} MiB", f.rss_peak);
    Ok(())
}

#[tokio::test]
async fn health_checks_have_a_quota_and_readers_a_bound() -> Result<()> {
    let host = start("", "").await?;
    let f = attack(&host, "health 50 1048576", 2).await?;
    stopped_by(&f, "health_quota")?;
    let health = host.cluster("health").await?;
    ensure!(
        health.to_string().len() < 256 << 10,
        "health is {} bytes",
        health.to_string().len()
    );
    let ok = host
        .command_json("hostile", "hostile flood health 1 1000")
        .await?;
    ensure!(ok["ok"] == 1, "{ok}");
    let h = holds(&host, "hostile").await?;
    ensure!(h["health_bytes"].as_u64() > Some(1000), "{h}");
    Ok(())
}

#[tokio::test]
async fn published_pages_have_a_quota_and_compress_one_at_a_time() -> Result<()> {
    let host = start("pages_quota = \"32M\"", "").await?;
    let f = attack(&host, "publish 100 1048576", 1).await?;
    stopped_by(&f, "pages_quota")?;
    ensure!(f.answers[0]["ok"].as_u64() < Some(32), "{:?}", f.answers[0]);
    // Republishing one 4 MiB page 200 times: compressions coalesce.
    let f = attack(&host, "republish 200 4194304", 3).await?;
    ensure!(f.rss_peak < f.rss_base + 160.0, "RSS {:.0} MiB", f.rss_peak);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let h = holds(&host, "hostile").await?;
    let compressions = h["compressions"].as_u64().unwrap_or_default();
    ensure!(compressions > 0 && compressions < 300, "{h}");
    ensure!(h["pages_bytes"].as_u64() <= Some(32 << 20), "{h}");
    println!(
        "  600 republishes -> {compressions} compressions, {}s CPU",
        h["compress_seconds"]
    );
    Ok(())
}

#[tokio::test]
async fn a_large_input_is_refused_to_the_sender_not_the_receiver() -> Result<()> {
    let host = start("", "memory_limit = \"16M\"").await?;
    let f = attack(&host, "call 1 4194304", 3).await?;
    let error = f.answers[0]["error"].as_str().unwrap_or_default();
    ensure!(
        error.contains("over module `probe`'s limit"),
        "{:?}",
        f.answers[0]
    );
    let hostile = host.module("hostile").await?;
    ensure!(hostile["state"] == "running", "{hostile}");
    // The same through the API: refused before it crosses, probe untouched.
    let body = serde_json::json!({
        "command": {"prefix": "probe epoch"},
        "inbuf": "x".repeat(3 << 20),
    });
    let (code, answer) = host.post_json("/api/modules/probe/command", &body).await?;
    ensure!(code == 413 && answer.contains("limit"), "{code} {answer}");
    let (code, answer) = host
        .post_body("/modules/probe/echo", "x".repeat(3 << 20))
        .await?;
    ensure!(code == 413 && answer.contains("limit"), "{code} {answer}");
    let probe = host.module("probe").await?;
    ensure!(probe["restarts"] == 0, "{probe}");
    Ok(())
}

#[tokio::test]
async fn modules_that_poll_in_short_sleeps_are_never_taken_for_busy_loops() -> Result<()> {
    let mut config = String::new();
    for (name, ms) in [("poll0", 0), ("poll10", 10), ("poll50", 50)] {
        config.push_str(&format!(
            "[modules.{name}]\nmax_run = 1\n[modules.{name}.options]\nmode = \"poll\"\n\
             poll-ms = {ms}\n"
        ));
    }
    let host = Host::start(
        &[
            "hostile as poll0",
            "hostile as poll10",
            "hostile as poll50",
            "probe",
        ],
        Some(&config),
        &[],
    )
    .await?;
    // Two minutes: 120 times the modules' max_run.
    tokio::time::sleep(Duration::from_secs(120)).await;
    for (name, at_least) in [("poll0", 10000), ("poll10", 4000), ("poll50", 1200)] {
        let row = host.module(name).await?;
        ensure!(row["state"] == "running" && row["restarts"] == 0, "{row}");
        let polls = host.command_json(name, "hostile polls").await?["polls"]
            .as_u64()
            .unwrap_or_default();
        ensure!(polls >= at_least, "{name} polled {polls} times");
        println!("{name}: {polls} polls in 120 s, no restart (max_run 1 s)");
    }
    ensure!(!host.log().contains("without a pause"), "{}", host.log());
    host.command_ok("probe", "probe epoch").await?;
    Ok(())
}

#[tokio::test]
async fn a_module_is_named_by_its_file_whatever_it_describes() -> Result<()> {
    // Two files of the same component: two modules, each with its own name,
    // settings and grants.
    let config = "[modules.other]\ncommands = [\"osd out\"]\n";
    let host = Host::start(&["probe", "probe as other"], Some(config), &[]).await?;
    for name in ["probe", "other"] {
        let row = host.module(name).await?;
        ensure!(row["state"] == "running", "{row}");
    }
    let denied = host
        .probe_send(
            "mon",
            serde_json::json!({"prefix": "osd out", "ids": ["1"]}),
        )
        .await?;
    ensure!(denied.to_string().contains("not granted"), "{denied}");
    ensure!(
        host.log().contains("describes itself as `probe`"),
        "{}",
        host.log()
    );
    Ok(())
}

#[tokio::test]
async fn crashes_are_counted_in_one_line_and_a_broken_file_reloads_by_name() -> Result<()> {
    let config =
        "[modules.hostile]\nmax_run = 1\n[modules.hostile.options]\nmode = \"loop-serve\"\n";
    let host = Host::start(&["hostile", "describe-trap", "probe"], Some(config), &[]).await?;
    let check = host
        .wait_for(Duration::from_secs(30), "two crashes", || async {
            let health = host.cluster("health").await?;
            let check = health["checks"]["RECENT_MGR_MODULE_CRASH"].clone();
            Ok((check["summary"]["count"].as_u64() >= Some(2)
                || check["count"].as_u64() >= Some(2))
            .then_some(check))
        })
        .await?;
    let summary = check["summary"]["message"]
        .as_str()
        .or(check["summary"].as_str())
        .unwrap_or_default()
        .to_string();
    ensure!(
        summary.starts_with("1 mgr module has recently crashed (") && summary.contains("crashes"),
        "{check}"
    );
    let hostile = host.module("hostile").await?;
    let last = hostile["last_error"].as_str().unwrap_or_default();
    ensure!(!last.is_empty() && !last.contains('\n'), "{hostile}");
    let crashes: Value = serde_json::from_str(&host.get("/api/crash").await?.1)?;
    ensure!(crashes.to_string().contains("summary"), "{crashes}");
    // describe-trap failed in describe; it can be reloaded by its name.
    let (code, answer) = host.module_op("describe-trap", "reload").await?;
    ensure!(code != 404, "{code} {answer}");
    ensure!(answer.to_string().contains("describe"), "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_duty_cycling_module_gets_its_cpu_share_and_no_more() -> Result<()> {
    // `sleep(0)` then 1 ms of work, over and over: a core's worth unthrottled.
    let config = "[modules.busy]\ncpu_share = 0.25\n[modules.busy.options]\nmode = \"poll\"\n\
                  poll-ms = 0\n";
    let host = Host::start(&["hostile as busy", "probe"], Some(config), &[]).await?;
    let cpu = |row: &Value| row["cpu_seconds"].as_f64().unwrap_or_default();
    let before = cpu(&host.module("busy").await?);
    let t0 = Instant::now();
    let mut samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(10) {
        let t = Instant::now();
        host.command_ok("probe", "probe epoch").await?;
        samples.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = host.module("busy").await?;
    let used = cpu(&row) - before;
    let wall = t0.elapsed().as_secs_f64();
    samples.sort();
    let p99 = percentile(&samples, 0.99);
    println!("busy (cpu_share 0.25): {used:.2} CPU-s in {wall:.1} s; probe p99 {p99:.1?}");
    ensure!(row["state"] == "running" && row["restarts"] == 0, "{row}");
    ensure!(
        used < wall * 0.25 * 1.3 + 0.3,
        "used {used:.2} CPU-s in {wall:.1} s"
    );
    ensure!(used > wall * 0.1, "it still ran: {used:.2} CPU-s");
    ensure!(p99 < NEIGHBOUR_P99, "probe p99 {p99:?}");
    Ok(())
}
