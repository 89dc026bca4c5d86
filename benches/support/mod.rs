//! What the benchmarks share: reading this run's criterion estimates back, and printing ratio tables.
//!
//! Criterion measures; these helpers turn its `estimates.json` files into the ratios msgframe
//! reports (a contender's time against a reference measured in the same run).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where criterion writes its files, found the way criterion 0.7 finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the cargo target directory's `criterion`.
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // Cargo gives benches `<target dir>/tmp` when it compiles them.
    match Path::new(env!("CARGO_TARGET_TMPDIR")).parent() {
        Some(target) => target.join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// The mean time per iteration, in nanoseconds, of `group/function/label`, from an
/// `estimates.json` written after `since` (older files are left by earlier runs).
pub fn mean_ns(group: &str, function: &str, label: &str, since: SystemTime) -> Option<f64> {
    estimate_ns(group, function, label, since, "mean")
}

/// The median time per iteration, like [`mean_ns`]: steadier when another process shares the
/// machine (loopback benchmarks, where the peer thread competes for the same cores).
pub fn median_ns(group: &str, function: &str, label: &str, since: SystemTime) -> Option<f64> {
    estimate_ns(group, function, label, since, "median")
}

fn estimate_ns(
    group: &str,
    function: &str,
    label: &str,
    since: SystemTime,
    estimate: &str,
) -> Option<f64> {
    let path = criterion_home()
        .join(dir_name(group))
        .join(dir_name(function))
        .join(dir_name(label))
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    point_estimate(&std::fs::read_to_string(&path).ok()?, estimate)
}

/// The directory criterion names after a group, function or parameter: characters that are not
/// safe in file names (such as the `:` of `be:2`) become `_`.
pub fn dir_name(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '?' | '"' | '/' | '\\' | '*' | '<' | '>' | ':' | '|' | '^' => '_',
            c => c,
        })
        .collect()
}

/// `estimate.point_estimate` from criterion's `estimates.json`
/// (`{"mean":{"confidence_interval":{..},"point_estimate":123.4,"standard_error":..},..}`).
pub fn point_estimate(json: &str, estimate: &str) -> Option<f64> {
    const KEY: &str = "\"point_estimate\":";
    // The first `point_estimate` after the estimate's key is its own: the confidence interval
    // before it has none.
    let object = &json[json.find(&format!("\"{estimate}\":{{"))?..];
    let value = &object[object.find(KEY)? + KEY.len()..];
    let end = value.find([',', '}']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

/// A number for a table cell: fewer decimals as it grows; `-` when missing.
pub fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_owned(),
    }
}

/// `numerator / denominator` when both are there and positive.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if n > 0.0 && d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// The 1-minute load average, where the system tells it: a busy machine skews a comparison, since
/// criterion measures the contenders one after the other.
pub fn load_average() -> Option<String> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(loadavg.split_whitespace().next()?.to_owned())
}

/// Lays out rows as an aligned text table, the first row being the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:>width$}", width = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1)));
            out.push('\n');
        }
    }
    out
}

/// Prints `table` with the load average before and after, and writes it to
/// `<criterion home>/<file>`.
pub fn report(title: &str, mut table: String, load_before: Option<String>, file: &str) {
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        table.push_str(&format!(
            "\nload average (1 min) before: {before}, after: {after}, on {cpus} CPUs\n"
        ));
    }
    println!("\n{title}\n\n{table}");
    let path = criterion_home().join(file);
    let _ = std::fs::create_dir_all(criterion_home());
    match std::fs::write(&path, format!("{title}\n\n{table}")) {
        Ok(()) => println!("(also written to {})", path.display()),
        Err(err) => eprintln!("cannot write {}: {err}", path.display()),
    }
}
