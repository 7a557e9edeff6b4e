//! LEO/HW timeline charts, drawn with plotters as SVG and PNG from the same code. The only module
//! that imports plotters (DESIGN §2).
//!
//! A chart of one partition: x is simulated time, y is the offset. Each replica has a colour; its
//! LEO is a solid step line, its HW a dashed one, and while it leads its LEO wears a wide pale
//! halo. Leader-epoch changes are labelled vertical lines (`e3`), faults shaded spans labelled
//! with their node, truncations crosses in the replica's colour, anomalies red triangles. Under
//! the chart an ISR lane shows each replica's membership over time (pale: member, full: leader).
//! Text is drawn with the bundled DejaVu Sans, so a machine without fonts renders it too.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::decimate::{Window, step_path};
use super::series::{FaultSpan, PartitionSeries, SpanKind};

/// The bundled font (DejaVu Sans, license in `assets/fonts/`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Labels of one kind drawn at most; a busier chart keeps its marks and drops their labels.
const LABELS_MAX: usize = 24;

/// An anomaly's place on a chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnomalyMark {
    /// When it happened (µs).
    pub at_us: u64,
    /// The offset concerned.
    pub offset: u64,
    /// What to write next to it (`lost-write`).
    pub label: String,
}

/// What one chart shows.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    /// The partition's series.
    pub series: &'a PartitionSeries,
    /// Every fault span of the run (those outside the window are skipped).
    pub faults: &'a [FaultSpan],
    /// The anomalies of this partition.
    pub anomalies: Vec<AnomalyMark>,
    /// The time window shown.
    pub window: Window,
    /// The title line.
    pub title: String,
}

/// The colour of broker `b`'s replica (Tableau 10, then repeating).
pub fn replica_colour(broker: u32) -> RGBColor {
    const PALETTE: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (57, 59, 121),
    ];
    let (r, g, b) = PALETTE[broker as usize % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The anomaly marker's colour.
const ANOMALY: RGBColor = RGBColor(214, 39, 40);

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| "the bundled font does not load".into())
}

/// The chart as an SVG document of `size` pixels.
pub fn svg(chart: &Chart, size: (u32, u32)) -> Result<String, String> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root, chart).map_err(|e| format!("drawing {}: {e}", chart.series.name))?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The chart as a PNG image of `size` pixels (8-bit RGB).
pub fn png(chart: &Chart, size: (u32, u32)) -> Result<Vec<u8>, String> {
    register_font()?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, chart).map_err(|e| format!("drawing {}: {e}", chart.series.name))?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(bytes)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Pixels left of the plot for the y labels; the ISR lane uses the same so the x axes align.
const Y_LABELS_PX: u32 = 64;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(&chart.title, (FAMILY, 16))?;
    let replicas = chart.series.replicas.len().max(1) as u32;
    let lane_px = 28 + 16 * replicas;
    let (_, height) = root.dim_in_pixel();
    let (main, lane) = root.split_vertically(height.saturating_sub(lane_px));
    draw_main(&main, chart)?;
    draw_isr_lane(&lane, chart)
}

fn draw_main<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult<DB> {
    let window = chart.window;
    let y = y_axis(chart);
    // Offsets are whole numbers: a short axis gets one label per offset.
    let y_labels = if y.end - y.start <= 10.0 {
        (y.end - y.start) as usize + 1
    } else {
        10
    };
    let mut ctx = ChartBuilder::on(area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(4)
        .x_label_area_size(34)
        .y_label_area_size(Y_LABELS_PX)
        .build_cartesian_2d(window.from_ms()..window.to_ms(), y.clone())?;
    ctx.configure_mesh()
        .x_desc("simulated time (ms)")
        .y_desc("offset")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_labels(y_labels)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(RGBColor(240, 240, 240))
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 12))
        .draw()?;
    let columns = ctx.plotting_area().dim_in_pixel().0;
    draw_fault_spans(&mut ctx, chart, &y)?;
    draw_epochs(&mut ctx, chart, &y)?;
    // Leader halos first, then HW (dashed) and LEO (solid) of every replica on top.
    for e in chart.series.epochs.iter().enumerate() {
        let (k, epoch) = e;
        let Some(leader) = epoch.leader else { continue };
        let end = chart.series.epochs.get(k + 1).map_or(u64::MAX, |n| n.at_us);
        let span = Window {
            from_us: epoch.at_us,
            to_us: end,
        };
        let (Some(span), Some(replica)) = (
            span.within(window),
            chart.series.replicas.iter().find(|r| r.broker == leader),
        ) else {
            continue;
        };
        let path = step_path(&replica.leo, span, columns);
        let halo = replica_colour(leader).mix(0.25).stroke_width(7);
        ctx.draw_series(std::iter::once(PathElement::new(path, halo)))?;
    }
    // Earlier replicas draw wider, so replicas on the same values show as nested bands.
    let count = chart.series.replicas.len() as u32;
    for (k, replica) in chart.series.replicas.iter().enumerate() {
        let colour = replica_colour(replica.broker);
        let width = 2 + 2 * (count - 1 - k as u32);
        let hw = step_path(&replica.hw, window, columns);
        ctx.draw_series(std::iter::once(DashedPathElement::new(
            hw,
            6,
            4,
            colour.stroke_width(width.min(3)),
        )))?
        .label(format!("broker-{} HW", replica.broker))
        .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 18, y)], 5, 3, colour));
        let leo = step_path(&replica.leo, window, columns);
        ctx.draw_series(std::iter::once(PathElement::new(
            leo,
            colour.stroke_width(width),
        )))?
        .label(format!("broker-{} LEO", replica.broker))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    draw_truncations(&mut ctx, chart)?;
    draw_anomalies(&mut ctx, chart)?;
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FAMILY, 11))
        .draw()
}

/// How far right of `x_ms` a label `text` starts: `gap` pixels, or, where it would run past the
/// plot's right edge (a mark at the end of the window), far enough left to end `gap` pixels
/// before the point.
fn label_dx<DB: DrawingBackend>(
    ctx: &Ctx<'_, DB>,
    window: Window,
    x_ms: f64,
    text: &str,
    gap: i32,
) -> i32 {
    let (x_px, _) = ctx.plotting_area().dim_in_pixel();
    let at_px = (x_ms - window.from_ms()) / (window.to_ms() - window.from_ms()) * f64::from(x_px);
    let width_px = text.chars().count() as f64 * LABEL_CHAR_PX;
    if at_px + f64::from(gap) + width_px > f64::from(x_px) {
        -(width_px as i32) - gap
    } else {
        gap
    }
}

/// About how wide one character of an 11–12 px label is.
const LABEL_CHAR_PX: f64 = 6.5;

/// The offsets the y axis spans: from 0, or, when what the window shows lies far from 0 (a
/// window late in a long run), from just below it, so its moves stay visible; up to a little
/// above the highest offset shown.
fn y_axis(chart: &Chart) -> std::ops::Range<f64> {
    let window = chart.window;
    let marks = chart
        .anomalies
        .iter()
        .filter(|a| window.contains(a.at_us))
        .map(|a| (a.offset, a.offset));
    let shown = chart.series.offsets_between(window.from_us, window.to_us);
    let (lo, hi) = shown
        .into_iter()
        .chain(marks)
        .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
        .unwrap_or((0, 0));
    let (lo, hi) = (lo as f64, hi as f64);
    let span = hi - lo;
    if lo <= span {
        return 0.0..(hi * 1.08).max(hi + 1.0).max(2.0);
    }
    let pad = (span * 0.08).max(1.0);
    (lo - pad).floor()..(hi + pad).ceil()
}

type Ctx<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn span_colour(kind: SpanKind) -> RGBColor {
    match kind {
        SpanKind::Down => RGBColor(214, 39, 40),
        SpanKind::Paused => RGBColor(230, 180, 0),
        SpanKind::Network => RGBColor(31, 119, 180),
        SpanKind::Slow => RGBColor(127, 127, 127),
    }
}

fn draw_fault_spans<DB: DrawingBackend>(
    ctx: &mut Ctx<'_, DB>,
    chart: &Chart,
    y: &std::ops::Range<f64>,
) -> DrawResult<DB> {
    let window = chart.window;
    let spans: Vec<&FaultSpan> = chart
        .faults
        .iter()
        .filter(|s| s.from_ms * 1_000 <= window.to_us && s.to_ms * 1_000 >= window.from_us)
        .collect();
    let clip = |ms: u64| (ms as f64).clamp(window.from_ms(), window.to_ms());
    for span in &spans {
        let colour = span_colour(span.kind);
        let (from, to) = (clip(span.from_ms), clip(span.to_ms));
        // A span of no width (a fault at the run's end) still shows as a thin band.
        let to = to.max(from + (window.to_ms() - window.from_ms()) / 400.0);
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(from, y.start), (to, y.end)],
            colour.mix(0.12).filled(),
        )))?;
    }
    // Labels in rows along the bottom, a new row when the previous label would overlap.
    let (x_px, _) = ctx.plotting_area().dim_in_pixel();
    let px_per_ms = f64::from(x_px) / (window.to_ms() - window.from_ms());
    let mut rows_end_px: Vec<f64> = Vec::new();
    for span in spans.iter().take(LABELS_MAX) {
        let from = clip(span.from_ms);
        let start_px = (from - window.from_ms()) * px_per_ms;
        let width_px = span.label.chars().count() as f64 * LABEL_CHAR_PX + 6.0;
        let row = match rows_end_px.iter().position(|end| *end <= start_px) {
            Some(row) => row,
            None if rows_end_px.len() < 4 => {
                rows_end_px.push(0.0);
                rows_end_px.len() - 1
            }
            None => continue,
        };
        rows_end_px[row] = start_px + width_px;
        let style = (FAMILY, 11).into_font().color(&span_colour(span.kind));
        let at = EmptyElement::at((from, y.start))
            + Text::new(span.label.clone(), (3, -14 - 13 * row as i32), style);
        ctx.draw_series(std::iter::once(at))?;
    }
    Ok(())
}

fn draw_epochs<DB: DrawingBackend>(
    ctx: &mut Ctx<'_, DB>,
    chart: &Chart,
    y: &std::ops::Range<f64>,
) -> DrawResult<DB> {
    let epochs: Vec<_> = chart
        .series
        .epochs
        .iter()
        .filter(|e| chart.window.contains(e.at_us))
        .collect();
    let grey = RGBColor(90, 90, 90);
    for (k, epoch) in epochs.iter().enumerate() {
        let x = epoch.at_us as f64 / 1_000.0;
        ctx.draw_series(std::iter::once(DashedPathElement::new(
            [(x, y.start), (x, y.end)],
            3,
            3,
            grey.stroke_width(1),
        )))?;
        if k < LABELS_MAX {
            let label = format!("e{}", epoch.epoch);
            let style = (FAMILY, 12).into_font().color(&grey);
            let at = EmptyElement::at((x, y.end)) + Text::new(label, (3, 2), style);
            ctx.draw_series(std::iter::once(at))?;
        }
    }
    Ok(())
}

fn draw_truncations<DB: DrawingBackend>(ctx: &mut Ctx<'_, DB>, chart: &Chart) -> DrawResult<DB> {
    let cuts: Vec<_> = chart
        .series
        .truncations
        .iter()
        .filter(|t| chart.window.contains(t.at_us) && t.from != t.to)
        .collect();
    for (k, cut) in cuts.iter().enumerate() {
        let colour = replica_colour(cut.broker);
        let x = cut.at_us as f64 / 1_000.0;
        let (from, to) = (cut.from as f64, cut.to as f64);
        ctx.draw_series(std::iter::once(PathElement::new(
            [(x, from), (x, to)],
            colour.stroke_width(3),
        )))?;
        ctx.draw_series(std::iter::once(Cross::new(
            (x, to),
            6,
            colour.stroke_width(3),
        )))?;
        if k < LABELS_MAX {
            let label = format!("truncate {} → {} ({})", cut.from, cut.to, cut.rule);
            let style = (FAMILY, 11).into_font().color(&colour);
            let dx = label_dx(ctx, chart.window, x, &label, 8);
            let at = EmptyElement::at((x, to)) + Text::new(label, (dx, 4), style);
            ctx.draw_series(std::iter::once(at))?;
        }
    }
    Ok(())
}

fn draw_anomalies<DB: DrawingBackend>(ctx: &mut Ctx<'_, DB>, chart: &Chart) -> DrawResult<DB> {
    let marks: Vec<_> = chart
        .anomalies
        .iter()
        .filter(|a| chart.window.contains(a.at_us))
        .collect();
    for (k, mark) in marks.iter().enumerate() {
        let point = (mark.at_us as f64 / 1_000.0, mark.offset as f64);
        // Marks at one point stack their labels.
        let above = marks[..k]
            .iter()
            .filter(|m| m.at_us == mark.at_us && m.offset == mark.offset)
            .count() as i32;
        ctx.draw_series(std::iter::once(TriangleMarker::new(
            point,
            8,
            ANOMALY.filled(),
        )))?;
        if k < LABELS_MAX {
            let style = (FAMILY, 12).into_font().color(&ANOMALY);
            let dx = label_dx(ctx, chart.window, point.0, &mark.label, 8);
            let at = EmptyElement::at(point)
                + Text::new(mark.label.clone(), (dx, -18 - 14 * above), style);
            ctx.draw_series(std::iter::once(at))?;
        }
    }
    Ok(())
}

/// The ISR lane: one row per replica, pale while in the ISR, full while leading.
fn draw_isr_lane<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> DrawResult<DB> {
    let window = chart.window;
    let rows = chart.series.replicas.len().max(1) as f64;
    let mut ctx = ChartBuilder::on(area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(14)
        .margin_bottom(4)
        .y_label_area_size(Y_LABELS_PX)
        .build_cartesian_2d(window.from_ms()..window.to_ms(), 0.0..rows)?;
    let grey = RGBColor(90, 90, 90);
    let heading = EmptyElement::at((window.from_ms(), rows))
        + Text::new(
            "ISR (pale: member, full: leader)",
            (0, -13),
            (FAMILY, 11).into_font().color(&grey),
        );
    ctx.draw_series(std::iter::once(heading))?;
    let isr = &chart.series.isr;
    let end_us = window.to_us;
    for (row, replica) in chart.series.replicas.iter().enumerate() {
        let colour = replica_colour(replica.broker);
        let y = rows - row as f64 - 1.0;
        let label = EmptyElement::at((window.from_ms(), y + 0.5))
            + Text::new(
                format!("broker-{}", replica.broker),
                (-(Y_LABELS_PX as i32) + 4, -6),
                (FAMILY, 11).into_font().color(&colour),
            );
        ctx.draw_series(std::iter::once(label))?;
        let member_spans = isr.iter().enumerate().filter_map(|(k, (at, members))| {
            let next = isr.get(k + 1).map_or(end_us, |(n, _)| *n);
            members
                .contains(&replica.broker)
                .then_some(Window {
                    from_us: *at,
                    to_us: next,
                })
                .and_then(|w| w.within(window))
        });
        let bars: Vec<_> = member_spans
            .map(|w| {
                Rectangle::new(
                    [(w.from_ms(), y + 0.2), (w.to_ms(), y + 0.8)],
                    colour.mix(0.35).filled(),
                )
            })
            .collect();
        ctx.draw_series(bars)?;
        let epochs = &chart.series.epochs;
        let leads = epochs.iter().enumerate().filter_map(|(k, e)| {
            let next = epochs.get(k + 1).map_or(end_us, |n| n.at_us);
            (e.leader == Some(replica.broker))
                .then_some(Window {
                    from_us: e.at_us,
                    to_us: next,
                })
                .and_then(|w| w.within(window))
        });
        let bars: Vec<_> = leads
            .map(|w| {
                Rectangle::new(
                    [(w.from_ms(), y + 0.2), (w.to_ms(), y + 0.8)],
                    colour.filled(),
                )
            })
            .collect();
        ctx.draw_series(bars)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::series::ReplicaSeries;

    fn chart(series: &PartitionSeries, from_us: u64, to_us: u64) -> Chart<'_> {
        Chart {
            series,
            faults: &[],
            anomalies: Vec::new(),
            window: Window { from_us, to_us },
            title: String::new(),
        }
    }

    #[test]
    fn the_y_axis_starts_at_zero_unless_the_window_shows_offsets_far_from_it() {
        let series = PartitionSeries {
            replicas: vec![ReplicaSeries {
                broker: 0,
                leo: (0..=100).map(|k| (k * 1_000, k * 240)).collect(),
                hw: (0..=100).map(|k| (k * 1_000 + 500, k * 240)).collect(),
            }],
            ..PartitionSeries::default()
        };
        // The whole run: from 0 to 8% above the top, as ever.
        let whole = y_axis(&chart(&series, 0, 100_000));
        assert_eq!(whole.start, 0.0);
        assert!((whole.end - 24_000.0 * 1.08).abs() < 1e-6);
        // A window late in the run fits the offsets it shows (the HW enters at 23 520, the LEO
        // reaches 24 000), with 8% of that span above and below.
        let late = y_axis(&chart(&series, 99_100, 100_000));
        assert_eq!(late, 23_481.0..24_039.0);
        // A window where nothing moves still spans a few offsets around the value.
        let flat = y_axis(&chart(&series, 100_600, 100_900));
        assert_eq!(flat, 23_999.0..24_001.0);
    }
}
