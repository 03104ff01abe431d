//! The core, end to end: the real `wasm-mgr` binary, the simulated cluster and real
//! module components.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use wasm_mgr_tests::Host;

const WAIT: Duration = Duration::from_secs(30);

/// The newest OSD map epoch the host holds.
async fn osd_epoch(host: &Host) -> Result<u64> {
    Ok(host.cluster("osd_map").await?["epoch"]
        .as_u64()
        .unwrap_or(0))
}

fn health_codes(health: &Value) -> Vec<String> {
    health["checks"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn notify_reaches_a_module_while_its_serve_loop_sleeps() -> Result<()> {
    let config = "[modules.probe.options]\nserve-sleep-ms = 600000\n";
    let host = Host::start(&["probe"], Some(config), &[]).await?;
    let serve = host
        .wait_for(WAIT, "probe's serve loop to sleep", || async {
            let s = host.command_json("probe", "probe serve").await?;
            Ok((s["sleeping"] == true).then_some(s))
        })
        .await?;
    assert_eq!(serve["starts"], 1);

    let before = osd_epoch(&host).await?;
    host.ceph("osd down 3").await?;
    let after = osd_epoch(&host).await?;
    assert!(after > before, "osd down must bump the OSD map epoch");

    let seen = host
        .wait_for(WAIT, "notify(osd-map) with the new epoch", || async {
            let list = host.command_json("probe", "probe notifies").await?;
            Ok(list.as_array().and_then(|l| {
                l.iter()
                    .find(|n| n["kind"] == "osd-map" && n["osd_map_epoch"].as_u64() >= Some(after))
                    .cloned()
            }))
        })
        .await?;
    assert_eq!(
        seen["serve_sleeping"], true,
        "the notify must run while serve is suspended in sleep: {seen}"
    );
    let serve = host.command_json("probe", "probe serve").await?;
    assert_eq!(serve["starts"], 1, "serve was not restarted: {serve}");
    assert_eq!(
        serve["iterations"], 0,
        "serve is still in its first sleep: {serve}"
    );
    assert_eq!(serve["sleeping"], true);
    Ok(())
}

#[tokio::test]
async fn a_module_trapping_in_notify_does_not_stop_another() -> Result<()> {
    let host = Host::start(&["probe", "crasher"], None, &[]).await?;
    host.wait_for(WAIT, "both modules running", || async {
        let p = host.module("probe").await?;
        let c = host.module("crasher").await?;
        Ok((p["state"] == "running" && c["state"] == "running").then_some(()))
    })
    .await?;
    assert_eq!(
        host.command_ok("crasher", "crasher ping").await?.trim(),
        "pong"
    );

    host.ceph("osd down 1").await?;
    let epoch = osd_epoch(&host).await?;
    // While it is down, the cluster health says so (ceph's MGR_MODULE_ERROR).
    let health = host
        .wait_for(WAIT, "MGR_MODULE_ERROR for crasher", || async {
            let h = host.cluster("health").await?;
            let mentions = h["checks"]["MGR_MODULE_ERROR"]["summary"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("crasher"));
            Ok(mentions.then_some(h))
        })
        .await?;
    assert_ne!(health["status"], "HEALTH_OK");
    let crasher = host.module("crasher").await?;
    assert!(
        crasher["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "module ls reports why: {crasher}"
    );
    assert!(host.log().contains("crasher"), "the log names the module");

    // The other module carries on: it saw the same change and still answers.
    host.wait_for(WAIT, "probe to see the new epoch", || async {
        let list = host.command_json("probe", "probe notifies").await?;
        Ok(list
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n["osd_map_epoch"].as_u64() >= Some(epoch)))
            .then_some(()))
    })
    .await?;
    assert_eq!(host.module("probe").await?["state"], "running");

    // Supervised: the crasher comes back after its back-off and answers again.
    host.wait_for(WAIT, "crasher restarted", || async {
        let c = host.module("crasher").await?;
        Ok((c["state"] == "running" && c["restarts"].as_u64() >= Some(1)).then_some(()))
    })
    .await?;
    assert_eq!(
        host.command_ok("crasher", "crasher ping").await?.trim(),
        "pong"
    );
    host.wait_for(WAIT, "MGR_MODULE_ERROR to clear", || async {
        let h = host.cluster("health").await?;
        Ok((!health_codes(&h).contains(&"MGR_MODULE_ERROR".to_string())).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn selftest_passes_every_import() -> Result<()> {
    let host = Host::start(&["selftest", "status"], None, &[]).await?;
    let report = host
        .command_json("selftest", "selftest run --format json")
        .await?;
    let results = report["results"].as_array().expect("results list");
    let failed: Vec<&Value> = results.iter().filter(|r| r["pass"] != true).collect();
    assert!(failed.is_empty(), "failed imports: {failed:?}");
    let names: Vec<&str> = results
        .iter()
        .filter_map(|r| r["import"].as_str())
        .collect();
    for import in [
        "get",
        "get-epochs",
        "get-osd-map",
        "get-mon-map",
        "get-fs-map",
        "get-mgr-map",
        "get-health",
        "get-pg-summary",
        "get-df",
        "list-servers",
        "get-server",
        "get-metadata",
        "perf-counters",
        "clog-tail",
        "have-mon-connection",
        "log",
        "module-name",
        "mgr-id",
        "get-option",
        "set-store",
        "get-store",
        "list-store",
        "set-health-checks",
        "cluster-log",
        "is-shutting-down",
        "sleep",
        "send-command",
        "call-module",
    ] {
        assert!(
            names.iter().any(|n| n.contains(import)),
            "selftest does not cover {import}: {names:?}"
        );
    }
    // The plain report is the operator's table.
    let plain = host.command_ok("selftest", "selftest run").await?;
    assert!(plain.contains("pass"), "{plain}");
    Ok(())
}

#[tokio::test]
async fn status_commands_match_the_simulated_cluster() -> Result<()> {
    let host = Host::start(&["status"], None, &[]).await?;
    let osd_map = host.cluster("osd_map").await?;
    let osds = osd_map["osds"].as_array().unwrap().len();
    assert_eq!(osds, 12, "default sim has 12 OSDs");

    let table = host.command_ok("status", "osd status").await?;
    for column in [
        "ID", "HOST", "USED", "AVAIL", "WR OPS", "WR DATA", "RD OPS", "RD DATA", "STATE",
    ] {
        assert!(table.contains(column), "missing column {column}:\n{table}");
    }
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("exists")).collect();
    assert_eq!(rows.len(), osds, "one row per OSD:\n{table}");

    host.ceph("osd down 5").await?;
    let json = host
        .wait_for(WAIT, "status to show osd.5 down", || async {
            let v = host
                .command_json("status", "osd status --format json")
                .await?;
            let five = v["OSDs"]
                .as_array()
                .and_then(|l| l.iter().find(|o| o["id"] == 5).cloned());
            Ok(five
                .filter(|o| !o["state"].as_str().unwrap_or("").contains("up"))
                .map(|_| v))
        })
        .await?;
    let hosts: Vec<String> = osd_map["osds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["osd"].to_string())
        .collect();
    assert_eq!(json["OSDs"].as_array().unwrap().len(), hosts.len());
    let table = host.command_ok("status", "osd status").await?;
    let row5 = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some("5"))
        .expect("row for osd 5");
    assert!(!row5.contains(",up"), "osd.5 is down: {row5}");

    let fs = host.command_ok("status", "fs status").await?;
    let fs_map = host.cluster("fs_map").await?;
    let fs_name = fs_map["filesystems"][0]["mdsmap"]["fs_name"]
        .as_str()
        .unwrap_or("cephfs")
        .to_string();
    assert!(fs.contains(&fs_name), "fs status names {fs_name}:\n{fs}");
    assert!(fs.contains("RANK") && fs.contains("POOL"), "{fs}");

    let health = host.command_ok("status", "health detail").await?;
    assert!(health.contains("OSD_DOWN"), "{health}");
    assert!(
        health.contains("HEALTH_WARN") || health.contains("HEALTH_ERR"),
        "{health}"
    );
    Ok(())
}

#[tokio::test]
async fn options_are_typed_defaulted_and_checked() -> Result<()> {
    let config = "[modules.probe.options]\ngreeting = \"hi\"\nratio = 0.25\n";
    let host = Host::start(&["probe"], Some(config), &[]).await?;
    assert_eq!(
        host.command_json("probe", "probe option greeting").await?["value"],
        "hi"
    );
    assert_eq!(
        host.command_json("probe", "probe option ratio").await?["value"],
        0.25
    );
    assert_eq!(
        host.command_json("probe", "probe option serve-sleep-ms")
            .await?["value"],
        60000,
        "declared default"
    );
    assert_eq!(
        host.command_json("probe", "probe option verbose").await?["value"],
        false
    );
    drop(host);

    let bad = "[modules.probe.options]\nratio = 2.0\ngreeting = 7\nno-such = 1\n";
    let host = Host::start(&["probe", "status"], Some(bad), &[]).await?;
    let probe = host.module("probe").await?;
    assert_eq!(probe["state"], "failed", "{probe}");
    let err = probe["last_error"].as_str().unwrap_or("");
    assert!(err.contains("ratio") && err.contains("maximum"), "{err}");
    assert!(err.contains("greeting") && err.contains("string"), "{err}");
    assert!(err.contains("no-such"), "{err}");
    assert_eq!(host.module("status").await?["state"], "running");
    Ok(())
}

#[tokio::test]
async fn options_set_at_run_time_are_checked_kept_and_applied() -> Result<()> {
    async fn set(host: &Host, name: &str, value: Value) -> Result<(u16, String)> {
        let body = json!({ "name": name, "value": value });
        host.post_json("/api/modules/probe/option", &body).await
    }
    async fn option(host: &Host, name: &str) -> Result<Value> {
        Ok(host
            .command_json("probe", &format!("probe option {name}"))
            .await?["value"]
            .clone())
    }
    let config = "[modules.probe.options]\ngreeting = \"from the file\"\n";
    let mut host = Host::start(&["probe"], Some(config), &[]).await?;
    assert_eq!(option(&host, "greeting").await?, "from the file");
    // Set: over the file's value, typed as declared, applied by a reload.
    assert_eq!(
        set(&host, "greeting", json!("set at run time")).await?.0,
        200
    );
    assert_eq!(set(&host, "ratio", json!("0.5")).await?.0, 200);
    assert_eq!(option(&host, "greeting").await?, "set at run time");
    assert_eq!(option(&host, "ratio").await?, 0.5);
    // Wrong: refused with the reason; the module keeps running as it was.
    let (code, body) = set(&host, "ratio", json!("lots")).await?;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("ratio") && body.contains("number"), "{body}");
    let (code, body) = set(&host, "no-such", json!("1")).await?;
    assert_eq!(code, 400, "{body}");
    assert_eq!(option(&host, "ratio").await?, 0.5);
    assert_eq!(host.module("probe").await?["state"], "running");
    // Kept across a restart; cleared back to the file's value.
    host.restart().await?;
    assert_eq!(option(&host, "greeting").await?, "set at run time");
    assert_eq!(set(&host, "greeting", Value::Null).await?.0, 200);
    assert_eq!(option(&host, "greeting").await?, "from the file");
    Ok(())
}

#[tokio::test]
async fn the_store_survives_a_host_restart() -> Result<()> {
    let mut host = Host::start(&["probe"], None, &[]).await?;
    host.command_ok("probe", "probe store set colour blue")
        .await?;
    host.command_ok("probe", "probe store set count 3").await?;
    host.restart().await?;
    assert_eq!(
        host.command_json("probe", "probe store get colour").await?["value"],
        "blue"
    );
    let listed = host.command_json("probe", "probe store list co").await?;
    assert_eq!(listed.as_object().map(|o| o.len()), Some(2), "{listed}");
    let serve = host
        .wait_for(WAIT, "serve restarted", || async {
            let s = host.command_json("probe", "probe serve").await?;
            Ok((s["starts"] == 2).then_some(s))
        })
        .await?;
    assert_eq!(serve["starts"], 2);
    Ok(())
}

#[tokio::test]
async fn module_health_checks_join_the_cluster_health() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    host.command_ok("probe", "probe health raise PROBE_ALERT something-is-off")
        .await?;
    let health = host.cluster("health").await?;
    assert!(
        health_codes(&health).contains(&"PROBE_ALERT".to_string()),
        "{health}"
    );
    assert_ne!(health["status"], "HEALTH_OK");
    host.command_ok("probe", "probe health clear").await?;
    let health = host.cluster("health").await?;
    assert!(!health_codes(&health).contains(&"PROBE_ALERT".to_string()));
    Ok(())
}

#[tokio::test]
async fn invalid_files_are_reported_and_skipped() -> Result<()> {
    // A good module beside random bytes, a core wasm module, a component of the
    // wrong world (a WASI command), a module that traps in describe and one that
    // never returns from it.
    let mut host = Host::start(
        &["probe", "wasi-command", "describe-trap", "describe-hang"],
        None,
        &[],
    )
    .await?;
    std::fs::write(
        host.modules_dir().join("garbage.wasm"),
        b"this is not wasm at all",
    )?;
    std::fs::write(
        host.modules_dir().join("core.wasm"),
        [0u8, b'a', b's', b'm', 1, 0, 0, 0],
    )?;
    host.restart().await?;
    let expect = [
        ("garbage", "not a WebAssembly component"),
        ("core", "not a WebAssembly component"),
        ("wasi-command", "ceph:mgr@0.1.0 module world"),
        ("describe-trap", "trapped in describe"),
        ("describe-hang", "did not return from describe"),
    ];
    for (name, reason) in expect {
        let row = host.module(name).await?;
        assert_eq!(row["state"], "failed", "{row}");
        let err = row["last_error"].as_str().unwrap_or("");
        assert!(err.contains(reason), "{name}: expected `{reason}` in {row}");
        assert!(
            host.log().contains(&format!("{name}.wasm")),
            "the log names {name}.wasm"
        );
    }
    assert_eq!(host.module("probe").await?["state"], "running");
    assert!(
        host.command_ok("probe", "probe serve")
            .await?
            .contains("starts")
    );
    let health = host.cluster("health").await?;
    let detail = health["checks"]["MGR_MODULE_ERROR"]["detail"].to_string();
    assert!(detail.contains("garbage.wasm"), "{health}");
    Ok(())
}

#[tokio::test]
async fn the_cli_talks_to_a_running_host() -> Result<()> {
    let host = Host::start(&["probe", "status"], None, &[]).await?;
    let bin = wasm_mgr_tests::target_dir().join("release/wasm-mgr");
    let token_file = host.dir.path().join("state/api-token");
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .arg("--host")
            .arg(&host.base)
            .arg("--token-file")
            .arg(&token_file)
            .args(args)
            .output()
    };
    let ls = run(&["module", "ls"])?;
    let table = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success(), "{ls:?}");
    // The host's role first (a host alone is active), then the modules.
    assert_eq!(table.lines().next(), Some("x is active"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("NAME")), "{table}");
    let status = run(&["status"])?;
    assert_eq!(String::from_utf8_lossy(&status.stdout), "x is active\n");
    let alone = run(&["step-down"])?;
    assert!(!alone.status.success(), "{alone:?}");
    assert!(
        String::from_utf8_lossy(&alone.stderr).contains("no standby"),
        "{alone:?}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("probe") && l.contains("running")),
        "{table}"
    );

    let dump = run(&["ceph", "osd", "dump", "--format", "json"])?;
    assert!(dump.status.success(), "{dump:?}");
    let v: Value = serde_json::from_slice(&dump.stdout)?;
    assert!(v["osds"].is_array());

    let down = run(&["ceph", "osd", "down", "2"])?;
    assert!(down.status.success(), "{down:?}");
    let status = run(&["command", "status", "osd", "status"])?;
    assert!(status.status.success(), "{status:?}");

    let help = run(&["ceph", "help"])?;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.lines().any(|l| l.starts_with("osd down")), "{help}");

    let bad = run(&["command", "status", "osd", "frobnicate", "x"])?;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("osd status"),
        "usage lists the commands: {err}"
    );
    Ok(())
}

#[tokio::test]
async fn commands_that_change_the_cluster_need_a_grant() -> Result<()> {
    let config = "[modules.probe]\ncommands = [\"osd set\"]\n";
    let host = Host::start(&["probe"], Some(config), &[]).await?;
    // Reading needs no grant.
    let stat = host
        .probe_send("mon", json!({"prefix": "osd stat", "format": "json"}))
        .await?;
    assert_eq!(stat["retval"], 0, "{stat}");
    // `osd out` was not granted: refused, and the OSD stays in.
    let out = host
        .probe_send("mon", json!({"prefix": "osd out", "ids": ["1"]}))
        .await?;
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Denied") && error.contains("osd out"),
        "{out}"
    );
    let map = host.cluster("osd_map").await?;
    assert_eq!(map["osds"][1]["in"], 1, "osd.1 was marked out");
    // `osd set` was granted.
    let set = host
        .probe_send("mon", json!({"prefix": "osd set", "key": "noout"}))
        .await?;
    assert_eq!(set["retval"], 0, "{set}");
    host.wait_for(Duration::from_secs(5), "the noout flag", || async {
        let map = host.cluster("osd_map").await?;
        Ok(map["flags"]
            .as_str()
            .is_some_and(|f| f.contains("noout"))
            .then_some(()))
    })
    .await?;
    // The sim has no manager of its own: a mgr command no module serves is unknown.
    let mgr = host
        .probe_send("mgr", json!({"prefix": "balancer status"}))
        .await?;
    assert!(
        mgr["error"].as_str().unwrap_or("").contains("NotFound"),
        "{mgr}"
    );
    Ok(())
}
