//! The shared JavaScript runtime (`runtimes/javascript`, ceph:mgr@0.2.0's `runtime`
//! world): a plain `NAME.js` in the modules folder is a module. Its blocking `serve`
//! gets its notifies and commands inside `inbox.wait`; what it throws is answered,
//! not trapped; a syntax error shows in `module ls`; editing the file reloads it.
//! Also the shipped `osdwatch` in its source form, and its componentized twin
//! (`tests/modules/osdwatch-sync`, the 0.1.0 `module-sync` world), which keeps the
//! single-component build covered.

use std::cell::Cell;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::{Host, install_module};

/// Compiling the runtime (a 12 MB component) the first time takes tens of seconds
/// on 2 cores.
const FIRST_LOAD: Duration = Duration::from_secs(180);

/// A module with a blocking `serve` that sleeps in short waits.
const HELLO: &str = r#"// hello: a test module on the shared JavaScript runtime.
const { MgrModule, readCommand, writeCommand, Option, errno } = require('wasm-mgr');

class Hello extends MgrModule {
  static DESCRIPTION = 'Says hello; counts OSD-map notifies';
  static MODULE_OPTIONS = [Option('greeting', { default: 'hello', desc: 'What to say' })];
  static NOTIFY_TYPES = ['osd_map'];
  static HTTP = true;
  static COMMANDS = {
    hello: readCommand('hello', 'Say hello', { who: 'str?' }),
    state: readCommand('hello state', 'What the module saw'),
    boom: readCommand('hello boom', 'A handler that throws'),
    missing: readCommand('hello missing', 'A host error'),
    store: writeCommand('hello store', 'Keeps a value', { value: 'str' }),
  };

  constructor() {
    super();
    this.serving = false;
    this.loops = 0;
    this.notifies = 0;
    this.whileServing = 0;
  }

  serve() {
    this.serving = true;
    while (this.sleep(0.2)) this.loops += 1;
    this.serving = false;
  }

  notify(type) {
    this.notifies += 1;
    if (this.serving) this.whileServing += 1;
  }

  hello({ who = 'world' }) {
    return `${this.getModuleOption('greeting', 'hello')} ${who} (VERSION)`;
  }

  state() {
    const { serving, loops, notifies, whileServing } = this;
    return JSON.stringify({ serving, loops, notifies, whileServing, stored: this.getStore('value', null) });
  }

  boom() {
    this.explode();
  }

  explode() {
    throw new Error('kaboom');
  }

  missing() {
    return this.get('no_such_map');
  }

  store({ value }) {
    this.setStore('value', value);
    return [0, '', `kept ${value}`];
  }

  handleHttp(request) {
    return this.httpJson({ path: request.path, serving: this.serving });
  }
}

module.exports = Hello;
"#;

fn hello(version: &str) -> String {
    HELLO.replace("VERSION", version)
}

/// Writes a module file the way a copy tool does: a hidden temporary file renamed
/// into place, so the host never reads half of it.
fn write_module(dir: &Path, file: &str, text: &str) -> Result<()> {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(file))?;
    Ok(())
}

/// Waits until `name`'s row leaves `loading` and `starting` and returns it;
/// `loading_seen` says whether it was seen loading first.
async fn settled(host: &Host, name: &str) -> Result<(Value, bool)> {
    let loading_seen = Cell::new(false);
    let row = host
        .wait_for(FIRST_LOAD, &format!("{name} to load"), || async {
            let Ok(row) = host.module(name).await else {
                return Ok(None);
            };
            if row["state"] == "loading" {
                loading_seen.set(true);
                return Ok(None);
            }
            // Past `starting` too: describe and the first instance take a moment
            // on a busy machine.
            Ok((row["state"] != "starting").then_some(row))
        })
        .await?;
    Ok((row, loading_seen.get()))
}

#[tokio::test]
async fn a_plain_javascript_file_is_a_module() -> Result<()> {
    // A compile cache of its own: the runtime is compiled here, so the module is
    // seen `loading` until it is ready.
    let cache = tempfile::tempdir()?;
    let cache_dir = cache.path().to_str().context("cache path")?;
    let host = Host::start(&["status"], None, &["--compile-cache", cache_dir]).await?;
    let modules = host.modules_dir();
    write_module(&modules, "hello.js", &hello("version 1"))?;
    let (row, loading_seen) = settled(&host, "hello").await?;
    ensure!(
        loading_seen,
        "hello was never `loading` while the runtime compiled"
    );
    ensure!(row["state"] == "running", "{row}");
    ensure!(row["last_error"].is_null(), "{row}");
    ensure!(
        row["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("hello.js")),
        "{row}"
    );

    // Its commands answer, with options and the store.
    let out = host.command_ok("hello", "hello --who js").await?;
    ensure!(out == "hello js (version 1)", "{out}");
    let (code, answer) = host.command("hello", "hello store kept-value").await?;
    ensure!(code == 200 && answer["retval"] == 0, "{code} {answer}");
    ensure!(answer["stderr"] == "kept kept-value", "{answer}");

    // `serve` runs, blocking in its sleeps; notifies and commands arrive inside them.
    host.ceph("osd down 3").await?;
    let state = host
        .wait_for(
            Duration::from_secs(20),
            "a notify while serving",
            || async {
                let s = host.command_json("hello", "hello state").await?;
                let ready = s["whileServing"].as_u64() > Some(0) && s["loops"].as_u64() > Some(1);
                Ok(ready.then_some(s))
            },
        )
        .await?;
    ensure!(state["serving"] == true, "{state}");
    ensure!(state["stored"] == "kept-value", "{state}");
    let (code, page) = host.get("/modules/hello/some/path").await?;
    ensure!(code == 200, "{code} {page}");
    let page: Value = serde_json::from_str(&page)?;
    ensure!(
        page["path"] == "/some/path" && page["serving"] == true,
        "{page}"
    );

    // A handler that throws answers -EINVAL with the exception and where it was
    // thrown; a host error answers its errno; the instance keeps serving.
    let (code, answer) = host.command("hello", "hello boom").await?;
    ensure!(code == 200, "{code} {answer}");
    ensure!(answer["retval"] == -22, "{answer}");
    let stderr = answer["stderr"].as_str().unwrap_or("");
    ensure!(stderr.starts_with("Error: kaboom"), "{stderr}");
    ensure!(
        stderr.contains("explode@hello.js:") && stderr.contains("boom@hello.js:"),
        "{stderr}"
    );
    ensure!(
        !stderr.contains("wasm-mgr/"),
        "the runtime's frames: {stderr}"
    );
    ensure!(host.log().contains("kaboom"), "the failure is not logged");
    let (_, answer) = host.command("hello", "hello missing").await?;
    ensure!(answer["retval"] == -2, "{answer}");
    ensure!(
        answer["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("no_such_map")),
        "{answer}"
    );
    host.wait_for(Duration::from_secs(10), "serve to go on", || async {
        let after = host.command_json("hello", "hello state").await?;
        let on = after["serving"] == true && after["loops"].as_u64() > state["loops"].as_u64();
        Ok(on.then_some(()))
    })
    .await?;
    let row = host.module("hello").await?;
    ensure!(row["state"] == "running" && row["restarts"] == 0, "{row}");

    // A syntax error: a failed row whose error is JavaScript's, with the place.
    write_module(
        &modules,
        "broken.js",
        "const { MgrModule } = require('wasm-mgr');\nclass Broken extends MgrModule {\n  f() { return 1 +; }\n}\nmodule.exports = Broken;\n",
    )?;
    let row = host
        .wait_for(Duration::from_secs(30), "broken to fail", || async {
            let row = host.module("broken").await.ok();
            Ok(row.filter(|r| r["state"] == "failed"))
        })
        .await?;
    let error = row["last_error"].as_str().unwrap_or("");
    ensure!(
        error.contains("SyntaxError: expected expression, got ';'"),
        "{row}"
    );
    ensure!(error.contains("broken.js:3:19"), "{row}");
    // An exception while loading, with its stack.
    write_module(
        &modules,
        "thrower.js",
        "function check() {\n  throw new RangeError('no cluster for me');\n}\ncheck();\n",
    )?;
    let row = host
        .wait_for(Duration::from_secs(30), "thrower to fail", || async {
            let row = host.module("thrower").await.ok();
            Ok(row.filter(|r| r["state"] == "failed"))
        })
        .await?;
    let error = row["last_error"].as_str().unwrap_or("");
    ensure!(error.contains("RangeError: no cluster for me"), "{row}");
    ensure!(error.contains("check@thrower.js:2:"), "{row}");
    // A file that defines no module says how to.
    write_module(&modules, "empty.js", "const x = 1;\n")?;
    let row = host
        .wait_for(Duration::from_secs(30), "empty to fail", || async {
            let row = host.module("empty").await.ok();
            Ok(row.filter(|r| r["state"] == "failed"))
        })
        .await?;
    ensure!(
        row["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("module.exports = MyModule")),
        "{row}"
    );

    // Editing the file reloads it; the store carries over.
    write_module(&modules, "hello.js", &hello("version 2"))?;
    host.wait_for(Duration::from_secs(30), "the new version", || async {
        let out = host.command_ok("hello", "hello").await?;
        Ok((out == "hello world (version 2)").then_some(()))
    })
    .await?;
    let state = host.command_json("hello", "hello state").await?;
    ensure!(state["stored"] == "kept-value", "{state}");
    let row = host.module("hello").await?;
    ensure!(row["state"] == "running", "{row}");
    // The other module answered all along.
    host.command_ok("status", "osd status").await?;
    Ok(())
}

#[tokio::test]
async fn the_shipped_osdwatch_runs_from_its_source() -> Result<()> {
    let host = Host::start(&[], None, &[]).await?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/osdwatch/osdwatch.js");
    install_module(&source, &host.modules_dir(), "osdwatch")?;
    let (row, _) = settled(&host, "osdwatch").await?;
    ensure!(row["state"] == "running", "{row}");
    // The runtime's loop calls its `tick`...
    host.wait_for(Duration::from_secs(30), "osdwatch's ticks", || async {
        let s = host.command_json("osdwatch", "osdwatch status").await?;
        Ok((s["ticks"].as_u64() > Some(1)).then_some(()))
    })
    .await?;
    // ...and hands it its notifies between ticks.
    host.ceph("osd down 3").await?;
    let events = host
        .wait_for(Duration::from_secs(20), "the down event", || async {
            let e = host
                .command_json("osdwatch", "osdwatch events --format json")
                .await?;
            let seen = e
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["osd"] == 3 && e["change"] == "down"));
            Ok(seen.then_some(e))
        })
        .await?;
    let status = host.command_json("osdwatch", "osdwatch status").await?;
    ensure!(
        status["notifies"].as_u64() > Some(0) && status["up"] == 11,
        "{status}"
    );
    let (code, page) = host.get("/modules/osdwatch/").await?;
    ensure!(code == 200, "{code} {page}");
    let page: Value = serde_json::from_str(&page)?;
    ensure!(page == events, "{page} vs {events}");
    // A reload keeps the events (the store) and the ticks go on.
    let (code, answer) = host.module_op("osdwatch", "reload").await?;
    ensure!(code == 200 && answer["result"] == "reloaded", "{answer}");
    host.wait_for(
        Duration::from_secs(30),
        "ticks after the reload",
        || async {
            let s = host.command_json("osdwatch", "osdwatch status").await?;
            Ok((s["ticks"].as_u64() > Some(0)).then_some(()))
        },
    )
    .await?;
    let after = host
        .command_json("osdwatch", "osdwatch events --format json")
        .await?;
    ensure!(after == events, "after the reload: {after}");
    Ok(())
}

#[tokio::test]
async fn a_componentized_javascript_module_still_runs() -> Result<()> {
    // osdwatch built into a component of its own for 0.1.0's `module-sync` world.
    let host = Host::start(&["osdwatch-sync as osdwatch"], None, &[]).await?;
    let row = host.module("osdwatch").await?;
    ensure!(row["state"] == "running", "{row}");
    ensure!(
        row["path"].as_str().is_some_and(|p| p.ends_with(".wasm")),
        "{row}"
    );
    host.wait_for(FIRST_LOAD, "osdwatch's first tick", || async {
        let s = host.command_json("osdwatch", "osdwatch status").await?;
        Ok((s["ticks"].as_u64() > Some(0)).then_some(()))
    })
    .await?;
    host.ceph("osd down 3").await?;
    host.wait_for(Duration::from_secs(20), "the down event", || async {
        let e = host
            .command_json("osdwatch", "osdwatch events --format json")
            .await?;
        let seen = e
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["osd"] == 3 && e["change"] == "down"));
        Ok(seen.then_some(()))
    })
    .await?;
    Ok(())
}

/// Proportional set size of a process, in KiB (`/proc/PID/smaps_rollup`), which
/// counts a page shared by several mappings once, divided among them.
fn pss_kib(pid: u32) -> Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no Pss in smaps_rollup")?
        .parse()
        .context("Pss")
}

/// N copies of osdwatch.js each run in an instance of their own of the one
/// runtime, taken from the compile cache as after any restart. The host's PSS is
/// printed (`--nocapture`); `make bench` (benches/runtimes.rs) is what judges it.
#[tokio::test]
async fn copies_of_a_module_run_side_by_side_on_one_runtime() -> Result<()> {
    const N: usize = 6;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/osdwatch/osdwatch.js");
    let mut host = Host::start(&[], None, &[]).await?;
    let modules = host.modules_dir();
    // Have the runtime in the compile cache, then measure a host that did not
    // compile anything.
    install_module(&source, &modules, "watch1")?;
    settled(&host, "watch1").await?;
    host.stop()?;
    std::fs::remove_file(modules.join("watch1.js"))?;
    host.start_again().await?;
    let pid = host.pid().context("host pid")?;
    let measure = || async {
        // Let the instances settle into their waits.
        tokio::time::sleep(Duration::from_secs(3)).await;
        pss_kib(pid)
    };
    let empty = measure().await?;
    install_module(&source, &modules, "watch1")?;
    settled(&host, "watch1").await?;
    let one = measure().await?;
    for i in 2..=N {
        install_module(&source, &modules, &format!("watch{i}"))?;
        let (row, _) = settled(&host, &format!("watch{i}")).await?;
        ensure!(row["state"] == "running", "{row}");
    }
    let all = measure().await?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let first = mib(one.saturating_sub(empty));
    let per = mib(all.saturating_sub(one)) / (N - 1) as f64;
    println!(
        "host PSS: no module {:.1} MiB, 1 module {:.1} MiB, {N} modules {:.1} MiB; \
         the first module {first:.1} MiB, each further one {per:.2} MiB",
        mib(empty),
        mib(one),
        mib(all),
    );
    // The figures are `make bench`'s to judge (benches/runtimes.rs); here it is
    // enough that every copy runs in its own instance.
    Ok(())
}
