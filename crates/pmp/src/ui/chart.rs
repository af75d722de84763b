//! Graphs rendered on the server as SVG (no chart library, no script): one line per series
//! over time, with the largest value and the time span labelled. Labels are escaped; numbers
//! are the only other input. RRD answers are cached briefly and shared by every viewer.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const PAD: f64 = 28.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A value in a unit people read: bytes as KiB/MiB/GiB, ratios as percent.
pub fn human(value: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{:.0} %", value * 100.0),
        "B" | "B/s" => {
            let suffix = if unit == "B/s" { "/s" } else { "" };
            let (v, u) = [
                ("GiB", 1_073_741_824.0),
                ("MiB", 1_048_576.0),
                ("KiB", 1024.0),
            ]
            .into_iter()
            .find(|(_, f)| value >= *f)
            .map_or((value, "B"), |(u, f)| (value / f, u));
            format!("{v:.1} {u}{suffix}")
        }
        _ => format!("{value:.2}"),
    }
}

/// An SVG line chart of `series` (name, points as (unix time, value)) titled `title`.
pub fn svg(title: &str, unit: &str, series: &[(&str, Vec<(u64, f64)>)]) -> String {
    let points: Vec<&(u64, f64)> = series.iter().flat_map(|(_, p)| p.iter()).collect();
    let (Some(first), Some(last)) = (
        points.iter().map(|p| p.0).min(),
        points.iter().map(|p| p.0).max(),
    ) else {
        return format!("<p class=\"muted\">No data for {} yet.</p>", escape(title));
    };
    let top = points
        .iter()
        .map(|p| p.1)
        .fold(0.0_f64, f64::max)
        .max(if unit == "%" { 1.0 } else { 1e-9 });
    let span = (last - first).max(1) as f64;
    let x = |t: u64| PAD + (t - first) as f64 / span * (WIDTH - 2.0 * PAD);
    let y = |v: f64| HEIGHT - PAD - v / top * (HEIGHT - 2.0 * PAD);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" data-chart=\"{}\">",
        escape(title),
        escape(title)
    );
    let _ = write!(
        out,
        "<text x=\"{PAD}\" y=\"16\" class=\"chart-title\">{} (max {})</text>",
        escape(title),
        escape(&human(top, unit))
    );
    let _ = write!(
        out,
        "<line x1=\"{PAD}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" class=\"chart-axis\"/>",
        HEIGHT - PAD,
        WIDTH - PAD
    );
    for (i, (name, line)) in series.iter().enumerate() {
        let path: Vec<String> = line
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"chart-line chart-line-{i}\" fill=\"none\" points=\"{}\"><title>{}</title></polyline>",
            path.join(" "),
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A cache key: server, VMID and time frame.
type Key = (String, u32, &'static str);

/// RRD points by (server, vmid, timeframe), kept for 30 s.
#[derive(Debug, Default)]
pub struct RrdCache {
    entries: Mutex<HashMap<Key, (Instant, Vec<pve::RrdPoint>)>>,
}

impl RrdCache {
    /// The cached points, if fresh.
    pub fn get(&self, server: &str, vmid: u32, frame: &'static str) -> Option<Vec<pve::RrdPoint>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(server.to_owned(), vmid, frame))
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(30))
            .map(|(_, points)| points.clone())
    }

    /// Stores points.
    pub fn put(&self, server: &str, vmid: u32, frame: &'static str, points: Vec<pve::RrdPoint>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert((server.to_owned(), vmid, frame), (Instant::now(), points));
    }
}

/// The RRD time frame called `name` (an hour when not given).
pub fn timeframe(name: Option<&str>) -> Option<pve::Timeframe> {
    Some(match name.unwrap_or("hour") {
        "hour" => pve::Timeframe::Hour,
        "day" => pve::Timeframe::Day,
        "week" => pve::Timeframe::Week,
        "month" => pve::Timeframe::Month,
        "year" => pve::Timeframe::Year,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_scale_their_values() {
        let chart = svg(
            "<script>cpu</script>",
            "%",
            &[("cpu", vec![(0, 0.5), (60, 1.0)])],
        );
        assert!(chart.starts_with("<svg") && !chart.contains("<script>"));
        assert!(chart.contains("&lt;script&gt;cpu"));
        assert!(chart.contains("max 100 %"));
        assert!(svg("empty", "B", &[("x", Vec::new())]).contains("No data"));
        assert_eq!(human(3.0 * 1_048_576.0, "B/s"), "3.0 MiB/s");
    }
}
