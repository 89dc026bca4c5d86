//! Text and BCD length headers against the 2-byte binary path, on the same payload, in one run.
//!
//! Legacy card hosts write the length as 4 ASCII decimal digits (`ascii:4`), 4 ASCII hex digits
//! (`hex:4`) or 2 bytes of packed BCD (`bcd:2`) instead of a binary integer (`be:2`). This measures
//! what that costs: each framing decodes a stream of 100-byte (and 1 KiB) frames, owned (`decode`,
//! `Bytes` frames) and borrowed (`frames()`, `&[u8]` frames), and the table shows each header's time
//! per frame over `be:2`'s (1.00 = as fast as binary).
//!
//! ```text
//! cargo bench --bench header_encodings
//! ```

mod support;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput};
use msgframe_codec::{Decoder, Encoder, Framing, Parse};

const SPECS: [&str; 4] = ["be:2", "ascii:4", "hex:4", "bcd:2"];
const PAYLOADS: [usize; 2] = [100, 1024];
const STREAM_BYTES: usize = 1024 * 1024;

struct Case {
    spec: &'static str,
    payload: usize,
    frames: usize,
    wire: Vec<u8>,
}

impl Case {
    fn new(spec: &'static str, payload: usize) -> Case {
        let framing: Framing = spec.parse().unwrap();
        let frames = STREAM_BYTES / (payload + 4);
        let body = vec![b'7'; payload];
        let mut wire = BytesMut::new();
        for _ in 0..frames {
            framing.encode(&body, &mut wire).unwrap();
        }
        Case {
            spec,
            payload,
            frames,
            wire: wire.to_vec(),
        }
    }

    fn framing(&self) -> Framing {
        self.spec.parse().unwrap()
    }
}

fn bench(c: &mut Criterion, cases: &[Case]) {
    for (mode, owned) in [("owned", true), ("borrowed", false)] {
        let mut group = c.benchmark_group(format!("header-{mode}"));
        for case in cases {
            group.throughput(Throughput::Elements(case.frames as u64));
            let mut framing = case.framing();
            let mut buf = BytesMut::with_capacity(case.wire.len());
            let id = BenchmarkId::new(case.spec, format!("{}B", case.payload));
            group.bench_function(id, |b| {
                b.iter(|| {
                    if owned {
                        buf.clear();
                        buf.extend_from_slice(&case.wire);
                        let mut n = 0;
                        while let Some(frame) = framing.decode(&mut buf).unwrap() {
                            black_box(frame);
                            n += 1;
                        }
                        assert_eq!(n, case.frames);
                    } else {
                        let mut n = 0;
                        for frame in framing.frames(black_box(&case.wire)) {
                            black_box(frame.unwrap());
                            n += 1;
                        }
                        assert_eq!(n, case.frames);
                    }
                })
            });
        }
        group.finish();
    }
}

fn ratio_table(cases: &[Case], since: SystemTime) -> Option<String> {
    let mut rows = vec![vec![
        "mode".to_owned(),
        "payload".to_owned(),
        "spec".to_owned(),
        "ns/frame".to_owned(),
        "vs be:2".to_owned(),
    ]];
    let mut found = false;
    for mode in ["owned", "borrowed"] {
        for payload in PAYLOADS {
            let label = format!("{payload}B");
            let per_frame = |spec: &str| {
                let case = cases
                    .iter()
                    .find(|c| c.spec == spec && c.payload == payload)?;
                support::mean_ns(&format!("header-{mode}"), spec, &label, since)
                    .map(|ns| ns / case.frames as f64)
            };
            let binary = per_frame("be:2");
            for spec in SPECS {
                let ns = per_frame(spec);
                found |= ns.is_some();
                rows.push(vec![
                    mode.to_owned(),
                    label.clone(),
                    spec.to_owned(),
                    support::cell(ns),
                    support::cell(support::ratio(ns, binary)),
                ]);
            }
        }
    }
    found.then(|| support::table(&rows))
}

fn main() {
    let started = SystemTime::now();
    let load_before = support::load_average();
    let cases: Vec<Case> = PAYLOADS
        .iter()
        .flat_map(|&p| SPECS.iter().map(move |&s| Case::new(s, p)))
        .collect();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();
    if let Some(table) = ratio_table(&cases, started) {
        support::report(
            "Length header encodings against the 2-byte binary path (decode, time per frame)",
            table,
            load_before,
            "msgframe-headers.txt",
        );
    }
}
