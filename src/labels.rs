//! Ground-truth segment labels, as the shared data set stores them:
//!
//! * CSV with a header naming `start`, `end` (half-open, 0-based frame indices) and `label` or
//!   `state` (the ACA and Time2State sets): [`read_segments`], [`parse_segments`];
//! * the Su & Shlizerman text format with a tolerance window per boundary: [`read_su`],
//!   [`parse_su`].

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::FrameIndex;

/// One labelled segment `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledSegment {
    /// First frame.
    pub start: FrameIndex,
    /// One past the last frame.
    pub end: FrameIndex,
    /// The label (a name, or a state number as text).
    pub label: String,
}

/// Reads a segment CSV (ACA `start,end,label,...` or Time2State `start,end,state`).
pub fn read_segments(path: &Path) -> Result<Vec<LabelledSegment>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_segments(&bytes, &path.display().to_string())
}

/// Parses segment CSV bytes; `file` names the input in errors.
pub fn parse_segments(bytes: &[u8], file: &str) -> Result<Vec<LabelledSegment>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::parse(file, 1, "text", "UTF-8 text", "invalid UTF-8 bytes"))?;
    // A byte-order mark (spreadsheet exports) is not part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| Error::invalid(file, None, "empty label file"))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |names: &[&str]| cols.iter().position(|c| names.contains(c));
    let (Some(si), Some(ei), Some(li)) =
        (find(&["start"]), find(&["end"]), find(&["label", "state"]))
    else {
        return Err(Error::parse(
            file,
            1,
            "header",
            "columns start, end and label (or state)",
            header,
        ));
    };
    let mut out: Vec<LabelledSegment> = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: usize, what: &str| {
            f.get(k).copied().ok_or_else(|| Error::parse(file, i + 1, what, "a value", ""))
        };
        let num = |k: usize, what: &str| -> Result<usize> {
            let s = get(k, what)?;
            s.parse().map_err(|_| Error::parse(file, i + 1, what, "a frame index", s))
        };
        let label = get(li, "label")?;
        if label.is_empty() {
            return Err(Error::invalid(file, Some(i + 1), "label: empty"));
        }
        if label.contains('"') {
            // Quoted fields are not read (a quoted comma would cut the name silently).
            return Err(Error::parse(file, i + 1, "label", "a name without quotes", label));
        }
        let seg =
            LabelledSegment { start: num(si, "start")?, end: num(ei, "end")?, label: label.into() };
        if seg.end <= seg.start || out.last().is_some_and(|p| p.end > seg.start) {
            return Err(Error::invalid(
                file,
                Some(i + 1),
                format!("segment [{}, {}) is empty or overlaps the one before", seg.start, seg.end),
            ));
        }
        out.push(seg);
    }
    if out.is_empty() {
        return Err(Error::invalid(file, None, "no segments"));
    }
    Ok(out)
}

/// Per-frame label indices for `frames` frames (`None` where no segment covers a frame), and the
/// distinct label names in order of first appearance.
pub fn frame_labels(
    segments: &[LabelledSegment],
    frames: usize,
) -> (Vec<Option<usize>>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut labels = vec![None; frames];
    for s in segments {
        let id = match names.iter().position(|n| *n == s.label) {
            Some(i) => i,
            None => {
                names.push(s.label.clone());
                names.len() - 1
            }
        };
        for l in labels.iter_mut().take(s.end.min(frames)).skip(s.start) {
            *l = Some(id);
        }
    }
    (labels, names)
}

/// Like [`frame_labels`], for ground truth that must cover every frame (what the metrics in
/// [`crate::eval`] take): fails naming `file` and the first uncovered frame.
pub fn truth_labels(
    segments: &[LabelledSegment],
    frames: usize,
    file: &str,
) -> Result<(Vec<usize>, Vec<String>)> {
    let (labels, names) = frame_labels(segments, frames);
    let truth = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.ok_or_else(|| Error::invalid(file, None, format!("no segment covers frame {i}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok((truth, names))
}

/// The acceptable window for one boundary between two segments (Su & Shlizerman labels).
///
/// All three values use one convention: a boundary `b` is the 0-based index of the **first frame
/// of the next segment** (equivalently the 1-based number of the last frame of the segment
/// before). This is the Su files' own numbering, verified against the ACA CSV of the same trial,
/// whose `end` column equals `best`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoundaryWindow {
    /// The annotator's earliest acceptable transition, verbatim (may exceed `best`, see
    /// [`BoundaryWindow::window`]).
    pub earliest: FrameIndex,
    /// The best transition frame.
    pub best: FrameIndex,
    /// The latest acceptable transition, verbatim (may be below `best`).
    pub latest: FrameIndex,
}

impl BoundaryWindow {
    /// The inclusive tolerance window `[lo, hi]`, widened to contain `best`: a few files have
    /// `earliest > best` (86_05 `3881 3840 4000`) or `latest < best` (86_06 `1540 1685 1628`);
    /// an acceptance window that excludes the best frame makes no sense, so we widen it.
    pub fn window(&self) -> (FrameIndex, FrameIndex) {
        (self.earliest.min(self.best), self.latest.max(self.best))
    }

    /// True when boundary `b` lies in [`BoundaryWindow::window`].
    pub fn contains(&self, b: FrameIndex) -> bool {
        let (lo, hi) = self.window();
        (lo..=hi).contains(&b)
    }
}

/// A Su & Shlizerman ground-truth file: segments plus one tolerance window per boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuLabels {
    /// Where the labels came from, for error messages.
    pub source: String,
    /// Segments in time order, `[start, end)`; the first starts at 0, each next one at the
    /// previous `best`, the last ends at [`SuLabels::total_frames`].
    pub segments: Vec<LabelledSegment>,
    /// One window per boundary between consecutive segments (`segments.len() - 1` of them).
    pub boundaries: Vec<BoundaryWindow>,
    /// The total frame count as the file writes it. In the shared data it is off by one from
    /// the real count in five of seven files (86_02 says 10616 for 10617 frames, 86_05 says
    /// 8341 for 8340); use [`SuLabels::with_frame_count`] to set the real one.
    pub total_frames: usize,
}

impl SuLabels {
    /// Replaces the total frame count (the end of the last segment) with the real one, e.g.
    /// the motion file's frame count. Fails when that leaves the last segment empty.
    pub fn with_frame_count(mut self, frames: usize) -> Result<Self> {
        let last_start = self.segments.last().map_or(0, |s| s.start);
        if frames <= last_start {
            return Err(Error::invalid(
                &self.source,
                None,
                format!("frame count {frames} leaves the last segment (from {last_start}) empty"),
            ));
        }
        if let Some(last) = self.segments.last_mut() {
            last.end = frames;
        }
        self.total_frames = frames;
        Ok(self)
    }

    /// The best boundary frames, in time order.
    pub fn best_boundaries(&self) -> Vec<FrameIndex> {
        self.boundaries.iter().map(|b| b.best).collect()
    }
}

/// Reads a Su & Shlizerman ground-truth file (`cmu/86/labels/su/86_XX.txt`).
pub fn read_su(path: &Path) -> Result<SuLabels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_su(&bytes, &path.display().to_string())
}

/// Parses a Su & Shlizerman ground-truth file; `file` names the input in errors.
///
/// Grammar (`key.txt` of the source repository): the number of segments `n`; then for each
/// segment `k = 1..=n` a line `<k> <name>` (the name may contain spaces) and a line
/// `<earliest> <best> <latest>`, except that the last segment's second line holds only the total
/// frame count. Blank lines and CR line ends are ignored; anything after the last segment is an
/// error.
///
/// ```
/// use motionseg::labels::parse_su;
///
/// let su = parse_su(b"2\r\n1 walk\r\n500 550 600\r\n2 jump\r\n900\r\n", "86_xx.txt")?;
/// assert_eq!((su.segments[1].start, su.segments[1].end), (550, 900));
/// assert!(su.boundaries[0].contains(520) && !su.boundaries[0].contains(601));
/// # Ok::<(), motionseg::Error>(())
/// ```
pub fn parse_su(bytes: &[u8], file: &str) -> Result<SuLabels> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::parse(file, 1, "text", "UTF-8 text", "invalid UTF-8 bytes"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (1-based line number, trimmed text) of the non-blank lines.
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
    let last_line = text.lines().count().max(1);
    let mut next = |what: &str| {
        lines.next().ok_or_else(|| Error::parse(file, last_line, what, "another line", ""))
    };
    let num = |line: usize, what: &str, tok: &str| -> Result<usize> {
        tok.parse().map_err(|_| Error::parse(file, line, what, "a non-negative integer", tok))
    };

    let (line, first) = next("segment count")?;
    let n = num(line, "segment count", first)?;
    if n == 0 {
        return Err(Error::parse(file, line, "segment count", "at least 1", first));
    }
    let mut segments: Vec<LabelledSegment> = Vec::new();
    let mut boundaries: Vec<BoundaryWindow> = Vec::new();
    let mut start = 0;
    let mut total = 0;
    for k in 1..=n {
        let (line, head) = next("segment header")?;
        let (idx, name) = head.split_once(char::is_whitespace).unwrap_or((head, ""));
        if num(line, "segment index", idx)? != k {
            return Err(Error::parse(file, line, "segment index", format!("{k}"), idx));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::parse(file, line, "segment name", "a name after the index", ""));
        }
        let (line, frames) = next("transition frames")?;
        let toks: Vec<&str> = frames.split_whitespace().collect();
        let end = if k < n {
            let [lo, best, hi] = toks[..] else {
                return Err(Error::parse(
                    file,
                    line,
                    "transition frames",
                    "3 integers: earliest best latest",
                    frames,
                ));
            };
            let w = BoundaryWindow {
                earliest: num(line, "earliest", lo)?,
                best: num(line, "best", best)?,
                latest: num(line, "latest", hi)?,
            };
            boundaries.push(w);
            w.best
        } else {
            let [count] = toks[..] else {
                return Err(Error::parse(
                    file,
                    line,
                    "total frames",
                    "1 integer (the last segment has no transition)",
                    frames,
                ));
            };
            total = num(line, "total frames", count)?;
            total
        };
        if end <= start {
            return Err(Error::invalid(
                file,
                Some(line),
                format!("segment {k} ends at {end}, not after its start {start}"),
            ));
        }
        segments.push(LabelledSegment { start, end, label: name.to_owned() });
        start = end;
    }
    if let Some((line, extra)) = lines.next() {
        return Err(Error::parse(file, line, "end of file", format!("only {n} segments"), extra));
    }
    Ok(SuLabels { source: file.to_owned(), segments, boundaries, total_frames: total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aca_and_time2state_forms() {
        let aca =
            parse_segments(b"start,end,label,end_lo,end_hi\n0,3,walk,2,4\n3,5,jump,5,5\n", "a.csv")
                .expect("aca");
        assert_eq!(aca[1], LabelledSegment { start: 3, end: 5, label: "jump".into() });
        let (l, n) = frame_labels(&aca, 6);
        assert_eq!(l, [Some(0), Some(0), Some(0), Some(1), Some(1), None]);
        assert_eq!(n, ["walk", "jump"]);
        let (t, _) = truth_labels(&aca, 5, "a.csv").expect("covered");
        assert_eq!(t, [0, 0, 0, 1, 1]);
        let e = truth_labels(&aca, 6, "a.csv").unwrap_err().to_string();
        assert_eq!(e, "a.csv: no segment covers frame 5");
        let t2s = parse_segments(b"start,end,state\n0,4,1\n", "t.csv").expect("t2s");
        assert_eq!(t2s[0].label, "1");
        let e = parse_segments(b"start,end,label\n0,x,walk\n", "b.csv").unwrap_err().to_string();
        assert_eq!(e, "b.csv:2: end: expected a frame index, found \"x\"");
        assert!(parse_segments(b"a,b\n", "h.csv").is_err());
        assert!(parse_segments(b"start,end,label\n0,5,a\n3,6,b\n", "o.csv").is_err());
        // No silent damage to names: an empty one, or a quoted one (a quoted comma would cut it).
        let e = parse_segments(b"start,end,label\n0,5,\n", "e.csv").unwrap_err().to_string();
        assert_eq!(e, "e.csv:2: label: empty");
        // A byte-order mark is skipped, as in every other text input.
        let bom = parse_segments("\u{feff}start,end,label\n0,5,a\n".as_bytes(), "b.csv");
        assert_eq!(bom.expect("bom")[0].label, "a");
        let e = parse_segments(b"start,end,label\n0,5,\"a,b\"\n", "q.csv").unwrap_err();
        assert!(e.to_string().starts_with("q.csv:2: label:"), "{e}");
    }

    #[test]
    fn reads_su_format() {
        let text = b"3\r\n1 walk\r\n5 10 15 \r\n2 knee shot\r\n30 25 40\r\n3 run\r\n50\r\n\r\n";
        let su = parse_su(text, "s.txt").expect("su");
        assert_eq!(su.segments.len(), 3);
        let bom = [&b"\xef\xbb\xbf"[..], text].concat();
        assert_eq!(parse_su(&bom, "s.txt").expect("bom").segments, su.segments);
        assert_eq!(
            su.segments[1],
            LabelledSegment { start: 10, end: 25, label: "knee shot".into() }
        );
        assert_eq!(su.segments[2].end, 50);
        assert_eq!(su.boundaries[1].window(), (25, 40));
        assert!(su.boundaries[0].contains(5) && !su.boundaries[0].contains(16));
        let su = su.with_frame_count(51).expect("count");
        assert_eq!((su.total_frames, su.segments[2].end), (51, 51));
        let e = parse_su(b"2\n1 a\n1 2\n", "b.txt").unwrap_err().to_string();
        assert_eq!(
            e,
            "b.txt:3: transition frames: expected 3 integers: earliest best latest, found \"1 2\""
        );
        assert!(parse_su(b"2\n1 a\n1 2 3\n3 b\n9\n", "i.txt").is_err());
        assert!(parse_su(b"1\n1 a\n9\nextra\n", "x.txt").is_err());
        assert!(parse_su(b"2\n1 a\n1 5 6\n2 b\n4\n", "o.txt").is_err());
        assert!(parse_su(b"", "e.txt").is_err());
    }

    proptest::proptest! {
        #[test]
        fn su_reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_su(&bytes, "fuzz.txt");
        }

        #[test]
        fn su_reader_never_panics_on_near_misses(
            cut in 0usize..80,
            junk in "[0-9a-z \r\n-]{0,12}",
        ) {
            let good = "3\r\n1 walk\r\n5 10 15\r\n2 run\r\n20 25 30\r\n3 jump\r\n50\r\n";
            let cut = cut.min(good.len());
            let text = format!("{}{junk}{}", &good[..cut], &good[cut..]);
            if let Err(e) = parse_su(text.as_bytes(), "near.txt") {
                proptest::prop_assert!(e.to_string().starts_with("near.txt"));
            }
        }
    }
}
