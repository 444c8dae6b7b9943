//! Owns the `log:` settings: the level and format of every line, and where the access log goes
//! and how it is batched.

use super::check::Check;
use super::file::LogFile;
use super::{AccessTo, Log};
use std::path::PathBuf;

pub(super) fn log(c: &mut Check, f: &LogFile) -> Option<Log> {
    let level = f.level.as_str();
    let level_ok = ["error", "warn", "info", "debug", "trace"].contains(&level);
    if !level_ok {
        c.fail("log.level", format!("{level:?} is not one of error, warn, info, debug, trace"));
    }
    let json = match f.format.as_str() {
        "json" => Some(true),
        "text" => Some(false),
        other => {
            c.fail("log.format", format!("{other:?} is not one of json, text"));
            None
        }
    };
    let access = match f.access.as_str() {
        "stderr" => AccessTo::Stderr,
        "stdout" => AccessTo::Stdout,
        "off" => AccessTo::Off,
        "" => {
            c.fail("log.access", "must be stderr, stdout, off or a file path");
            AccessTo::Off
        }
        path => {
            let path = PathBuf::from(path);
            if !path.parent().is_none_or(|d| d.as_os_str().is_empty() || d.is_dir()) {
                c.fail("log.access", format!("the directory of {} does not exist", path.display()));
            }
            AccessTo::File(path)
        }
    };
    if !(512..=64 << 20).contains(&f.buffer) {
        c.fail("log.buffer", "must be between 512 bytes and 64 MiB");
    }
    let flush = c.duration("log.flush", &f.flush);
    Some(Log { level: level.to_string(), json: json?, access, buffer: usize::try_from(f.buffer).unwrap_or(usize::MAX), flush: flush? })
        .filter(|_| level_ok)
}

#[cfg(test)]
mod tests {
    use crate::config::{from_yaml, AccessTo};
    use std::path::Path;

    #[test]
    fn access_destinations_and_batching() {
        let load =
            |log: &str| from_yaml(&format!("upstream: {{url: \"http://x\"}}\nkeys: [{{id: a, key: k}}]\nlog: {log}\n"), Path::new("/srv"));
        let default = load("{}").map(|l| (l.config.log.access, l.config.log.buffer, l.config.log.flush.as_millis()));
        assert_eq!(default.ok(), Some((AccessTo::Stderr, 65_536, 1000)));
        let file = load("{access: /tmp/access.log, flush: 200ms, buffer: 4096}").map(|l| l.config.log.access);
        assert_eq!(file.ok(), Some(AccessTo::File("/tmp/access.log".into())));
        let relative = load("{access: access.log}").map(|l| l.config.log.access);
        assert_eq!(relative.ok(), Some(AccessTo::File("/srv/access.log".into())), "beside the configuration");
        let bad = load("{access: /nonexistent/dir/access.log, buffer: 10, flush: 0s}").err().unwrap_or_default();
        let paths: Vec<&str> = bad.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["log.access", "log.buffer", "log.flush"]);
    }
}
