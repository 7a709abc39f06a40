//! Pictures a person would rather look at than read, as self-contained SVG (no dependency).

use std::fmt::Write as _;

/// A categorical palette (colour-blind friendly, Okabe–Ito plus extras).
pub const PALETTE: [&str; 12] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF",
];

/// The colour of label `l`: [`PALETTE`] for the first twelve, then distinct hues (golden-angle
/// steps), so labels never share a colour in one picture.
///
/// ```
/// use motionseg::plot::label_colour;
///
/// assert_eq!(label_colour(0), "#0072B2");
/// let many: std::collections::HashSet<String> = (0..200).map(label_colour).collect();
/// assert_eq!(many.len(), 200);
/// ```
pub fn label_colour(l: usize) -> String {
    match PALETTE.get(l) {
        Some(c) => (*c).to_owned(),
        None => {
            let k = l - PALETTE.len();
            // Hue by the golden angle; lightness cycles so that hues near each other differ.
            let hue = (k as f64 * 137.507_764) % 360.0;
            let light = [45, 60, 35][k % 3];
            format!("hsl({hue:.1},65%,{light}%)")
        }
    }
}

/// A colour on a blue → yellow ramp for `t` in `[0, 1]` (time colouring).
pub fn ramp(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    // viridis-like: dark blue, teal, green, yellow.
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let c = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

/// How trajectories are coloured.
#[derive(Debug, Clone)]
pub enum Colouring {
    /// By window time, from the first to the last window.
    Time,
    /// By a label per trajectory (index into `names`).
    Labels {
        /// One label index per trajectory.
        of: Vec<usize>,
        /// The label names, for the legend.
        names: Vec<String>,
    },
}

/// Draws 3-D trajectories (one per window: a list of `[x, y, z]` points on the first three POD
/// modes) in an oblique projection, as the paper's PC3 figure does. Returns SVG text.
pub fn trajectories_svg(
    title: &str,
    trajectories: &[Vec<[f32; 3]>],
    colouring: &Colouring,
) -> String {
    let (w, h) = (900.0, 680.0);
    // Oblique view: azimuth 40 degrees, elevation 25 degrees.
    let (az, el) = (40f64.to_radians(), 25f64.to_radians());
    let project = |p: [f32; 3]| -> (f64, f64) {
        let (x, y, z) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
        let xr = x * az.cos() - y * az.sin();
        let yr = x * az.sin() + y * az.cos();
        (xr, z * el.cos() - yr * el.sin())
    };
    let pts: Vec<(f64, f64)> = trajectories.iter().flatten().map(|&p| project(p)).collect();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(s, r#"<text x="20" y="30" font-size="18">{}</text>"#, escape(title));
    if pts.is_empty() {
        s.push_str(r#"<text x="20" y="60">no windows</text></svg>"#);
        return s;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (pw, ph) = (w - 220.0, h - 90.0);
    let scale = (pw / (x1 - x0).max(1e-9)).min(ph / (y1 - y0).max(1e-9));
    let map = |(x, y): (f64, f64)| (20.0 + (x - x0) * scale, 50.0 + ph - (y - y0) * scale);
    // Axes through the data's centre, for orientation.
    let n = pts.len() as f64;
    let cx = trajectories.iter().flatten().fold([0.0f64; 3], |mut a, p| {
        for i in 0..3 {
            a[i] += f64::from(p[i]) / n;
        }
        a
    });
    let span = ((x1 - x0).max(y1 - y0)) * 0.25;
    for (axis, name) in ["PC1", "PC2", "PC3"].iter().enumerate() {
        let mut end = [cx[0] as f32, cx[1] as f32, cx[2] as f32];
        end[axis] += span as f32;
        let (ax, ay) = map(project([cx[0] as f32, cx[1] as f32, cx[2] as f32]));
        let (bx, by) = map(project(end));
        let _ = write!(
            s,
            r##"<line x1="{ax:.1}" y1="{ay:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="#999" stroke-dasharray="4 3"/><text x="{bx:.1}" y="{by:.1}" font-size="12" fill="#666">{name}</text>"##
        );
    }
    let count = trajectories.len().max(2) - 1;
    for (i, traj) in trajectories.iter().enumerate() {
        let colour = match colouring {
            Colouring::Time => ramp(i as f64 / count as f64),
            Colouring::Labels { of, .. } => label_colour(of.get(i).copied().unwrap_or(0)),
        };
        let mut d = String::new();
        for (j, &p) in traj.iter().enumerate() {
            let (x, y) = map(project(p));
            let _ = write!(d, "{}{x:.1},{y:.1} ", if j == 0 { "M" } else { "L" });
        }
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1" stroke-opacity="0.55"/>"#
        );
    }
    // Legend.
    let lx = w - 190.0;
    match colouring {
        Colouring::Time => {
            for k in 0..=10 {
                let _ = write!(
                    s,
                    r#"<rect x="{lx}" y="{:.0}" width="18" height="18" fill="{}"/>"#,
                    60.0 + k as f64 * 18.0,
                    ramp(k as f64 / 10.0)
                );
            }
            let _ =
                write!(s, r#"<text x="{}" y="72" font-size="13">start of take</text>"#, lx + 24.0);
            let _ =
                write!(s, r#"<text x="{}" y="252" font-size="13">end of take</text>"#, lx + 24.0);
        }
        Colouring::Labels { names, .. } => {
            for (k, name) in names.iter().enumerate() {
                let y = 60.0 + k as f64 * 22.0;
                let _ = write!(
                    s,
                    r#"<rect x="{lx}" y="{y:.0}" width="18" height="18" fill="{}"/><text x="{}" y="{:.0}" font-size="13">{}</text>"#,
                    label_colour(k),
                    lx + 24.0,
                    y + 14.0,
                    escape(name)
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Escapes text for SVG.
pub fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_one_path_per_trajectory_and_a_legend() {
        let t =
            vec![vec![[0.0, 0.0, 0.0], [1.0, 0.5, 0.2]], vec![[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]];
        let s = trajectories_svg(
            "x & y",
            &t,
            &Colouring::Labels { of: vec![0, 1], names: vec!["walk".into(), "jump".into()] },
        );
        assert_eq!(s.matches("<path").count(), 2);
        assert!(s.contains("walk") && s.contains("jump") && s.contains("x &amp; y"));
        assert!(trajectories_svg("e", &[], &Colouring::Time).contains("no windows"));
        assert_eq!(ramp(0.0), "#440154");
    }

    #[test]
    fn timeline_draws_one_rect_per_run() {
        let pred = [Some(0), Some(0), Some(1), None, Some(1)];
        let names = vec!["walk".to_owned(), "jump".to_owned()];
        let s = timeline_svg(
            "t",
            1.0,
            &[TimelineRow { name: "motionseg", labels: &pred, label_names: &names }],
        );
        // Runs: [0,0], [1], [None], [1] -> 4 rectangles plus the background and 2 legend swatches.
        assert_eq!(s.matches("<rect").count(), 1 + 4 + 2);
        assert!(s.contains("walk") && s.contains("jump"));
    }
}

/// One row of a segmentation timeline: a name and a label per frame (`None`: no label).
#[derive(Debug, Clone)]
pub struct TimelineRow<'a> {
    /// Row title (e.g. `motionseg` or `truth`).
    pub name: &'a str,
    /// One label per frame.
    pub labels: &'a [Option<usize>],
    /// Names of the labels, for the legend (may be empty: labels are then shown as numbers).
    pub label_names: &'a [String],
}

/// Draws segmentation timelines (frames along x, one colour per label), one row each, with a
/// seconds axis. Returns SVG text.
pub fn timeline_svg(title: &str, fps: f64, rows: &[TimelineRow<'_>]) -> String {
    let frames = rows.iter().map(|r| r.labels.len()).max().unwrap_or(0).max(1);
    // Room for the longest row name (about 7.5 px a character at 13 px).
    let longest = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let left = (20.0 + 7.5 * longest as f64).max(110.0);
    let (width, row_h, gap) = (960.0, 34.0, 26.0);
    let legend_rows = rows.len();
    let h = 60.0 + rows.len() as f64 * (row_h + gap) + 30.0 + legend_rows as f64 * 22.0;
    let w = left + width + 30.0;
    let x = |f: usize| left + width * f as f64 / frames as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h:.0}" viewBox="0 0 {w} {h:.0}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="26" font-size="16">{}</text>"#,
        escape(title)
    );
    for (r, row) in rows.iter().enumerate() {
        let y = 50.0 + r as f64 * (row_h + gap);
        let _ = write!(
            s,
            r#"<text x="10" y="{:.0}" font-size="13">{}</text>"#,
            y + row_h * 0.65,
            escape(row.name)
        );
        let mut start = 0;
        for f in 1..=row.labels.len() {
            if f == row.labels.len() || row.labels[f] != row.labels[start] {
                let colour = match row.labels[start] {
                    Some(l) => label_colour(l),
                    None => "#dddddd".to_owned(),
                };
                let _ = write!(
                    s,
                    r#"<rect x="{:.2}" y="{y:.0}" width="{:.2}" height="{row_h}" fill="{colour}"/>"#,
                    x(start),
                    (x(f) - x(start)).max(0.5)
                );
                start = f;
            }
        }
    }
    // Seconds axis under the rows.
    let axis_y = 50.0 + rows.len() as f64 * (row_h + gap) - gap + 6.0;
    let total_s = frames as f64 / fps.max(1e-9);
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|st| total_s / st <= 12.0)
        .unwrap_or(1200.0);
    let mut t = 0.0;
    while t <= total_s + 1e-9 {
        let px = left + width * (t / total_s.max(1e-9)).min(1.0);
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" y1="{axis_y:.0}" x2="{px:.1}" y2="{:.0}" stroke="#444"/><text x="{px:.1}" y="{:.0}" font-size="11" text-anchor="middle">{t:.0} s</text>"##,
            axis_y + 5.0,
            axis_y + 18.0
        );
        t += step;
    }
    // Legend: one line per row, listing its labels.
    let mut ly = axis_y + 40.0;
    for row in rows {
        let mut used: Vec<usize> = row.labels.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        let _ = write!(
            s,
            r#"<text x="10" y="{:.0}" font-size="12">{}:</text>"#,
            ly + 12.0,
            escape(row.name)
        );
        let mut lx = left;
        for l in used {
            let name = row.label_names.get(l).cloned().unwrap_or_else(|| format!("{l}"));
            let _ = write!(
                s,
                r#"<rect x="{lx:.0}" y="{ly:.0}" width="14" height="14" fill="{}"/><text x="{:.0}" y="{:.0}" font-size="12">{}</text>"#,
                label_colour(l),
                lx + 18.0,
                ly + 12.0,
                escape(&name)
            );
            lx += 30.0 + 7.0 * name.chars().count() as f64;
        }
        ly += 22.0;
    }
    s.push_str("</svg>\n");
    s
}
