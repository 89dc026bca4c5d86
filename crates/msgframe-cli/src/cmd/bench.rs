//! `msgframe bench`: a load run on loopback with an in-process server and clients.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use msgframe_conn::{ClosePolicy, Connection, LongClient, Reply, Server, ShortClient};
use serde_json::json;

use crate::cli::BenchArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::outln;

/// The longest one exchange may take before the run is called failed.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: BenchArgs) -> Result<()> {
    let framing = input::framing(&args.framing)?;
    if args.connections == 0 || args.count == 0 {
        return Err(Failure::usage(
            "--count and --connections must be at least 1",
        ));
    }
    let body = Bytes::from(vec![b'x'; args.size]);
    input::frameable(
        &framing,
        &args.framing,
        &body,
        &format!("a {}-byte message", args.size),
    )?;
    let server = Server::builder(framing.clone())
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::peer(format!("cannot start the loopback server: {e}")))?;
    let addr = server.local_addr().to_string();
    let handle = server.handle();
    // A host that closes after its reply, for clients that wait for it to.
    let host_closes = args.short && args.short_args.close == ClosePolicy::HostFirst;
    let serving = tokio::spawn(server.serve(move |_c: Connection, m: Bytes| async move {
        if host_closes {
            Reply::SendAndClose(m)
        } else {
            Reply::Send(m)
        }
    }));

    let style = Style::new(args.common.json);
    let progress = if !style.json && std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(args.count), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} exchanges  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let per_connection = args.count / args.connections as u64;
    let extra = args.count % args.connections as u64;
    let mut tasks = Vec::with_capacity(args.connections);
    for k in 0..args.connections {
        let n = per_connection + u64::from((k as u64) < extra);
        let addr = addr.clone();
        let framing = framing.clone();
        let body = body.clone();
        let progress = progress.clone();
        let short = args.short.then(|| {
            (
                args.short_args.close,
                args.short_args.local_addresses.clone(),
            )
        });
        tasks.push(tokio::spawn(async move {
            client(short, &addr, framing, body, n, progress).await
        }));
    }
    let mut latencies = new_histogram();
    for task in tasks {
        let h = task
            .await
            .map_err(|e| Failure::peer(format!("a client task failed: {e}")))??;
        latencies
            .add(&h)
            .map_err(|e| Failure::peer(format!("merging latencies: {e}")))?;
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let time_wait = handle
        .local_addr()
        .to_string()
        .parse()
        .ok()
        .and_then(msgframe_conn::time_wait_toward);
    handle.shutdown();
    let _ = serving.await;
    report(&style, &args, elapsed, &latencies, time_wait)
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

/// One client's share of the run: short connections closed by `short`'s policy, or one long one.
async fn client(
    short: Option<(ClosePolicy, Vec<std::net::IpAddr>)>,
    addr: &str,
    framing: msgframe_codec::Framing,
    body: Bytes,
    n: u64,
    progress: ProgressBar,
) -> Result<Histogram<u64>> {
    let mut h = new_histogram();
    let mut record = |took: Duration| {
        let _ = h.record((took.as_micros() as u64).max(1));
        progress.inc(1);
    };
    if let Some((close, local)) = short {
        let client = ShortClient::new(framing)
            .timeout(EXCHANGE_TIMEOUT)
            .close(close)
            .local_addresses(local);
        for _ in 0..n {
            let start = Instant::now();
            let reply = client.request(addr, &body).await?;
            check(&reply, &body)?;
            record(start.elapsed());
        }
    } else {
        let client = LongClient::builder([addr.to_owned()], framing).start()?;
        client.wait_connected(EXCHANGE_TIMEOUT).await?;
        for _ in 0..n {
            let start = Instant::now();
            let reply = client.request(body.clone(), EXCHANGE_TIMEOUT).await?;
            check(&reply, &body)?;
            record(start.elapsed());
        }
        client.close().await;
    }
    Ok(h)
}

fn check(reply: &[u8], body: &[u8]) -> Result<()> {
    if reply == body {
        Ok(())
    } else {
        Err(Failure::peer(format!(
            "the echo came back different: {} bytes for {}",
            reply.len(),
            body.len()
        )))
    }
}

fn report(
    style: &Style,
    args: &BenchArgs,
    elapsed: Duration,
    h: &Histogram<u64>,
    time_wait: Option<usize>,
) -> Result<()> {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = args.count as f64 / secs;
    // Bodies both ways.
    let mb = (args.count as f64 * args.size as f64 * 2.0) / 1e6 / secs;
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    if style.json {
        return dump::json_line(json!({
            "event": "summary",
            "framing": args.framing,
            "size": args.size,
            "count": args.count,
            "connections": args.connections,
            "short": args.short,
            "close": args.short.then(|| close_name(args.short_args.close)),
            "time_wait": time_wait,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "messages_per_second": rate.round(),
            "mb_per_second": (mb * 100.0).round() / 100.0,
            "latency_ms": {
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
                "max": h.max() as f64 / 1000.0,
            },
        }));
    }
    outln!(
        "{}",
        style.heading(&format!(
            "{} exchanges of {} bytes, {}, {} {} connection{}, in {:.2} s",
            args.count,
            args.size,
            args.framing,
            args.connections,
            if args.short { "short" } else { "long" },
            if args.connections == 1 { "" } else { "s" },
            secs
        ))
    )?;
    outln!("  {rate:.0} exchanges/s, {mb:.2} MB/s of bodies (both ways)")?;
    if let Some(n) = time_wait.filter(|_| args.short) {
        outln!(
            "  {n} client sockets left in TIME_WAIT toward the host (--close {})",
            close_name(args.short_args.close)
        )?;
    }
    outln!(
        "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max() as f64 / 1000.0
    )
}

/// A close policy by the name the command line takes.
fn close_name(policy: ClosePolicy) -> &'static str {
    match policy {
        ClosePolicy::Abortive => "abortive",
        ClosePolicy::HostFirst => "host-first",
        _ => "graceful",
    }
}
