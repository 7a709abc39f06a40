//! Canonical feature vectors: root translation plus one exponential map (axis-angle, radians)
//! per joint. This is the layout the model consumes.
//!
//! # Layout
//!
//! For a skeleton with joints `j_0 (root), j_1, ..., j_{n-1}` (in [`Skeleton::joints`] order:
//! for ASF the root then the bones in `:bonedata` file order; for BVH the file's hierarchy order)
//! a frame becomes `3 + 3n` values:
//!
//! | columns | name | value |
//! | --- | --- | --- |
//! | 0-2 | `<root>.tx`, `.ty`, `.tz` | the root's `Xposition Yposition Zposition` channels, raw file units (0 where absent) |
//! | 3+3k .. 5+3k | `<j_k>.r0`, `.r1`, `.r2` | exponential map of joint `k`'s rotation, radians |
//!
//! Every joint gets its three columns, also joints without rotation channels (CMU `lhipjoint`,
//! `rhipjoint`, BVH end sites): their columns are always zero. Missing rotation DOFs are zero
//! angles. Translation channels of non-root joints (e.g. Bandai-Namco BVH, where every joint has
//! six channels) are ignored. For CMU `86.asf` this gives 3 + 31 x 3 = 96 columns.
//!
//! # Rotation conventions
//!
//! With `R_x(a)`, `R_y(a)`, `R_z(a)` the usual right-handed (column-vector) rotation matrices,
//! and the channels of a joint listed `c_1 c_2 c_3` in data order:
//!
//! * **Acclaim (ASF/AMC)**: `M = R_{c_3} R_{c_2} R_{c_1}` (rotations about fixed axes applied in
//!   DOF order; for CMU's `rx ry rz`, `M = R_z R_y R_x`), and the feature is the exponential map
//!   of `Mᵀ`, i.e. `-log(M)`. The bone's ASF `axis` matrix `C` is **not** applied (no
//!   `C M C⁻¹`). This is exactly what the Su & Shlizerman code (`shlizee/interpretseq2seq`)
//!   produced: from `86.asf` + `86_01.amc` / `86_09.amc` it reproduces their `86_01.npy` /
//!   `86_09.npy` to 2e-6 (the float32 rounding of the root translation), including which
//!   columns are always zero. Everything was worked out from that data: bone order = ASF file
//!   order with the root first, composition `R_z R_y R_x`, transposed, no axis matrix, zero for
//!   missing DOFs, the root's rotation treated like any bone's.
//! * **BVH**: `M = R_{c_1} R_{c_2} R_{c_3}` (the usual BVH reading of `Zrotation Xrotation
//!   Yrotation` as `R_z R_x R_y`), and the feature is `log(M)`: a lone `Zrotation` of 90° gives
//!   `(0, 0, π/2)`.
//!
//! [`EulerConvention::Auto`] (the default) picks Acclaim when the root joint has an
//! [`Axis`] (the ASF reader always sets one) and BVH otherwise. Angles are read in
//! the skeleton's [`AngleUnit`].
//!
//! # Continuity near θ = π
//!
//! An exponential map is defined up to `r ~ r̂ (θ + 2πk)`. The principal value (θ ≤ π) jumps
//! when a rotation passes through θ = π: the CMU root does this (0-based frames 472→473,
//! 1215→1216 and 3108→3109 of 86_01; 541→542 and 4788→4789 of 86_09; no other joint of those
//! takes comes near π), and the oracle files keep those jumps. With
//! [`FeatureOptions::continuous`] set, each joint's exp-map is instead the equivalent closest to
//! the same joint's value on the previous frame, so the sequence stays continuous. It is off by
//! default so that the default output reproduces the oracle; turn it on for models trained on
//! continuous exp-maps.

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::types::{AngleUnit, Axis, Motion, Skeleton};

/// A `[frames, channels]` feature matrix with what is known about its columns.
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    /// Where the features came from, for error messages.
    pub source: String,
    /// One row per frame.
    pub data: Array2<f32>,
    /// One name per column (e.g. `root.tx`, `lfemur.r0`), or `c0`, `c1`, ... when unknown.
    pub columns: Vec<String>,
    /// Joint names in column order (empty for plain matrices without a skeleton).
    pub joints: Vec<String>,
    /// Seconds per frame, when known.
    pub frame_time_s: Option<f64>,
}

impl FeatureMatrix {
    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.data.nrows()
    }

    /// Number of channels per frame.
    pub fn channel_count(&self) -> usize {
        self.data.ncols()
    }
}

/// How Euler channels compose into a joint rotation (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EulerConvention {
    /// Acclaim when the root joint has an ASF axis, BVH otherwise.
    #[default]
    Auto,
    /// ASF/AMC: `M = R_{c3} R_{c2} R_{c1}`, feature `log(Mᵀ)` (reproduces the CMU oracle).
    Acclaim,
    /// BVH: `M = R_{c1} R_{c2} R_{c3}`, feature `log(M)`.
    Bvh,
}

/// Options for [`motion_features_with`] and [`FeatureExtractor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeatureOptions {
    /// Euler composition convention.
    pub convention: EulerConvention,
    /// Keep each joint's exp-map continuous from frame to frame across the θ = π ambiguity.
    /// Off by default: the oracle data does not do this.
    pub continuous: bool,
}

/// Canonical features of a whole take with default options (reproducing the CMU oracle for
/// ASF/AMC input).
pub fn motion_features(motion: &Motion) -> Result<FeatureMatrix> {
    motion_features_with(motion, &FeatureOptions::default())
}

/// Canonical features of a whole take with explicit options.
pub fn motion_features_with(motion: &Motion, opts: &FeatureOptions) -> Result<FeatureMatrix> {
    let mut ex = FeatureExtractor::new(&motion.skeleton, &motion.source, opts);
    let width = ex.width();
    let mut data = Array2::<f32>::zeros((motion.frame_count(), width));
    for (row, mut out) in motion.frames.rows().into_iter().zip(data.rows_mut()) {
        let frame: Vec<f64>;
        // Rows of a standard-layout array are contiguous; copy only if someone built a view.
        let slice = match row.as_slice() {
            Some(s) => s,
            None => {
                frame = row.to_vec();
                &frame
            }
        };
        match out.as_slice_mut() {
            Some(o) => ex.extract_into(slice, o)?,
            None => {
                let mut tmp = vec![0.0f32; width];
                ex.extract_into(slice, &mut tmp)?;
                out.iter_mut().zip(&tmp).for_each(|(o, v)| *o = *v);
            }
        }
    }
    Ok(FeatureMatrix {
        source: motion.source.clone(),
        data,
        columns: ex.columns().to_vec(),
        joints: ex.joints().to_vec(),
        frame_time_s: Some(motion.frame_time_s),
    })
}

/// One joint's rotation channels: (axis 0..3, column in the raw frame), in data order.
#[derive(Debug, Clone)]
struct JointPlan {
    rotations: Vec<(usize, usize)>,
}

/// Per-frame feature extraction for one skeleton; holds the previous frame's exp-maps when
/// [`FeatureOptions::continuous`] is on, so use one extractor per stream.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    source: String,
    plans: Vec<JointPlan>,
    /// Raw columns of the root's X/Y/Z position channels.
    root_translation: [Option<usize>; 3],
    input_width: usize,
    radians_per_unit: f64,
    acclaim: bool,
    continuous: bool,
    previous: Vec<[f64; 3]>,
    has_previous: bool,
    columns: Vec<String>,
    joints: Vec<String>,
}

impl FeatureExtractor {
    /// An extractor for frames of `skeleton` (raw channel values in skeleton channel order);
    /// `source` names the input in errors.
    pub fn new(skeleton: &Skeleton, source: &str, opts: &FeatureOptions) -> Self {
        let offsets = skeleton.channel_offsets();
        let mut plans = Vec::with_capacity(skeleton.joints.len());
        let mut root_translation = [None; 3];
        for (j, (joint, &off)) in skeleton.joints.iter().zip(&offsets).enumerate() {
            let mut rotations = Vec::with_capacity(3);
            for (k, c) in joint.channels.iter().enumerate() {
                if c.is_rotation() {
                    rotations.push((c.axis(), off + k));
                } else if j == 0 {
                    root_translation[c.axis()] = Some(off + k);
                }
            }
            plans.push(JointPlan { rotations });
        }
        let root_name = skeleton.joints.first().map(|j| j.name.as_str()).unwrap_or("root");
        let mut columns = Vec::with_capacity(3 + 3 * plans.len());
        for t in ["tx", "ty", "tz"] {
            columns.push(format!("{root_name}.{t}"));
        }
        for joint in &skeleton.joints {
            for r in ["r0", "r1", "r2"] {
                columns.push(format!("{}.{r}", joint.name));
            }
        }
        let acclaim = match opts.convention {
            EulerConvention::Acclaim => true,
            EulerConvention::Bvh => false,
            EulerConvention::Auto => skeleton.joints.first().is_some_and(|j| j.axis.is_some()),
        };
        FeatureExtractor {
            source: source.to_owned(),
            previous: vec![[0.0; 3]; plans.len()],
            plans,
            root_translation,
            input_width: skeleton.channel_count(),
            radians_per_unit: match skeleton.angle_unit {
                AngleUnit::Degrees => std::f64::consts::PI / 180.0,
                AngleUnit::Radians => 1.0,
            },
            acclaim,
            continuous: opts.continuous,
            has_previous: false,
            columns,
            joints: skeleton.joints.iter().map(|j| j.name.clone()).collect(),
        }
    }

    /// Number of feature values per frame (`3 + 3 * joints`).
    pub fn width(&self) -> usize {
        3 + 3 * self.plans.len()
    }

    /// Column names, `width()` of them.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Joint names in column order.
    pub fn joints(&self) -> &[String] {
        &self.joints
    }

    /// Forgets the previous frame (start of a new, unrelated stream).
    pub fn reset(&mut self) {
        self.has_previous = false;
    }

    /// Writes the features of one raw frame into `out` (`width()` values). Fails on a frame of
    /// the wrong length or with non-finite values; allocates nothing.
    pub fn extract_into(&mut self, frame: &[f64], out: &mut [f32]) -> Result<()> {
        if frame.len() != self.input_width {
            return Err(Error::Shape {
                file: self.source.clone(),
                field: "frame".to_owned(),
                expected: format!("{} channel values", self.input_width),
                found: format!("{} values", frame.len()),
            });
        }
        if out.len() != self.width() {
            return Err(Error::Shape {
                file: self.source.clone(),
                field: "feature buffer".to_owned(),
                expected: format!("{} values", self.width()),
                found: format!("{} values", out.len()),
            });
        }
        if let Some(i) = frame.iter().position(|v| !v.is_finite()) {
            return Err(Error::Shape {
                file: self.source.clone(),
                field: format!("channel {i}"),
                expected: "a finite number".to_owned(),
                found: frame[i].to_string(),
            });
        }
        for (o, col) in out.iter_mut().zip(self.root_translation) {
            *o = col.map_or(0.0, |c| frame[c]) as f32;
        }
        for (j, plan) in self.plans.iter().enumerate() {
            let mut q = Quat::IDENTITY;
            for &(axis, col) in &plan.rotations {
                let r = Quat::about_axis(axis, frame[col] * self.radians_per_unit);
                // Acclaim applies DOFs about fixed axes in order (later ones multiply on the
                // left); BVH composes them in channel order (on the right).
                q = if self.acclaim { r.mul(&q) } else { q.mul(&r) };
            }
            let mut e = q.log();
            if self.acclaim {
                // The oracle takes the exp-map of the transposed matrix.
                e = [-e[0], -e[1], -e[2]];
            }
            if self.continuous {
                if self.has_previous {
                    e = nearest_equivalent(e, self.previous[j]);
                }
                self.previous[j] = e;
            }
            for (o, v) in out[3 + 3 * j..6 + 3 * j].iter_mut().zip(e) {
                *o = v as f32;
            }
        }
        self.has_previous = true;
        Ok(())
    }
}

/// Among the exp-maps equivalent to `e` (`ê (θ + 2πk)`), the one closest to `prev`.
pub fn nearest_equivalent(e: [f64; 3], prev: [f64; 3]) -> [f64; 3] {
    let theta = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
    if theta < 1e-9 {
        // Near the identity the axis is undefined; prev is then near 0 too for smooth motion.
        return e;
    }
    let axis = [e[0] / theta, e[1] / theta, e[2] / theta];
    let along = axis[0] * prev[0] + axis[1] * prev[1] + axis[2] * prev[2];
    let tau = std::f64::consts::TAU;
    let k = ((along - theta) / tau).round();
    if k == 0.0 {
        return e;
    }
    let t = theta + k * tau;
    [axis[0] * t, axis[1] * t, axis[2] * t]
}

/// Re-expresses an Acclaim exp-map given in the parent's frame, `log(C Mᵀ C⁻¹)` with `C` the
/// bone's ASF `axis` matrix, in this crate's convention `log(Mᵀ)` (see the module docs).
///
/// Why: the CMU clips of Li et al. (`cmu/actions8`) were converted with the axis matrix applied,
/// so a one-DOF knee turns about `C x̂` there and about `x̂` here; a model trained on one layout
/// must see the other's bones in its own frames. `C = R_{o_3} R_{o_2} R_{o_1}` for the axis
/// order `o` (Acclaim: `axis 0 0 20 XYZ` is `R_z(20°) R_y(0) R_x(0)`).
///
/// ```
/// use motionseg::features::remove_bone_axis;
/// use motionseg::Axis;
/// // A knee bent by 0.5 rad about its own x axis, stored in the parent frame of a bone whose
/// // axis is turned 20° about z, comes back as a pure x rotation.
/// let axis = Axis { angles_deg: [0.0, 0.0, 20.0], order: [0, 1, 2] };
/// let (s, c) = 20f64.to_radians().sin_cos();
/// let e = remove_bone_axis([0.5 * c, 0.5 * s, 0.0], &axis);
/// assert!((e[0] - 0.5).abs() < 1e-12 && e[1].abs() < 1e-12 && e[2].abs() < 1e-12);
/// ```
pub fn remove_bone_axis(e: [f64; 3], axis: &Axis) -> [f64; 3] {
    let mut c = Quat::IDENTITY;
    for &a in &axis.order {
        let r = Quat::about_axis(a, axis.angles_deg[a.min(2)].to_radians());
        c = r.mul(&c);
    }
    c.conj().mul(&Quat::exp(e)).mul(&c).log()
}

/// A unit quaternion `(w, x, y, z)`: composing Euler angles this way stays accurate near θ = π,
/// where reading the axis back from a rotation matrix's skew part loses precision.
#[derive(Debug, Clone, Copy)]
struct Quat([f64; 4]);

impl Quat {
    const IDENTITY: Quat = Quat([1.0, 0.0, 0.0, 0.0]);

    fn about_axis(axis: usize, angle: f64) -> Quat {
        let (s, c) = (angle * 0.5).sin_cos();
        let mut q = [c, 0.0, 0.0, 0.0];
        q[1 + axis.min(2)] = s;
        Quat(q)
    }

    /// The rotation `e` (exp-map, radians) as a quaternion.
    fn exp(e: [f64; 3]) -> Quat {
        let theta = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
        // sin(θ/2)/θ -> 1/2 as θ -> 0.
        let k = if theta < 1e-12 { 0.5 } else { (theta * 0.5).sin() / theta };
        Quat([(theta * 0.5).cos(), e[0] * k, e[1] * k, e[2] * k])
    }

    /// The inverse rotation.
    fn conj(&self) -> Quat {
        let [w, x, y, z] = self.0;
        Quat([w, -x, -y, -z])
    }

    /// Hamilton product `self * o` (apply `o` first).
    fn mul(&self, o: &Quat) -> Quat {
        let [a1, b1, c1, d1] = self.0;
        let [a2, b2, c2, d2] = o.0;
        Quat([
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ])
    }

    /// Principal exp-map (θ in [0, π]).
    fn log(&self) -> [f64; 3] {
        let [mut w, mut x, mut y, mut z] = self.0;
        if w < 0.0 {
            (w, x, y, z) = (-w, -x, -y, -z);
        }
        let n = (x * x + y * y + z * z).sqrt();
        let scale = if n < 1e-12 {
            // θ/sin(θ/2) -> 2/w as θ -> 0.
            2.0 / w.max(1e-300)
        } else {
            2.0 * n.atan2(w) / n
        };
        [x * scale, y * scale, z * scale]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail by panicking.
mod tests {
    use super::*;
    use crate::types::{Channel, Joint};
    use std::f64::consts::PI;

    /// The channel list of a BVH-style joint from axis letters, for tests.
    fn rot_channels(order: &str) -> Vec<Channel> {
        order
            .chars()
            .map(|c| match c {
                'X' => Channel::Xrotation,
                'Y' => Channel::Yrotation,
                _ => Channel::Zrotation,
            })
            .collect()
    }

    type M3 = [[f64; 3]; 3];

    fn rm(axis: usize, a: f64) -> M3 {
        let (s, c) = a.sin_cos();
        match axis {
            0 => [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]],
            1 => [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]],
            _ => [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    fn mm(a: &M3, b: &M3) -> M3 {
        let mut r = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        r
    }

    /// Independent matrix -> exp-map (valid away from θ = π).
    fn mat_log(m: &M3) -> [f64; 3] {
        let c = ((m[0][0] + m[1][1] + m[2][2] - 1.0) / 2.0).clamp(-1.0, 1.0);
        let t = c.acos();
        let v = [m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]];
        let s = t.sin();
        if s.abs() < 1e-12 {
            return [0.0; 3];
        }
        v.map(|x| x * t / (2.0 * s))
    }

    fn skeleton(joints: Vec<(&str, Vec<Channel>)>, axis: bool) -> Skeleton {
        Skeleton {
            joints: joints
                .into_iter()
                .enumerate()
                .map(|(i, (n, ch))| Joint {
                    name: n.to_owned(),
                    parent: if i == 0 { None } else { Some(0) },
                    offset: [0.0; 3],
                    channels: ch,
                    axis: axis
                        .then_some(crate::types::Axis { angles_deg: [0.0; 3], order: [0, 1, 2] }),
                    limits: vec![],
                })
                .collect(),
            angle_unit: AngleUnit::Degrees,
            metres_per_unit: None,
        }
    }

    fn motion(s: Skeleton, rows: Vec<Vec<f64>>) -> Motion {
        let w = s.channel_count();
        let n = rows.len();
        Motion {
            source: "hand".into(),
            skeleton: s,
            frame_time_s: 1.0 / 30.0,
            frames: Array2::from_shape_vec((n, w), rows.concat()).unwrap(),
        }
    }

    fn close(a: &[f32], b: &[f64], tol: f64) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn bvh_single_z_rotation() {
        let mut ch = vec![Channel::Xposition, Channel::Yposition, Channel::Zposition];
        ch.extend(rot_channels("ZXY"));
        let s = skeleton(vec![("Hips", ch), ("Spine", rot_channels("ZXY"))], false);
        let m = motion(s, vec![vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 90.0, 0.0, 0.0]]);
        let f = motion_features(&m).unwrap();
        assert_eq!(f.columns[..4], ["Hips.tx", "Hips.ty", "Hips.tz", "Hips.r0"]);
        assert_eq!(f.columns[6], "Spine.r0");
        assert_eq!(f.joints, ["Hips", "Spine"]);
        close(
            f.data.row(0).as_slice().unwrap(),
            &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, PI / 2.0],
            1e-6,
        );
    }

    #[test]
    fn bvh_zxy_matches_matrix_product() {
        let s = skeleton(vec![("r", rot_channels("ZXY"))], false);
        let (z, x, y) = (30.0f64, -50.0f64, 70.0f64);
        let m = motion(s, vec![vec![z, x, y]]);
        let f = motion_features(&m).unwrap();
        let r = mm(&mm(&rm(2, z.to_radians()), &rm(0, x.to_radians())), &rm(1, y.to_radians()));
        close(&f.data.row(0).as_slice().unwrap()[3..], &mat_log(&r), 1e-6);
    }

    #[test]
    fn six_channel_joints_use_root_translation_only() {
        let ch = || {
            let mut c = vec![Channel::Xposition, Channel::Yposition, Channel::Zposition];
            c.extend(rot_channels("ZXY"));
            c
        };
        let s = skeleton(vec![("a", ch()), ("b", ch())], false);
        let m = motion(s, vec![vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 9.0, 9.0, 9.0, 0.0, 90.0, 0.0]]);
        let f = motion_features(&m).unwrap();
        close(
            f.data.row(0).as_slice().unwrap(),
            &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, PI / 2.0, 0.0, 0.0],
            1e-6,
        );
    }

    #[test]
    fn acclaim_is_transposed_zyx() {
        let s = skeleton(vec![("root", rot_channels("XYZ")), ("b", rot_channels("XZ"))], true);
        let (x, y, z) = (20.0f64, -35.0f64, 60.0f64);
        let m = motion(s, vec![vec![x, y, z, 40.0, -10.0]]);
        let f = motion_features(&m).unwrap();
        let r = mm(&mm(&rm(2, z.to_radians()), &rm(1, y.to_radians())), &rm(0, x.to_radians()));
        let e = mat_log(&r).map(|v| -v);
        close(&f.data.row(0).as_slice().unwrap()[3..6], &e, 1e-6);
        let r2 = mm(&rm(2, (-10.0f64).to_radians()), &rm(0, 40f64.to_radians()));
        close(&f.data.row(0).as_slice().unwrap()[6..9], &mat_log(&r2).map(|v| -v), 1e-6);
    }

    #[test]
    fn continuity_across_pi() {
        // A steady turn about Z from 170° to 190°: the principal value flips sign at 180°.
        let s = skeleton(vec![("r", rot_channels("Z"))], false);
        let rows: Vec<Vec<f64>> = (0..21).map(|i| vec![170.0 + i as f64]).collect();
        let m = motion(s, rows);
        let plain = motion_features(&m).unwrap();
        assert!(plain.data[[20, 5]] < 0.0, "principal value flips");
        let opts = FeatureOptions { continuous: true, ..Default::default() };
        let cont = motion_features_with(&m, &opts).unwrap();
        for i in 0..21 {
            let want = (170.0 + i as f64).to_radians();
            assert!((cont.data[[i, 5]] as f64 - want).abs() < 1e-5, "frame {i}");
        }
    }

    #[test]
    fn remove_bone_axis_undoes_the_parent_frame() {
        let axes = [
            Axis { angles_deg: [0.0, 0.0, 20.0], order: [0, 1, 2] },
            Axis { angles_deg: [180.0, -30.0, -90.0], order: [0, 1, 2] },
            Axis { angles_deg: [-90.0, 45.0, 0.0], order: [2, 0, 1] },
        ];
        for axis in &axes {
            // C as the Acclaim reading: rotations about fixed axes in `order`.
            let m = axis
                .order
                .iter()
                .fold(None, |acc: Option<M3>, &a| {
                    let r = rm(a, axis.angles_deg[a].to_radians());
                    Some(acc.map_or(r, |c| mm(&r, &c)))
                })
                .unwrap();
            for e in [[0.3, -0.2, 0.9], [1.5, 0.0, 0.0], [0.0, -2.0, 0.4], [1e-9, 0.0, 0.0]] {
                // The same rotation written in the parent frame: C exp(e) Cᵀ = exp(C e).
                let ce = [0, 1, 2].map(|i| (0..3).map(|j| m[i][j] * e[j]).sum::<f64>());
                let back = remove_bone_axis(ce, axis);
                for d in 0..3 {
                    assert!((back[d] - e[d]).abs() < 1e-9, "{axis:?} {e:?} -> {back:?}");
                }
            }
        }
    }

    #[test]
    fn nearest_equivalent_picks_closest() {
        let e = [0.0, 0.0, -3.1];
        let n = nearest_equivalent(e, [0.0, 0.0, 3.1]);
        assert!((n[2] - (2.0 * PI - 3.1)).abs() < 1e-12);
        assert_eq!(nearest_equivalent(e, [0.0, 0.0, -3.0]), e);
    }

    #[test]
    fn rejects_bad_frames() {
        let s = skeleton(vec![("r", rot_channels("Z"))], false);
        let mut ex = FeatureExtractor::new(&s, "x", &FeatureOptions::default());
        let mut out = vec![0.0; ex.width()];
        assert!(ex.extract_into(&[1.0, 2.0], &mut out).is_err());
        assert!(ex.extract_into(&[f64::NAN], &mut out).is_err());
        assert!(ex.extract_into(&[1.0], &mut out[..2]).is_err());
        ex.extract_into(&[1.0], &mut out).unwrap();
    }
}
