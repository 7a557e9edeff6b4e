//! `index.html`: one self-contained page — inline CSS, inline SVG, a few lines of inline script
//! for the log filter, nothing loaded from anywhere — with the scenario, seed and replay command,
//! stats, a fault timeline, the anomalies with their explanations and stories, the charts and
//! the short log. Every string that comes from the run is escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::decimate::Window;
use super::explain::AnomalyStory;
use super::series::{FaultSpan, SpanKind};
use super::{LOG_LINES_MAX, ReportInput};
use crate::cli::FaultRecord;

/// A chart the page shows inline and links to.
#[derive(Clone, Debug)]
pub struct ChartRef {
    /// Caption.
    pub title: String,
    /// File name without extension.
    pub stem: String,
    /// The SVG document.
    pub svg: String,
}

/// Everything the page shows.
pub struct Page<'a> {
    /// The run.
    pub input: &'a ReportInput<'a>,
    /// The partition charts' window.
    pub window: Window,
    /// The run's faults as spans.
    pub spans: &'a [FaultSpan],
    /// Each anomaly's story.
    pub stories: &'a [AnomalyStory<'a>],
    /// Each anomaly's zoomed chart, if its partition has series.
    pub zooms: &'a [Option<ChartRef>],
    /// One chart per partition.
    pub charts: &'a [ChartRef],
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;margin:1.5em auto;max-width:1260px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.85em}
pre.replay{background:#f4f4f4;padding:.6em;overflow-x:auto}
table{border-collapse:collapse;font-size:.9em}td,th{padding:.2em .8em;text-align:left;
border-bottom:1px solid #eee}th{background:#fafafa}
.met{color:#2a7d2a;font-weight:bold}.notmet{color:#b22;font-weight:bold}
.anomaly{border-left:4px solid #d62728;padding-left:1em;margin:1.5em 0}
.anomaly h3{font-size:1.05em;margin:.2em 0}
svg.chart{max-width:100%;height:auto;border:1px solid #eee}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
#log{max-height:36em;overflow:auto;border:1px solid #ddd;padding:.4em;white-space:pre;
font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.8em}
#log .gap{color:#888;font-style:italic}.note{color:#555;font-size:.9em}
";

/// Filters the log lines by node and text; no console output, no network.
const SCRIPT: &str = "
(function(){
  var node=document.getElementById('log-node'),text=document.getElementById('log-text');
  var rows=document.getElementById('log').children;
  function apply(){
    var n=node.value,t=text.value;
    for(var i=0;i<rows.length;i++){
      var r=rows[i],show=(!n||r.getAttribute('data-n')===n)&&(!t||r.textContent.indexOf(t)>=0);
      r.style.display=show?'':'none';
    }
  }
  node.addEventListener('change',apply);text.addEventListener('input',apply);
})();
";

/// The page.
pub fn render(page: &Page) -> String {
    let summary = page.input.summary;
    let mut out = String::with_capacity(1 << 20);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>kafkasim · {} · seed {}</title><style>{STYLE}</style></head><body>\n",
        escape(&summary.scenario),
        summary.seed
    );
    header(&mut out, page);
    faults(&mut out, page);
    anomalies(&mut out, page);
    charts(&mut out, page);
    short_log(&mut out, page);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

fn header(out: &mut String, page: &Page) {
    let s = page.input.summary;
    let met = if s.expect_met {
        "<span class=\"met\">met</span>"
    } else {
        "<span class=\"notmet\">NOT met</span>"
    };
    let _ = writeln!(
        out,
        "<h1>{} <small>({}, seed {})</small></h1>",
        escape(&s.scenario),
        escape(&s.replication_protocol),
        s.seed
    );
    if !page.input.description.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(page.input.description));
    }
    let _ = write!(
        out,
        "<pre class=\"replay\">{}</pre>\n<table>\
         <tr><th>simulated</th><td>{} ms, {} events</td></tr>\
         <tr><th>trace hash</th><td><code>{}</code></td></tr>\
         <tr><th>expect</th><td>{met}</td></tr></table>\n",
        escape(page.input.replay),
        s.sim_time_ms,
        s.events,
        escape(&s.trace_hash)
    );
    let st = &s.stats;
    let _ = writeln!(
        out,
        "<h2 id=\"stats\">Stats</h2><table><tr><th>sent</th><th>acked</th><th>consumed</th>\
         <th>leader elections</th><th>ISR shrinks</th><th>ISR expands</th>\
         <th>truncations</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr></table>",
        st.sent,
        st.acked,
        st.consumed,
        st.leader_elections,
        st.isr_shrinks,
        st.isr_expands,
        st.truncations
    );
}

/// How many spans the fault timeline draws before it says how many it left out.
const SPANS_DRAWN_MAX: usize = 60;

fn faults(out: &mut String, page: &Page) {
    let s = page.input.summary;
    let _ = writeln!(out, "<h2 id=\"faults\">Faults ({})</h2>", s.faults.len());
    if s.faults.is_empty() {
        out.push_str("<p>No faults.</p>\n");
        return;
    }
    let (width, row_px) = (1200.0, 18.0);
    let end_ms = s.sim_time_ms.max(1) as f64;
    let spans = &page.spans[..page.spans.len().min(SPANS_DRAWN_MAX)];
    let height = 24.0 + row_px * spans.len() as f64;
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"fault-timeline\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\
         <line x1=\"0\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\" stroke=\"#999\"/>\
         <text x=\"0\" y=\"{t}\">0 ms</text><text x=\"{width}\" y=\"{t}\" \
         text-anchor=\"end\">{end_ms} ms</text>",
        y = height - 16.0,
        t = height - 3.0,
    );
    for (row, span) in spans.iter().enumerate() {
        let x = span.from_ms as f64 / end_ms * width;
        let w = ((span.to_ms - span.from_ms) as f64 / end_ms * width).max(2.0);
        let y = 2.0 + row as f64 * row_px;
        let colour = match span.kind {
            SpanKind::Down => "#d62728",
            SpanKind::Paused => "#e6b400",
            SpanKind::Network => "#1f77b4",
            SpanKind::Slow => "#7f7f7f",
        };
        let anchor = if x > width * 0.7 { "end" } else { "start" };
        let tx = if anchor == "end" { x - 4.0 } else { x + 4.0 };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\" \
             fill-opacity=\"0.35\"/><text x=\"{tx:.1}\" y=\"{}\" text-anchor=\"{anchor}\">\
             {} ({}–{} ms)</text>",
            row_px - 4.0,
            y + row_px - 7.0,
            escape(&span.label),
            span.from_ms,
            span.to_ms
        );
    }
    out.push_str("</svg>\n");
    if page.spans.len() > spans.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more spans in the table below.</p>",
            page.spans.len() - spans.len()
        );
    }
    out.push_str("<table><tr><th>at ms</th><th>fault</th></tr>");
    for f in &s.faults {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            f.at_ms,
            escape(&fault_text(f))
        );
    }
    out.push_str("</table>\n");
}

/// A fault as scenarios spell it: `kill broker-1`, `partition [broker-0] [broker-1 broker-2]`.
fn fault_text(fault: &FaultRecord) -> String {
    let mut text = fault.action.to_owned();
    if let Some(node) = &fault.node {
        text += &format!(" {node}");
    }
    for group in fault.groups.iter().flatten() {
        text += &format!(" [{}]", group.join(" "));
    }
    if let (Some(from), Some(to)) = (&fault.from, &fault.to) {
        text += &format!(" {from} → {to}");
    }
    if let (Some(extra), Some(for_ms)) = (fault.extra_ms, fault.for_ms) {
        text += &format!(" +{extra} ms for {for_ms} ms");
    }
    text
}

fn anomalies(out: &mut String, page: &Page) {
    let s = page.input.summary;
    let _ = writeln!(
        out,
        "<h2 id=\"anomalies\">Anomalies ({})</h2>",
        s.anomalies.len()
    );
    if page.stories.is_empty() {
        out.push_str("<p>None: the checkers found nothing.</p>\n");
    }
    for (k, story) in page.stories.iter().enumerate() {
        let a = story.record;
        let _ = write!(
            out,
            "<div class=\"anomaly\" id=\"anomaly-{n}\"><h3>{n}. {} · {}-{}@{} {}</h3>\
             <p>{}</p>\n<table><tr><th>ms</th><th>what happened</th></tr>",
            escape(&a.kind),
            escape(&a.topic),
            a.partition,
            a.offset,
            escape(&a.record),
            escape(&a.explanation),
            n = k + 1
        );
        for e in &story.events {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                millis(e.at_us),
                escape(&e.text)
            );
        }
        out.push_str("</table>\n");
        if let Some(Some(zoom)) = page.zooms.get(k) {
            figure(out, zoom);
        }
        out.push_str("</div>\n");
    }
}

fn millis(at_us: u64) -> String {
    format!("{}.{:03}", at_us / 1_000, at_us % 1_000)
}

fn charts(out: &mut String, page: &Page) {
    let _ = write!(
        out,
        "<h2 id=\"charts\">Charts</h2>\n<p class=\"note\">x: simulated time ({}..{} ms); y: \
         offset. Per replica a solid step line for its LEO and a dashed one for its HW in the \
         same colour; a pale halo on the leader's LEO; <code>eN</code> lines: leader epoch N \
         begins; shaded spans: faults (red: down, yellow: paused, blue: network cut, grey: \
         slow); crosses: truncations; red triangles: anomalies. The lane below: ISR \
         membership (pale) and leadership (full).</p>\n",
        page.window.from_ms(),
        page.window.to_ms()
    );
    for chart in page.charts {
        figure(out, chart);
    }
}

fn figure(out: &mut String, chart: &ChartRef) {
    let svg = chart
        .svg
        .find("<svg")
        .map_or(chart.svg.as_str(), |k| &chart.svg[k..]);
    let svg = svg.replacen("<svg", "<svg class=\"chart\"", 1);
    let stem = escape(&chart.stem);
    let _ = writeln!(
        out,
        "<figure>{svg}<figcaption>{} · <a href=\"{stem}.svg\">{stem}.svg</a> · \
         <a href=\"{stem}.png\">{stem}.png</a></figcaption></figure>",
        escape(&chart.title)
    );
}

/// The time of a short-log line (`12000.250 broker-1 …`), in µs.
fn line_time_us(line: &str) -> Option<u64> {
    let time = line.split(' ').next()?;
    let (ms, frac) = time.split_once('.')?;
    Some(ms.parse::<u64>().ok()? * 1_000 + frac.parse::<u64>().ok()?)
}

/// Picks the log lines the page shows: those in the anomalies' windows first, then those of the
/// chart window from its start, at most [`LOG_LINES_MAX`] in all. Returns the picked line
/// numbers in order and how many lines the chart window holds.
fn pick_lines(log: &str, window: Window, anomaly_windows: &[Window]) -> (Vec<usize>, usize) {
    let anomaly_quota = if anomaly_windows.is_empty() {
        0
    } else {
        LOG_LINES_MAX / 2 / anomaly_windows.len()
    };
    let mut anomaly_used = vec![0; anomaly_windows.len()];
    let fill_quota = LOG_LINES_MAX - anomaly_quota * anomaly_windows.len();
    let (mut fill_used, mut in_window) = (0, 0);
    let mut picked = Vec::new();
    for (k, line) in log.lines().enumerate() {
        let Some(at) = line_time_us(line) else {
            continue;
        };
        let mut pick = false;
        for (w, used) in anomaly_windows.iter().zip(&mut anomaly_used) {
            if w.contains(at) && *used < anomaly_quota {
                *used += 1;
                pick = true;
            }
        }
        if window.contains(at) {
            in_window += 1;
            if !pick && fill_used < fill_quota {
                fill_used += 1;
                pick = true;
            }
        }
        if pick {
            picked.push(k);
        }
    }
    (picked, in_window)
}

fn short_log(out: &mut String, page: &Page) {
    let log = page.input.log;
    let windows: Vec<Window> = page.stories.iter().map(|s| s.window).collect();
    let (picked, in_window) = pick_lines(log, page.window, &windows);
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    let mut lines = String::new();
    let mut next = picked.iter().peekable();
    let mut previous: Option<usize> = None;
    for (k, line) in log.lines().enumerate() {
        if next.peek().is_none() {
            break;
        }
        if next.peek() != Some(&&k) {
            continue;
        }
        next.next();
        if let Some(p) = previous
            && k > p + 1
        {
            let _ = write!(
                lines,
                "<div class=\"gap\">… {} lines left out …</div>",
                k - p - 1
            );
        }
        previous = Some(k);
        let node = line.split(' ').nth(1).unwrap_or("");
        nodes.insert(node);
        let _ = write!(
            lines,
            "<div data-n=\"{}\">{}</div>",
            escape(node),
            escape(line)
        );
    }
    let _ = write!(
        out,
        "<h2 id=\"short-log\">Short log</h2>\n<p class=\"note\">{} of {} lines (window {}..{} ms). \
         At most {LOG_LINES_MAX} are kept here, those around each anomaly first; \
         <code>run --trace FILE</code> writes them all.</p>\n\
         <p><label>node <select id=\"log-node\"><option value=\"\">all</option>",
        picked.len(),
        in_window,
        page.window.from_ms(),
        page.window.to_ms()
    );
    for node in &nodes {
        let node = escape(node);
        let _ = write!(out, "<option value=\"{node}\">{node}</option>");
    }
    out.push_str(
        "</select></label> <label>text <input id=\"log-text\" type=\"search\"></label></p>\n\
         <div id=\"log\">",
    );
    out.push_str(&lines);
    out.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<b a=\"1\">'x' & y</b>"),
            "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;"
        );
    }

    #[test]
    fn log_lines_in_anomaly_windows_come_first() {
        let log: String = (0..100)
            .map(|ms| format!("{ms}.000 broker-0 x\n"))
            .collect();
        let window = Window::from_millis(0, 100);
        let (picked, in_window) = pick_lines(&log, window, &[]);
        assert_eq!((picked.len(), in_window), (100, 100));
        let anomaly = Window::from_millis(90, 95);
        let (picked, _) = pick_lines(&log, window, &[anomaly]);
        assert!(picked.contains(&92));
    }
}
