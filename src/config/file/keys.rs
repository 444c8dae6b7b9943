//! Owns the file model of client keys: an entry of `keys:` (in the configuration or the keys
//! file), its digests, limits and allow list, exactly as users write them.

use serde::Deserialize;

/// A key's own limits; each missing field is taken from the top-level `limits:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimitsFile {
    pub per_second: Option<u32>,
    pub burst: Option<u32>,
    pub per_day: Option<u64>,
    pub per_month: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub id: String,
    /// One digest, or a list of them (a key being rotated), each maybe with its own validity.
    #[serde(default)]
    pub key_sha256: Option<DigestsFile>,
    /// Plain-text key, for development only (`check` warns).
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub limits: Option<KeyLimitsFile>,
    #[serde(default)]
    pub upstream_apikey: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub allow: Option<AllowFile>,
    /// RFC 3339 instants bounding when the key is accepted.
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    /// This key's quota zone, over the top-level `quota_timezone`.
    #[serde(default)]
    pub quota_timezone: Option<String>,
}

/// `key_sha256`: one hex digest, or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DigestsFile {
    One(String),
    Many(Vec<DigestFile>),
}

/// An entry of a `key_sha256` list: a hex digest, or one with its own validity.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DigestFile {
    Plain(String),
    Timed(TimedDigestFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimedDigestFile {
    pub sha256: String,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// What a key may call; a missing list allows everything.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowFile {
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub endpoints: Option<Vec<String>>,
}

/// The separate keys file: only a `keys:` list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default)]
    pub keys: Vec<KeyFile>,
}

fn default_true() -> bool {
    true
}
