//! The `liveagent-sim` binary: serve the simulator on an address until Ctrl-C.

use liveagent_sim::{start, SimOptions};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8081".to_string();
    let mut options = SimOptions::default();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--apikey", Some(v)) => options.apikey = v,
            _ => {
                eprintln!("usage: liveagent-sim [--listen ADDR] [--apikey KEY]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let Ok(addr) = listen.parse() else {
        eprintln!("error: {listen:?} is not an address");
        return std::process::ExitCode::from(2);
    };
    match start(addr, options).await {
        Ok(sim) => {
            println!("liveagent-sim listening on http://{}", sim.addr());
            let _ = tokio::signal::ctrl_c().await;
            sim.shutdown().await;
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
