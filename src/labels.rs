//! Ground-truth segment labels, as the shared data set stores them: CSV with a header naming
//! `start`, `end` (half-open, 0-based frame indices) and `label` or `state`.

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
        let seg = LabelledSegment {
            start: num(si, "start")?,
            end: num(ei, "end")?,
            label: get(li, "label")?.to_owned(),
        };
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
        let t2s = parse_segments(b"start,end,state\n0,4,1\n", "t.csv").expect("t2s");
        assert_eq!(t2s[0].label, "1");
        let e = parse_segments(b"start,end,label\n0,x,walk\n", "b.csv").unwrap_err().to_string();
        assert_eq!(e, "b.csv:2: end: expected a frame index, found \"x\"");
        assert!(parse_segments(b"a,b\n", "h.csv").is_err());
        assert!(parse_segments(b"start,end,label\n0,5,a\n3,6,b\n", "o.csv").is_err());
    }
}
