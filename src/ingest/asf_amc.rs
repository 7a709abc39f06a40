//! ASF skeletons and AMC motion (Acclaim format, as used by the CMU database).
//!
//! # ASF
//!
//! [`parse_asf`] reads the sections `:version`, `:name`, `:units` (`mass`, `length`,
//! `angle deg|rad`), `:documentation`, `:root` (`order`, `axis`, `position`, `orientation`),
//! `:bonedata` (`begin` ... `end` blocks with `id`, `name`, `direction`, `length`,
//! `axis ax ay az ORDER`, `dof`, `limits`, where `limits` may continue over several lines) and
//! `:hierarchy`. Unknown sections (e.g. `:skin`) are skipped. The resulting [`Skeleton`] holds
//! the root first (its channels from the root `order`, e.g. `TX TY TZ RX RY RZ` ->
//! `Xposition Yposition Zposition Xrotation Yrotation Zrotation`), then the bones in file order.
//! A parent may therefore come after its child in [`Skeleton::joints`]; follow
//! [`Joint::parent`], not the index order, when walking the tree. A bone's
//! [`Joint::offset`] is `direction * length` in file units, and
//! [`Skeleton::metres_per_unit`] is `(1 / length) * 2.54 / 100` (CMU FAQ: the ASF lengths are
//! inches scaled by the `:units length` factor; `None` when `:units` gives no `length`). The root's [`Joint::axis`] holds its
//! `orientation` angles in its `axis` order, so every joint of an ASF skeleton has `Some` axis.
//!
//! # AMC
//!
//! [`AmcReader`] is an incremental parser: feed it one line at a time with
//! [`AmcReader::push_line`] and it hands back each frame (one value per skeleton channel, in
//! skeleton channel order, file units) as soon as the frame's last bone line arrives. A live
//! source reuses it as is; [`parse_amc`] and [`read_amc`] are thin loops over it.
//!
//! The grammar: header lines (`#` comments, `:FULLY-SPECIFIED`, `:DEGREES`, `:RADIANS`), then per
//! frame a line holding only the frame number (1, 2, 3, ... consecutively) and one line per bone
//! with channels, `<bone> <v1> ...`, with exactly that bone's DOF count in its `dof` order (root:
//! its `order`), in any bone order. Bones without DOFs may be omitted (CMU omits them). Every
//! error names the file, the 1-based line and the field.
//!
//! AMC files carry no frame rate; [`DEFAULT_FRAME_TIME_S`] (CMU's 120 fps) is assumed unless the
//! caller passes another to [`parse_amc_with_frame_time`] / [`read_amc_with_frame_time`].

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::types::{AngleUnit, Axis, Channel, Joint, Motion, Skeleton};

/// Seconds per frame assumed for AMC files, which carry no rate: CMU captures at 120 fps.
pub const DEFAULT_FRAME_TIME_S: f64 = 1.0 / 120.0;

/// Reads an ASF skeleton file.
pub fn read_asf(path: &Path) -> Result<Skeleton> {
    let bytes = super::read_bytes(path)?;
    parse_asf(&bytes, &path.display().to_string())
}

/// Reads an AMC motion file against `skeleton`, at [`DEFAULT_FRAME_TIME_S`].
pub fn read_amc(path: &Path, skeleton: &Skeleton) -> Result<Motion> {
    read_amc_with_frame_time(path, skeleton, DEFAULT_FRAME_TIME_S)
}

/// Reads an AMC motion file against `skeleton`, with `frame_time_s` seconds per frame.
pub fn read_amc_with_frame_time(
    path: &Path,
    skeleton: &Skeleton,
    frame_time_s: f64,
) -> Result<Motion> {
    let bytes = super::read_bytes(path)?;
    parse_amc_with_frame_time(&bytes, &path.display().to_string(), skeleton, frame_time_s)
}

/// Parses AMC bytes against `skeleton` at [`DEFAULT_FRAME_TIME_S`]; `file` names the input in
/// errors.
pub fn parse_amc(bytes: &[u8], file: &str, skeleton: &Skeleton) -> Result<Motion> {
    parse_amc_with_frame_time(bytes, file, skeleton, DEFAULT_FRAME_TIME_S)
}

/// Parses AMC bytes against `skeleton` with `frame_time_s` seconds per frame (finite, > 0).
pub fn parse_amc_with_frame_time(
    bytes: &[u8],
    file: &str,
    skeleton: &Skeleton,
    frame_time_s: f64,
) -> Result<Motion> {
    if !(frame_time_s.is_finite() && frame_time_s > 0.0) {
        return Err(Error::Param {
            name: "frame_time_s",
            message: format!("must be finite and > 0, got {frame_time_s}"),
        });
    }
    let mut reader = AmcReader::new(skeleton, file);
    let width = skeleton.channel_count();
    let mut values: Vec<f64> = Vec::new();
    let mut rows = 0usize;
    for (i, line) in Lines::new(bytes).enumerate() {
        let text = line_str(line, file, i + 1)?;
        if reader.push_line_in_place(text)? {
            values.extend_from_slice(reader.last_frame());
            rows += 1;
        }
    }
    reader.finish()?;
    if rows == 0 {
        return Err(Error::invalid(file, None, "no frames: expected at least one frame of motion"));
    }
    let frames = Array2::from_shape_vec((rows, width), values)
        .map_err(|e| Error::invalid(file, None, format!("internal shape error: {e}")))?;
    let mut skeleton = skeleton.clone();
    if let Some(unit) = reader.angle_unit() {
        // The AMC header states the unit of the values that follow; it wins over the ASF.
        skeleton.angle_unit = unit;
    }
    Ok(Motion { source: file.to_owned(), skeleton, frame_time_s, frames })
}

/// Splits bytes into lines on `\n`, dropping one trailing `\r` (CRLF files).
struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines { rest: if bytes.is_empty() { None } else { Some(bytes) } }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..]).filter(|r| !r.is_empty())),
            None => (rest, None),
        };
        self.rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// Decodes one line as UTF-8, or says which line is not; the first line loses a byte-order
/// mark (as BVH and CSV inputs do).
fn line_str<'a>(line: &'a [u8], file: &str, line_no: usize) -> Result<&'a str> {
    let text = std::str::from_utf8(line).map_err(|_| {
        Error::parse(file, line_no, "text", "UTF-8 text", &String::from_utf8_lossy(line))
    })?;
    Ok(if line_no == 1 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text })
}

/// Parses a finite number, naming `field` on failure.
fn number(tok: &str, file: &str, line: usize, field: &str) -> Result<f64> {
    match tok.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(Error::parse(file, line, field, "a finite number", tok)),
        Err(_) => Err(Error::parse(file, line, field, "a number", tok)),
    }
}

/// Parses exactly `N` finite numbers from `toks`.
fn numbers<const N: usize>(
    toks: &[&str],
    file: &str,
    line: usize,
    field: &str,
) -> Result<[f64; N]> {
    if toks.len() != N {
        return Err(Error::parse(file, line, field, format!("{N} numbers"), &toks.join(" ")));
    }
    let mut out = [0.0; N];
    for (o, t) in out.iter_mut().zip(toks) {
        *o = number(t, file, line, field)?;
    }
    Ok(out)
}

/// Parses an axis order such as `XYZ` into axis indices.
fn axis_order(tok: &str, file: &str, line: usize, field: &str) -> Result<[usize; 3]> {
    let expected = "an axis order such as XYZ";
    let b = tok.as_bytes();
    if b.len() != 3 {
        return Err(Error::parse(file, line, field, expected, tok));
    }
    let mut order = [0usize; 3];
    let mut seen = [false; 3];
    for (o, c) in order.iter_mut().zip(b) {
        let a = match c.to_ascii_uppercase() {
            b'X' => 0,
            b'Y' => 1,
            b'Z' => 2,
            _ => return Err(Error::parse(file, line, field, expected, tok)),
        };
        if seen[a] {
            return Err(Error::parse(file, line, field, expected, tok));
        }
        seen[a] = true;
        *o = a;
    }
    Ok(order)
}

/// Maps an ASF DOF / root order token (`rx`, `TX`, ...) to a channel.
fn channel(tok: &str) -> Option<Channel> {
    Some(match tok.to_ascii_lowercase().as_str() {
        "tx" => Channel::Xposition,
        "ty" => Channel::Yposition,
        "tz" => Channel::Zposition,
        "rx" => Channel::Xrotation,
        "ry" => Channel::Yrotation,
        "rz" => Channel::Zrotation,
        _ => return None,
    })
}

/// Parses a list of channel tokens, rejecting unknown and repeated ones.
fn channels(toks: &[&str], file: &str, line: usize, field: &str) -> Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        let c = channel(t).ok_or_else(|| {
            Error::parse(
                file,
                line,
                field,
                "one of rx ry rz tx ty tz (Acclaim `l` is not supported)",
                t,
            )
        })?;
        if out.contains(&c) {
            return Err(Error::parse(file, line, field, "each DOF at most once", t));
        }
        out.push(c);
    }
    Ok(out)
}

/// The ASF section being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Start,
    Units,
    Documentation,
    Root,
    BoneData,
    Hierarchy,
    Skipped,
}

/// A bone under construction in `:bonedata`.
#[derive(Default)]
struct BoneDraft {
    begin_line: usize,
    name: Option<String>,
    direction: Option<[f64; 3]>,
    length: Option<f64>,
    axis: Option<Axis>,
    dof: Vec<Channel>,
    dof_line: usize,
    /// Raw limit text gathered over the `limits` line and its continuation lines.
    limits: String,
    limits_line: usize,
}

impl BoneDraft {
    fn finish(self, file: &str) -> Result<Joint> {
        let line = self.begin_line;
        let missing = |what: &str| {
            Error::invalid(file, Some(line), format!("bone block starting here has no `{what}`"))
        };
        let name = self.name.ok_or_else(|| missing("name"))?;
        let direction = self.direction.ok_or_else(|| missing("direction"))?;
        let length = self.length.ok_or_else(|| missing("length"))?;
        let limits = parse_limits(&self.limits, file, self.limits_line, &name)?;
        if !limits.is_empty() && limits.len() != self.dof.len() {
            return Err(Error::parse(
                file,
                self.limits_line,
                format!("bone {name}: limits"),
                format!("{} (min max) pairs, one per dof", self.dof.len()),
                &self.limits,
            ));
        }
        if self.dof.is_empty() && self.dof_line != 0 {
            return Err(Error::parse(
                file,
                self.dof_line,
                format!("bone {name}: dof"),
                "at least one DOF",
                "",
            ));
        }
        Ok(Joint {
            name,
            parent: None,
            offset: direction.map(|d| d * length),
            channels: self.dof,
            axis: self.axis,
            limits,
        })
    }
}

/// Parses `(min max) (min max) ...`; limits may be `inf` / `-inf` (unbounded) but not NaN.
fn parse_limits(text: &str, file: &str, line: usize, bone: &str) -> Result<Vec<(f64, f64)>> {
    let field = format!("bone {bone}: limits");
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.find(')').map(|end| (&r[..end], &r[end + 1..])))
            .ok_or_else(|| Error::parse(file, line, &field, "(min max)", rest))?;
        let toks: Vec<&str> = inner.0.split_whitespace().collect();
        let parse = |t: &str| match t.parse::<f64>() {
            Ok(v) if !v.is_nan() => Ok(v),
            _ => Err(Error::parse(file, line, &field, "a number or inf", t)),
        };
        if toks.len() != 2 {
            return Err(Error::parse(file, line, &field, "(min max)", inner.0));
        }
        out.push((parse(toks[0])?, parse(toks[1])?));
        rest = inner.1.trim_start();
    }
    Ok(out)
}

/// Parses ASF bytes; `file` names the input in errors.
///
/// Never panics: any bytes give either a skeleton or an error naming file, line and field.
pub fn parse_asf(bytes: &[u8], file: &str) -> Result<Skeleton> {
    let mut section = Section::Start;
    let mut angle_unit = AngleUnit::Degrees;
    let mut length_scale: Option<f64> = None;
    let mut root: Option<Joint> = None;
    let mut root_line = 0usize;
    let mut bones: Vec<Joint> = Vec::new();
    let mut bone_lines: Vec<usize> = Vec::new();
    let mut draft: Option<BoneDraft> = None;
    let mut in_limits = false;
    let mut hierarchy_seen = false;
    let mut hierarchy_open = false;
    let mut hierarchy_closed = false;
    let mut parents: Vec<Option<usize>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut last_line = 0usize;

    for (i, raw) in Lines::new(bytes).enumerate() {
        let line_no = i + 1;
        last_line = line_no;
        let text = line_str(raw, file, line_no)?;
        let line = text.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        let key = toks[0];
        if key.starts_with(':') {
            if let Some(d) = &draft {
                return Err(Error::invalid(
                    file,
                    Some(d.begin_line),
                    "bone block starting here has no `end`",
                ));
            }
            if section == Section::Hierarchy && hierarchy_open {
                return Err(Error::parse(file, line_no, ":hierarchy", "`end`", line));
            }
            in_limits = false;
            section = match key {
                ":version" | ":name" => section_value(&toks, file, line_no, Section::Start)?,
                ":units" => Section::Units,
                ":documentation" => Section::Documentation,
                ":root" => {
                    if root.is_some() {
                        return Err(Error::invalid(file, Some(line_no), "second :root section"));
                    }
                    root_line = line_no;
                    root = Some(Joint {
                        name: "root".to_owned(),
                        parent: None,
                        offset: [0.0; 3],
                        channels: Vec::new(),
                        axis: Some(Axis { angles_deg: [0.0; 3], order: [0, 1, 2] }),
                        limits: Vec::new(),
                    });
                    Section::Root
                }
                ":bonedata" => Section::BoneData,
                ":hierarchy" => {
                    if hierarchy_seen {
                        return Err(Error::invalid(
                            file,
                            Some(line_no),
                            "second :hierarchy section",
                        ));
                    }
                    hierarchy_seen = true;
                    for (n, b) in bones.iter().enumerate() {
                        index.insert(b.name.clone(), n + 1);
                    }
                    parents = vec![None; bones.len() + 1];
                    Section::Hierarchy
                }
                // Other Acclaim sections (`:skin`, vendor extensions) carry nothing we use.
                _ => Section::Skipped,
            };
            continue;
        }
        match section {
            Section::Start => {
                return Err(Error::parse(
                    file,
                    line_no,
                    "ASF header",
                    "a `:` keyword such as :version or :root",
                    line,
                ))
            }
            Section::Documentation | Section::Skipped => {}
            Section::Units => match key {
                "mass" => {
                    numbers::<1>(&toks[1..], file, line_no, "units mass")?;
                }
                "length" => {
                    let [l] = numbers::<1>(&toks[1..], file, line_no, "units length")?;
                    if l <= 0.0 {
                        return Err(Error::parse(
                            file,
                            line_no,
                            "units length",
                            "a number > 0",
                            toks[1],
                        ));
                    }
                    length_scale = Some(l);
                }
                "angle" => {
                    angle_unit = match toks.get(1).map(|t| t.to_ascii_lowercase()).as_deref() {
                        Some("deg") | Some("degrees") if toks.len() == 2 => AngleUnit::Degrees,
                        Some("rad") | Some("radians") if toks.len() == 2 => AngleUnit::Radians,
                        _ => {
                            return Err(Error::parse(
                                file,
                                line_no,
                                "units angle",
                                "deg or rad",
                                &toks[1..].join(" "),
                            ))
                        }
                    }
                }
                // Other unit keys (e.g. `time`) do not affect the skeleton.
                _ => {}
            },
            Section::Root => {
                let Some(r) = root.as_mut() else { continue };
                match key {
                    "order" => {
                        r.channels = channels(&toks[1..], file, line_no, "root order")?;
                    }
                    "axis" => {
                        if toks.len() != 2 {
                            return Err(Error::parse(
                                file,
                                line_no,
                                "root axis",
                                "an axis order such as XYZ",
                                line,
                            ));
                        }
                        let order = axis_order(toks[1], file, line_no, "root axis")?;
                        let angles_deg = r.axis.map(|a| a.angles_deg).unwrap_or([0.0; 3]);
                        r.axis = Some(Axis { angles_deg, order });
                    }
                    "position" => {
                        r.offset = numbers::<3>(&toks[1..], file, line_no, "root position")?;
                    }
                    "orientation" => {
                        let angles_deg =
                            numbers::<3>(&toks[1..], file, line_no, "root orientation")?;
                        let order = r.axis.map(|a| a.order).unwrap_or([0, 1, 2]);
                        r.axis = Some(Axis { angles_deg, order });
                    }
                    _ => {
                        return Err(Error::parse(
                            file,
                            line_no,
                            ":root",
                            "order, axis, position or orientation",
                            key,
                        ))
                    }
                }
            }
            Section::BoneData => {
                let Some(d) = draft.as_mut() else {
                    if key == "begin" && toks.len() == 1 {
                        draft = Some(BoneDraft { begin_line: line_no, ..BoneDraft::default() });
                        continue;
                    }
                    return Err(Error::parse(file, line_no, ":bonedata", "`begin`", line));
                };
                if in_limits && key.starts_with('(') {
                    d.limits.push(' ');
                    d.limits.push_str(line);
                    continue;
                }
                in_limits = false;
                let bone = d.name.clone().unwrap_or_else(|| format!("#{}", bones.len() + 1));
                let field = |f: &str| format!("bone {bone}: {f}");
                match key {
                    "end" if toks.len() == 1 => {
                        if let Some(d) = draft.take() {
                            let begin = d.begin_line;
                            bones.push(d.finish(file)?);
                            bone_lines.push(begin);
                        }
                    }
                    "id" => {
                        if toks.len() != 2 || toks[1].parse::<i64>().is_err() {
                            return Err(Error::parse(
                                file,
                                line_no,
                                field("id"),
                                "an integer",
                                &toks[1..].join(" "),
                            ));
                        }
                    }
                    "name" => {
                        if toks.len() != 2 {
                            return Err(Error::parse(
                                file,
                                line_no,
                                field("name"),
                                "one name without spaces",
                                &toks[1..].join(" "),
                            ));
                        }
                        let name = toks[1];
                        if name == "root" || bones.iter().any(|b| b.name == name) {
                            return Err(Error::parse(
                                file,
                                line_no,
                                "bone name",
                                "a name not used before",
                                name,
                            ));
                        }
                        d.name = Some(name.to_owned());
                    }
                    "direction" => {
                        d.direction =
                            Some(numbers::<3>(&toks[1..], file, line_no, &field("direction"))?)
                    }
                    "length" => {
                        let [l] = numbers::<1>(&toks[1..], file, line_no, &field("length"))?;
                        d.length = Some(l);
                    }
                    "axis" => {
                        if toks.len() != 5 {
                            return Err(Error::parse(
                                file,
                                line_no,
                                field("axis"),
                                "3 angles and an order such as XYZ",
                                &toks[1..].join(" "),
                            ));
                        }
                        let angles_deg = numbers::<3>(&toks[1..4], file, line_no, &field("axis"))?;
                        let order = axis_order(toks[4], file, line_no, &field("axis"))?;
                        d.axis = Some(Axis { angles_deg, order });
                    }
                    "dof" => {
                        d.dof = channels(&toks[1..], file, line_no, &field("dof"))?;
                        d.dof_line = line_no;
                    }
                    "limits" => {
                        d.limits = toks[1..].join(" ");
                        d.limits_line = line_no;
                        in_limits = true;
                    }
                    // Acclaim optional bone keywords we do not use.
                    "bodymass" | "cofmass" => {}
                    _ => {
                        return Err(Error::parse(
                            file,
                            line_no,
                            format!("bone {bone}"),
                            "id, name, direction, length, axis, dof, limits or end",
                            key,
                        ))
                    }
                }
            }
            Section::Hierarchy => {
                if !hierarchy_open {
                    if key == "begin" && toks.len() == 1 && !hierarchy_closed {
                        hierarchy_open = true;
                        continue;
                    }
                    return Err(Error::parse(file, line_no, ":hierarchy", "`begin`", line));
                }
                if key == "end" && toks.len() == 1 {
                    hierarchy_open = false;
                    hierarchy_closed = true;
                    continue;
                }
                let lookup = |name: &str| -> Result<usize> {
                    if name == "root" {
                        Ok(0)
                    } else {
                        index.get(name).copied().ok_or_else(|| {
                            Error::parse(
                                file,
                                line_no,
                                ":hierarchy",
                                "the name of a bone from :bonedata",
                                name,
                            )
                        })
                    }
                };
                let parent = lookup(key)?;
                if toks.len() < 2 {
                    return Err(Error::parse(
                        file,
                        line_no,
                        ":hierarchy",
                        "a parent followed by its children",
                        line,
                    ));
                }
                for child_name in &toks[1..] {
                    let child = lookup(child_name)?;
                    if child == 0 {
                        return Err(Error::parse(
                            file,
                            line_no,
                            ":hierarchy",
                            "a child other than root",
                            child_name,
                        ));
                    }
                    if parents[child].is_some() {
                        return Err(Error::parse(
                            file,
                            line_no,
                            ":hierarchy",
                            "each bone listed as a child once",
                            child_name,
                        ));
                    }
                    if child == parent {
                        return Err(Error::parse(
                            file,
                            line_no,
                            ":hierarchy",
                            "a bone other than its parent",
                            child_name,
                        ));
                    }
                    parents[child] = Some(parent);
                }
            }
        }
    }

    let eof = last_line.max(1);
    if let Some(d) = draft {
        return Err(Error::invalid(
            file,
            Some(d.begin_line),
            "bone block starting here has no `end`",
        ));
    }
    if hierarchy_open {
        return Err(Error::invalid(file, Some(eof), ":hierarchy has no `end` before end of file"));
    }
    let Some(mut root) = root else {
        return Err(Error::invalid(file, None, "no :root section"));
    };
    if root.channels.is_empty() {
        return Err(Error::invalid(file, Some(root_line), ":root has no `order`"));
    }
    if !hierarchy_seen {
        return Err(Error::invalid(file, None, "no :hierarchy section"));
    }
    root.parent = None;
    let mut joints = Vec::with_capacity(bones.len() + 1);
    joints.push(root);
    for (n, mut b) in bones.into_iter().enumerate() {
        // `get`: bones declared after :hierarchy have no slot and so no parent.
        b.parent = parents.get(n + 1).copied().flatten();
        if b.parent.is_none() {
            return Err(Error::invalid(
                file,
                Some(bone_lines[n]),
                format!("bone {} is not attached to the skeleton in :hierarchy", b.name),
            ));
        }
        joints.push(b);
    }
    // Every chain of parents must reach the root; a loop among bones would hang tree walks.
    for start in 1..joints.len() {
        let mut at = start;
        let mut steps = 0;
        while let Some(p) = joints[at].parent {
            at = p;
            steps += 1;
            if steps > joints.len() {
                return Err(Error::invalid(
                    file,
                    Some(bone_lines[start - 1]),
                    format!("bone {} is in a parent loop in :hierarchy", joints[start].name),
                ));
            }
        }
    }
    Ok(Skeleton {
        joints,
        angle_unit,
        metres_per_unit: length_scale.map(|l| (1.0 / l) * 2.54 / 100.0),
    })
}

/// Checks a one-line keyword (`:version 1.10`, `:name VICON`) has its value.
fn section_value(toks: &[&str], file: &str, line: usize, next: Section) -> Result<Section> {
    if toks.len() < 2 {
        return Err(Error::parse(file, line, toks[0], "a value after the keyword", ""));
    }
    Ok(next)
}

/// Incremental AMC parser: feed lines, get frames.
///
/// Built once per input from its skeleton; owns everything it needs, so it can live in a
/// streaming stage. Each completed frame is a fresh `Vec<f64>` of
/// [`Skeleton::channel_count`] values in skeleton channel order.
///
/// ```
/// use motionseg::ingest::asf_amc::{parse_asf, AmcReader};
///
/// let asf = b":root\n order TX TY TZ RX RY RZ\n axis XYZ\n:bonedata\n begin\n name a\n \
///             direction 1 0 0\n length 1\n axis 0 0 0 XYZ\n dof rx\n end\n:hierarchy\n begin\n \
///             root a\n end\n";
/// let skel = parse_asf(asf, "tiny.asf")?;
/// let mut amc = AmcReader::new(&skel, "live");
/// assert_eq!(amc.push_line(":DEGREES")?, None);
/// assert_eq!(amc.push_line("1")?, None);
/// assert_eq!(amc.push_line("root 1 2 3 0 0 0")?, None);
/// assert_eq!(amc.push_line("a 45")?, Some(vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 45.0]));
/// amc.finish()?;
/// # Ok::<(), motionseg::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AmcReader {
    file: String,
    /// Bone name -> (column of its first value, number of values, bone index).
    bones: HashMap<String, (usize, usize, usize)>,
    /// Bone names by index, for "missing bone" messages.
    names: Vec<String>,
    /// Which bones a frame must give (those with channels).
    required: Vec<bool>,
    required_count: usize,
    width: usize,
    /// Lines pushed so far (the 1-based number of the last line).
    line: usize,
    /// Number of the frame being read, if a frame number line has been seen.
    frame_number: Option<u64>,
    /// Frames completed so far.
    frames_done: u64,
    seen: Vec<bool>,
    seen_count: usize,
    frame_line: usize,
    current: Vec<f64>,
    angle_unit: Option<AngleUnit>,
}

impl AmcReader {
    /// A reader for motion of `skeleton`; `file` names the input in errors.
    pub fn new(skeleton: &Skeleton, file: &str) -> Self {
        let offsets = skeleton.channel_offsets();
        let mut bones = HashMap::with_capacity(skeleton.joints.len());
        let mut required = Vec::with_capacity(skeleton.joints.len());
        for (j, (joint, &off)) in skeleton.joints.iter().zip(&offsets).enumerate() {
            bones.insert(joint.name.clone(), (off, joint.channels.len(), j));
            required.push(!joint.channels.is_empty());
        }
        let width = skeleton.channel_count();
        AmcReader {
            file: file.to_owned(),
            bones,
            names: skeleton.joints.iter().map(|j| j.name.clone()).collect(),
            required_count: required.iter().filter(|&&r| r).count(),
            seen: vec![false; required.len()],
            required,
            width,
            line: 0,
            frame_number: None,
            frames_done: 0,
            seen_count: 0,
            frame_line: 0,
            current: vec![0.0; width],
            angle_unit: None,
        }
    }

    /// The angle unit the header declared (`:DEGREES` / `:RADIANS`), if any.
    pub fn angle_unit(&self) -> Option<AngleUnit> {
        self.angle_unit
    }

    /// Values per frame (the skeleton's channel count).
    pub fn channel_count(&self) -> usize {
        self.width
    }

    /// Number of frames completed so far.
    pub fn frames_done(&self) -> u64 {
        self.frames_done
    }

    /// Number of lines pushed so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    /// Feeds the next line (with or without its line end). Returns the frame it completes, if
    /// any, as a fresh vector; [`AmcReader::push_line_in_place`] avoids that allocation.
    pub fn push_line(&mut self, line: &str) -> Result<Option<Vec<f64>>> {
        Ok(self.push_line_in_place(line)?.then(|| self.current.clone()))
    }

    /// Feeds the next line; returns `true` when it completes a frame, whose values
    /// [`AmcReader::last_frame`] then gives until the next line is pushed. Allocates nothing
    /// unless the line is an error.
    pub fn push_line_in_place(&mut self, line: &str) -> Result<bool> {
        self.line += 1;
        let file = self.file.as_str();
        let line_no = self.line;
        let line = if line_no == 1 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(false);
        }
        if text.starts_with(':') {
            if self.frame_number.is_some() || self.frames_done > 0 {
                return Err(Error::parse(
                    file,
                    line_no,
                    "AMC",
                    "a frame number or bone line (header lines come first)",
                    text,
                ));
            }
            match text.to_ascii_uppercase().as_str() {
                ":FULLY-SPECIFIED" => {}
                ":DEGREES" => self.angle_unit = Some(AngleUnit::Degrees),
                ":RADIANS" => self.angle_unit = Some(AngleUnit::Radians),
                _ => {
                    return Err(Error::parse(
                        file,
                        line_no,
                        "AMC header",
                        ":FULLY-SPECIFIED, :DEGREES or :RADIANS",
                        text,
                    ))
                }
            }
            return Ok(false);
        }
        let mut toks = text.split_whitespace();
        let Some(first) = toks.next() else { return Ok(false) };
        if first.bytes().all(|b| b.is_ascii_digit()) {
            // A frame number line.
            if toks.next().is_some() {
                return Err(Error::parse(
                    file,
                    line_no,
                    "frame number",
                    "a line holding only the frame number",
                    text,
                ));
            }
            if self.frame_number.is_some() && self.seen_count < self.required_count {
                let missing = self.first_missing();
                return Err(Error::invalid(
                    file,
                    Some(line_no),
                    format!(
                        "frame {} (line {}) has no line for bone {missing} before the next frame starts",
                        self.expected_number(),
                        self.frame_line
                    ),
                ));
            }
            let expected = self.expected_number();
            if first.parse::<u64>().ok() != Some(expected) {
                return Err(Error::parse(
                    file,
                    line_no,
                    "frame number",
                    format!("{expected} (frames are numbered 1, 2, 3, ...)"),
                    first,
                ));
            }
            self.frame_number = Some(expected);
            self.frame_line = line_no;
            self.seen.iter_mut().for_each(|s| *s = false);
            self.seen_count = 0;
            if self.required_count == 0 {
                // A skeleton without channels: the frame number alone is the whole frame.
                return Ok(self.complete_frame());
            }
            return Ok(false);
        }
        let Some(&(col, n, j)) = self.bones.get(first) else {
            return Err(Error::parse(
                file,
                line_no,
                "bone",
                "the name of a bone from the skeleton",
                first,
            ));
        };
        if self.frame_number.is_none() {
            if !self.required[j] && self.frames_done > 0 && n == 0 && toks.clone().next().is_none()
            {
                // A bone without DOFs listed after the frame's last bone with values: the frame
                // was complete already (it is accepted anywhere else in a frame, too).
                return Ok(false);
            }
            return Err(Error::parse(
                file,
                line_no,
                format!("bone {first}"),
                "a frame number line before the first bone line",
                text,
            ));
        }
        if self.seen[j] {
            return Err(Error::parse(
                file,
                line_no,
                format!("bone {first}"),
                "each bone once per frame",
                "a second line for this bone",
            ));
        }
        let mut count = 0usize;
        for tok in toks {
            if count < n {
                let v = match tok.parse::<f64>() {
                    Ok(v) if v.is_finite() => v,
                    Ok(_) => {
                        return Err(Error::parse(
                            file,
                            line_no,
                            format!("bone {first} value {}", count + 1),
                            "a finite number",
                            tok,
                        ))
                    }
                    Err(_) => {
                        return Err(Error::parse(
                            file,
                            line_no,
                            format!("bone {first} value {}", count + 1),
                            "a number",
                            tok,
                        ))
                    }
                };
                self.current[col + count] = v;
            }
            count += 1;
        }
        if count != n {
            return Err(Error::parse(
                file,
                line_no,
                format!("bone {first}"),
                format!("{n} values (its DOF count)"),
                &format!("{count} values"),
            ));
        }
        self.seen[j] = true;
        if self.required[j] {
            self.seen_count += 1;
        }
        if self.seen_count == self.required_count {
            return Ok(self.complete_frame());
        }
        Ok(false)
    }

    /// Call at end of input: fails if a frame was started but not completed.
    pub fn finish(&mut self) -> Result<()> {
        if self.frame_number.is_some() {
            let missing = self.first_missing();
            return Err(Error::invalid(
                &self.file,
                Some(self.line.max(1)),
                format!(
                    "truncated: frame {} (line {}) has no line for bone {missing} at end of input",
                    self.expected_number(),
                    self.frame_line
                ),
            ));
        }
        Ok(())
    }

    fn complete_frame(&mut self) -> bool {
        self.frames_done += 1;
        self.frame_number = None;
        // Every required value is rewritten by the next frame, so the buffer is reused as is.
        true
    }

    /// The values of the frame completed by the last pushed line (skeleton channel order).
    /// Between a completed frame and the next one it holds a mix of old and new values.
    pub fn last_frame(&self) -> &[f64] {
        &self.current
    }

    fn expected_number(&self) -> u64 {
        self.frames_done + 1
    }

    fn first_missing(&self) -> &str {
        self.required
            .iter()
            .zip(&self.seen)
            .position(|(&r, &s)| r && !s)
            .map(|j| self.names[j].as_str())
            .unwrap_or("?")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail by panicking.
mod tests {
    use super::*;

    const TINY_ASF: &str = ":version 1.10\r\n:name T\r\n:units\r\n  mass 1.0\r\n  length 0.45\r\n  angle deg\r\n\
:documentation\r\n  hello\r\n:root\r\n   order TX TY TZ RX RY RZ\r\n   axis XYZ\r\n   position 0 0 0\r\n   orientation 0 0 0\r\n\
:bonedata\r\n  begin\r\n     id 1\r\n     name a\r\n     direction 0 1 0\r\n     length 2\r\n     axis 0 0 20 XYZ\r\n\
    dof rx rz\r\n    limits (-160.0 20.0)\r\n           (-70.0 70.0)\r\n  end\r\n  begin\r\n     id 2\r\n     name b\r\n\
     direction 1 0 0\r\n     length 1\r\n     axis 0 0 0 XYZ\r\n  end\r\n:hierarchy\r\n  begin\r\n    root a\r\n    a b\r\n  end\r\n";

    #[test]
    fn tiny_asf() {
        let s = parse_asf(TINY_ASF.as_bytes(), "t.asf").unwrap();
        assert_eq!(s.joints.len(), 3);
        assert_eq!(s.joints[0].channels.len(), 6);
        assert_eq!(s.joints[1].parent, Some(0));
        assert_eq!(s.joints[2].parent, Some(1));
        assert_eq!(s.joints[1].offset, [0.0, 2.0, 0.0]);
        assert_eq!(s.joints[1].limits, vec![(-160.0, 20.0), (-70.0, 70.0)]);
        assert_eq!(s.joints[1].channels, vec![Channel::Xrotation, Channel::Zrotation]);
        assert_eq!(s.joints[1].axis.unwrap().angles_deg, [0.0, 0.0, 20.0]);
        assert!((s.metres_per_unit.unwrap() - 0.056444).abs() < 1e-6);
        assert_eq!(s.channel_count(), 8);
    }

    #[test]
    fn amc_incremental() {
        let s = parse_asf(TINY_ASF.as_bytes(), "t.asf").unwrap();
        let mut r = AmcReader::new(&s, "m.amc");
        assert_eq!(r.push_line(":FULLY-SPECIFIED\r").unwrap(), None);
        assert_eq!(r.push_line("1").unwrap(), None);
        assert_eq!(r.push_line("a 1 2").unwrap(), None);
        let f = r.push_line("root 1 2 3 4 5 6").unwrap().unwrap();
        assert_eq!(f, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0]);
        assert_eq!(r.push_line("2").unwrap(), None);
        let e = r.finish().unwrap_err().to_string();
        assert!(e.starts_with("m.amc:5: truncated"), "{e}");
    }

    #[test]
    fn bonedata_after_hierarchy_is_an_error_not_a_panic() {
        let text =
            ":root\n order TX TY TZ RX RY RZ\n:hierarchy\n begin\n end\n:bonedata\n begin\n \
                    name a\n direction 1 0 0\n length 1\n end\n";
        let e = parse_asf(text.as_bytes(), "x.asf").unwrap_err().to_string();
        assert_eq!(e, "x.asf:7: bone a is not attached to the skeleton in :hierarchy");
    }

    #[test]
    fn hierarchy_loop_is_an_error() {
        let text =
            ":root\n order TX TY TZ RX RY RZ\n:bonedata\n begin\n name a\n direction 1 0 0\n \
                    length 1\n end\n begin\n name b\n direction 1 0 0\n length 1\n end\n\
                    :hierarchy\n begin\n a b\n b a\n end\n";
        let e = parse_asf(text.as_bytes(), "x.asf").unwrap_err().to_string();
        assert!(e.contains("parent loop"), "{e}");
    }

    #[test]
    fn lines_split_crlf_and_trailing() {
        let v: Vec<&[u8]> = Lines::new(b"a\r\nb\n\nc").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(Lines::new(b"").count(), 0);
        assert_eq!(Lines::new(b"x\n").count(), 1);
    }
}
