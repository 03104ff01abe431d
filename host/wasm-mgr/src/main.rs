//! The `wasm-mgr` command line: run a host, or talk to a running one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use wasm_mgr::cli::{Client, module_table, status_text};
use wasm_mgr::scaffold::{Lang, new_module};
use wasm_mgr::serve::ClusterKind;
use wasm_mgr::serve::{HaOptions, HaPlace, ServeOptions, start};
use wasm_mgr_ceph::CephConfig;
use wasm_mgr_sim::SimConfig;

/// A Ceph manager host whose modules are sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// API address of the host to talk to, `HOST:PORT` or a URL (for every command
    /// but `serve`).
    #[arg(
        long,
        global = true,
        env = "WASM_MGR_HOST",
        default_value = "127.0.0.1:7000"
    )]
    host: String,
    /// The API token (default: read from `--token-file`).
    #[arg(long, global = true, env = "WASM_MGR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where the host keeps its API token (`STATE/api-token`).
    #[arg(long, global = true, default_value = ".state/api-token")]
    token_file: PathBuf,
    #[command(subcommand)]
    command: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Run the host: load every component in the modules folder and serve the API.
    Serve(Box<ServeArgs>),
    /// This host's role (active or standby), the active host and the lease age.
    Status {
        /// `json` for the raw answer.
        #[arg(long, default_value = "plain")]
        format: String,
    },
    /// Make the active host of an HA group hand over to a standby, as
    /// `ceph mgr fail` does; it competes again after one lease.
    StepDown,
    /// Manage modules.
    Module {
        #[command(subcommand)]
        action: ModuleAction,
    },
    /// Compile a component for this host's engine into a file, as the host does
    /// in a child process for its language runtimes (its memory then never holds
    /// the compiler's working set). Runs at low CPU priority.
    #[command(hide = true)]
    Compile {
        /// The component.
        input: PathBuf,
        /// Where the compiled form goes.
        output: PathBuf,
    },
    /// Run a module command, ceph-style: `wasm-mgr command status osd status`.
    Command {
        /// The command's input, from a file (`-` for standard input), as `ceph -i`;
        /// `-i FILE` among the words works too: `command crash crash post -i report.json`.
        #[arg(short = 'i', long = "in-file")]
        input: Option<PathBuf>,
        /// Module name.
        module: String,
        /// The command's words (`--format json` passes through).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
    /// Write a new module: Python or JavaScript source that runs as it is, or a
    /// project that builds a component (Rust, or `--component`).
    New {
        /// Module name (a-z, 0-9, -).
        name: String,
        /// Language.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// Python or JavaScript built into a component of its own, instead of
        /// plain source on the shared runtime (Rust always is a component).
        #[arg(long)]
        component: bool,
        /// Folder to write it in: `<dir>/<name>.py` or `.js` for plain source
        /// (the modules folder itself, to run it at once), `<dir>/<name>` for a
        /// project.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The wasm-mgr project (for its SDKs and contract).
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Run a cluster command, as the `ceph` CLI: `wasm-mgr ceph osd down 3`.
    Ceph {
        /// The command's words.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        words: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ModuleAction {
    /// List modules with version, state, restarts and last error.
    Ls {
        /// `json` for the raw answer.
        #[arg(long, default_value = "plain")]
        format: String,
    },
    /// Start a module the operator disabled; kept across host restarts.
    Enable {
        /// Module name.
        name: String,
    },
    /// Stop a module and keep it stopped, across host restarts too.
    Disable {
        /// Module name.
        name: String,
    },
    /// Load a module's file again and switch to the new instance without downtime.
    Reload {
        /// Module name.
        name: String,
    },
    /// Set a module option at run time (over the config file's value), as
    /// `ceph config set mgr mgr/<module>/<option>`: kept in the module store,
    /// applied by a reload.
    SetOption {
        /// Module name.
        name: String,
        /// Option name.
        option: String,
        /// Value (typed as the module declares the option).
        value: String,
    },
    /// Clear an option set with `set-option`.
    RmOption {
        /// Module name.
        name: String,
        /// Option name.
        option: String,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Folder of module components (`*.wasm`).
    #[arg(long, default_value = "target/modules")]
    modules: PathBuf,
    /// Cluster source: `sim` (embedded simulated cluster) or `ceph` (a real one
    /// through librados).
    #[arg(long, value_enum, default_value_t = ClusterKind::Sim)]
    cluster: ClusterKind,
    /// `ceph.conf` of the real cluster (with `--cluster ceph`).
    #[arg(long, default_value = "/etc/ceph/ceph.conf")]
    ceph_conf: PathBuf,
    /// Keyring, if not the one `ceph.conf` names (with `--cluster ceph`).
    #[arg(long)]
    keyring: Option<PathBuf>,
    /// Entity to authenticate as (with `--cluster ceph`).
    #[arg(long, default_value = "client.admin")]
    name: String,
    /// How often to read PG statistics (`pg dump`, `df`) from the active
    /// ceph-mgr, in milliseconds (maps are pushed by the monitors; daemons
    /// report their statistics to ceph-mgr every 5 s).
    #[arg(long, default_value_t = 5000)]
    ceph_pg_ms: u64,
    /// How often to read the daemons' perf counters, in milliseconds (0: never).
    #[arg(long, default_value_t = 5000)]
    ceph_perf_ms: u64,
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// State folder: module store and compiled-component cache.
    #[arg(long, default_value = ".state")]
    state_dir: PathBuf,
    /// Compiled-component cache (default `STATE/compiled`); hosts may share one.
    #[arg(long)]
    compile_cache: Option<PathBuf>,
    /// API listen address.
    #[arg(long, default_value = "127.0.0.1:7000")]
    http: SocketAddr,
    /// Serve the API without a token (refused on a non-loopback address).
    #[arg(long)]
    no_auth: bool,
    /// This host's manager id (default: `[host] mgr_id`, else `x`); hosts of one
    /// HA group need different ids.
    #[arg(long)]
    id: Option<String>,
    /// High availability over a folder the hosts on this machine share: the lease
    /// and the module store live there.
    #[arg(long, conflicts_with = "ha_pool")]
    ha_dir: Option<PathBuf>,
    /// High availability through the real cluster (`--cluster ceph`): the lease is
    /// a RADOS lock on an object in this pool, which also keeps the module store.
    #[arg(long)]
    ha_pool: Option<String>,
    /// The lease object in `--ha-pool`.
    #[arg(long, default_value = "wasm-mgr")]
    ha_object: String,
    /// Lease duration in milliseconds: the active renews every third of it, and a
    /// standby takes over once it expired.
    #[arg(long, default_value_t = 3000)]
    lease_ms: u64,
    /// Seed of the simulated cluster.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Monitors in the simulated cluster.
    #[arg(long, default_value_t = 3)]
    mons: u32,
    /// Hosts in the simulated cluster.
    #[arg(long, default_value_t = 4)]
    hosts: u32,
    /// OSDs in the simulated cluster.
    #[arg(long, default_value_t = 12)]
    osds: u32,
    /// Pools in the simulated cluster.
    #[arg(long, default_value_t = 3)]
    pools: u32,
    /// Total PGs (default: about 100 per OSD).
    #[arg(long)]
    pgs: Option<u64>,
    /// CephFS file systems.
    #[arg(long, default_value_t = 1)]
    filesystems: u32,
    /// How often the simulated cluster moves, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
}

fn main() -> ExitCode {
    wasm_mgr_runtime::engine::tune_memory();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let token = cli.token.clone().or_else(|| {
        std::fs::read_to_string(&cli.token_file)
            .ok()
            .map(|t| t.trim().to_string())
    });
    let client = Client::new(&cli.host, token);
    match cli.command {
        Action::Serve(args) => {
            let sim = SimConfig {
                seed: args.seed,
                mons: args.mons,
                hosts: args.hosts,
                osds: args.osds,
                pools: args.pools,
                pgs: args.pgs,
                filesystems: args.filesystems,
                tick: Duration::from_millis(args.tick_ms.max(1)),
            };
            let ceph = CephConfig {
                conf: args.ceph_conf,
                keyring: args.keyring,
                name: args.name,
                pg_interval: Duration::from_millis(args.ceph_pg_ms.max(100)),
                perf_interval: Duration::from_millis(args.ceph_perf_ms),
                ..CephConfig::default()
            };
            let place = match (args.ha_dir, args.ha_pool) {
                (Some(dir), _) => Some(HaPlace::Folder(dir)),
                (None, Some(pool)) => Some(HaPlace::Pool {
                    pool,
                    object: args.ha_object,
                }),
                (None, None) => None,
            };
            let host = start(ServeOptions {
                id: args.id,
                ha: place.map(|place| HaOptions {
                    place,
                    lease: Duration::from_millis(args.lease_ms.max(300)),
                }),
                modules: args.modules,
                cluster: args.cluster,
                ceph,
                config: args.config,
                state_dir: args.state_dir,
                compile_cache: args.compile_cache,
                http: args.http,
                no_auth: args.no_auth,
                sim,
            })
            .await?;
            host.run_until_signal().await?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Status { format } => {
            let status = client.status().await?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{}", status_text(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::StepDown => {
            println!("{}", client.step_down().await?);
            Ok(ExitCode::SUCCESS)
        }
        Action::Module { action } => {
            let (name, op) = match action {
                ModuleAction::Ls { format } => {
                    let rows = client.modules().await?;
                    if format == "json" {
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                    } else {
                        println!("{}\n", status_text(&client.status().await?));
                        println!("{}", module_table(&rows));
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                ModuleAction::Enable { name } => (name, "enable"),
                ModuleAction::Disable { name } => (name, "disable"),
                ModuleAction::Reload { name } => (name, "reload"),
                ModuleAction::SetOption {
                    name,
                    option,
                    value,
                } => {
                    let done = client.set_option(&name, &option, Some(&value)).await?;
                    println!("{name}: {option} = {value}; {done}");
                    return Ok(ExitCode::SUCCESS);
                }
                ModuleAction::RmOption { name, option } => {
                    let done = client.set_option(&name, &option, None).await?;
                    println!("{name}: {option} cleared; {done}");
                    return Ok(ExitCode::SUCCESS);
                }
            };
            println!("{name}: {}", client.module_op(&name, op).await?);
            Ok(ExitCode::SUCCESS)
        }
        Action::Compile { input, output } => {
            // SAFETY: setpriority on this process only.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            }
            wasm_mgr_runtime::engine::compile_to_file(&input, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Action::New {
            name,
            lang,
            component,
            dir,
            project,
        } => {
            let (out, put) = new_module(&name, lang, component, &dir, &project)?;
            println!("wrote {}", out.display());
            if out.is_file() {
                println!(
                    "the host runs it as it is from its modules folder: nothing to build \
                     (written there, it runs already; saving it reloads it):"
                );
            } else {
                println!("build it into the host's modules folder, which the host watches:");
            }
            println!("  MODULES=target/modules   # or the folder given to `serve --modules`");
            println!("  {put}");
            Ok(ExitCode::SUCCESS)
        }
        Action::Command {
            input,
            module,
            words,
        } => {
            let (words, from_words) = wasm_mgr::cli::take_input(words)?;
            let inbuf = match input.or(from_words) {
                Some(path) => wasm_mgr::cli::read_input(&path)?,
                None => String::new(),
            };
            let out = client.module_command(&module, &words, &inbuf).await?;
            Ok(print_output(out))
        }
        Action::Ceph { words } => {
            let out = client.ceph(&words).await?;
            Ok(print_output(out))
        }
    }
}

/// Prints a command's output as the ceph CLI does and turns its retval into the
/// exit code.
fn print_output(out: wasm_mgr::cli::Output) -> ExitCode {
    if !out.stdout.is_empty() {
        print!("{}", out.stdout);
        if !out.stdout.ends_with('\n') {
            println!();
        }
    }
    if !out.stderr.is_empty() {
        eprintln!("{}", out.stderr.trim_end());
    }
    if out.retval == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(u8::try_from(out.retval.unsigned_abs().min(255)).unwrap_or(1))
    }
}
