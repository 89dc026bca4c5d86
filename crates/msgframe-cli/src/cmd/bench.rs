//! `msgframe bench`: a load run against a host, or against an in-process echo host on loopback.
//!
//! Closed loop: connections × in-flight workers, each issuing its next request when the last is
//! answered. Open loop (`--rate`): requests issued on a fixed schedule whatever the host does,
//! each latency measured from its scheduled time (so a host that falls behind shows in the
//! percentiles instead of slowing the load down: no coordinated omission). Every request ends
//! answered, timed out or failed, and all three are counted.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use msgframe_conn::{
    ClosePolicy, Connection, Key, LongClient, LongClientBuilder, NotSent, Reply, Server,
    ShortClient,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cli::{BenchArgs, KeyFormat, KeySpec};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::outln;

/// The body size without --size or a payload.
const DEFAULT_SIZE: usize = 100;
/// The request count without --count or --duration.
const DEFAULT_COUNT: u64 = 100_000;
/// Requests in flight on each connection in open loop with --key, unless --in-flight.
const OPEN_LOOP_IN_FLIGHT: usize = 256;

/// One exchange's outcome: the reply, or why none came.
type Replied =
    Pin<Box<dyn Future<Output = std::result::Result<Bytes, msgframe_conn::Error>> + Send>>;

/// One exchange on connection `n` (modulo the connections).
type Exchange = Arc<dyn Fn(usize, Bytes) -> Replied + Send + Sync>;

pub async fn run(args: BenchArgs) -> Result<()> {
    let framing = input::framing(&args.framing)?;
    let payload = payload(&args)?;
    let plan = Plan::new(&args, payload.len())?;
    input::frameable(
        &framing,
        &args.framing,
        &payload,
        &format!("a {}-byte request", payload.len()),
    )?;

    // The in-process echo host, without --to.
    let mut own_host = None;
    let target = match &args.to {
        Some(to) => to.clone(),
        None => {
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
            own_host = Some((handle, serving));
            addr
        }
    };

    let style = Style::new(args.common.json);
    let check = if args.to.is_none() {
        Check::Echo
    } else if args.short && plan.key.is_some() {
        Check::Key
    } else {
        Check::None
    };
    let (exchange, clients) = if args.short {
        let client = ShortClient::new(framing)
            .connect_timeout(args.timeout)
            .timeout(args.timeout)
            .close(args.short_args.close)
            .local_addresses(args.short_args.local_addresses.iter().copied())
            // Open loop: no more connections at once than --connections.
            .max_per_host(args.connections);
        let to = target.clone();
        let exchange: Exchange = Arc::new(move |_, body| {
            let (client, to) = (client.clone(), to.clone());
            Box::pin(async move { client.request(&to, &body).await })
        });
        (exchange, Vec::new())
    } else {
        let builder = LongClient::builder([target.clone()], framing)
            .connect_timeout(args.timeout)
            .timeout(args.timeout);
        match plan.key {
            Some(key) => {
                let builder = builder
                    .match_replies(move |m: &[u8]| key_of(&key, m))
                    .max_in_flight(plan.in_flight);
                long_clients(builder, &target, args.connections, args.timeout).await?
            }
            None => long_clients(builder, &target, args.connections, args.timeout).await?,
        }
    };

    // Times are measured from here, once connected.
    let (stop_tx, stop) = watch::channel(false);
    let run = Arc::new(Run {
        payload,
        key: plan.key,
        count: plan.count,
        duration: plan.duration,
        started: Instant::now(),
        issued: AtomicU64::new(0),
        stop,
        check,
        tally: Mutex::new(Tally::new()),
    });

    // Ctrl-C stops issuing requests; those in flight finish and the summary follows. A second
    // one ends the program at once.
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let progress = progress_bar(&style, &run);
    let ticker = tokio::spawn(tick(progress.clone(), Arc::clone(&run)));
    match plan.rate {
        Some(rate) => open_loop(&run, &exchange, args.connections, rate).await,
        None => closed_loop(&run, &exchange, args.connections * plan.in_flight).await,
    }
    let elapsed = run.started.elapsed();
    ticker.abort();
    progress.finish_and_clear();

    let mut unmatched = 0;
    for client in clients {
        client.close.await;
        unmatched += client.unmatched.await.unwrap_or(0);
    }
    let time_wait = if args.short {
        tokio::net::lookup_host(target.as_str())
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .and_then(msgframe_conn::time_wait_toward)
    } else {
        None
    };
    if let Some((handle, serving)) = own_host {
        handle.shutdown();
        let _ = serving.await;
    }
    let tally = run.tally.lock().map_err(|_| poisoned())?;
    let summary = Summary {
        args: &args,
        plan: &plan,
        size: run.payload.len(),
        elapsed,
        tally: &tally,
        unmatched,
        time_wait,
    };
    summary.report(&style)?;
    summary.verdict()
}

/// The request body: --payload, --payload-hex, --payload-file, or --size bytes of `x`.
fn payload(args: &BenchArgs) -> Result<Bytes> {
    Ok(Bytes::from(if let Some(text) = &args.payload {
        text.clone().into_bytes()
    } else if let Some(hex) = &args.payload_hex {
        input::hex(hex)?
    } else if let Some(path) = &args.payload_file {
        input::read_file(path)?
    } else {
        vec![b'x'; args.size.unwrap_or(DEFAULT_SIZE)]
    }))
}

/// What the options ask for, checked before anything connects.
struct Plan {
    count: Option<u64>,
    duration: Option<Duration>,
    rate: Option<f64>,
    key: Option<KeySpec>,
    /// Closed loop: requests kept going on each connection; open loop: the most at once.
    in_flight: usize,
}

impl Plan {
    fn new(args: &BenchArgs, payload_len: usize) -> Result<Plan> {
        if args.connections == 0 || args.count == Some(0) || args.in_flight == Some(0) {
            return Err(Failure::usage(
                "--count, --connections and --in-flight must be at least 1",
            ));
        }
        if args.duration == Some(Duration::ZERO) {
            return Err(Failure::usage("--duration must be above zero"));
        }
        let rate = args.rate.map(|r| r.0);
        if args.key.is_none() && args.in_flight.is_some_and(|n| n > 1) {
            return Err(Failure::usage(
                "--in-flight above 1 needs --key OFFSET:LEN: without a key, a reply cannot be \
                 told from another's",
            ));
        }
        let in_flight = match (args.in_flight, args.key, rate) {
            (Some(n), _, _) => n,
            (None, Some(_), Some(_)) => OPEN_LOOP_IN_FLIGHT,
            (None, _, _) => 1,
        };
        if let Some(key) = args.key {
            let end = key.offset.saturating_add(key.len);
            if end > payload_len {
                return Err(Failure::usage(format!(
                    "--key {}:{} needs a request of at least {end} bytes; it has {payload_len}",
                    key.offset, key.len
                )));
            }
            let at_once = if args.short {
                args.connections as u64
            } else {
                (args.connections as u64).saturating_mul(in_flight as u64)
            };
            if distinct_keys(&key) <= at_once {
                return Err(Failure::usage(format!(
                    "--key {}:{} gives {} distinct keys, not more than the {at_once} requests \
                     that may be in flight at once: a longer key, or fewer connections or \
                     requests in flight",
                    key.offset,
                    key.len,
                    distinct_keys(&key)
                )));
            }
        }
        Ok(Plan {
            count: match (args.count, args.duration) {
                (None, None) => Some(DEFAULT_COUNT),
                (count, _) => count,
            },
            duration: args.duration,
            rate,
            key: args.key,
            in_flight,
        })
    }
}

/// How many distinct keys the counter takes (from 1, wrapping).
fn distinct_keys(key: &KeySpec) -> u64 {
    let base: u64 = match key.format {
        KeyFormat::Digits => 10,
        KeyFormat::BigEndian | KeyFormat::LittleEndian => 256,
    };
    u32::try_from(key.len)
        .ok()
        .and_then(|len| base.checked_pow(len))
        .unwrap_or(u64::MAX)
        - 1
}

/// Writes request `index`'s key into `body`: a counter from 1, wrapping past the largest.
fn write_key(key: &KeySpec, index: u64, body: &mut [u8]) {
    let mut value = 1 + index % distinct_keys(key);
    let field = &mut body[key.offset..key.offset + key.len];
    match key.format {
        KeyFormat::Digits => {
            for b in field.iter_mut().rev() {
                *b = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        KeyFormat::BigEndian => {
            for b in field.iter_mut().rev() {
                *b = value as u8;
                value >>= 8;
            }
        }
        KeyFormat::LittleEndian => {
            for b in field.iter_mut() {
                *b = value as u8;
                value >>= 8;
            }
        }
    }
}

/// A message's key: its bytes at the key's place (none when it is too short).
fn key_of(key: &KeySpec, message: &[u8]) -> Option<Bytes> {
    message
        .get(key.offset..key.offset + key.len)
        .map(Bytes::copy_from_slice)
}

/// What a reply is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing: any reply is an answer (a long connection's key matching is the library's).
    None,
    /// The in-process echo host: the reply is the request.
    Echo,
    /// Short connections with --key: the reply carries the request's key.
    Key,
}

/// A run under way, shared by everything issuing requests.
struct Run {
    payload: Bytes,
    key: Option<KeySpec>,
    count: Option<u64>,
    duration: Option<Duration>,
    started: Instant,
    issued: AtomicU64,
    /// Set by Ctrl-C.
    stop: watch::Receiver<bool>,
    check: Check,
    tally: Mutex<Tally>,
}

impl Run {
    /// The end of the schedule, with --duration.
    fn deadline(&self) -> Option<Instant> {
        self.duration.map(|d| self.started + d)
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// The next request's index, while the run goes on (closed loop).
    fn claim(&self) -> Option<u64> {
        if self.stopped() || self.deadline().is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let index = self.issued.fetch_add(1, Ordering::Relaxed);
        (self.count.is_none_or(|count| index < count)).then_some(index)
    }

    /// Request `index`'s body: the payload, with its key written in.
    fn body(&self, index: u64) -> Bytes {
        match &self.key {
            Some(key) => {
                let mut body = BytesMut::from(&self.payload[..]);
                write_key(key, index, &mut body);
                body.freeze()
            }
            None => self.payload.clone(),
        }
    }

    /// Notes how late a scheduled request was issued.
    fn lagged(&self, by: Duration) {
        if let Ok(mut tally) = self.tally.lock() {
            let _ = tally.lag.record((by.as_micros() as u64).max(1));
        }
    }

    /// Counts one request's outcome, `took` after it was issued (or scheduled).
    fn record(
        &self,
        body: &[u8],
        result: std::result::Result<Bytes, msgframe_conn::Error>,
        took: Duration,
    ) {
        let Ok(mut tally) = self.tally.lock() else {
            return;
        };
        match result {
            Ok(reply) => {
                let wrong = match self.check {
                    Check::None => None,
                    Check::Echo => (reply != body).then(|| {
                        format!(
                            "the echo came back different: {} bytes for {}",
                            reply.len(),
                            body.len()
                        )
                    }),
                    Check::Key => {
                        let key = self.key.as_ref().expect("a key is checked with --key");
                        (key_of(key, &reply) != key_of(key, body))
                            .then(|| "a reply carried another request's key".to_owned())
                    }
                };
                match wrong {
                    Some(why) => tally.error(why),
                    None => {
                        tally.ok += 1;
                        tally.bytes += (body.len() + reply.len()) as u64;
                        let _ = tally.latency.record((took.as_micros() as u64).max(1));
                    }
                }
            }
            Err(e) if is_timeout(&e) => tally.timeouts += 1,
            Err(e) => tally.error(e.to_string()),
        }
    }
}

/// Whether a failed request is a timeout: no reply in time, or no turn to be sent in time
/// while the connection was up.
fn is_timeout(e: &msgframe_conn::Error) -> bool {
    use msgframe_conn::Error;
    match e {
        Error::TimedOut { .. } => true,
        Error::NotSent { reason } => matches!(
            reason,
            NotSent::SlotsBusy | NotSent::QueueFull | NotSent::Deadline { last_failure: None }
        ),
        _ => false,
    }
}

/// The outcomes so far.
struct Tally {
    /// Microseconds from issue (closed loop) or schedule (open loop) to the reply, for answered
    /// requests.
    latency: Histogram<u64>,
    ok: u64,
    timeouts: u64,
    errors: u64,
    first_error: Option<String>,
    /// Bodies of answered requests and their replies.
    bytes: u64,
    /// Open loop: microseconds from each request's scheduled time to when it was issued.
    lag: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        // Microseconds, from 1 µs to 10 minutes, 3 significant digits.
        let latency: Histogram<u64> = Histogram::new_with_bounds(1, 600_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).expect("a histogram of 3 significant digits"));
        Tally {
            lag: latency.clone(),
            latency,
            ok: 0,
            timeouts: 0,
            errors: 0,
            first_error: None,
            bytes: 0,
        }
    }

    fn error(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }

    fn done(&self) -> u64 {
        self.ok + self.timeouts + self.errors
    }
}

fn poisoned() -> Failure {
    Failure::peer("a request task panicked")
}

/// Starts `connections` long clients, each connected within `timeout`; the exchange over them
/// and, per client, its sender and the task counting messages that answered no request.
async fn long_clients<K: Key>(
    builder: LongClientBuilder<K>,
    target: &str,
    connections: usize,
    timeout: Duration,
) -> Result<(Exchange, Vec<Client>)> {
    let mut started = Vec::with_capacity(connections);
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let client = builder.clone().start()?;
        let mut events = client.events();
        connecting.spawn(tokio::time::timeout(timeout, async move {
            connected(&mut events).await
        }));
        started.push(client);
    }
    while let Some(outcome) = connecting.join_next().await {
        let failure = match outcome {
            Ok(Ok(Ok(()))) => continue,
            Ok(Ok(Err(why))) => why,
            Ok(Err(_)) => format!("not connected within {}", dump::duration(timeout)),
            Err(e) => e.to_string(),
        };
        for client in &started {
            client.close().await;
        }
        return Err(Failure::peer(format!(
            "cannot connect to {target}: {failure}"
        )));
    }
    let mut senders = Vec::with_capacity(connections);
    let mut clients = Vec::with_capacity(connections);
    for client in started {
        let (sender, mut receiver) = client.split();
        // Replies that came after their request timed out, or whose key no request waits for.
        let drain = tokio::spawn(async move {
            let mut n = 0u64;
            while receiver.recv().await.is_some() {
                n += 1;
            }
            n
        });
        senders.push(sender.clone());
        clients.push(Client {
            close: Box::pin(async move { sender.close().await }),
            unmatched: drain,
        });
    }
    let senders = Arc::new(senders);
    let exchange: Exchange = Arc::new(move |n, body| {
        let sender = senders[n % senders.len()].clone();
        Box::pin(async move { sender.request(body, timeout).await })
    });
    Ok((exchange, clients))
}

/// Whether a long client got connected: its first connection, or why its first attempt failed
/// (the client would retry, but a load run wants the host up from the start).
async fn connected(
    events: &mut tokio::sync::broadcast::Receiver<msgframe_conn::Event>,
) -> std::result::Result<(), String> {
    use msgframe_conn::Event;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(Event::Connected { .. }) => return Ok(()),
            Ok(Event::ConnectFailed { error, .. }) => return Err(error.to_string()),
            Ok(Event::Disconnected { reason, .. }) => return Err(reason.to_string()),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return Err("the client stopped".into()),
        }
    }
}

/// A long client, to close at the end of the run.
struct Client {
    close: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// How many messages answered no waiting request, once the client is closed.
    unmatched: tokio::task::JoinHandle<u64>,
}

/// Closed loop: `workers` tasks, each issuing its next request when the last ends.
async fn closed_loop(run: &Arc<Run>, exchange: &Exchange, workers: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (run, exchange) = (Arc::clone(run), Arc::clone(exchange));
        tasks.spawn(async move {
            while let Some(index) = run.claim() {
                let body = run.body(index);
                let issued = Instant::now();
                let result = exchange(worker, body.clone()).await;
                run.record(&body, result, issued.elapsed());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Open loop: request `i` issued at `i / rate` seconds after the start, on connection `i` modulo
/// the connections, whatever happened to the others; its latency counts from then.
async fn open_loop(run: &Arc<Run>, exchange: &Exchange, connections: usize, rate: f64) {
    let mut stop = run.stop.clone();
    let mut tasks = tokio::task::JoinSet::new();
    let mut index = 0u64;
    while run.count.is_none_or(|count| index < count) {
        let offset = Duration::from_secs_f64(index as f64 / rate);
        if run.duration.is_some_and(|d| offset >= d) || run.stopped() {
            break;
        }
        let scheduled = run.started + offset;
        tokio::select! {
            () = tokio::time::sleep_until(scheduled) => {}
            Ok(()) = stop.changed() => break,
        }
        let (run, exchange) = (Arc::clone(run), Arc::clone(exchange));
        tasks.spawn(async move {
            run.lagged(scheduled.elapsed());
            let body = run.body(index);
            let result = exchange(index as usize % connections, body.clone()).await;
            run.record(&body, result, scheduled.elapsed());
        });
        index += 1;
        // Finished requests leave the set as the run goes.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// A progress bar on stderr when it is a terminal (never with --json).
fn progress_bar(style: &Style, run: &Run) -> ProgressBar {
    if style.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    // Over the requests, or over the time with --duration.
    let (len, template) = match (run.duration, run.count) {
        (Some(d), _) => (d.as_millis() as u64, "{bar:30} {elapsed}  {msg}"),
        (None, Some(count)) => (count, "{bar:30} {pos}/{len}  {msg}"),
        (None, None) => (0, "{spinner} {msg}"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Updates the progress bar ten times a second.
async fn tick(bar: ProgressBar, run: Arc<Run>) {
    if bar.is_hidden() {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        every.tick().await;
        let (done, timeouts, errors) = match run.tally.lock() {
            Ok(t) => (t.done(), t.timeouts, t.errors),
            Err(_) => return,
        };
        let elapsed = run.started.elapsed();
        match run.duration {
            Some(d) => bar.set_position(elapsed.min(d).as_millis() as u64),
            None => bar.set_position(done),
        }
        let rate = readable_rate(done as f64 / elapsed.as_secs_f64().max(1e-9));
        let counts = format!("{rate}  {errors} errors  {timeouts} timeouts");
        // Over the requests, the bar shows how many are done; over the time, the message does.
        bar.set_message(match run.duration {
            Some(_) => format!("{done} requests  {counts}"),
            None => counts,
        });
    }
}

/// A rate for people: `950 req/s`, `12.3k req/s`, `1.23M req/s`.
fn readable_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M req/s", per_second / 1e6)
    } else if per_second >= 1e5 {
        format!("{:.0}k req/s", per_second / 1e3)
    } else if per_second >= 1e4 {
        format!("{:.1}k req/s", per_second / 1e3)
    } else if per_second >= 1e3 {
        format!("{:.2}k req/s", per_second / 1e3)
    } else if per_second >= 10.0 {
        format!("{per_second:.0} req/s")
    } else {
        format!("{per_second:.2} req/s")
    }
}

/// The end of a run, to report.
struct Summary<'a> {
    args: &'a BenchArgs,
    plan: &'a Plan,
    size: usize,
    elapsed: Duration,
    tally: &'a Tally,
    unmatched: u64,
    time_wait: Option<usize>,
}

impl Summary<'_> {
    fn report(&self, style: &Style) -> Result<()> {
        let (args, t) = (self.args, self.tally);
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let count = t.done();
        let rate = t.ok as f64 / secs;
        // Bodies both ways.
        let mb = t.bytes as f64 / 1e6 / secs;
        let answered = t.ok > 0;
        let q = |p: f64| t.latency.value_at_quantile(p) as f64 / 1000.0;
        let max = t.latency.max() as f64 / 1000.0;
        let in_flight = (!args.short).then_some(self.plan.in_flight);
        if style.json {
            let latency = answered.then(|| {
                json!({
                    "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": max,
                })
            });
            return dump::json_line(json!({
                "event": "summary",
                "to": args.to,
                "framing": args.framing,
                "size": self.size,
                "count": count,
                "ok": t.ok,
                "errors": t.errors,
                "timeouts": t.timeouts,
                "unmatched": self.unmatched,
                "first_error": t.first_error,
                "connections": args.connections,
                "in_flight": in_flight,
                "loop": if self.plan.rate.is_some() { "open" } else { "closed" },
                "rate": self.plan.rate,
                "key": self.plan.key.map(|k| key_name(&k)),
                "timeout_ms": dump::millis(args.timeout),
                "short": args.short,
                "close": args.short.then(|| close_name(args.short_args.close)),
                "time_wait": self.time_wait,
                "seconds": (secs * 1000.0).round() / 1000.0,
                "messages_per_second": rate.round(),
                "mb_per_second": (mb * 100.0).round() / 100.0,
                "latency_ms": latency,
                "issue_lag_ms": self.lag().map(|(p50, p99, max)| json!({"p50": p50, "p99": p99, "max": max})),
            }));
        }
        let host = match &args.to {
            Some(to) => format!("to {to}"),
            None => "to the in-process echo host".to_owned(),
        };
        let shape = match self.plan.rate {
            Some(rate) => format!("open loop at {}", readable_rate(rate)),
            None if args.short => "closed loop".to_owned(),
            None => format!("closed loop, {} in flight each", self.plan.in_flight),
        };
        outln!(
            "{}",
            style.heading(&format!(
                "{count} requests {host} in {secs:.2} s: {}, {}-byte requests, {} {} connection{}, {shape}",
                args.framing,
                self.size,
                args.connections,
                if args.short { "short" } else { "long" },
                if args.connections == 1 { "" } else { "s" },
            ))
        )?;
        outln!(
            "  {}, {mb:.2} MB/s of bodies (both ways)",
            readable_rate(rate)
        )?;
        let counts = format!(
            "  {} ok, {} errors, {} timeouts (--timeout {})",
            t.ok,
            t.errors,
            t.timeouts,
            dump::duration(args.timeout)
        );
        if t.errors + t.timeouts > 0 {
            outln!("{}", style.bad(&counts))?;
        } else {
            outln!("{counts}")?;
        }
        if self.unmatched > 0 {
            outln!(
                "  {} replies answered no waiting request (late, or an unknown key)",
                self.unmatched
            )?;
        }
        if let Some(n) = self.time_wait.filter(|_| args.short) {
            outln!(
                "  {n} client sockets left in TIME_WAIT toward the host (--close {})",
                close_name(args.short_args.close)
            )?;
        }
        if answered {
            outln!(
                "  latency ms{}: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
                if self.plan.rate.is_some() {
                    " (from the schedule)"
                } else {
                    ""
                },
                q(0.5),
                q(0.9),
                q(0.99),
                q(0.999),
                max
            )?;
        } else {
            outln!("  latency: no request was answered")?;
        }
        if let Some((p50, p99, max)) = self.lag() {
            outln!(
                "  {}",
                style.dim(&format!(
                    "issued behind schedule ms: p50 {p50:.3}  p99 {p99:.3}  max {max:.3} \
                     (this program's timer and load; in the latency)"
                ))
            )?;
        }
        Ok(())
    }

    /// Open loop: how late requests were issued after their scheduled time (p50, p99, max, in
    /// ms).
    fn lag(&self) -> Option<(f64, f64, f64)> {
        let lag = &self.tally.lag;
        (self.plan.rate.is_some() && !lag.is_empty()).then(|| {
            let ms = |v: u64| v as f64 / 1000.0;
            (
                ms(lag.value_at_quantile(0.5)),
                ms(lag.value_at_quantile(0.99)),
                ms(lag.max()),
            )
        })
    }

    /// Success only when every request was answered.
    fn verdict(&self) -> Result<()> {
        let t = self.tally;
        if t.errors + t.timeouts == 0 {
            return Ok(());
        }
        let mut message = format!(
            "{} of {} requests failed: {} timed out, {} errors",
            t.errors + t.timeouts,
            t.done(),
            t.timeouts,
            t.errors
        );
        if let Some(first) = &t.first_error {
            message.push_str(&format!(" (first: {first})"));
        }
        Err(Failure::peer(message).in_output())
    }
}

/// A key as the command line takes it.
fn key_name(key: &KeySpec) -> String {
    let format = match key.format {
        KeyFormat::Digits => "digits",
        KeyFormat::BigEndian => "be",
        KeyFormat::LittleEndian => "le",
    };
    format!("{}:{}:{format}", key.offset, key.len)
}

/// A close policy by the name the command line takes.
fn close_name(policy: ClosePolicy) -> &'static str {
    match policy {
        ClosePolicy::Abortive => "abortive",
        ClosePolicy::HostFirst => "host-first",
        _ => "graceful",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(offset: usize, len: usize, format: KeyFormat) -> KeySpec {
        KeySpec {
            offset,
            len,
            format,
        }
    }

    #[test]
    fn keys_are_counters_from_one_that_wrap_before_repeating_zero() {
        let stan = key(4, 6, KeyFormat::Digits);
        let mut body = *b"0800______x";
        write_key(&stan, 0, &mut body);
        assert_eq!(&body, b"0800000001x");
        write_key(&stan, 999_998, &mut body);
        assert_eq!(&body, b"0800999999x");
        write_key(&stan, 999_999, &mut body);
        assert_eq!(&body, b"0800000001x");
        assert_eq!(distinct_keys(&stan), 999_999);

        let mut body = [0u8; 6];
        write_key(&key(1, 4, KeyFormat::BigEndian), 0x0102_0304 - 1, &mut body);
        assert_eq!(body, [0, 1, 2, 3, 4, 0]);
        write_key(
            &key(1, 4, KeyFormat::LittleEndian),
            0x0102_0304 - 1,
            &mut body,
        );
        assert_eq!(body, [0, 4, 3, 2, 1, 0]);
        assert_eq!(distinct_keys(&key(0, 2, KeyFormat::BigEndian)), 65_535);
        assert_eq!(distinct_keys(&key(0, 30, KeyFormat::Digits)), u64::MAX - 1);
    }

    #[test]
    fn rates_read_well() {
        assert_eq!(readable_rate(950.4), "950 req/s");
        assert_eq!(readable_rate(12_345.0), "12.3k req/s");
        assert_eq!(readable_rate(1_234.0), "1.23k req/s");
        assert_eq!(readable_rate(123_456.0), "123k req/s");
        assert_eq!(readable_rate(1_234_567.0), "1.23M req/s");
        assert_eq!(readable_rate(0.5), "0.50 req/s");
    }
}
