//! Owns changes to the keys file made by `liveagent-gateway keys`: adding, rotating,
//! disabling, enabling and removing a key as edits of the file's YAML, and writing the result
//! atomically (a temporary file in the same directory, synced, then renamed over the old one),
//! so the running gateway's reload sees the old file or the new one, never half of one.
//!
//! The YAML crate keeps the order of keys and of their fields, and every field the commands do
//! not touch, but not comments: a file with comments says so once in a header comment.

use serde_norway::{Mapping, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The first line of every file the commands write.
pub const HEADER: &str = "# Managed by `liveagent-gateway keys`: edits keep every key and field in order, not comments.\n";

/// A key to add: its id, digest, and what the command line gave.
#[derive(Debug, Default)]
pub struct NewKey {
    pub id: String,
    pub sha256: String,
    pub per_second: Option<u32>,
    pub burst: Option<u32>,
    pub per_day: Option<u64>,
    pub per_month: Option<u64>,
    pub expires_at: Option<String>,
    pub not_before: Option<String>,
    pub quota_timezone: Option<String>,
    /// Methods (`GET`) and endpoint templates (`/api/tickets*`).
    pub allow: Vec<String>,
}

/// The keys file as YAML, and where it lives.
#[derive(Debug)]
pub struct KeysDoc {
    pub path: PathBuf,
    root: Mapping,
    /// Whether the file had comments, which a save drops.
    pub had_comments: bool,
}

fn key(name: &str) -> Value {
    Value::String(name.to_string())
}

impl KeysDoc {
    /// Reads the keys file; a file that does not exist yet is an empty list.
    pub fn open(path: &Path) -> Result<KeysDoc, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let had_comments = text.lines().any(|l| l.trim_start().starts_with('#') && l != HEADER.trim_end());
        let root = match serde_norway::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => return Err(format!("{}: must be a mapping with a `keys:` list", path.display())),
        };
        Ok(KeysDoc { path: path.to_path_buf(), root, had_comments })
    }

    fn list(&mut self) -> Result<&mut Vec<Value>, String> {
        let keys = self.root.entry(key("keys")).or_insert_with(|| Value::Sequence(Vec::new()));
        if keys.is_null() {
            *keys = Value::Sequence(Vec::new());
        }
        keys.as_sequence_mut().ok_or_else(|| "`keys:` must be a list".to_string())
    }

    fn entry(&mut self, id: &str) -> Result<&mut Mapping, String> {
        let path = self.path.display().to_string();
        self.list()?
            .iter_mut()
            .filter_map(Value::as_mapping_mut)
            .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
            .ok_or_else(|| format!("no key {id:?} in {path}"))
    }

    /// Whether a key `id` is in the file.
    pub fn has(&mut self, id: &str) -> bool {
        self.entry(id).is_ok()
    }

    pub fn add(&mut self, new: &NewKey) -> Result<(), String> {
        if self.has(&new.id) {
            return Err(format!("key {:?} exists already: rotate it, or remove it first", new.id));
        }
        let mut m = Mapping::new();
        m.insert(key("id"), key(&new.id));
        m.insert(key("key_sha256"), key(&new.sha256));
        let mut limits = Mapping::new();
        let numbers = [
            ("per_second", new.per_second.map(u64::from)),
            ("burst", new.burst.map(u64::from)),
            ("per_day", new.per_day),
            ("per_month", new.per_month),
        ];
        for (name, v) in numbers {
            if let Some(v) = v {
                limits.insert(key(name), Value::Number(v.into()));
            }
        }
        if !limits.is_empty() {
            m.insert(key("limits"), Value::Mapping(limits));
        }
        for (name, v) in [("quota_timezone", &new.quota_timezone), ("not_before", &new.not_before), ("expires_at", &new.expires_at)] {
            if let Some(v) = v {
                m.insert(key(name), key(v));
            }
        }
        if !new.allow.is_empty() {
            let is_method = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_uppercase());
            let (methods, endpoints): (Vec<&String>, Vec<&String>) = new.allow.iter().partition(|a| is_method(a));
            let mut allow = Mapping::new();
            for (name, list) in [("methods", methods), ("endpoints", endpoints)] {
                if !list.is_empty() {
                    allow.insert(key(name), Value::Sequence(list.into_iter().map(|a| key(a)).collect()));
                }
            }
            m.insert(key("allow"), Value::Mapping(allow));
        }
        self.list()?.push(Value::Mapping(m));
        Ok(())
    }

    /// Adds `sha256` to key `id`; its other digests stop at `old_until` (an earlier expiry
    /// stands), and digests already expired at `now` are dropped. Returns the digests kept
    /// besides the new one.
    pub fn rotate(&mut self, id: &str, sha256: &str, now: i64, old_until: &str) -> Result<usize, String> {
        let until = super::parse_time(old_until)?;
        let entry = self.entry(id)?;
        if entry.contains_key("key") {
            return Err(format!("key {id:?} has a plain-text `key`: replace it with key_sha256 before rotating"));
        }
        // Taken in place (the field keeps its position), and put back below.
        let old: Vec<Value> = match entry.get_mut("key_sha256").map(std::mem::take) {
            Some(Value::String(s)) => vec![Value::String(s)],
            Some(Value::Sequence(list)) => list,
            _ => return Err(format!("key {id:?} has no key_sha256")),
        };
        let mut kept = Vec::with_capacity(old.len() + 1);
        for d in old {
            let mut m = match d {
                Value::String(s) => {
                    let mut m = Mapping::new();
                    m.insert(key("sha256"), Value::String(s));
                    m
                }
                Value::Mapping(m) => m,
                other => return Err(format!("key {id:?}: unexpected digest {other:?}")),
            };
            let expires = m.get("expires_at").and_then(Value::as_str).and_then(|t| super::parse_time(t).ok());
            if expires.is_some_and(|e| e <= now) {
                continue;
            }
            if expires.is_none_or(|e| e > until) {
                m.insert(key("expires_at"), key(old_until));
            }
            kept.push(Value::Mapping(m));
        }
        let n = kept.len();
        kept.push(key(sha256));
        entry.insert(key("key_sha256"), Value::Sequence(kept));
        Ok(n)
    }

    pub fn set_enabled(&mut self, id: &str, enabled: bool) -> Result<(), String> {
        let entry = self.entry(id)?;
        if enabled {
            // `enabled` defaults to true: the field goes rather than saying so (the others keep
            // their order).
            entry.shift_remove("enabled");
        } else {
            entry.insert(key("enabled"), Value::Bool(false));
        }
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Result<(), String> {
        self.entry(id)?;
        self.list()?.retain(|v| v.as_mapping().and_then(|m| m.get("id")).and_then(Value::as_str) != Some(id));
        Ok(())
    }

    /// The file's new text.
    pub fn text(&self) -> Result<String, String> {
        let body = serde_norway::to_string(&Value::Mapping(self.root.clone())).map_err(|e| e.to_string())?;
        Ok(format!("{HEADER}{body}"))
    }

    /// Replaces the file with `text`: written beside it, synced, renamed over it, and the
    /// directory synced, so a crash leaves the old file or the new one. The file keeps its
    /// permissions; a new file is readable by its owner only (it lists who may call LiveAgent).
    pub fn save(&self, text: &str) -> Result<(), String> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.path.file_name().map_or_else(|| "keys.yaml".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp.display());
        let write = || -> Result<(), String> {
            let mut f = std::fs::File::create(&tmp).map_err(|e| fail("create", e))?;
            let perms = std::fs::metadata(&self.path).map(|m| m.permissions()).unwrap_or_else(|_| owner_only());
            f.set_permissions(perms).map_err(|e| fail("set the permissions of", e))?;
            f.write_all(text.as_bytes()).map_err(|e| fail("write", e))?;
            f.sync_all().map_err(|e| fail("sync", e))?;
            std::fs::rename(&tmp, &self.path).map_err(|e| format!("cannot replace {}: {e}", self.path.display()))?;
            // The rename itself is durable once the directory is.
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot sync {}: {e}", dir.display()))
        };
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

fn owner_only() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o600)
}

/// A new client key: 256 random bits as 64 hex characters (safe in a query string, a form and
/// a header alike), and its digest for `key_sha256`.
pub fn generate() -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the system: {e}"))?;
    let key = hex::encode(bytes);
    let digest = crate::admit::auth::hash_key(&key);
    Ok((key, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> (tempfile::TempDir, KeysDoc) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("keys.yaml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let d = KeysDoc::open(&path).unwrap_or_else(|e| panic!("{e}"));
        (dir, d)
    }

    fn reparsed(d: &KeysDoc) -> Vec<crate::config::file::KeyFile> {
        let text = d.text().unwrap_or_else(|e| panic!("{e}"));
        serde_norway::from_str::<crate::config::file::KeysFile>(&text).unwrap_or_else(|e| panic!("{e}\n{text}")).keys
    }

    #[test]
    fn add_keeps_the_others_in_order() {
        let (_dir, mut d) = doc("# ours\nkeys:\n  - id: b\n    key_sha256: 00\n    upstream_apikey: x\n  - id: a\n    key: dev\n");
        assert!(d.had_comments);
        let new = NewKey {
            id: "c".into(),
            sha256: "ff".into(),
            per_day: Some(1000),
            allow: vec!["GET".into(), "/api/tickets*".into()],
            quota_timezone: Some("Asia/Tokyo".into()),
            ..NewKey::default()
        };
        assert!(d.add(&new).is_ok());
        assert!(d.add(&new).is_err(), "the id exists");
        let keys = reparsed(&d);
        let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert_eq!(keys[0].upstream_apikey.as_deref(), Some("x"), "untouched fields stay");
        let c = &keys[2];
        assert_eq!(c.limits.as_ref().and_then(|l| l.per_day), Some(1000));
        assert_eq!(c.allow.as_ref().and_then(|a| a.methods.clone()), Some(vec!["GET".to_string()]));
        assert_eq!(c.allow.as_ref().and_then(|a| a.endpoints.clone()), Some(vec!["/api/tickets*".to_string()]));
        assert!(d.text().is_ok_and(|t| t.starts_with(HEADER)));
    }

    #[test]
    fn rotate_expires_the_old_digests_and_drops_expired_ones() {
        let (_dir, mut d) = doc("keys:\n  - id: k\n    key_sha256: aa\n    enabled: true\n");
        assert_eq!(d.rotate("k", "bb", 100, "1970-01-01T00:10:00Z"), Ok(1));
        let text = d.text().unwrap_or_default();
        assert!(text.contains("sha256: aa") && text.contains("expires_at: 1970-01-01T00:10:00Z") && text.contains("- bb"), "{text}");
        assert!(text.find("key_sha256") < text.find("enabled"), "the field kept its place: {text}");
        // A second rotation after the first overlap ended drops the first digest.
        assert_eq!(d.rotate("k", "cc", 700, "1970-01-01T00:20:00Z"), Ok(1));
        let text = d.text().unwrap_or_default();
        assert!(!text.contains("aa") && text.contains("sha256: bb") && text.contains("- cc"), "{text}");
        // An earlier expiry is kept.
        assert_eq!(d.rotate("k", "dd", 700, "1970-01-02T00:00:00Z"), Ok(2));
        assert!(d.text().is_ok_and(|t| t.contains("1970-01-01T00:20:00Z")));
        assert!(d.rotate("nope", "ee", 0, "1970-01-02T00:00:00Z").is_err());
        assert!(d.rotate("k", "ee", 0, "tomorrow").is_err());
    }

    #[test]
    fn disable_enable_remove_and_save() {
        let (_dir, mut d) = doc("keys:\n  - id: a\n    key_sha256: aa\n  - id: b\n    key_sha256: bb\n");
        assert!(d.set_enabled("a", false).is_ok());
        assert!(!reparsed(&d)[0].enabled);
        assert!(d.set_enabled("a", true).is_ok());
        assert!(d.text().is_ok_and(|t| !t.contains("enabled")));
        assert!(d.remove("a").is_ok());
        assert!(d.remove("a").is_err());
        let text = d.text().unwrap_or_default();
        assert!(d.save(&text).is_ok());
        let again = KeysDoc::open(&d.path).map(|mut d| (d.has("a"), d.has("b"), d.had_comments));
        assert_eq!(again, Ok((false, true, false)));
        let leftovers = std::fs::read_dir(d.path.parent().unwrap_or(Path::new("."))).map(|r| r.count()).unwrap_or(0);
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        let (_other, mut d) = doc("keys:\n  - {id: a, enabled: false, key_sha256: aa, upstream_apikey: x}\n");
        assert!(d.set_enabled("a", true).is_ok());
        let text = d.text().unwrap_or_default();
        assert!(text.find("key_sha256") < text.find("upstream_apikey"), "order kept: {text}");
    }

    #[test]
    fn a_missing_file_is_an_empty_list_and_new_files_are_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("new.yaml");
        let mut d = KeysDoc::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(d.add(&NewKey { id: "x".into(), sha256: "ab".into(), ..NewKey::default() }).is_ok());
        assert!(d.save(&d.text().unwrap_or_default()).is_ok());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o600));
    }

    #[test]
    fn generated_keys_differ_and_match_their_digest() {
        let (a, da) = generate().unwrap_or_default();
        let (b, _) = generate().unwrap_or_default();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(da, crate::admit::auth::hash_key(&a));
    }
}
