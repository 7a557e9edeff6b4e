//! Step lines at pixel resolution. A busy partition's LEO moves millions of times in a run; a
//! chart is a thousand pixels wide. Per pixel column the step line keeps the value it entered
//! with, its lowest and highest values in their order, and the value it left with, which draws
//! exactly what the full series would at that width and bounds a line's vertices by four per
//! column.

use super::series::Steps;

/// A time window of a chart, in simulated microseconds, `from_us < to_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start (µs).
    pub from_us: u64,
    /// End (µs).
    pub to_us: u64,
}

impl Window {
    /// The window from `from_ms` to `to_ms`, widened to a millisecond if empty.
    pub fn from_millis(from_ms: u64, to_ms: u64) -> Window {
        Window {
            from_us: from_ms * 1_000,
            to_us: (to_ms * 1_000).max(from_ms * 1_000 + 1_000),
        }
    }

    /// The start in ms.
    pub fn from_ms(&self) -> f64 {
        self.from_us as f64 / 1_000.0
    }

    /// The end in ms.
    pub fn to_ms(&self) -> f64 {
        self.to_us as f64 / 1_000.0
    }

    /// Whether `at_us` falls inside.
    pub fn contains(&self, at_us: u64) -> bool {
        (self.from_us..=self.to_us).contains(&at_us)
    }

    /// The window clipped to `outer`; `None` if they do not overlap.
    pub fn within(&self, outer: Window) -> Option<Window> {
        let from_us = self.from_us.max(outer.from_us);
        let to_us = self.to_us.min(outer.to_us);
        (from_us < to_us).then_some(Window { from_us, to_us })
    }
}

/// The vertices `(ms, value)` of the step line of `steps` across `window`, drawn `columns`
/// pixels wide. Empty if the series starts after the window.
pub fn step_path(steps: &Steps, window: Window, columns: u32) -> Vec<(f64, f64)> {
    let columns = u64::from(columns.max(1));
    let span = window.to_us - window.from_us;
    let column_of = |at_us: u64| (at_us - window.from_us) * columns / span.max(1);
    let ms = |at_us: u64| at_us as f64 / 1_000.0;
    // The value the line enters the window with, or where it first appears inside.
    let first_inside = steps.partition_point(|(at, _)| *at <= window.from_us);
    let (mut k, mut value, start_us) = match first_inside.checked_sub(1) {
        Some(before) => (first_inside, steps[before].1, window.from_us),
        None => match steps.first() {
            Some(&(at, v)) if at <= window.to_us => (1, v, at),
            _ => return Vec::new(),
        },
    };
    let mut path = vec![(ms(start_us), value as f64)];
    let push = |path: &mut Vec<(f64, f64)>, point: (f64, f64)| {
        if path.last() != Some(&point) {
            path.push(point);
        }
    };
    while k < steps.len() && steps[k].0 <= window.to_us {
        let (at, _) = steps[k];
        let column = column_of(at);
        // Every change in this pixel column, drawn as one vertical run at its first time.
        let (mut low, mut high) = (value, value);
        let (mut low_at, mut high_at) = (k, k);
        let entered = value;
        while k < steps.len() && steps[k].0 <= window.to_us && column_of(steps[k].0) == column {
            value = steps[k].1;
            if value < low {
                (low, low_at) = (value, k);
            }
            if value > high {
                (high, high_at) = (value, k);
            }
            k += 1;
        }
        let x = ms(at);
        push(&mut path, (x, entered as f64));
        let extremes = if low_at <= high_at {
            [low, high]
        } else {
            [high, low]
        };
        for v in extremes {
            push(&mut path, (x, v as f64));
        }
        push(&mut path, (x, value as f64));
    }
    push(&mut path, (window.to_ms(), value as f64));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_series_keeps_every_step() {
        let steps = vec![(0, 0), (2_000, 1), (5_000, 3)];
        let path = step_path(&steps, Window::from_millis(0, 10), 1_000);
        assert_eq!(
            path,
            vec![
                (0.0, 0.0),
                (2.0, 0.0),
                (2.0, 1.0),
                (5.0, 1.0),
                (5.0, 3.0),
                (10.0, 3.0)
            ]
        );
    }

    #[test]
    fn a_dense_series_keeps_four_vertices_per_column_at_most() {
        // A million changes, a truncation dip among them, drawn 100 pixels wide.
        let mut steps: Steps = (0..1_000_000u64).map(|i| (i, i)).collect();
        steps[500_000].1 = 7;
        let path = step_path(
            &steps,
            Window {
                from_us: 0,
                to_us: 999_999,
            },
            100,
        );
        assert!(path.len() <= 4 * 100 + 2, "{}", path.len());
        assert!(path.iter().any(|&(_, v)| v == 7.0), "the dip is kept");
        assert_eq!(path.last(), Some(&(999.999, 999_999.0)));
    }

    #[test]
    fn a_window_starts_with_the_value_before_it() {
        let steps = vec![(1_000, 4), (50_000, 9)];
        let path = step_path(&steps, Window::from_millis(10, 20), 100);
        assert_eq!(path, vec![(10.0, 4.0), (20.0, 4.0)]);
        let before = Window {
            from_us: 0,
            to_us: 999,
        };
        assert!(step_path(&steps, before, 100).is_empty());
    }
}
