//! Transcodes one body a number of times, for counting the transcoder's instructions under
//! `valgrind --tool=callgrind` (repeatable where timings on a shared host are not).
//!
//! cargo run --release --example transcode_count -- BODY.json xml|yaml [TIMES]

use liveagent_gateway::request::format::Format;
use liveagent_gateway::transcode;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(format)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: transcode_count BODY.json xml|yaml [TIMES]");
        return ExitCode::from(2);
    };
    let format = match format.as_str() {
        "xml" => Format::Xml,
        "yaml" => Format::Yaml,
        other => {
            eprintln!("unknown format {other}");
            return ExitCode::from(2);
        }
    };
    let times: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(10);
    let body = match std::fs::read(path) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut written = 0;
    for _ in 0..times {
        match transcode::transcode(std::hint::black_box(&body), format) {
            Ok(out) => written += out.len(),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    }
    println!("{times} × {} bytes in, {} bytes out each", body.len(), written / times.max(1));
    ExitCode::SUCCESS
}
