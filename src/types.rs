//! Plain data types shared by every stage: skeletons, channels, motion takes.

use ndarray::Array2;

/// Index of a frame in its input, 0-based, at the input's own frame rate.
pub type FrameIndex = usize;

/// One degree of freedom a motion file gives for a joint, BVH-style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Translation along X.
    Xposition,
    /// Translation along Y.
    Yposition,
    /// Translation along Z.
    Zposition,
    /// Rotation about X.
    Xrotation,
    /// Rotation about Y.
    Yrotation,
    /// Rotation about Z.
    Zrotation,
}

impl Channel {
    /// True for the three rotation channels.
    pub fn is_rotation(self) -> bool {
        matches!(self, Channel::Xrotation | Channel::Yrotation | Channel::Zrotation)
    }

    /// The axis the channel acts along or about: 0 for X, 1 for Y, 2 for Z.
    pub fn axis(self) -> usize {
        match self {
            Channel::Xposition | Channel::Xrotation => 0,
            Channel::Yposition | Channel::Yrotation => 1,
            Channel::Zposition | Channel::Zrotation => 2,
        }
    }

    /// The BVH spelling (`Xposition`, ..., `Zrotation`).
    pub fn bvh_name(self) -> &'static str {
        match self {
            Channel::Xposition => "Xposition",
            Channel::Yposition => "Yposition",
            Channel::Zposition => "Zposition",
            Channel::Xrotation => "Xrotation",
            Channel::Yrotation => "Yrotation",
            Channel::Zrotation => "Zrotation",
        }
    }
}

/// Unit of the rotation values in a motion file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AngleUnit {
    /// Degrees (BVH, and ASF files declaring `angle deg`).
    Degrees,
    /// Radians (ASF files declaring `angle rad`).
    Radians,
}

/// Orientation of a joint's local frame (ASF `axis`): Euler angles in degrees, applied in
/// `order` (axis indices, 0 = X), e.g. `[0, 1, 2]` for `XYZ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// The three Euler angles, in degrees, for axes X, Y, Z (not in application order).
    pub angles_deg: [f64; 3],
    /// Application order as axis indices.
    pub order: [usize; 3],
}

/// One joint (BVH) or bone (ASF) of a skeleton.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// Name as written in the file (may contain `:` and other punctuation).
    pub name: String,
    /// Index of the parent joint in [`Skeleton::joints`]; `None` for a root.
    pub parent: Option<usize>,
    /// Rest offset from the parent, in the skeleton's length units (BVH `OFFSET`; ASF
    /// `direction * length` of this bone).
    pub offset: [f64; 3],
    /// The channels the motion data gives for this joint, in data order.
    pub channels: Vec<Channel>,
    /// ASF only: the orientation of the joint's local frame.
    pub axis: Option<Axis>,
    /// ASF only: `(min, max)` limit per channel, in the file's units; empty when not given.
    pub limits: Vec<(f64, f64)>,
}

/// A skeleton: the joints of a motion file in file order (root first).
#[derive(Debug, Clone, PartialEq)]
pub struct Skeleton {
    /// Joints in file order. Index 0 is the root.
    pub joints: Vec<Joint>,
    /// Unit of the rotation channels in the motion data.
    pub angle_unit: AngleUnit,
    /// Metres per length unit, when the file says (ASF: CMU's `(1/0.45) * 2.54 / 100`).
    pub metres_per_unit: Option<f64>,
}

impl Skeleton {
    /// Total number of channels per frame.
    pub fn channel_count(&self) -> usize {
        self.joints.iter().map(|j| j.channels.len()).sum()
    }

    /// Index of the joint named `name`.
    pub fn joint_index(&self, name: &str) -> Option<usize> {
        self.joints.iter().position(|j| j.name == name)
    }

    /// For each joint, the column of its first channel in a frame row.
    pub fn channel_offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.joints
            .iter()
            .map(|j| {
                let o = at;
                at += j.channels.len();
                o
            })
            .collect()
    }
}

/// A motion take: a skeleton plus raw channel values per frame, as read from the file.
#[derive(Debug, Clone)]
pub struct Motion {
    /// Where the take came from (path or caller-given name), for error messages.
    pub source: String,
    /// The skeleton the channels refer to.
    pub skeleton: Skeleton,
    /// Seconds per frame.
    pub frame_time_s: f64,
    /// Raw channel values: one row per frame, columns in skeleton channel order
    /// (joint by joint, each joint's channels in its declared order), in file units.
    pub frames: Array2<f64>,
}

impl Motion {
    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.frames.nrows()
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        1.0 / self.frame_time_s
    }
}
