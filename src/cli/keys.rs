//! Owns `liveagent-gateway keys …`: each command edits the configuration's `keys_file`
//! (`config::keys_edit`), checks the configuration as it would load with the edit, and only
//! then replaces the file; the running gateway follows through its reload.

use crate::config::keys_edit::{self, KeysDoc, NewKey};
use crate::config::{self, Problem};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The gateway's configuration; its `keys_file` is the file changed.
    #[arg(long, short, default_value = "config/gateway.yaml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Issue a key: 256 random bits, printed once; only its SHA-256 is stored.
    New(NewArgs),
    /// List every configured key: id, state, limits, zone, digests, expiry. Never a key.
    List,
    /// Give a key a new secret on the same id (and quota); the old one stops after --overlap.
    Rotate {
        id: String,
        /// How long the old secret keeps working (ms, s, m, h or d).
        #[arg(long, default_value = "7d")]
        overlap: String,
        /// Print only the new key.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Refuse a key (401) until it is enabled again.
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    /// Delete a key from the keys file.
    Remove {
        id: String,
    },
}

#[derive(Debug, Args)]
struct NewArgs {
    #[arg(long)]
    id: String,
    #[arg(long)]
    per_second: Option<u32>,
    #[arg(long)]
    burst: Option<u32>,
    #[arg(long)]
    per_day: Option<u64>,
    #[arg(long)]
    per_month: Option<u64>,
    /// RFC 3339, e.g. 2027-03-31T00:00:00Z.
    #[arg(long)]
    expires_at: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    not_before: Option<String>,
    /// IANA zone of this key's daily and monthly quotas.
    #[arg(long)]
    quota_timezone: Option<String>,
    /// A method (GET) or an endpoint template (/api/tickets*) the key may call; repeat it.
    /// Without any, the key may call everything.
    #[arg(long)]
    allow: Vec<String>,
    /// Print only the key, for scripts.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: KeysArgs) -> ExitCode {
    let result = match args.command {
        KeysCommand::List => list(&args.config),
        KeysCommand::New(new) => issue(&args.config, new),
        KeysCommand::Rotate { id, overlap, quiet } => rotate(&args.config, &id, &overlap, quiet),
        KeysCommand::Disable { id } => {
            edit(&args.config, |d| d.set_enabled(&id, false)).map(|p| println!("{id}: disabled in {}", p.display()))
        }
        KeysCommand::Enable { id } => {
            edit(&args.config, |d| d.set_enabled(&id, true)).map(|p| println!("{id}: enabled in {}", p.display()))
        }
        KeysCommand::Remove { id } => edit(&args.config, |d| d.remove(&id)).map(|p| println!("{id}: removed from {}", p.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn problems(ps: &[Problem]) -> String {
    ps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: ")
}

/// Applies `change` to the keys file, checks the whole configuration with the result, and
/// replaces the file only if it loads. Returns the file's path.
fn edit(config: &Path, change: impl FnOnce(&mut KeysDoc) -> Result<(), String>) -> Result<PathBuf, String> {
    let path = config::keys_file_of(config)
        .map_err(|p| problems(&p))?
        .ok_or_else(|| format!("{} has no keys_file: add `keys_file: keys.yaml` to it for `keys` to manage", config.display()))?;
    let mut doc = KeysDoc::open(&path)?;
    change(&mut doc)?;
    let text = doc.text()?;
    config::load_with_keys_text(config, &text)
        .map_err(|p| format!("the change would not load, so nothing was written:\nerror: {}", problems(&p)))?;
    doc.save(&text)?;
    if doc.had_comments {
        eprintln!("note: the comments of {} were not kept (keys and fields were, in order)", path.display());
    }
    Ok(path)
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn issue(config: &Path, a: NewArgs) -> Result<(), String> {
    let (key, sha256) = keys_edit::generate()?;
    let new = NewKey {
        id: a.id.clone(),
        sha256,
        per_second: a.per_second,
        burst: a.burst,
        per_day: a.per_day,
        per_month: a.per_month,
        expires_at: a.expires_at,
        not_before: a.not_before,
        quota_timezone: a.quota_timezone,
        allow: a.allow,
    };
    let path = edit(config, |d| d.add(&new))?;
    if a.quiet {
        println!("{key}");
    } else {
        println!("issued key {:?}; only its SHA-256 is stored, in {}; this is the only time the key is shown:", a.id, path.display());
        println!("{key}");
    }
    Ok(())
}

fn rotate(config: &Path, id: &str, overlap: &str, quiet: bool) -> Result<(), String> {
    let overlap = config::parse_duration(overlap).map_err(|e| format!("--overlap: {e}"))?;
    let now = now();
    let until = now.saturating_add(i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX));
    let until_text = jiff::Timestamp::from_second(until).map_err(|e| format!("--overlap: {e}"))?.to_string();
    let (key, sha256) = keys_edit::generate()?;
    let mut kept = 0;
    let path = edit(config, |d| {
        kept = d.rotate(id, &sha256, now, &until_text)?;
        Ok(())
    })?;
    if quiet {
        println!("{key}");
    } else {
        println!("rotated key {id:?} in {}; the new key, shown this once:", path.display());
        println!("{key}");
        println!(
            "the previous key{} keep{} working until {until_text}",
            if kept == 1 { "" } else { "s" },
            if kept == 1 { "s" } else { "" }
        );
    }
    Ok(())
}

fn list(config: &Path) -> Result<(), String> {
    let loaded = config::load(config).map_err(|p| problems(&p))?;
    let now = now();
    let none = || "-".to_string();
    let mut rows =
        vec![["ID", "STATE", "PER_SECOND", "BURST", "PER_DAY", "PER_MONTH", "TIMEZONE", "DIGESTS", "EXPIRES_AT"].map(String::from)];
    for k in &loaded.config.keys {
        let l = k.limits;
        let digests: Vec<String> = k
            .digests
            .iter()
            .map(|d| {
                let fp = crate::admit::usage::fingerprint(&d.sha256);
                d.expires_at.map_or(fp.clone(), |e| format!("{fp}(until {})", k.zone.rfc3339(e)))
            })
            .collect();
        rows.push([
            k.id.clone(),
            crate::admit::usage::state(k, now).to_string(),
            l.per_second.to_string(),
            l.burst.to_string(),
            l.per_day.map_or_else(none, |v| v.to_string()),
            l.per_month.map_or_else(none, |v| v.to_string()),
            k.zone.name().to_string(),
            digests.join(","),
            k.expiry().map_or_else(none, |e| k.zone.rfc3339(e)),
        ]);
    }
    let widths: Vec<usize> = (0..9).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}
