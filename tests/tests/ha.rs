//! Active/standby: real host processes share one lease, over a folder with the
//! simulated cluster and as a RADOS lock on a real cluster. A recorder (each
//! host's logged role changes) and a witness (the `tally` module's beats, each a
//! key stamped with the time and the writing host, read straight from the shared
//! store) prove that no two hosts were ever active, or wrote, at the same time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use wasm_mgr_tests::{CephCluster, Host, ha_folder_keys};

/// Kill of the active to the first good scrape on another host, with the
/// default 3 s lease.
const FAILOVER_TARGET: Duration = Duration::from_secs(5);

/// A host's id and the intervals it was active in (Unix ms; open while it is).
type HostIntervals<'a> = (&'a str, Vec<(u64, Option<u64>)>);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts one host per id, each with prometheus and tally (beating every
/// `beat_ms`), sharing the lease named by `place` (`--ha-dir D`, `--ha-pool P`).
async fn start_group(ids: &[&str], place: &[String], beat_ms: u64) -> Result<Vec<Host>> {
    let config = format!("[modules.tally.options]\nbeat-ms = {beat_ms}\n");
    let mut hosts = Vec::new();
    for id in ids {
        let mut extra: Vec<&str> = place.iter().map(String::as_str).collect();
        extra.extend(["--id", id]);
        hosts.push(Host::start(&["prometheus", "tally"], Some(&config), &extra).await?);
    }
    Ok(hosts)
}

/// Waits until exactly one of `hosts` is active with its modules running; fails at
/// once if two say they are active.
async fn one_active(hosts: &[&Host], timeout: Duration) -> Result<usize> {
    let start = Instant::now();
    loop {
        let mut active = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            if h.is_active().await {
                active.push(i);
            }
        }
        ensure!(active.len() <= 1, "hosts {active:?} are active at once");
        if let [i] = active[..]
            && hosts[i]
                .module("tally")
                .await
                .is_ok_and(|r| r["state"] == "running")
        {
            return Ok(i);
        }
        if start.elapsed() > timeout {
            bail!("no single active host after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long until one of `hosts` answers a prometheus scrape; which one.
async fn first_scrape(hosts: &[&Host], timeout: Duration) -> Result<(usize, Duration)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    let start = Instant::now();
    loop {
        for (i, h) in hosts.iter().enumerate() {
            let url = h.url("/modules/prometheus/metrics");
            if let Ok(r) = client.get(url).send().await
                && r.status() == 200
            {
                return Ok((i, start.elapsed()));
            }
        }
        if start.elapsed() > timeout {
            bail!("no host answered a scrape within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `host` says it is a standby.
async fn becomes_standby(host: &Host, timeout: Duration) -> Result<()> {
    host.wait_for(timeout, "the host to be a standby", || async {
        Ok(host.status().await.ok().filter(|s| s["role"] == "standby"))
    })
    .await?;
    Ok(())
}

/// Waits for a standby to name `active` as the active host (it learns the name
/// at its next look at the lease); its status then.
async fn names_active(host: &Host, active: &str) -> Result<Value> {
    host.wait_for(
        Duration::from_secs(5),
        "the standby to name the active",
        || async {
            Ok(host
                .status()
                .await
                .ok()
                .filter(|s| s["active"]["id"] == active))
        },
    )
    .await
}

/// The recorder: no two hosts' active intervals overlap.
fn no_overlap(intervals: &[HostIntervals]) -> Result<()> {
    let mut spans: Vec<(u64, u64, &str)> = intervals
        .iter()
        .flat_map(|(id, list)| {
            list.iter()
                .map(move |(from, until)| (*from, until.unwrap_or(u64::MAX), *id))
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        ensure!(
            w[0].1 <= w[1].0,
            "{} was active until {} but {} from {}: {spans:?}",
            w[0].2,
            w[0].1,
            w[1].2,
            w[1].0
        );
    }
    Ok(())
}

/// The witness: every beat key (`tally/beat/<ms>-<id>`) lies inside an active
/// interval of the host that wrote it. Returns the beats per host.
fn beats_inside(keys: &[String], intervals: &[HostIntervals]) -> Result<Vec<usize>> {
    let mut counts = vec![0; intervals.len()];
    for key in keys {
        let Some(beat) = key.strip_prefix("tally/beat/") else {
            continue;
        };
        let (ms, id) = beat.split_once('-').context("beat key shape")?;
        let ms: u64 = ms.parse()?;
        let (i, (_, list)) = intervals
            .iter()
            .enumerate()
            .find(|(_, (h, _))| *h == id)
            .with_context(|| format!("beat from unknown host {id}"))?;
        ensure!(
            list.iter()
                .any(|(from, until)| *from <= ms && ms <= until.unwrap_or(u64::MAX)),
            "{id} wrote a beat at {ms} outside its active intervals {list:?}"
        );
        counts[i] += 1;
    }
    Ok(counts)
}

/// `outcome`, with every host's log added to an error.
fn with_logs<T>(hosts: &[Host], outcome: Result<T>) -> Result<T> {
    outcome.map_err(|e| {
        let logs: Vec<String> = hosts.iter().map(|h| h.log()).collect();
        e.context(format!("host logs:\n{}", logs.join("\n----\n")))
    })
}

fn others(n: usize, but: usize) -> Vec<usize> {
    (0..n).filter(|&i| i != but).collect()
}

/// Kill -9 of the active with the module's keys stored: another host serves the
/// prometheus page within the target and has every key; the killed host comes
/// back as a standby. Standbys point to the active.
async fn kill_and_take_over(hosts: &mut [Host], ids: &[&str]) -> Result<(usize, u64)> {
    let refs: Vec<&Host> = hosts.iter().collect();
    let first = one_active(&refs, Duration::from_secs(120)).await?;
    for &i in &others(hosts.len(), first) {
        let status = names_active(&hosts[i], ids[first]).await?;
        ensure!(status["role"] == "standby", "{status}");
        // The lease age: renewed within one lease, held since the active took it.
        let age = status["active"]["lease_age_ms"]
            .as_u64()
            .unwrap_or(u64::MAX);
        ensure!(age < status["lease_ms"].as_u64().unwrap_or(0), "{status}");
        ensure!(
            status["active"]["held_ms"].as_u64() >= Some(age),
            "{status}"
        );
        let (code, body) = hosts[i].get("/modules/prometheus/metrics").await?;
        ensure!(code == 503, "a standby answered a scrape: {code}");
        ensure!(body.contains(&hosts[first].base), "{body}");
        let (code, _) = hosts[i].post("/api/modules/tally/reload").await?;
        ensure!(code == 503, "a standby took a reload: {code}");
        let rows = hosts[i].modules().await?;
        ensure!(
            rows.as_array()
                .is_some_and(|r| r.iter().all(|m| m["state"] == "standby")),
            "{rows}"
        );
    }
    for n in [5, 7] {
        hosts[first]
            .command_json("tally", &format!("tally add {n}"))
            .await?;
    }
    // An option set at run time, and a few beats.
    let (code, body) = hosts[first]
        .post_json(
            "/api/modules/tally/option",
            &serde_json::json!({ "name": "beat-ms", "value": "150" }),
        )
        .await?;
    ensure!(code == 200, "{code} {body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let keys = hosts[first].command_json("tally", "tally keys").await?["keys"].clone();
    ensure!(
        keys.as_array()
            .is_some_and(|k| k.len() > 2 && k.contains(&"total".into())),
        "{keys}"
    );

    hosts[first].kill()?;
    let killed_at = now_ms();
    let rest = others(hosts.len(), first);
    let candidates: Vec<&Host> = rest.iter().map(|&i| &hosts[i]).collect();
    let (j, took) = first_scrape(&candidates, Duration::from_secs(30)).await?;
    let next = rest[j];
    eprintln!(
        "failover from {} to {} took {took:?}",
        ids[first], ids[next]
    );
    ensure!(
        took < FAILOVER_TARGET,
        "failover took {took:?}, over {FAILOVER_TARGET:?}"
    );
    // The new active loads its modules one after another: prometheus answered
    // first, tally follows within moments.
    hosts[next]
        .wait_running("tally", Duration::from_secs(10))
        .await?;
    let total = hosts[next].command_json("tally", "tally total").await?;
    ensure!(total["total"] == 12, "{total}");
    let beat = hosts[next].command_json("tally", "tally beat-ms").await?;
    ensure!(
        beat["beat_ms"] == 150,
        "the option set before the failover: {beat}"
    );
    let now: Value = hosts[next].command_json("tally", "tally keys").await?["keys"].clone();
    for k in keys.as_array().into_iter().flatten() {
        ensure!(
            now.as_array().is_some_and(|n| n.contains(k)),
            "key {k} lost in the failover"
        );
    }

    hosts[first].start_again().await?;
    becomes_standby(&hosts[first], Duration::from_secs(30)).await?;
    let status = names_active(&hosts[first], ids[next]).await?;
    ensure!(status["role"] == "standby", "{status}");
    Ok((next, killed_at))
}

/// SIGSTOP of the active past its lease: another host takes over; on SIGCONT the
/// paused host finds its lease gone and becomes a standby.
async fn pause_past_the_lease(hosts: &[Host], active: usize) -> Result<usize> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    hosts[active].signal("STOP")?;
    let rest = others(hosts.len(), active);
    let candidates: Vec<&Host> = rest.iter().map(|&i| &hosts[i]).collect();
    let next = rest[one_active(&candidates, Duration::from_secs(20)).await?];
    tokio::time::sleep(Duration::from_secs(2)).await;
    hosts[active].signal("CONT")?;
    becomes_standby(&hosts[active], Duration::from_secs(10)).await?;
    // Both sides beat a little longer, each in its role.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        hosts[next].is_active().await,
        "the new active lost its role"
    );
    Ok(next)
}

/// Kill -9, then a step-down, among three hosts over a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_active_is_replaced_and_its_keys_survive() -> Result<()> {
    let shared = tempfile::tempdir()?;
    let place = vec!["--ha-dir".into(), shared.path().display().to_string()];
    let ids = ["a", "b", "c"];
    let mut hosts = start_group(&ids, &place, 200).await?;
    let outcome = kill_and_take_over(&mut hosts, &ids).await;
    let (next, _) = with_logs(&hosts, outcome)?;
    // An operator hands over (as `ceph mgr fail`): another host takes over at its
    // next look at the lease, and the one that stepped down waits as a standby.
    let (code, body) = hosts[next].post("/api/step-down").await?;
    ensure!(code == 200, "{code} {body}");
    let asked = Instant::now();
    let rest = others(3, next);
    let candidates: Vec<&Host> = rest.iter().map(|&i| &hosts[i]).collect();
    let (j, took) = first_scrape(&candidates, Duration::from_secs(10)).await?;
    let next = rest[j];
    ensure!(took < Duration::from_secs(2), "a step-down took {took:?}");
    ensure!(asked.elapsed() < Duration::from_secs(3));
    let (code, _) = hosts[rest[1 - j]].post("/api/step-down").await?;
    ensure!(code == 503, "a standby took a step-down: {code}");
    // Every host learns who is active (the one that stepped down looks again
    // after one lease), and only that one is.
    for h in &hosts {
        let status = h
            .wait_for(
                Duration::from_secs(8),
                "the host to name the active",
                || async {
                    Ok(h.status()
                        .await
                        .ok()
                        .filter(|s| s["active"]["id"] == ids[next]))
                },
            )
            .await?;
        ensure!(
            status["lease"]
                .as_str()
                .is_some_and(|l| l.starts_with("folder "))
        );
        ensure!(
            (status["role"] == "active") == (status["id"] == ids[next]),
            "{status}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_active_is_fenced_and_returns_as_standby() -> Result<()> {
    let shared = tempfile::tempdir()?;
    let place = vec!["--ha-dir".into(), shared.path().display().to_string()];
    let ids = ["a", "b"];
    let hosts = start_group(&ids, &place, 50).await?;
    let refs: Vec<&Host> = hosts.iter().collect();
    let first = one_active(&refs, Duration::from_secs(120)).await?;
    let next = pause_past_the_lease(&hosts, first).await?;

    let intervals: Vec<HostIntervals> = ids
        .iter()
        .zip(&hosts)
        .map(|(id, h)| (*id, h.active_intervals()))
        .collect();
    ensure!(
        intervals[first].1.len() == 1 && intervals[first].1[0].1.is_some(),
        "the paused host logged {:?}",
        intervals[first].1
    );
    no_overlap(&intervals)?;
    let counts = beats_inside(&ha_folder_keys(shared.path())?, &intervals)?;
    ensure!(
        counts[first] > 5 && counts[next] > 5,
        "too few beats to judge: {counts:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_over_a_rados_lock() -> Result<()> {
    let cluster = CephCluster::start()?;
    cluster.ceph(&["osd", "pool", "create", "wasm-mgr-ha", "8"])?;
    let mut place = cluster.host_args();
    place.extend(["--ha-pool".into(), "wasm-mgr-ha".into()]);
    let ids = ["a", "b"];
    let mut hosts = start_group(&ids, &place, 100).await?;
    let (active, killed_at) = kill_and_take_over(&mut hosts, &ids).await?;
    let status = hosts[active].status().await?;
    ensure!(
        status["lease"] == "rados lock wasm-mgr-ha/wasm-mgr",
        "{status}"
    );
    let next = pause_past_the_lease(&hosts, active).await?;
    ensure!(next != active);

    // The host killed first never logged the end of its first interval: it ended
    // at the kill.
    let intervals: Vec<HostIntervals> = ids
        .iter()
        .zip(&hosts)
        .map(|(id, h)| {
            let mut list = h.active_intervals();
            if let Some(open) = list.iter_mut().rev().skip(1).find(|(_, u)| u.is_none()) {
                open.1 = Some(killed_at);
            }
            (*id, list)
        })
        .collect();
    no_overlap(&intervals)?;
    let keys = cluster.rados(&["-p", "wasm-mgr-ha", "listomapkeys", "wasm-mgr"])?;
    let keys: Vec<String> = keys.lines().map(str::to_string).collect();
    ensure!(keys.contains(&"tally/total".to_string()), "{keys:?}");
    let counts = beats_inside(&keys, &intervals)?;
    ensure!(counts.iter().all(|&c| c > 5), "too few beats: {counts:?}");
    // The lock names the active host.
    let info = cluster.rados(&[
        "-p",
        "wasm-mgr-ha",
        "lock",
        "info",
        "wasm-mgr",
        "wasm-mgr.active",
    ])?;
    let info: Value = serde_json::from_str(&info)?;
    ensure!(info["lockers"][0]["description"] == ids[next], "{info}");
    Ok(())
}
