//! BVH (Biovision hierarchy) motion files: a tolerant, incremental reader of our own.
//!
//! # Why not `bvh_anim`
//!
//! The design card named the `bvh_anim` crate (0.4.0, alpha, unmaintained since 2021). We
//! evaluated it in a throwaway crate against the nine files in `data/bvh-samples/` plus 256
//! random truncations / byte mutations of each sample (2,304 cases) and a few hand-written
//! inputs, with every call wrapped in `catch_unwind`:
//!
//! * it **reads all nine samples** with the right joint, channel and frame counts;
//! * it **panics on bad input**: 19 of the 2,304 fuzz cases panicked (`panic!("Unexpected
//!   root")`, `"Unexpected end keyword"`, `"Missing root name!"`, `"Missing joint name!"` in its
//!   `parse.rs`), and so does the two-line input `"HIERARCHY\nROOT"`;
//! * it stores values as `f32`, reads whole files only, and its errors carry no field names.
//!
//! Our rule is that no reader panics, whatever the bytes, and a live source needs a reader that
//! takes one line at a time, so we wrote this one (about the size of the glue `bvh_anim` would
//! have needed anyway).
//!
//! # What is accepted
//!
//! * Line ends `\n`, `\r\n` and lone `\r`, mixed freely; tabs and runs of spaces between tokens;
//!   trailing spaces; blank lines anywhere; a UTF-8 byte-order mark at the start.
//! * Keywords (`HIERARCHY`, `ROOT`, `JOINT`, `End Site`, `OFFSET`, `CHANNELS`, `MOTION`,
//!   `Frames:`, `Frame Time:`) and channel names in any ASCII case.
//! * Joint names are the rest of the `ROOT`/`JOINT` line, so they may hold `:` or other
//!   punctuation (`mixamorig:Hips`) and even spaces; a trailing `{` on that line opens the block.
//! * `CHANNELS n` with 0 to 6 distinct channel names in any order, on the same line.
//! * Several `ROOT` blocks (each becomes a joint with `parent: None`).
//! * Numbers as Rust's `f64` parser reads them, including `.0083333` and `1e-3`.
//!
//! # What is rejected
//!
//! Every error names the file, the 1-based line, the field and what was expected: an empty
//! file, a missing `HIERARCHY` or `MOTION`, unbalanced braces, an unknown keyword or channel
//! name, a `CHANNELS` count that disagrees with the names given, a non-numeric, NaN or infinite
//! number, a frame line with the wrong number of values, `Frames: 0`, fewer or more frame lines
//! than `Frames:` declares, a frame time that is not a positive finite number, control
//! characters (binary garbage) and invalid UTF-8. Parsing is iterative (an explicit stack of
//! open blocks), so deep nesting cannot overflow the call stack.
//!
//! # End Sites
//!
//! `End Site` blocks carry no channels. They are **not** turned into [`Joint`]s, because a
//! channel-less joint would shift the per-joint feature layout that [`features`](crate::features)
//! builds from [`Skeleton::joints`]. Their offsets are kept in [`BvhHeader::end_sites`] (and
//! [`BvhTake::end_sites`]) for anyone drawing bone tips.
//!
//! # Example
//!
//! ```
//! use motionseg::ingest::bvh::{parse_bvh, BvhReader};
//!
//! let text = "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n\
//!             End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 2\nFrame Time: .0083333\n\
//!             1 2 3\n4 5 6\n";
//! let m = parse_bvh(text.as_bytes(), "inline.bvh")?;
//! assert_eq!((m.frame_count(), m.skeleton.channel_count()), (2, 3));
//! assert_eq!(m.frames[[1, 2]], 6.0);
//!
//! // The same input, one line at a time, as a live source would feed it.
//! let mut reader = BvhReader::new("live");
//! let mut rows = Vec::new();
//! for line in text.lines() {
//!     if let Some(frame) = reader.push_line(line)? {
//!         rows.push(frame.to_vec());
//!     }
//! }
//! reader.finish()?;
//! assert_eq!(rows[0], [1.0, 2.0, 3.0]);
//! # Ok::<(), motionseg::Error>(())
//! ```

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::types::{AngleUnit, Channel, Joint, Motion, Skeleton};

/// Reads a BVH file.
pub fn read_bvh(path: &Path) -> Result<Motion> {
    let bytes = super::read_bytes(path)?;
    parse_bvh(&bytes, &path.display().to_string())
}

/// Parses BVH bytes; `file` names the input in errors.
pub fn parse_bvh(bytes: &[u8], file: &str) -> Result<Motion> {
    parse_bvh_take(bytes, file).map(|t| t.motion)
}

/// Parses BVH bytes into a [`BvhTake`]: the [`Motion`] plus the `End Site` offsets, which
/// [`Motion`] has no place for.
pub fn parse_bvh_take(bytes: &[u8], file: &str) -> Result<BvhTake> {
    let mut reader = BvhReader::new(file);
    let mut values: Vec<f64> = Vec::new();
    let mut reserved = false;
    for (i, raw) in split_lines(bytes).enumerate() {
        let line = std::str::from_utf8(raw).map_err(|e| {
            Error::parse(
                file,
                i + 1,
                "text",
                "UTF-8 text",
                &format!("invalid UTF-8 byte 0x{:02x}", raw[e.valid_up_to()]),
            )
        })?;
        if let Some(frame) = reader.push_line(line)? {
            values.extend_from_slice(frame);
        } else if !reserved {
            if let Some(h) = reader.header() {
                // Trust the declared count only as far as the input could hold it (every value
                // takes at least two bytes), so a lying header cannot make us allocate wildly.
                let want = h.frame_count.saturating_mul(h.skeleton.channel_count());
                values.reserve(want.min(bytes.len() / 2));
                reserved = true;
            }
        }
    }
    let header = reader.finish()?;
    let rows = header.frame_count;
    let cols = header.skeleton.channel_count();
    let frames = Array2::from_shape_vec((rows, cols), values)
        .map_err(|e| Error::invalid(file, None, format!("internal shape error: {e}")))?;
    let BvhHeader { skeleton, end_sites, frame_time_s, .. } = header;
    Ok(BvhTake {
        motion: Motion { source: file.to_owned(), skeleton, frame_time_s, frames },
        end_sites,
    })
}

/// A whole BVH take: the [`Motion`] and the `End Site` offsets.
#[derive(Debug, Clone)]
pub struct BvhTake {
    /// Skeleton, frame time and raw channel values.
    pub motion: Motion,
    /// The `End Site` blocks, in file order.
    pub end_sites: Vec<EndSite>,
}

/// An `End Site` block: the tip of a chain, with an offset but no channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndSite {
    /// Index of the joint the site hangs from, in [`Skeleton::joints`].
    pub parent: usize,
    /// Offset from that joint, in the file's length units.
    pub offset: [f64; 3],
}

/// Everything before the first frame line: skeleton, end sites, declared frame count and
/// frame time.
#[derive(Debug, Clone, PartialEq)]
pub struct BvhHeader {
    /// The joints in file order (root first), with BVH channels; rotations in degrees.
    pub skeleton: Skeleton,
    /// The `End Site` blocks, in file order.
    pub end_sites: Vec<EndSite>,
    /// The number of frames the `Frames:` line declares.
    pub frame_count: usize,
    /// Seconds per frame, from `Frame Time:`.
    pub frame_time_s: f64,
    /// The 1-based line of `Frames:`, for error messages about the count.
    pub frame_count_line: usize,
}

/// Where the reader is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing but blank lines so far; `HIERARCHY` must come first.
    Start,
    /// Inside the hierarchy, before `MOTION`.
    Hierarchy,
    /// After `MOTION`, expecting `Frames:`.
    FrameCount,
    /// After `Frames:`, expecting `Frame Time:`.
    FrameTime,
    /// Frame lines.
    Data,
}

/// A block header (`ROOT x`, `JOINT x`, `End Site`) whose `{` has not been seen yet.
#[derive(Debug)]
struct Pending {
    /// Joint name, or `None` for an End Site.
    name: Option<String>,
    line: usize,
}

/// An open `{ ... }` block.
#[derive(Debug)]
struct Block {
    /// Index into `joints`, or `None` for an End Site.
    joint: Option<usize>,
    /// For an End Site, the joint it hangs from.
    parent: Option<usize>,
    line: usize,
    offset: Option<[f64; 3]>,
    has_channels: bool,
}

/// An incremental BVH reader: feed it one line at a time with [`push_line`](Self::push_line).
///
/// Header lines return `Ok(None)`; once `MOTION`, `Frames:` and `Frame Time:` have been read,
/// [`header`](Self::header) is available and each frame line returns `Ok(Some(values))`, the
/// raw channel values in skeleton channel order. Call [`finish`](Self::finish) at the end of the
/// input to check that the declared number of frames arrived.
///
/// An error in the header stops the reader (later lines are refused), because the skeleton is
/// then unknown. An error on a frame line consumes nothing: the bad line is not counted and the
/// reader accepts the next one, so a live source may log it and carry on.
#[derive(Debug)]
pub struct BvhReader {
    file: String,
    /// Lines pushed so far (the current line's 1-based number while it is processed).
    line: usize,
    phase: Phase,
    failed: bool,
    joints: Vec<Joint>,
    end_sites: Vec<EndSite>,
    stack: Vec<Block>,
    pending: Option<Pending>,
    frame_count: Option<(usize, usize)>,
    header: Option<BvhHeader>,
    /// For each column, the joint index and channel, to name a bad value.
    columns: Vec<(usize, Channel)>,
    frames_read: usize,
    frame: Vec<f64>,
}

impl BvhReader {
    /// A reader for an input called `file` (a path or a name such as `"<stdin>"`), used in errors.
    pub fn new(file: &str) -> Self {
        BvhReader {
            file: file.to_owned(),
            line: 0,
            phase: Phase::Start,
            failed: false,
            joints: Vec::new(),
            end_sites: Vec::new(),
            stack: Vec::new(),
            pending: None,
            frame_count: None,
            header: None,
            columns: Vec::new(),
            frames_read: 0,
            frame: Vec::new(),
        }
    }

    /// The header, once the `Frame Time:` line has been read.
    pub fn header(&self) -> Option<&BvhHeader> {
        self.header.as_ref()
    }

    /// Number of frame lines accepted so far.
    pub fn frames_read(&self) -> usize {
        self.frames_read
    }

    /// Number of lines pushed so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    /// Feeds the next line (with or without its line end). Returns the frame's values for a
    /// frame line, `None` for header and blank lines.
    pub fn push_line(&mut self, line: &str) -> Result<Option<&[f64]>> {
        self.line += 1;
        if self.failed {
            return Err(Error::invalid(
                &self.file,
                Some(self.line),
                "the reader stopped at an earlier error in the BVH header",
            ));
        }
        let line =
            if self.line == 1 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
        if let Some((col, c)) = line
            .chars()
            .enumerate()
            .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        {
            let err = Error::parse(
                &self.file,
                self.line,
                "text",
                "printable text (not binary data)",
                &format!("control byte U+{:04X} at column {}", c as u32, col + 1),
            );
            return self.fail_header(Err(err));
        }
        if line.trim().is_empty() {
            return Ok(None);
        }
        match self.phase {
            Phase::Start | Phase::Hierarchy => {
                let r = self.hierarchy_line(line);
                self.fail_header(r).map(|()| None)
            }
            Phase::FrameCount => {
                let r = self.frame_count_line(line);
                self.fail_header(r).map(|()| None)
            }
            Phase::FrameTime => {
                let r = self.frame_time_line(line);
                self.fail_header(r).map(|()| None)
            }
            Phase::Data => self.data_line(line),
        }
    }

    /// Checks that the input is complete: the header was read and exactly the declared number
    /// of frames followed. Returns the header.
    pub fn finish(self) -> Result<BvhHeader> {
        let file = &self.file;
        let line = self.line.max(1);
        match self.phase {
            Phase::Start => {
                Err(Error::parse(file, line, "HIERARCHY", "a BVH file starting with HIERARCHY", ""))
            }
            Phase::Hierarchy => {
                if let Some(p) = &self.pending {
                    return Err(Error::parse(
                        file,
                        line,
                        "{",
                        format!("`{{` opening {} (line {})", describe(p.name.as_deref()), p.line),
                        "",
                    ));
                }
                if let Some(b) = self.stack.last() {
                    let name = b.joint.and_then(|j| self.joints.get(j)).map(|j| j.name.as_str());
                    return Err(Error::parse(
                        file,
                        line,
                        "}",
                        format!("`}}` closing {} (opened on line {})", describe(name), b.line),
                        "",
                    ));
                }
                Err(Error::parse(file, line, "MOTION", "the MOTION section", ""))
            }
            Phase::FrameCount => {
                Err(Error::parse(file, line, "Frames", "a `Frames: <count>` line", ""))
            }
            Phase::FrameTime => {
                Err(Error::parse(file, line, "Frame Time", "a `Frame Time: <seconds>` line", ""))
            }
            Phase::Data => match self.header {
                Some(h) if self.frames_read == h.frame_count => Ok(h),
                Some(h) => Err(Error::invalid(
                    file,
                    Some(line),
                    format!(
                        "Frames: line {} declares {} frames, expected that many frame lines, \
                         found only {} (truncated file?)",
                        h.frame_count_line, h.frame_count, self.frames_read
                    ),
                )),
                None => Err(Error::invalid(file, Some(line), "internal error: header missing")),
            },
        }
    }

    /// Marks the reader failed when a header step failed, and passes the result on.
    fn fail_header<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.is_err() && self.phase != Phase::Data {
            self.failed = true;
        }
        r
    }

    fn err(&self, field: &str, expected: impl Into<String>, found: &str) -> Error {
        Error::parse(&self.file, self.line, field, expected, found)
    }

    fn hierarchy_line(&mut self, line: &str) -> Result<()> {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let mut i = 0;
        while let Some(&tok) = toks.get(i) {
            i += 1;
            if self.phase == Phase::Start {
                if !tok.eq_ignore_ascii_case("HIERARCHY") {
                    return Err(self.err("HIERARCHY", "the HIERARCHY keyword first", tok));
                }
                self.phase = Phase::Hierarchy;
                continue;
            }
            if let Some(p) = &self.pending {
                if tok != "{" {
                    let what =
                        format!("`{{` opening {} (line {})", describe(p.name.as_deref()), p.line);
                    return Err(self.err("{", what, tok));
                }
            }
            let upper = tok.to_ascii_uppercase();
            match upper.as_str() {
                "{" => self.open_block()?,
                "}" => self.close_block()?,
                "ROOT" | "JOINT" => {
                    // The name is the rest of the line, less a trailing `{`.
                    let mut end = toks.len();
                    if end > i && toks[end - 1] == "{" {
                        end -= 1;
                    }
                    let name = toks.get(i..end).map(|t| t.join(" ")).unwrap_or_default();
                    self.begin_joint(&upper, name)?;
                    i = end;
                }
                "END" => {
                    match toks.get(i) {
                        Some(t) if t.eq_ignore_ascii_case("Site") => i += 1,
                        other => {
                            return Err(self.err(
                                "End Site",
                                "`Site` after `End`",
                                other.unwrap_or(&""),
                            ));
                        }
                    }
                    self.begin_end_site()?;
                }
                "OFFSET" => {
                    let rest = toks.get(i..).unwrap_or_default();
                    i += self.offset(rest)?;
                }
                "CHANNELS" => {
                    let rest = toks.get(i..).unwrap_or_default();
                    i += self.channels(rest)?;
                }
                "MOTION" => {
                    self.begin_motion()?;
                    if let Some(t) = toks.get(i) {
                        return Err(self.err("MOTION", "nothing else on the MOTION line", t));
                    }
                }
                _ => {
                    let expected = if self.stack.is_empty() {
                        "ROOT or MOTION"
                    } else {
                        "OFFSET, CHANNELS, JOINT, End Site or `}`"
                    };
                    return Err(self.err("hierarchy", expected, tok));
                }
            }
        }
        Ok(())
    }

    fn begin_joint(&mut self, keyword: &str, name: String) -> Result<()> {
        let field = if keyword == "ROOT" { "ROOT" } else { "JOINT" };
        if name.is_empty() {
            return Err(self.err(field, "a joint name", ""));
        }
        match (keyword, self.stack.last()) {
            ("ROOT", None) | ("JOINT", Some(Block { joint: Some(_), .. })) => {}
            ("ROOT", Some(_)) => {
                return Err(self.err(
                    "ROOT",
                    "ROOT only at the top level (a `}` is missing?)",
                    &name,
                ))
            }
            ("JOINT", None) => {
                return Err(self.err("JOINT", "JOINT inside a ROOT or JOINT block", &name))
            }
            _ => return Err(self.err("JOINT", "only an OFFSET inside an End Site", &name)),
        }
        self.pending = Some(Pending { name: Some(name), line: self.line });
        Ok(())
    }

    fn begin_end_site(&mut self) -> Result<()> {
        match self.stack.last() {
            Some(Block { joint: Some(_), .. }) => {}
            _ => {
                return Err(self.err(
                    "End Site",
                    "End Site inside a ROOT or JOINT block",
                    "End Site",
                ))
            }
        }
        self.pending = Some(Pending { name: None, line: self.line });
        Ok(())
    }

    fn open_block(&mut self) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Err(self.err("{", "ROOT, JOINT or End Site before `{`", "{"));
        };
        let parent = self.stack.last().and_then(|b| b.joint);
        let joint = match p.name {
            Some(name) => {
                self.joints.push(Joint {
                    name,
                    parent,
                    offset: [0.0; 3],
                    channels: Vec::new(),
                    axis: None,
                    limits: Vec::new(),
                });
                Some(self.joints.len() - 1)
            }
            None => None,
        };
        self.stack.push(Block { joint, parent, line: p.line, offset: None, has_channels: false });
        Ok(())
    }

    fn close_block(&mut self) -> Result<()> {
        let Some(b) = self.stack.pop() else {
            return Err(self.err("}", "ROOT or MOTION (unbalanced `}`)", "}"));
        };
        let name = b.joint.and_then(|j| self.joints.get(j)).map(|j| j.name.clone());
        let what = describe(name.as_deref());
        let Some(offset) = b.offset else {
            return Err(self.err("OFFSET", format!("an OFFSET in {what} (line {})", b.line), "}"));
        };
        match (b.joint, b.parent) {
            (Some(j), _) => {
                if !b.has_channels {
                    let expected = format!("a CHANNELS line in {what} (line {})", b.line);
                    return Err(self.err("CHANNELS", expected, "}"));
                }
                if let Some(joint) = self.joints.get_mut(j) {
                    joint.offset = offset;
                }
            }
            (None, Some(parent)) => self.end_sites.push(EndSite { parent, offset }),
            (None, None) => {}
        }
        Ok(())
    }

    /// Reads the 3 numbers after `OFFSET`; returns how many tokens it used.
    fn offset(&mut self, rest: &[&str]) -> Result<usize> {
        if self.stack.is_empty() {
            return Err(self.err(
                "OFFSET",
                "OFFSET inside a ROOT, JOINT or End Site block",
                "OFFSET",
            ));
        }
        let mut v = [0.0; 3];
        for (k, slot) in v.iter_mut().enumerate() {
            let tok = rest.get(k).copied().unwrap_or("");
            *slot = self.number("OFFSET", tok)?;
        }
        if let Some(t) = rest.get(3) {
            if t.parse::<f64>().is_ok() {
                return Err(self.err("OFFSET", "3 numbers", &rest.join(" ")));
            }
        }
        let line = self.line;
        let Some(b) = self.stack.last_mut() else { return Ok(3) };
        if b.offset.is_some() {
            let expected = format!("one OFFSET per block (block opened on line {})", b.line);
            return Err(Error::parse(&self.file, line, "OFFSET", expected, "a second OFFSET"));
        }
        b.offset = Some(v);
        Ok(3)
    }

    /// Reads `n` and the `n` channel names after `CHANNELS`; returns how many tokens it used.
    fn channels(&mut self, rest: &[&str]) -> Result<usize> {
        let joint = match self.stack.last() {
            Some(Block { joint: Some(j), has_channels: false, .. }) => *j,
            Some(Block { joint: Some(_), .. }) => {
                return Err(self.err(
                    "CHANNELS",
                    "one CHANNELS line per joint",
                    "a second CHANNELS",
                ))
            }
            _ => {
                return Err(self.err(
                    "CHANNELS",
                    "CHANNELS inside a ROOT or JOINT block",
                    "CHANNELS",
                ))
            }
        };
        let count_tok = rest.first().copied().unwrap_or("");
        let n = match count_tok.parse::<usize>() {
            Ok(n) if n <= 6 => n,
            _ => return Err(self.err("CHANNELS", "a channel count from 0 to 6", count_tok)),
        };
        let names = rest.get(1..).unwrap_or_default();
        // Names must be on the CHANNELS line; more known channel names than `n` is a mismatch too.
        let given = names.iter().take_while(|t| parse_channel(t).is_some()).count();
        if names.len() < n || given > n {
            let found = format!("{} names: {}", names.len(), names.join(" "));
            return Err(self.err(
                "CHANNELS",
                format!("{n} channel names after `CHANNELS {n}`"),
                &found,
            ));
        }
        let mut channels = Vec::with_capacity(n);
        for tok in &names[..n] {
            let Some(c) = parse_channel(tok) else {
                let expected = "a channel name (Xposition, Yposition, Zposition, Xrotation, \
                                Yrotation, Zrotation)";
                return Err(self.err("CHANNELS", expected, tok));
            };
            if channels.contains(&c) {
                return Err(self.err("CHANNELS", "distinct channel names", tok));
            }
            channels.push(c);
        }
        if let Some(j) = self.joints.get_mut(joint) {
            j.channels = channels;
        }
        if let Some(b) = self.stack.last_mut() {
            b.has_channels = true;
        }
        Ok(1 + n)
    }

    fn begin_motion(&mut self) -> Result<()> {
        if let Some(b) = self.stack.last() {
            let name = b.joint.and_then(|j| self.joints.get(j)).map(|j| j.name.clone());
            let expected =
                format!("`}}` closing {} (opened on line {})", describe(name.as_deref()), b.line);
            return Err(self.err("}", expected, "MOTION"));
        }
        if self.joints.is_empty() {
            return Err(self.err("ROOT", "a ROOT joint before MOTION", "MOTION"));
        }
        if self.joints.iter().all(|j| j.channels.is_empty()) {
            return Err(self.err("CHANNELS", "at least one channel in the skeleton", "MOTION"));
        }
        self.phase = Phase::FrameCount;
        Ok(())
    }

    fn frame_count_line(&mut self, line: &str) -> Result<()> {
        let value = keyed_value(line, "frames")
            .ok_or_else(|| self.err("Frames", "`Frames: <count>`", line.trim()))?;
        let n = value
            .parse::<usize>()
            .map_err(|_| self.err("Frames", "a whole number of frames", value))?;
        // A take with no frames has nothing to segment; refuse it as AMC and NPY do.
        if n == 0 {
            return Err(self.err("Frames", "at least one frame of motion", value));
        }
        self.frame_count = Some((n, self.line));
        self.phase = Phase::FrameTime;
        Ok(())
    }

    fn frame_time_line(&mut self, line: &str) -> Result<()> {
        let value = keyed_value(line, "frametime")
            .ok_or_else(|| self.err("Frame Time", "`Frame Time: <seconds>`", line.trim()))?;
        let t = match value.parse::<f64>() {
            Ok(t) if t.is_finite() && t > 0.0 => t,
            _ => return Err(self.err("Frame Time", "a positive, finite number of seconds", value)),
        };
        let (frame_count, frame_count_line) = self.frame_count.unwrap_or((0, self.line));
        let joints = std::mem::take(&mut self.joints);
        self.columns = joints
            .iter()
            .enumerate()
            .flat_map(|(j, joint)| joint.channels.iter().map(move |&c| (j, c)))
            .collect();
        self.frame = Vec::with_capacity(self.columns.len());
        self.header = Some(BvhHeader {
            skeleton: Skeleton { joints, angle_unit: AngleUnit::Degrees, metres_per_unit: None },
            end_sites: std::mem::take(&mut self.end_sites),
            frame_count,
            frame_time_s: t,
            frame_count_line,
        });
        self.phase = Phase::Data;
        Ok(())
    }

    fn data_line(&mut self, line: &str) -> Result<Option<&[f64]>> {
        let Some(h) = &self.header else {
            return Err(Error::invalid(
                &self.file,
                Some(self.line),
                "internal error: header missing",
            ));
        };
        if self.frames_read >= h.frame_count {
            return Err(Error::invalid(
                &self.file,
                Some(self.line),
                format!(
                    "Frames: line {} declares {} frames, expected no more frame lines, found \
                     another (extra data after the last frame)",
                    h.frame_count_line, h.frame_count
                ),
            ));
        }
        let want = self.columns.len();
        let frame_no = self.frames_read + 1;
        self.frame.clear();
        let mut found = 0usize;
        for (c, tok) in line.split_whitespace().enumerate() {
            found += 1;
            if c >= want {
                continue;
            }
            match tok.parse::<f64>() {
                Ok(v) if v.is_finite() => self.frame.push(v),
                Ok(_) | Err(_) => {
                    let field = match self.columns.get(c) {
                        Some(&(j, ch)) => {
                            let name = h.skeleton.joints.get(j).map_or("?", |j| j.name.as_str());
                            format!("frame {frame_no} value {} ({name} {})", c + 1, ch.bvh_name())
                        }
                        None => format!("frame {frame_no} value {}", c + 1),
                    };
                    return Err(Error::parse(&self.file, self.line, field, "a finite number", tok));
                }
            }
        }
        if found != want {
            return Err(Error::parse(
                &self.file,
                self.line,
                format!("frame {frame_no}"),
                format!("{want} values (one per channel)"),
                &format!("{found} values"),
            ));
        }
        self.frames_read += 1;
        Ok(Some(&self.frame))
    }

    /// Parses a finite number for `field`.
    fn number(&self, field: &str, tok: &str) -> Result<f64> {
        match tok.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err(field, "a finite number", tok)),
        }
    }
}

/// `joint "name"` or `End Site`, for messages.
fn describe(name: Option<&str>) -> String {
    match name {
        Some(n) => format!("joint {n:?}"),
        None => "End Site".to_owned(),
    }
}

/// A BVH channel name, in any ASCII case.
fn parse_channel(tok: &str) -> Option<Channel> {
    [
        Channel::Xposition,
        Channel::Yposition,
        Channel::Zposition,
        Channel::Xrotation,
        Channel::Yrotation,
        Channel::Zrotation,
    ]
    .into_iter()
    .find(|c| c.bvh_name().eq_ignore_ascii_case(tok))
}

/// For a `Key: value` line whose key, with whitespace removed and lowercased, is `key`,
/// returns the trimmed value (tolerates `Frames:\t455`, `Frame Time:.0083`, `FRAMES : 3`).
fn keyed_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (k, v) = line.split_once(':')?;
    let k: String = k.chars().filter(|c| !c.is_whitespace()).collect();
    k.eq_ignore_ascii_case(key).then_some(v.trim())
}

/// Splits bytes into lines at `\n`, `\r\n` or a lone `\r`, without the line ends. A final line
/// end does not start another (empty) line.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = &[];
                Some(line)
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const SIMPLE: &str = "HIERARCHY\nROOT Base\n{\n    OFFSET 0.0 0.0 0.0\n    CHANNELS 6 \
        Xposition Yposition Zposition Zrotation Xrotation Yrotation\n    JOINT End\n    {\n        \
        OFFSET 0.0 0.0 15.0\n        CHANNELS 3 Zrotation Xrotation Yrotation\n        End Site\n  \
        {\n            OFFSET 0.0 0.0 30.0\n        }\n    }\n}\nMOTION\nFrames: 2\n\
        Frame Time: 0.033333333\n0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0\n\
        1.0 1.0 1.0 1.0 1.0 1.0 1.0 1.0 1.0\n";

    #[test]
    fn parses_simple() {
        let t = parse_bvh_take(SIMPLE.as_bytes(), "s.bvh").unwrap();
        let m = &t.motion;
        assert_eq!(m.skeleton.joints.len(), 2);
        assert_eq!(m.skeleton.joints[1].parent, Some(0));
        assert_eq!(m.skeleton.joints[1].offset, [0.0, 0.0, 15.0]);
        assert_eq!(m.skeleton.joints[1].channels[0], Channel::Zrotation);
        assert_eq!(m.frames.dim(), (2, 9));
        assert_eq!(m.frames[[1, 8]], 1.0);
        assert_eq!(t.end_sites, vec![EndSite { parent: 1, offset: [0.0, 0.0, 30.0] }]);
        assert!((m.frame_time_s - 0.033333333).abs() < 1e-12);
    }

    #[test]
    fn split_lines_handles_all_line_ends() {
        let v: Vec<&[u8]> = split_lines(b"a\r\nb\nc\rd\n\ne").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c", b"d", b"", b"e"]);
        assert_eq!(split_lines(b"a\n").count(), 1);
        assert_eq!(split_lines(b"").count(), 0);
    }

    #[test]
    fn lone_cr_and_braces_on_name_line() {
        let text = "HIERARCHY\rROOT a:b c {\r OFFSET 1 2 3 CHANNELS 3 xrotation YROTATION Zrotation\r\
                    End Site { OFFSET 0 0 1 } }\rMOTION\rFRAMES :3\rFrame Time:.5\r1 2 3\r4 5 6\r7 8 9";
        let m = parse_bvh(text.as_bytes(), "cr.bvh").unwrap();
        assert_eq!(m.skeleton.joints[0].name, "a:b c");
        assert_eq!(m.skeleton.joints[0].offset, [1.0, 2.0, 3.0]);
        assert_eq!(m.frames.dim(), (3, 3));
        assert_eq!(m.frame_time_s, 0.5);
    }

    #[test]
    fn keyed_value_tolerates_spacing() {
        assert_eq!(keyed_value("Frames:\t455", "frames"), Some("455"));
        assert_eq!(keyed_value("Frame Time: .0083333 ", "frametime"), Some(".0083333"));
        assert_eq!(keyed_value("Frames 455", "frames"), None);
    }

    #[test]
    fn frame_line_error_is_not_sticky() {
        let mut r = BvhReader::new("live");
        let mut lines = SIMPLE.lines();
        for l in lines.by_ref().take(18) {
            assert!(r.push_line(l).unwrap().is_none());
        }
        assert!(r.header().is_some());
        assert!(r.push_line("1 2 3").is_err());
        assert_eq!(r.push_line("1 2 3 4 5 6 7 8 9").unwrap().map(<[f64]>::len), Some(9));
        assert_eq!(r.frames_read(), 1);
        assert!(r.finish().is_err());
    }

    #[test]
    fn header_error_is_sticky() {
        let mut r = BvhReader::new("live");
        assert!(r.push_line("NOTBVH").is_err());
        let e = r.push_line("HIERARCHY").unwrap_err().to_string();
        assert!(e.contains("live:2"), "{e}");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 100_000;
        let mut s = String::from("HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n");
        for i in 0..depth {
            s.push_str(&format!("JOINT j{i}\n{{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n"));
        }
        s.push_str(&"}\n".repeat(depth + 1));
        s.push_str("MOTION\nFrames: 1\nFrame Time: 1\n");
        s.push_str(&"0 ".repeat(depth + 1));
        let m = parse_bvh(s.as_bytes(), "deep.bvh").unwrap();
        assert_eq!(m.skeleton.joints.len(), depth + 1);
        assert_eq!(m.frames.dim(), (1, depth + 1));
        // Unclosed deep nesting is an error, not a crash.
        let cut = s.find("MOTION").unwrap_or(0) - 2 * 50;
        assert!(parse_bvh(&s.as_bytes()[..cut], "deep.bvh").is_err());
    }

    #[test]
    fn several_roots_each_have_no_parent() {
        let text = "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\n\
                    ROOT b\n{\nOFFSET 1 0 0\nCHANNELS 1 Yrotation\n}\nMOTION\nFrames: 1\n\
                    Frame Time: 1\n5 6\n";
        let m = parse_bvh(text.as_bytes(), "two.bvh").unwrap();
        let parents: Vec<_> = m.skeleton.joints.iter().map(|j| j.parent).collect();
        assert_eq!(parents, [None, None]);
        assert_eq!(m.frames.row(0).to_vec(), [5.0, 6.0]);
    }

    #[test]
    fn channels_in_end_site_are_rejected() {
        let text = "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\nEnd Site\n{\n\
                    CHANNELS 1 Xrotation\n";
        let e = parse_bvh(text.as_bytes(), "e.bvh").unwrap_err().to_string();
        assert!(
            e.starts_with("e.bvh:8: CHANNELS: expected CHANNELS inside a ROOT or JOINT"),
            "{e}"
        );
    }

    #[test]
    fn bom_is_skipped() {
        let mut b = "\u{feff}".as_bytes().to_vec();
        b.extend_from_slice(SIMPLE.as_bytes());
        assert!(parse_bvh(&b, "bom.bvh").is_ok());
    }
}
