//! Owns the command line: `run` (the default), `check`, `demo`, `hash-key`, `health`, and the
//! key commands (`keys`).

mod keys;

use crate::config::{self, Loaded};
use crate::demo::DemoArgs;
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "liveagent-gateway", version, about = "API gateway for the LiveAgent REST API v1")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run(RunArgs),
    /// Validate a configuration and its keys; list every problem and exit 1 if there are any.
    Check {
        #[arg(long, short, default_value = "config/gateway.yaml")]
        config: PathBuf,
    },
    /// Run the built-in LiveAgent simulator with the gateway in front of it and demo keys.
    Demo(DemoArgs),
    /// Read a key on stdin and print its SHA-256 hex digest for `key_sha256`.
    HashKey,
    /// Issue, list, rotate, disable, enable and remove client keys in the keys file.
    Keys(keys::KeysArgs),
    /// Exit 0 when the admin listener answers 200 on a path (for container health checks).
    Health {
        /// The admin listener.
        #[arg(long, default_value = "127.0.0.1:9100")]
        admin: String,
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    #[arg(long, short, default_value = "config/gateway.yaml")]
    config: PathBuf,
    /// Take the listening sockets over from the running instance (graceful upgrade).
    #[arg(long, short)]
    upgrade: bool,
    /// Detach and run in the background.
    #[arg(long, short)]
    daemon: bool,
    /// Where the process id is written (needed for upgrades).
    #[arg(long)]
    pid_file: Option<String>,
    /// The socket used to hand listeners over during an upgrade.
    #[arg(long)]
    upgrade_sock: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check { config }) => check(&config),
        Some(Command::Demo(args)) => demo(args),
        Some(Command::HashKey) => hash_key(),
        Some(Command::Keys(args)) => keys::run(args),
        Some(Command::Health { admin, path }) => health(&admin, &path),
    }
}

fn report(problems: &[config::Problem]) {
    for p in problems {
        eprintln!("error: {p}");
    }
}

fn load(path: &Path) -> Result<Loaded, ExitCode> {
    config::load(path).map_err(|problems| {
        report(&problems);
        eprintln!("{}: {} problem(s)", path.display(), problems.len());
        ExitCode::from(1)
    })
}

fn run(args: RunArgs) -> ExitCode {
    let loaded = match load(&args.config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    crate::proxy::server::init_logging(&loaded.config.log.level, loaded.config.log.json);
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
    let opts = crate::proxy::ServerOptions {
        config_path: Some(args.config),
        upgrade: args.upgrade,
        daemon: args.daemon,
        pid_file: args.pid_file,
        upgrade_sock: args.upgrade_sock,
    };
    match crate::proxy::run(loaded.config, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            // The Redis client is built (not connected) as `run` builds it: a URL or option the
            // client cannot use fails here.
            if let Some(r) = &loaded.config.redis {
                if let Err(e) = crate::admit::quota::redis::RedisQuota::new(r) {
                    eprintln!("error: redis: {e}");
                    return ExitCode::from(1);
                }
            }
            println!("{}: ok ({} keys)", path.display(), loaded.config.keys.len());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn hash_key() -> ExitCode {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        eprintln!("error: stdin is not text");
        return ExitCode::from(1);
    }
    // A trailing newline from `echo` or a terminal is not part of the key.
    let key = input.trim_end_matches(['\n', '\r']);
    if key.is_empty() {
        eprintln!("error: no key on stdin");
        return ExitCode::from(1);
    }
    println!("{}", crate::admit::auth::hash_key(key));
    ExitCode::SUCCESS
}

/// One GET over a plain socket: no HTTP client in the image is needed for a health check.
fn health(admin: &str, path: &str) -> ExitCode {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let timeout = std::time::Duration::from_secs(2);
    let probe = || -> std::io::Result<String> {
        let addr = admin.to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")?;
        let mut head = String::new();
        s.take(4096).read_to_string(&mut head)?;
        Ok(head)
    };
    match probe() {
        Ok(resp) if resp.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(resp) => {
            eprintln!("{}", resp.lines().next().unwrap_or("no answer"));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {admin}: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "demo")]
fn demo(args: DemoArgs) -> ExitCode {
    match crate::demo::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "demo"))]
fn demo(_args: DemoArgs) -> ExitCode {
    eprintln!("error: this build has no simulator: rebuild with the `demo` feature");
    ExitCode::from(1)
}
