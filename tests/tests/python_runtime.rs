//! Python modules as plain source on the shared runtime: Ceph 16.2.15's own
//! modules copied unchanged from Debian's package (`iostat`, `status`, `crash`),
//! modules written for the SDK as a single file, their errors, their blocking
//! `serve`, and reloading by editing a file.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::Host;

/// The first host of a test run compiles the runtime (tens of seconds on 2 cores).
const FIRST_LOAD: Duration = Duration::from_secs(180);

/// A real crash report, as a SIGSEGV'd ceph-osd 16.2.15 wrote it (see
/// `tests/fixtures/README.md`).
const CRASH_REPORT: &str = include_str!("../fixtures/crash/osd.1-segv.json");

fn crash_id() -> Result<String> {
    let report: Value = serde_json::from_str(CRASH_REPORT)?;
    Ok(report["crash_id"].as_str().unwrap_or_default().to_string())
}

fn health_has(health: &Value, code: &str) -> bool {
    health["checks"].get(code).is_some()
}

#[tokio::test]
async fn cephs_own_modules_run_unchanged() -> Result<()> {
    let host = Host::start(
        &["ceph:iostat", "ceph:status", "ceph:crash", "prometheus"],
        None,
        &[],
    )
    .await?;
    for name in ["iostat", "status", "crash"] {
        host.wait_running(name, FIRST_LOAD).await?;
    }

    // iostat: the header and one row of rates, as `ceph iostat --print-header`.
    let table = host.command_ok("iostat", "iostat --print-header").await?;
    let lines: Vec<&str> = table.lines().collect();
    ensure!(
        lines.len() == 4 && lines[1].contains("Read IOPS") && lines[3].contains("/s"),
        "{table}"
    );

    // status: one row per OSD of the map, and the file system with its pools.
    let osd_map = host.cluster("osd_map").await?;
    let osds = osd_map["osds"].as_array().map_or(0, Vec::len);
    let osd_status = host.command_ok("status", "osd status").await?;
    ensure!(
        osd_status.lines().count() == osds + 1 && osd_status.starts_with("ID  HOST"),
        "{osds} OSDs:\n{osd_status}"
    );
    let fs_status = host.command_ok("status", "fs status").await?;
    ensure!(
        fs_status.contains("RANK") && fs_status.contains("POOL"),
        "{fs_status}"
    );

    // crash: a real report posted with its input, listed, shown, counted.
    let id = crash_id()?;
    let (code, posted) = host
        .command_input("crash", "crash post", CRASH_REPORT)
        .await?;
    ensure!(code == 200 && posted["retval"] == 0, "{code} {posted}");
    let ls = host.command_ok("crash", "crash ls").await?;
    ensure!(ls.contains(&id) && ls.contains("osd.1"), "{ls}");
    let info = host
        .command_json("crash", &format!("crash info {id}"))
        .await?;
    ensure!(
        info["entity_name"] == "osd.1" && info["backtrace"].is_array(),
        "{info}"
    );
    let stat = host.command_ok("crash", "crash stat").await?;
    ensure!(stat.contains("1 crashes recorded"), "{stat}");

    // Its RECENT_CRASH check reaches the cluster health and the prometheus page.
    let health = host
        .wait_for(Duration::from_secs(10), "RECENT_CRASH", || async {
            let h = host.cluster("health").await?;
            Ok(health_has(&h, "RECENT_CRASH").then_some(h))
        })
        .await?;
    ensure!(
        health["checks"]["RECENT_CRASH"]["summary"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 daemons have recently crashed")),
        "{health}"
    );
    host.wait_for(
        Duration::from_secs(10),
        "RECENT_CRASH on the page",
        || async {
            let (_, page) = host.get("/modules/prometheus/metrics").await?;
            Ok(page
                .lines()
                .any(|l| l.starts_with("ceph_health_detail{") && l.contains("RECENT_CRASH"))
                .then_some(()))
        },
    )
    .await?;

    // Archiving every crash clears the check; the crash stays listed.
    host.command_ok("crash", "crash archive-all").await?;
    host.wait_for(Duration::from_secs(10), "RECENT_CRASH to clear", || async {
        let h = host.cluster("health").await?;
        Ok((!health_has(&h, "RECENT_CRASH")).then_some(()))
    })
    .await?;
    let ls = host.command_ok("crash", "crash ls").await?;
    ensure!(ls.contains(&id), "{ls}");
    let new = host.command_ok("crash", "crash ls-new").await?;
    ensure!(!new.contains(&id), "{new}");

    // Bad input answers an error and loses nothing.
    let (code, bad) = host
        .command_input("crash", "crash post", "{not json")
        .await?;
    ensure!(code != 200 || bad["retval"] != 0, "{bad}");
    let (_, missing) = host.command("crash", "crash info nonesuch").await?;
    ensure!(missing["retval"] != 0, "{missing}");
    host.command_ok("crash", "crash stat").await?;

    // The three ran in their own instances all along, and none restarted.
    for name in ["iostat", "status", "crash"] {
        let row = host.module(name).await?;
        ensure!(row["state"] == "running" && row["restarts"] == 0, "{row}");
    }
    Ok(())
}

/// A Ceph-style module whose `serve` blocks in `threading.Event().wait()`; it counts
/// what reaches it while it waits.
const WAITER: &str = r#"
import json
import threading
from mgr_module import MgrModule, CLIReadCommand, CLIWriteCommand, NotifyType


class Module(MgrModule):
    NOTIFY_TYPES = [NotifyType.osd_map]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.event = threading.Event()
        self.waiting = False
        self.notified_while_waiting = 0
        self.loops = 0

    def serve(self):
        while not self.event.is_set():
            self.loops += 1
            self.waiting = True
            self.event.wait(30)
            self.waiting = False

    def shutdown(self):
        self.event.set()

    def notify(self, notify_type, notify_id):
        if self.waiting:
            self.notified_while_waiting += 1

    @CLIReadCommand("waiter stats")
    def stats(self):
        return 0, json.dumps({"waiting": self.waiting, "loops": self.loops,
                              "notified_while_waiting": self.notified_while_waiting,
                              "store": self.get_store("k")}), ""

    @CLIWriteCommand("waiter set")
    def set(self, value: str):
        self.set_store("k", value)
        return 0, value, ""

    @CLIReadCommand("waiter boom")
    def boom(self):
        raise ValueError("deliberately broken handler")
"#;

#[tokio::test]
async fn a_blocking_serve_still_gets_its_calls() -> Result<()> {
    let host = Host::start(&["status"], None, &[]).await?;
    std::fs::create_dir_all(host.modules_dir().join("waiter"))?;
    std::fs::write(host.modules_dir().join("waiter/__init__.py"), WAITER)?;
    host.wait_running("waiter", FIRST_LOAD).await?;
    host.ceph("osd down 2").await?;
    let stats = host
        .wait_for(
            Duration::from_secs(10),
            "a notify inside the wait",
            || async {
                let s = host.command_json("waiter", "waiter stats").await?;
                Ok((s["notified_while_waiting"].as_u64() > Some(0)).then_some(s))
            },
        )
        .await?;
    // The command itself was answered inside the same wait: serve never looped.
    ensure!(stats["waiting"] == true && stats["loops"] == 1, "{stats}");
    host.command_ok("waiter", "waiter set v1").await?;
    let stats = host.command_json("waiter", "waiter stats").await?;
    ensure!(stats["store"] == "v1", "{stats}");

    // A handler that raises answers -EINVAL with the traceback; the instance lives.
    let (_, boom) = host.command("waiter", "waiter boom").await?;
    ensure!(boom["retval"] == -22, "{boom}");
    let stderr = boom["stderr"].as_str().unwrap_or_default();
    ensure!(
        stderr.contains("Traceback") && stderr.contains("deliberately broken handler"),
        "{boom}"
    );
    let row = host.module("waiter").await?;
    ensure!(row["state"] == "running" && row["restarts"] == 0, "{row}");
    ensure!(host.log().contains("deliberately broken handler"));

    // Stopping it hands the shutdown to its wait: serve returns, no grace runs out.
    let t = Instant::now();
    let (code, _) = host.module_op("waiter", "disable").await?;
    ensure!(code == 200);
    ensure!(
        t.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        t.elapsed()
    );
    ensure!(
        !host.log().contains("did not stop within"),
        "{}",
        host.log()
    );
    Ok(())
}

const HELLO_V1: &str = r#"
from typing import Optional
from wasm_mgr import CLIReadCommand, MgrModule, export


class Hello(MgrModule):
    VERSION = "1"

    @CLIReadCommand("hello")
    def hello(self, who: Optional[str] = None):
        """Say hello"""
        return 0, f"hello {who or 'world'}", ""


WitWorld = export(Hello)
"#;

#[tokio::test]
async fn sdk_modules_are_single_files_and_errors_reach_module_ls() -> Result<()> {
    let host = Host::start(&["status"], None, &[]).await?;
    let file = host.modules_dir().join("hello.py");
    std::fs::write(&file, HELLO_V1)?;
    let row = host.wait_running("hello", FIRST_LOAD).await?;
    ensure!(row["version"] == "1", "{row}");
    ensure!(host.command_ok("hello", "hello ceph").await? == "hello ceph");

    // Editing the file reloads it; the new version answers.
    std::fs::write(&file, HELLO_V1.replace("hello {who", "hi {who"))?;
    host.wait_for(Duration::from_secs(10), "the edited version", || async {
        let (_, v) = host.command("hello", "hello ceph").await?;
        Ok((v["stdout"] == "hi ceph").then_some(()))
    })
    .await?;

    // A syntax error: the running version stays, module ls shows the traceback.
    std::fs::write(&file, "def broken(:\n")?;
    host.wait_for(Duration::from_secs(10), "the syntax error", || async {
        let rows = host.modules().await?;
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["state"] == "failed" && r["name"] == "hello")
            .cloned())
    })
    .await
    .and_then(|row| {
        let error = row["last_error"].as_str().unwrap_or_default();
        ensure!(
            error.contains("SyntaxError") && error.contains("running version stays"),
            "{row}"
        );
        Ok(())
    })?;
    ensure!(host.command_ok("hello", "hello ceph").await? == "hi ceph");

    // An import that fails, in a module that was never running: module ls says why.
    std::fs::write(
        host.modules_dir().join("needy.py"),
        "import no_such_library\n",
    )?;
    let failed = host
        .wait_for(FIRST_LOAD, "the import error", || async {
            let rows = host.modules().await?;
            Ok(rows
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == "needy" && r["state"] == "failed")
                .cloned())
        })
        .await?;
    ensure!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("ModuleNotFoundError") && e.contains("no_such_library")),
        "{failed}"
    );
    Ok(())
}

#[tokio::test]
async fn a_serve_that_never_waits_is_stopped() -> Result<()> {
    let config = "[modules.spinner]\nmax_run = \"1s\"\n";
    let host = Host::start(&["status"], Some(config), &[]).await?;
    std::fs::write(
        host.modules_dir().join("spinner.py"),
        "from mgr_module import MgrModule\n\nclass Module(MgrModule):\n    def serve(self):\n        while True:\n            pass\n",
    )?;
    let row = host
        .wait_for(FIRST_LOAD, "the spinning module to be stopped", || async {
            let row = host.module("spinner").await.unwrap_or(Value::Null);
            let error = row["last_error"].as_str().unwrap_or_default().to_string();
            Ok(error.contains("max_run").then_some(row))
        })
        .await?;
    ensure!(
        row["state"] != "running" || row["restarts"].as_u64() > Some(0),
        "{row}"
    );
    // The host and its other modules are unaffected.
    host.command_ok("status", "osd status").await?;
    Ok(())
}

/// A Ceph-style module that calls every part of ceph-mgr's module API it names
/// and answers what each gave, for the test to check against the host's state.
const API: &str = r#"
import json
from mgr_module import (MgrModule, CLIReadCommand, CLIWriteCommand, Option,
                        HandleCommandResult, CommandResult, NotifyType)


class Module(MgrModule):
    MODULE_OPTIONS = [Option("level", type="int", default=3, min=0, max=9)]
    NOTIFY_TYPES = [NotifyType.osd_map]

    @CLIReadCommand("api probe")
    def probe(self):
        out = {}
        servers = self.list_servers()
        out["servers"] = len(servers)
        out["server"] = self.get_server(servers[0]["hostname"])["hostname"]
        out["osd0_metadata"] = (self.get_metadata("osd", "0") or {}).get("osd_objectstore")
        schema = self.get_perf_schema("osd", "0")
        out["schema_daemons"] = list(schema)
        path = sorted(schema.get("osd.0", {}))[0] if schema.get("osd.0") else None
        out["counter_path"] = path
        out["counter"] = self.get_counter("osd", "0", path)[path] if path else None
        out["latest"] = self.get_latest("osd", "0", path) if path else None
        out["all_counters"] = len(self.get_all_perf_counters())
        out["daemon_status"] = self.get_daemon_status("osd", "0")
        out["level"] = self.get_module_option("level")
        out["ceph_option"] = self.get_ceph_option("mgr_stats_period")
        out["have_mon"] = self.have_mon_connection()
        out["osd_map_epoch"] = self.get("osd_map")["epoch"]
        out["health"] = json.loads(self.get("health")["json"])["status"]
        r, outb, outs = self.mon_command({"prefix": "osd dump", "format": "json"})
        out["mon_command"] = [r, json.loads(outb)["epoch"] if r == 0 else outs]
        result = CommandResult("")
        self.send_command(result, "mon", "", json.dumps({"prefix": "osd dump", "format": "json"}), "")
        r, outb, outs = result.wait()
        out["send_command"] = r
        out["remote"] = self.remote("api2", "echo", 41, plus=1)
        out["iec"] = self.to_pretty_iec(5 << 30)
        out["row"] = self.get_pretty_row(["a", "b"], 10)
        self.set_store("prefix/a", "1")
        self.set_store("prefix/b", "2")
        out["store_prefix"] = self.get_store_prefix("prefix/")
        self.set_health_checks({"API_PROBE": {"severity": "warning", "summary": "probing",
                                              "count": 1, "detail": ["one"]}})
        self.log.info("probed")
        return HandleCommandResult(stdout=json.dumps(out))

    @CLIWriteCommand("api level")
    def set_level(self, level: int):
        self.set_module_option("level", level)
        return 0, str(self.get_module_option("level")), ""
"#;

const API2: &str = r#"
from mgr_module import MgrModule


class Module(MgrModule):
    def echo(self, n, plus=0):
        return {"echo": n + plus}
"#;

#[tokio::test]
async fn cephs_module_api_answers_from_the_host() -> Result<()> {
    let host = Host::start(&["status"], None, &[]).await?;
    for (name, text) in [("api", API), ("api2", API2)] {
        std::fs::create_dir_all(host.modules_dir().join(name))?;
        std::fs::write(host.modules_dir().join(name).join("__init__.py"), text)?;
    }
    host.wait_running("api", FIRST_LOAD).await?;
    host.wait_running("api2", FIRST_LOAD).await?;
    let (_, answer) = host.command("api", "api probe").await?;
    ensure!(answer["retval"] == 0, "{answer}");
    let out: Value = serde_json::from_str(answer["stdout"].as_str().unwrap_or("{}"))?;
    let osd_map = host.cluster("osd_map").await?;
    ensure!(out["osd_map_epoch"] == osd_map["epoch"], "{out}");
    ensure!(
        out["mon_command"][0] == 0 && out["mon_command"][1] == osd_map["epoch"],
        "{out}"
    );
    ensure!(out["send_command"] == 0, "{out}");
    ensure!(
        out["servers"].as_u64() > Some(0) && out["server"].is_string(),
        "{out}"
    );
    ensure!(
        out["schema_daemons"] == serde_json::json!(["osd.0"]),
        "{out}"
    );
    ensure!(
        out["counter"].as_array().is_some_and(|c| c.len() == 1),
        "{out}"
    );
    ensure!(out["latest"].is_number(), "{out}");
    ensure!(out["all_counters"].as_u64() > Some(0), "{out}");
    ensure!(out["level"] == 3 && out["have_mon"] == true, "{out}");
    ensure!(out["ceph_option"].is_number(), "{out}");
    ensure!(
        out["health"]
            .as_str()
            .is_some_and(|s| s.starts_with("HEALTH_")),
        "{out}"
    );
    ensure!(out["remote"] == serde_json::json!({"echo": 42}), "{out}");
    ensure!(out["iec"] == "5120 Mi" || out["iec"] == "5 Gi", "{out}");
    ensure!(
        out["store_prefix"] == serde_json::json!({"prefix/a": "1", "prefix/b": "2"}),
        "{out}"
    );
    let health = host.cluster("health").await?;
    ensure!(health["checks"].get("API_PROBE").is_some(), "{health}");
    ensure!(host.log().contains("probed"));

    // A module's own option, set by itself: checked, kept for its next instance.
    let (_, set) = host.command("api", "api level 7").await?;
    ensure!(set["retval"] == 0 && set["stdout"] == "7", "{set}");
    let (_, bad) = host.command("api", "api level 12").await?;
    ensure!(bad["retval"] != 0, "{bad}");
    let (code, _) = host.module_op("api", "reload").await?;
    ensure!(code == 200);
    let (_, answer) = host.command("api", "api probe").await?;
    let out: Value = serde_json::from_str(answer["stdout"].as_str().unwrap_or("{}"))?;
    ensure!(out["level"] == 7, "after a reload: {out}");
    Ok(())
}
