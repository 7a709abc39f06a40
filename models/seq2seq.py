#!/usr/bin/env python3
"""motionseg Seq2Seq: AGED-style training, monitor, ONNX export with encoder/decoder states.

Subcommands (run from the repository root with the project venv, see models/README.md):

  train      train on CMU 86 exp-map takes (unlabeled), log the monitor CSV/PNG, save checkpoints
  export     export a chosen checkpoint to ONNX + manifest JSON, verified with ONNX Runtime
  synthetic  the paper's circle-vs-ellipse reproduction: train, export, cluster ORT decoder states
  fixture    tiny random-weight model + manifest for the Rust tests
  bench      CPU ms per window of an exported model under ONNX Runtime (batch 32)
  table      export + benchmark a set of runs and print the model-card table rows

Everything the Rust side needs to turn a raw canonical 96-column frame into the model input is
implemented in `mocap_features` below and written, fully specified, into the manifest.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
OPSET = 17
SOURCE_FPS = 120
STD_EPS = 1e-4  # channels whose training std is below this are dropped (as in the paper's code)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("MOTIONSEG_DATA", REPO / ".." / "shared" / "data"))

# The 31 bones of the CMU exp-map layout (root, then the ASF bone order of 86.asf).
BONES = [
    "root", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "rhipjoint", "rfemur", "rtibia",
    "rfoot", "rtoes", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head",
    "lclavicle", "lhumerus", "lradius", "lwrist", "lhand", "lfingers", "lthumb", "rclavicle",
    "rhumerus", "rradius", "rwrist", "rhand", "rfingers", "rthumb",
]
RAW_COLUMNS = ["root.tx", "root.ty", "root.tz"] + [f"{b}.e{i}" for b in BONES for i in range(3)]
assert len(RAW_COLUMNS) == 96

# Features before channel selection: 10 root channels + 30 non-root bones x 3 exp-map values.
ROOT_FEATURES = [
    "root.vel_fwd_x", "root.vel_y", "root.vel_fwd_z", "root.height_y",
    "root.rot6d_00", "root.rot6d_10", "root.rot6d_20", "root.rot6d_01", "root.rot6d_11",
    "root.rot6d_21",
]
FEATURE_COLUMNS = ROOT_FEATURES + RAW_COLUMNS[6:]
N_ROOT = len(ROOT_FEATURES)

ROOT_TRANSFORM_DOC = {
    "name": "heading_frame_velocity_height_rot6d",
    "input_columns": "raw columns 0-2 = root translation p (AMC units, Y up), 3-5 = root exp-map r",
    "steps": [
        "Work on the resampled frame sequence (see resample); t indexes resampled frames.",
        "A_t = rodrigues(r_t): theta=|r|; if theta<1e-8: A = I + [r]x; else k=r/theta, "
        "A = I + sin(theta)[k]x + (1-cos(theta))[k]x^2, where [k]x = [[0,-kz,ky],[kz,0,-kx],[-ky,kx,0]].",
        "R_t = transpose(A_t) (= rodrigues(-r_t)): the body orientation in the world. Checked on CMU 86 "
        "walking: the walking direction in the heading frame below is 0 +- 10 degrees with the transpose "
        "and scatters by 20-70 degrees with A itself.",
        "Heading: f = third column of R_t (R_t[:,2]); yaw_t = atan2(f_x, f_z) (atan2(0,0)=0).",
        "H_t = Ry(-yaw_t) = [[cos yaw,0,-sin yaw],[0,1,0],[sin yaw,0,cos yaw]].",
        "Velocity v_t = p_t - p_{t-1} (resampled frames, AMC units per resampled frame); "
        "v_0 = (0,0,0) at the first frame of a stream/take.",
        "u_t = H_t v_t (velocity in the body's heading frame).",
        "Q_t = H_t R_t (root orientation with the heading removed).",
        "Root features (10, in this order): u_x, v_y, u_z, p_y, Q[0,0], Q[1,0], Q[2,0], Q[0,1], "
        "Q[1,1], Q[2,1] (first two columns of Q, column-major).",
        "Then raw columns 6..95 unchanged (30 non-root bones x exp-map). Full vector: 100 features "
        "(feature_columns).",
    ],
    "why": "Position and heading in the room must not decide the action; the root exp-map wraps at "
    "+-pi and its heading changes with walking direction. Heading-frame velocity + height + a "
    "continuous 6-D heading-free orientation keep the body's own motion only.",
}


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------

def rodrigues(r: np.ndarray) -> np.ndarray:
    """[..., 3] exp-maps -> [..., 3, 3] rotation matrices (float64)."""
    r = np.asarray(r, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1, keepdims=True)
    small = theta[..., 0] < 1e-8
    k = r / np.where(theta < 1e-8, 1.0, theta)
    kx = np.zeros(r.shape[:-1] + (3, 3))
    kx[..., 0, 1] = -k[..., 2]
    kx[..., 0, 2] = k[..., 1]
    kx[..., 1, 0] = k[..., 2]
    kx[..., 1, 2] = -k[..., 0]
    kx[..., 2, 0] = -k[..., 1]
    kx[..., 2, 1] = k[..., 0]
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), kx.shape)
    R = eye + s * kx + (1 - c) * (kx @ kx)
    if np.any(small):
        rx = np.zeros(r.shape[:-1] + (3, 3))
        rx[..., 0, 1] = -r[..., 2]
        rx[..., 0, 2] = r[..., 1]
        rx[..., 1, 0] = r[..., 2]
        rx[..., 1, 2] = -r[..., 0]
        rx[..., 2, 0] = -r[..., 1]
        rx[..., 2, 1] = r[..., 0]
        R[small] = (eye + rx)[small]
    return R


def mocap_features(raw: np.ndarray, stride: int, phase: int = 0) -> np.ndarray:
    """Raw canonical [F, 96] frames at 120 fps -> [F', 100] features (before normalisation).

    Resampling keeps source frames i with i % stride == phase.  See ROOT_TRANSFORM_DOC."""
    x = np.asarray(raw, dtype=np.float64)[phase::stride]
    p = x[:, 0:3]
    R = np.swapaxes(rodrigues(x[:, 3:6]), 1, 2)  # body orientation in the world (see doc)
    f = R[:, :, 2]
    yaw = np.arctan2(f[:, 0], f[:, 2])
    c, s = np.cos(yaw), np.sin(yaw)
    H = np.zeros((len(x), 3, 3))
    H[:, 0, 0] = c
    H[:, 0, 2] = -s
    H[:, 1, 1] = 1
    H[:, 2, 0] = s
    H[:, 2, 2] = c
    v = np.zeros_like(p)
    v[1:] = p[1:] - p[:-1]
    u = np.einsum("tij,tj->ti", H, v)
    Q = H @ R
    root = np.stack(
        [u[:, 0], v[:, 1], u[:, 2], p[:, 1], Q[:, 0, 0], Q[:, 1, 0], Q[:, 2, 0], Q[:, 0, 1],
         Q[:, 1, 1], Q[:, 2, 1]], axis=1)
    return np.concatenate([root, x[:, 6:]], axis=1).astype(np.float32)


def identity_features(raw: np.ndarray, stride: int, phase: int = 0) -> np.ndarray:
    return np.asarray(raw, dtype=np.float32)[phase::stride]


def read_labels(path: Path, n_frames: int) -> np.ndarray:
    """ACA label CSV (start,end,label,...) -> per-frame integer labels (0-based frame index)."""
    lab = np.full(n_frames, -1, dtype=np.int64)
    names: dict[str, int] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            k = names.setdefault(row["label"], len(names))
            lab[int(row["start"]):int(row["end"])] = k
    return lab


# --------------------------------------------------------------------------------------------
# Datasets: lists of feature sequences (already transformed, not yet normalised)
# --------------------------------------------------------------------------------------------

@dataclass
class Take:
    name: str
    feats: np.ndarray          # [T, C_full] float32, resampled
    labels: np.ndarray | None  # [T] ints per resampled frame, or None
    group: str = ""            # takes of one group are clustered together (default: the take alone)


@dataclass
class Dataset:
    kind: str                   # "cmu86_expmap" | "synthetic" | "files"
    feature_columns: list[str]
    train: list[np.ndarray]     # training sequences (all resampling phases)
    val: list[np.ndarray]       # validation sequences
    dev: list[Take]             # labelled takes for the ARI monitor (phase 0)
    train_files: list[str]
    fps: float
    stride: int


def _describe_path(path: Path, data_dir: Path) -> str:
    """A path for the manifest: relative to the data folder or the repository when inside them."""
    path = path.resolve()
    for base, prefix in ((Path(data_dir).resolve(), ""), (REPO, "<repo>/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


def load_extra_npy(path: Path) -> np.ndarray:
    """One extra unlabeled take: raw canonical [F, 96] exp-map frames at 120 fps (SOURCE_FPS), e.g. written by
    `motionseg inspect TAKE.amc --asf cmu/86/86.asf --features OUT.npy` (the layout of cmu/86/expmap)."""
    raw = np.load(path)
    if raw.ndim != 2 or raw.shape[1] != 96:
        raise SystemExit(f"{path}: expected [frames, 96] raw exp-map frames at {SOURCE_FPS} fps, got {raw.shape}")
    if not np.all(np.isfinite(raw)):
        raise SystemExit(f"{path}: non-finite values")
    return raw


def load_cmu(data_dir: Path, trials: list[str], dev_trials: list[str], fps: float,
             val_frac: float, extra_trials: list[str] = (), extra_npy: list[str] = ()) -> Dataset:
    stride = SOURCE_FPS / fps
    if abs(stride - round(stride)) > 1e-9:
        raise SystemExit(f"fps must divide {SOURCE_FPS}: got {fps}")
    stride = int(round(stride))
    train, val, files = [], [], []
    for t in list(trials) + [e for e in extra_trials if e not in trials]:
        path = data_dir / "cmu" / "86" / "expmap" / f"86_{t}.npy"
        raw = np.load(path)
        if raw.ndim != 2 or raw.shape[1] != 96:
            raise SystemExit(f"{path}: expected [frames, 96], got {raw.shape}")
        frac = val_frac if t in trials else 0.0
        files.append(str(path.relative_to(data_dir)) + (f" (first {1 - frac:.0%} for training)" if frac else ""))
        cut = int(len(raw) * (1 - frac))
        for ph in range(stride):
            train.append(mocap_features(raw[:cut], stride, ph))
            if frac > 0:
                val.append(mocap_features(raw[cut:], stride, ph))
    # Extra unlabeled takes of any CMU subject, already in the raw 96-column layout at 120 fps: used whole
    # for training (no validation split), like --extra-trials.
    for e in extra_npy:
        path = Path(e)
        raw = load_extra_npy(path)
        src = path.with_suffix(".source.txt")  # optional one-line provenance note beside the file
        note = f", {src.read_text().strip().splitlines()[0]}" if src.is_file() and src.read_text().strip() else ""
        files.append(f"{_describe_path(path, data_dir)} (whole take, {len(raw)} frames at {SOURCE_FPS} fps, "
                     f"raw 96-column layout, sha256 {sha256_file(path)}{note})")
        for ph in range(stride):
            train.append(mocap_features(raw, stride, ph))
    dev = []
    for t in dev_trials:
        raw = np.load(data_dir / "cmu" / "86" / "expmap" / f"86_{t}.npy")
        lab = read_labels(data_dir / "cmu" / "86" / "labels" / "aca" / f"86_{t}.csv", len(raw))
        dev.append(Take(f"86_{t}", mocap_features(raw, stride, 0), lab[0::stride]))
    return Dataset("cmu86_expmap", FEATURE_COLUMNS, train, val, dev, files, fps, stride)


def synthetic_shapes(n_per_shape: int = 8, length: int = 400, period: float = 40.0,
                     seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """Circle (radius 1) and ellipse (semi-axes 2 and 0.5) traced at the same angular speed."""
    rng = np.random.default_rng(seed)
    seqs, shapes = [], []
    for shape in (0, 1):
        for _ in range(n_per_shape):
            ph = rng.uniform(0, 2 * np.pi)
            t = ph + 2 * np.pi * np.arange(length) / period
            if shape == 0:
                xy = np.stack([np.cos(t), np.sin(t)], 1)
            else:
                xy = np.stack([2.0 * np.cos(t), 0.5 * np.sin(t)], 1)
            seqs.append((xy + 0.01 * rng.standard_normal(xy.shape)).astype(np.float32))
            shapes.append(shape)
    return seqs, shapes


def load_synthetic(seed: int) -> Dataset:
    seqs, shapes = synthetic_shapes(seed=seed)
    train = [s[:320] for s in seqs]
    val = [s[320:] for s in seqs]
    # Dev set: one take per shape, concatenated would mix windows at the seam; keep them separate.
    dev_seqs, dev_shapes = synthetic_shapes(n_per_shape=2, seed=seed + 1000)
    dev = [Take(f"{'circle' if k == 0 else 'ellipse'}_{i}", s, np.full(len(s), k), group="shapes")
           for i, (s, k) in enumerate(zip(dev_seqs, dev_shapes))]
    return Dataset("synthetic", ["x", "y"], train, val, dev, ["<synthetic circle/ellipse>"], 1.0, 1)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

def _torch():
    import torch
    return torch


@dataclass
class Config:
    N: int = 256
    T_e: int = 50
    T_d: int = 25
    fps: float = 30.0
    shared: bool = False           # shared encoder/decoder GRU weights
    seed: int = 0
    batch: int = 32
    lr: float = 1e-3
    iters: int = 3000
    cpu_budget_s: float = 0.0      # stop after this many CPU seconds of training steps (0 = none)
    wall_budget_s: float = 0.0     # stop after this many wall seconds (0 = no limit)
    eval_every: int = 250
    w_geodesic: float = 0.0        # weight of the geodesic loss on exp-map bone channels
    w_fidelity: float = 0.0        # weight of the adversarial single-frame discriminator loss
    w_continuity: float = 0.0      # weight of the adversarial sequence discriminator loss
    grad_clip: float = 1.0
    input_noise: float = 0.0       # std of Gaussian noise added to encoder inputs in training (normalised units)
    val_frac: float = 0.15
    dataset: str = "cmu86"
    trials: list = field(default_factory=lambda: ["01", "03", "05", "07"])
    dev_trials: list = field(default_factory=lambda: ["01", "03", "05", "07"])
    extra_trials: list = field(default_factory=list)  # unlabeled takes used whole for training (no val split)
    extra_npy: list = field(default_factory=list)     # raw [F, 96] 120-fps .npy takes (any subject), whole, for training
    hop: int = 4                   # monitor window hop in resampled frames
    threads: int = 1


def build_model(cfg: Config, C: int):
    torch = _torch()
    nn = torch.nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.GRU(C, cfg.N, batch_first=True)
            self.dec = None if cfg.shared else nn.GRUCell(C, cfg.N)
            self.out = nn.Linear(cfg.N, C)
            nn.init.zeros_(self.out.bias)
            nn.init.uniform_(self.out.weight, -0.04, 0.04)

        def dec_cell(self, x, h):
            if self.dec is not None:
                return self.dec(x, h)
            e = self.enc
            return torch._VF.gru_cell(x, h, e.weight_ih_l0, e.weight_hh_l0, e.bias_ih_l0,
                                      e.bias_hh_l0)

        def forward(self, x):
            """x [B, T_e, C] -> (pred [B, T_d, C], enc states [B, T_e, N], dec states [B, T_d, N])."""
            enc, h = self.enc(x)
            h = h[0]
            y = x[:, -1]
            preds, decs = [], []
            for _ in range(cfg.T_d):
                h = self.dec_cell(y, h)
                y = y + self.out(h)
                preds.append(y)
                decs.append(h)
            return torch.stack(preds, 1), enc, torch.stack(decs, 1)

    return Seq2Seq()


def gru_weights(model):
    """(enc, dec) tuples of (W_ih [3N,C], W_hh [3N,N], b_ih [3N], b_hh [3N]) in PyTorch gate order r,z,n."""
    e = model.enc
    enc = (e.weight_ih_l0, e.weight_hh_l0, e.bias_ih_l0, e.bias_hh_l0)
    if model.dec is None:
        return enc, enc
    d = model.dec
    return enc, (d.weight_ih, d.weight_hh, d.bias_ih, d.bias_hh)


def build_unrolled(model, cfg: Config, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """An export-friendly copy: the GRU written as MatMul/Sigmoid/Tanh, unrolled over T_e and T_d."""
    torch = _torch()
    nn = torch.nn
    (eWi, eWh, ebi, ebh), (dWi, dWh, dbi, dbh) = gru_weights(model)
    N = cfg.N

    class Unrolled(nn.Module):
        def __init__(self):
            super().__init__()
            p = lambda t: nn.Parameter(t.detach().clone(), requires_grad=False)  # noqa: E731
            self.eWi, self.eWh, self.ebi, self.ebh = p(eWi.t()), p(eWh.t()), p(ebi), p(ebh)
            self.shared = model.dec is None
            if not self.shared:
                self.dWi, self.dWh, self.dbi, self.dbh = p(dWi.t()), p(dWh.t()), p(dbi), p(dbh)
            self.Wo, self.bo = p(model.out.weight.t()), p(model.out.bias)

        def cell(self, gi, h, Wh, bh):
            gh = torch.matmul(h, Wh) + bh
            r = torch.sigmoid(gi[:, :N] + gh[:, :N])
            z = torch.sigmoid(gi[:, N:2 * N] + gh[:, N:2 * N])
            n = torch.tanh(gi[:, 2 * N:] + r * gh[:, 2 * N:])
            return n + z * (h - n)  # == (1 - z) * n + z * h

        def forward(self, x):
            B = x.shape[0]
            h = torch.zeros_like(x[:, 0, :1]).expand(B, N) * 0.0
            gis = torch.matmul(x, self.eWi) + self.ebi  # [B, T_e, 3N]
            encs = []
            for t in range(cfg.T_e):
                h = self.cell(gis[:, t], h, self.eWh, self.ebh)
                encs.append(h)
            if self.shared:
                Wi, Wh, bi, bh = self.eWi, self.eWh, self.ebi, self.ebh
            else:
                Wi, Wh, bi, bh = self.dWi, self.dWh, self.dbi, self.dbh
            y = x[:, -1]
            preds, decs = [], []
            for t in range(cfg.T_d):
                h = self.cell(torch.matmul(y, Wi) + bi, h, Wh, bh)
                y = y + torch.matmul(h, self.Wo) + self.bo
                preds.append(y)
                decs.append(h)
            return torch.stack(preds, 1), torch.stack(encs, 1), torch.stack(decs, 1)

    return Unrolled().eval()


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------

def rodrigues_torch(r):
    torch = _torch()
    theta = torch.sqrt((r * r).sum(-1, keepdim=True) + 1e-12)
    k = r / theta
    z = torch.zeros_like(k[..., 0])
    kx = torch.stack([z, -k[..., 2], k[..., 1], k[..., 2], z, -k[..., 0], -k[..., 1], k[..., 0], z],
                     -1).reshape(r.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand_as(kx)
    s = torch.sin(theta)[..., None]
    c = torch.cos(theta)[..., None]
    return eye + s * kx + (1 - c) * (kx @ kx)


def make_geodesic(kept: np.ndarray, mean: np.ndarray, std: np.ndarray, feature_columns: list[str]):
    """Geodesic distance between predicted and true bone rotations (non-root exp-map triplets)."""
    torch = _torch()
    C_full = len(feature_columns)
    bone_starts = [i for i in range(N_ROOT, C_full, 3)]
    pos = -np.ones(C_full, dtype=np.int64)
    pos[kept] = np.arange(len(kept))
    # only triplets with at least one kept channel
    trip = [s for s in bone_starts if (pos[s:s + 3] >= 0).any()]
    idx = torch.tensor(np.array([pos[s:s + 3] for s in trip]))          # [J, 3], -1 = dropped
    const = torch.tensor(np.array([[mean[s + i] if pos[s + i] < 0 else 0.0 for i in range(3)]
                                   for s in trip]), dtype=torch.float32)  # raw value of dropped ch
    m_full = torch.tensor(mean, dtype=torch.float32)
    s_full = torch.tensor(std, dtype=torch.float32)
    tmean = torch.stack([m_full[torch.tensor(s + np.arange(3))] for s in trip])
    tstd = torch.stack([s_full[torch.tensor(s + np.arange(3))] for s in trip])
    valid = (idx >= 0).float()
    safe_idx = idx.clamp(min=0)

    def raw(y):  # y [..., C_kept] normalised -> [..., J, 3] raw exp-maps
        g = y[..., safe_idx]  # [..., J, 3]
        return (g * tstd + tmean) * valid + const * (1 - valid)

    def loss(pred, target):
        Rp = rodrigues_torch(raw(pred))
        Rt = rodrigues_torch(raw(target))
        tr = (Rp * Rt).sum((-1, -2))  # trace(Rp^T Rt)
        cos = ((tr - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
        return torch.acos(cos).mean()

    return loss


# --------------------------------------------------------------------------------------------
# Monitor: clustering quality of decoder states on the labelled development takes
# --------------------------------------------------------------------------------------------

def dev_windows(take: Take, cfg: Config, mean, std, kept):
    x = ((take.feats - mean) / std)[:, kept].astype(np.float32)
    starts = np.arange(0, len(x) - cfg.T_e + 1, cfg.hop)
    W = np.stack([x[s:s + cfg.T_e] for s in starts])
    lab = take.labels[starts + cfg.T_e - 1]  # label of the window's last input frame
    return W, lab


def dev_window_sets(takes: list[Take], cfg: Config, mean, std, kept):
    """Windows + labels per evaluation group (a take, or takes sharing a group name)."""
    groups: dict[str, list] = {}
    for t in takes:
        groups.setdefault(t.group or t.name, []).append(dev_windows(t, cfg, mean, std, kept))
    return [(np.concatenate([w for w, _ in g]), np.concatenate([l for _, l in g]))
            for g in groups.values()]


def cluster_scores(Z: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Agglomerative (average linkage, cosine) into the true number of labels -> (ARI, accuracy)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score
    k = len(np.unique(labels))
    pred = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(Z)
    ari = adjusted_rand_score(labels, pred)
    _, li = np.unique(labels, return_inverse=True)
    M = np.zeros((k, k))
    np.add.at(M, (li, pred), 1)
    r, c = linear_sum_assignment(-M)
    return float(ari), float(M[r, c].sum() / len(labels))


def evaluate_dev(run_fn, dev_sets, state="dec_mean"):
    """run_fn(W) -> (pred, enc, dec) numpy.  Returns per-take (ARI, acc) lists."""
    aris, accs = [], []
    for W, lab in dev_sets:
        outs = [run_fn(W[i:i + 512]) for i in range(0, len(W), 512)]
        dec = np.concatenate([o[2] for o in outs])
        Z = dec.mean(1) if state == "dec_mean" else dec[:, -1]
        a, acc = cluster_scores(Z, lab)
        aris.append(a)
        accs.append(acc)
    return aris, accs


def baseline_scores(dev_sets):
    """Plain window statistics (mean and std of the normalised input window) for comparison."""
    aris, accs = [], []
    for W, lab in dev_sets:
        Z = np.concatenate([W.mean(1), W.std(1)], 1)
        a, acc = cluster_scores(Z, lab)
        aris.append(a)
        accs.append(acc)
    return aris, accs


def plot_curve(csv_path: Path, png_path: Path, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = list(csv.DictReader(open(csv_path)))
    if not rows:
        return
    it = [int(r["iter"]) for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(it, [float(r["train_loss"]) for r in rows], label="train MSE")
    ax[0].plot(it, [float(r["val_loss"]) for r in rows], label="val MSE")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("iteration")
    ax[0].set_ylabel("MSE (normalised units)")
    ax[0].legend()
    ax[1].plot(it, [float(r["dev_ari"]) for r in rows], label="dev ARI (dec-state mean)")
    ax[1].plot(it, [float(r["dev_acc"]) for r in rows], label="dev Hungarian window acc.")
    if "baseline_ari" in rows[0]:
        ax[1].axhline(float(rows[0]["baseline_ari"]), ls="--", c="gray", label="window-stats ARI")
    ax[1].set_xlabel("iteration")
    ax[1].set_ylim(0, 1)
    ax[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def normalisation(train: list[np.ndarray]):
    allx = np.concatenate(train).astype(np.float64)
    mean = allx.mean(0)
    std = allx.std(0)
    kept = np.nonzero(std >= STD_EPS)[0]
    std_safe = np.where(std >= STD_EPS, std, 1.0)
    return mean.astype(np.float32), std_safe.astype(np.float32), kept


def sample_batch(rng, seqs, weights, B, T):
    idx = rng.choice(len(seqs), size=B, p=weights)
    out = np.empty((B, T, seqs[0].shape[1]), dtype=np.float32)
    for b, i in enumerate(idx):
        s = rng.integers(0, len(seqs[i]) - T + 1)
        out[b] = seqs[i][s:s + T]
    return out


def fixed_windows(seqs, T, step):
    W = [s[i:i + T] for s in seqs for i in range(0, len(s) - T + 1, step)]
    return np.stack(W).astype(np.float32)


def train(cfg: Config, out_dir: Path, data: Dataset | None = None, log=print) -> dict:
    torch = _torch()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    torch.use_deterministic_algorithms(True)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = (load_synthetic(cfg.seed) if cfg.dataset == "synthetic" else
                load_cmu(DEFAULT_DATA, cfg.trials, cfg.dev_trials, cfg.fps, cfg.val_frac,
                         cfg.extra_trials, cfg.extra_npy))
    mean, std, kept = normalisation(data.train)
    norm = lambda s: ((s - mean) / std)[:, kept].astype(np.float32)  # noqa: E731
    T = cfg.T_e + cfg.T_d
    train_seqs = [norm(s) for s in data.train if len(s) >= T]
    val_seqs = [norm(s) for s in data.val if len(s) >= T]
    weights = np.array([len(s) - T + 1 for s in train_seqs], dtype=np.float64)
    weights /= weights.sum()
    C = len(kept)
    val_W = fixed_windows(val_seqs, T, max(1, cfg.T_d // 2)) if val_seqs else None
    if val_W is not None and len(val_W) > 2048:
        val_W = val_W[np.linspace(0, len(val_W) - 1, 2048).astype(int)]
    dev_sets = dev_window_sets(data.dev, cfg, mean, std, kept)
    base_aris, base_accs = baseline_scores(dev_sets) if dev_sets else ([0.0], [0.0])

    model = build_model(cfg, C)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    geo = None
    if cfg.w_geodesic > 0 and data.kind == "cmu86_expmap":
        geo = make_geodesic(kept, mean, std, data.feature_columns)
    nn = torch.nn
    D_fid = D_con = None
    if cfg.w_fidelity > 0:
        D_fid = nn.Sequential(nn.Linear(C, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
    if cfg.w_continuity > 0:
        D_con = nn.GRU(C, 64, batch_first=True)
        D_con_out = nn.Linear(64, 1)
    d_params = []
    if D_fid is not None:
        d_params += list(D_fid.parameters())
    if D_con is not None:
        d_params += list(D_con.parameters()) + list(D_con_out.parameters())
    opt_d = torch.optim.Adam(d_params, lr=cfg.lr) if d_params else None
    bce = nn.BCEWithLogitsLoss()

    def d_logits(seq):  # seq [B, T_d, C] -> list of logits
        outs = []
        if D_fid is not None:
            outs.append(("fid", D_fid(seq).squeeze(-1)))
        if D_con is not None:
            o, _ = D_con(seq)
            outs.append(("con", D_con_out(o[:, -1]).squeeze(-1)))
        return outs

    def run_np(W):
        with torch.no_grad():
            p, e, d = model(torch.from_numpy(W))
        return p.numpy(), e.numpy(), d.numpy()

    def val_loss():
        if val_W is None:
            return float("nan")
        tot = 0.0
        with torch.no_grad():
            for i in range(0, len(val_W), 512):
                w = torch.from_numpy(val_W[i:i + 512])
                p, _, _ = model(w[:, :cfg.T_e])
                tot += float(((p - w[:, cfg.T_e:]) ** 2).mean()) * len(w)
        return tot / len(val_W)

    csv_path = out_dir / "monitor.csv"
    fields = ["iter", "elapsed_s", "train_cpu_s", "train_loss", "train_mse", "val_loss", "dev_ari", "dev_acc",
              "dev_ari_per_take", "baseline_ari", "baseline_acc", "checkpoint"]
    fh = open(csv_path, "w", newline="")
    wr = csv.DictWriter(fh, fieldnames=fields)
    wr.writeheader()
    meta = {"config": asdict(cfg), "data_kind": data.kind, "feature_columns": data.feature_columns,
            "train_files": data.train_files, "mean": mean.tolist(), "std": std.tolist(),
            "kept": kept.tolist(), "stride": data.stride, "fps": data.fps, "C_in": C,
            "dev_takes": [t.name for t in data.dev],
            "baseline_ari": float(np.mean(base_aris)), "baseline_acc": float(np.mean(base_accs))}
    (out_dir / "run.json").write_text(json.dumps(meta, indent=1))
    log(f"C_in={C} train windows~{int(sum(len(s) for s in train_seqs))} val={0 if val_W is None else len(val_W)} "
        f"baseline dev ARI={np.mean(base_aris):.3f} acc={np.mean(base_accs):.3f}")

    t0 = time.time()
    cpu_train = 0.0
    acc_loss, acc_mse, acc_n = 0.0, 0.0, 0
    it = 0
    best = None
    rows = []

    def checkpoint(it):
        model.eval()
        vl = val_loss()
        aris, accs = evaluate_dev(run_np, dev_sets) if dev_sets else ([float("nan")], [float("nan")])
        model.train()
        ck = out_dir / f"ckpt_{it:06d}.pt"
        torch.save(model.state_dict(), ck)
        row = {"iter": it, "elapsed_s": round(time.time() - t0, 1), "train_cpu_s": round(cpu_train, 1),
               "train_loss": acc_loss / max(acc_n, 1), "train_mse": acc_mse / max(acc_n, 1),
               "val_loss": vl, "dev_ari": float(np.mean(aris)), "dev_acc": float(np.mean(accs)),
               "dev_ari_per_take": " ".join(f"{a:.3f}" for a in aris),
               "baseline_ari": meta["baseline_ari"], "baseline_acc": meta["baseline_acc"],
               "checkpoint": ck.name}
        wr.writerow(row)
        fh.flush()
        rows.append(row)
        log(f"it {it:6d} {row['elapsed_s']:7.1f}s cpu {row['train_cpu_s']:7.1f}s train {row['train_loss']:.4f} val {vl:.4f} "
            f"ARI {row['dev_ari']:.3f} acc {row['dev_acc']:.3f} [{row['dev_ari_per_take']}]")
        return row

    model.train()
    while True:
        stop = (it >= cfg.iters or (cfg.cpu_budget_s > 0 and cpu_train >= cfg.cpu_budget_s)
                or (cfg.wall_budget_s > 0 and time.time() - t0 >= cfg.wall_budget_s))
        if it % cfg.eval_every == 0 or stop:
            if it > 0 or stop:
                checkpoint(it)
            acc_loss, acc_mse, acc_n = 0.0, 0.0, 0
            if stop:
                break
        c0 = time.process_time()
        w = torch.from_numpy(sample_batch(rng, train_seqs, weights, cfg.batch, T))
        x, target = w[:, :cfg.T_e], w[:, cfg.T_e:]
        if cfg.input_noise > 0:
            x = x + cfg.input_noise * torch.randn_like(x)
        pred, _, _ = model(x)
        mse = ((pred - target) ** 2).mean()
        loss = mse
        if geo is not None:
            loss = loss + cfg.w_geodesic * geo(pred, target)
        if opt_d is not None:
            # discriminator step (real: true future, fake: prediction)
            opt_d.zero_grad()
            dl = 0.0
            for (_, lr_), (_, lf) in zip(d_logits(target), d_logits(pred.detach())):
                dl = dl + bce(lr_, torch.ones_like(lr_)) + bce(lf, torch.zeros_like(lf))
            dl.backward()
            opt_d.step()
            for name, lf in d_logits(pred):
                wgt = cfg.w_fidelity if name == "fid" else cfg.w_continuity
                loss = loss + wgt * bce(lf, torch.ones_like(lf))
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        acc_loss += float(loss.detach())
        acc_mse += float(mse.detach())
        acc_n += 1
        it += 1
        cpu_train += time.process_time() - c0
    fh.close()
    plot_curve(csv_path, out_dir / "monitor.png",
               f"N={cfg.N} T_e={cfg.T_e} T_d={cfg.T_d} fps={cfg.fps} shared={cfg.shared} "
               f"geo={cfg.w_geodesic} fid={cfg.w_fidelity} con={cfg.w_continuity}")
    return {"rows": rows, "meta": meta}


# --------------------------------------------------------------------------------------------
# Checkpoint selection + export
# --------------------------------------------------------------------------------------------

def select_checkpoint(run_dir: Path, select: str) -> dict:
    rows = list(csv.DictReader(open(run_dir / "monitor.csv")))
    if not rows:
        raise SystemExit(f"{run_dir}/monitor.csv has no checkpoints")
    if select == "last":
        return rows[-1]
    if select == "best_val":
        return min(rows, key=lambda r: float(r["val_loss"]))
    if select == "best_ari":
        return max(rows, key=lambda r: float(r["dev_ari"]))
    if select.startswith("cpu="):  # first checkpoint at or after this many training CPU seconds
        want = float(select[4:])
        for r in rows:
            if float(r["train_cpu_s"]) >= want:
                return r
        return rows[-1]
    if select.startswith("iter="):
        want = int(select[5:])
        for r in rows:
            if int(r["iter"]) == want:
                return r
        raise SystemExit(f"no checkpoint at iteration {want}")
    raise SystemExit(f"unknown --select {select}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_run(run_dir: Path, select: str):
    torch = _torch()
    meta = json.loads((run_dir / "run.json").read_text())
    cfg = Config(**meta["config"])
    row = select_checkpoint(run_dir, select)
    model = build_model(cfg, meta["C_in"])
    model.load_state_dict(torch.load(run_dir / row["checkpoint"], map_location="cpu"))
    model.eval()
    return cfg, meta, row, model


def compact_graph(m, cfg: Config):
    """The unrolled export rewritten with ONNX GRU operators: the same weights and outputs (checked
    against PyTorch by `onnx_export`), ~110 nodes instead of ~3 600, so ONNX Runtime builds a
    session in under 0.1 s instead of ~0.8 s (measured; most of a cold run's time before).

    Encoder: one GRU over the window. Decoder: T_d single-step GRUs, each fed the previous
    prediction, with the residual readout between them. ONNX orders the gates z, r, h where PyTorch
    has r, z, n; `linear_before_reset=1` is PyTorch's GRU. ONNX Runtime takes time-major input
    only (layout 0), hence the transposes."""
    import onnx
    from onnx import helper as oh, numpy_helper as nh
    w = {i.name: nh.to_array(i) for i in m.graph.initializer}
    N, T_e, T_d = cfg.N, cfg.T_e, cfg.T_d

    def zrn(a):  # PyTorch blocks r, z, n along axis 0 -> ONNX z, r, h
        return np.concatenate([a[N:2 * N], a[:N], a[2 * N:]], 0)

    inits = []
    shared = "dWi" not in w  # shared weights: the decoder's GRU nodes read the encoder's
    for p in ("e",) if shared else ("e", "d"):
        inits += [nh.from_array(zrn(w[f"{p}Wi"].T)[None].astype(np.float32), f"{p}W"),
                  nh.from_array(zrn(w[f"{p}Wh"].T)[None].astype(np.float32), f"{p}R"),
                  nh.from_array(np.concatenate([zrn(w[f"{p}bi"]), zrn(w[f"{p}bh"])])[None]
                                .astype(np.float32), f"{p}B")]
    inits += [nh.from_array(w["Wo"].astype(np.float32), "Wo"), nh.from_array(w["bo"].astype(np.float32), "bo")]
    for name, v in (("ax0", 0), ("ax1", 1), ("last", -1), ("end", T_e)):
        inits.append(nh.from_array(np.array([v], np.int64), name))
    nodes = []

    def gru(tag, x, h0, p):
        ins = [x, f"{p}W", f"{p}R", f"{p}B"] + (["", h0] if h0 else [])
        nodes.append(oh.make_node("GRU", ins, [f"{tag}_Y", f"{tag}_Yh"], hidden_size=N, linear_before_reset=1))
        return f"{tag}_Y", f"{tag}_Yh"

    nodes.append(oh.make_node("Transpose", ["input"], ["x_t"], perm=[1, 0, 2]))        # [T_e, B, C]
    Y, h = gru("enc", "x_t", None, "e")                                                # [T_e, 1, B, N], [1, B, N]
    nodes.append(oh.make_node("Squeeze", [Y, "ax1"], ["enc_t"]))
    nodes.append(oh.make_node("Transpose", ["enc_t"], ["encoder_states"], perm=[1, 0, 2]))
    nodes.append(oh.make_node("Slice", ["x_t", "last", "end", "ax0"], ["y0"]))         # last frame [1, B, C]
    y, preds, decs = "y0", [], []
    for t in range(T_d):
        _, h = gru(f"dec{t}", y, h, "e" if shared else "d")
        nodes.append(oh.make_node("MatMul", [h, "Wo"], [f"out{t}"]))
        nodes.append(oh.make_node("Add", [f"out{t}", "bo"], [f"step{t}"]))
        nodes.append(oh.make_node("Add", [y, f"step{t}"], [f"y{t + 1}"]))
        y = f"y{t + 1}"
        preds.append(y)
        decs.append(h)
    for name, parts in (("predictions", preds), ("decoder_states", decs)):
        nodes.append(oh.make_node("Concat", parts, [f"{name}_t"], axis=0))
        nodes.append(oh.make_node("Transpose", [f"{name}_t"], [name], perm=[1, 0, 2]))
    g = oh.make_graph(nodes, "motionseg_seq2seq", list(m.graph.input), list(m.graph.output), inits)
    out = oh.make_model(g, opset_imports=[oh.make_opsetid("", OPSET)], producer_name="motionseg seq2seq.py")
    out.ir_version = m.ir_version
    return out


def cmd_compact(args) -> None:
    """Rewrites an already exported unrolled model in place with `compact_graph` (no retraining),
    after checking under ONNX Runtime that both graphs give the same outputs; updates the manifest's
    sha256 and, given `--basis`, the basis's model tie (the same function, so the same basis)."""
    import onnx
    import onnxruntime as ort
    path = Path(args.onnx)
    mpath = path.with_suffix(".json")
    man = json.loads(mpath.read_text())
    if man["onnx"]["sha256"] != sha256_file(path):
        raise SystemExit(f"{path}: sha256 does not match {mpath}")
    old = onnx.load(str(path))
    if any(n.op_type == "GRU" for n in old.graph.node):
        raise SystemExit(f"{path}: already compact")
    mm = man["model"]
    cfg = Config(N=mm["N"], T_e=mm["T_e"], T_d=mm["T_d"], shared=mm["shared_encoder_decoder"])
    new = compact_graph(old, cfg)
    onnx.checker.check_model(new)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s_old = ort.InferenceSession(old.SerializeToString(), so, providers=["CPUExecutionProvider"])
    s_new = ort.InferenceSession(new.SerializeToString(), so, providers=["CPUExecutionProvider"])
    C = len(man["normalisation"]["kept_channels"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for B in (1, 5, 32):
        x = rng.standard_normal((B, cfg.T_e, C)).astype(np.float32)
        for name, a, b in zip(["predictions", "encoder_states", "decoder_states"],
                              s_old.run(None, {"input": x}), s_new.run(None, {"input": x})):
            if a.shape != b.shape:
                raise SystemExit(f"{name}: shape {b.shape} instead of {a.shape}")
            worst = max(worst, float(np.abs(a - b).max()))
    if worst > 1e-5:
        raise SystemExit(f"compact graph differs from {path} by {worst:.2e} (limit 1e-5)")
    before = man["onnx"]["sha256"]
    if args.basis:  # checked before anything is written, so a refusal leaves every file as it was
        bpath = Path(args.basis)
        if json.loads(bpath.read_text()).get("model_sha256") != before:
            raise SystemExit(f"{bpath}: fitted on another model, not {path}")
    onnx.save(new, str(path))
    man["onnx"]["sha256"] = sha256_file(path)
    mpath.write_text(json.dumps(man, indent=1) + "\n")
    print(f"{path}: {len(old.graph.node)} -> {len(new.graph.node)} nodes, max abs difference {worst:.1e}, "
          f"sha256 {before} -> {man['onnx']['sha256']}")
    if args.basis:
        text = bpath.read_text().replace(before, man["onnx"]["sha256"], 1)
        bpath.write_text(text)
        print(f"{bpath}: model_sha256 updated")


def onnx_export(model, cfg: Config, C: int, path: Path, verify: bool = True, log=print,
                compact: bool = True) -> dict:
    torch = _torch()
    un = build_unrolled(model, cfg)
    x = torch.randn(3, cfg.T_e, C)
    path.parent.mkdir(parents=True, exist_ok=True)
    kw = dict(input_names=["input"], output_names=["predictions", "encoder_states", "decoder_states"],
              opset_version=OPSET,
              dynamic_axes={"input": {0: "batch"}, "predictions": {0: "batch"},
                            "encoder_states": {0: "batch"}, "decoder_states": {0: "batch"}})
    try:
        torch.onnx.export(un, (x,), str(path), dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(un, (x,), str(path), **kw)
    import onnx
    if compact:
        m = compact_graph(onnx.load(str(path)), cfg)
        onnx.checker.check_model(m)
        onnx.save(m, str(path))
    else:
        onnx.checker.check_model(onnx.load(str(path)))
    report = {}
    if verify:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for B in (1, 5):
            xb = torch.randn(B, cfg.T_e, C)
            with torch.no_grad():
                ref = [t.numpy() for t in model(xb)]
                ref_un = [t.numpy() for t in un(xb)]
            got = sess.run(None, {"input": xb.numpy()})
            for name, r, ru, g in zip(["predictions", "encoder_states", "decoder_states"], ref, ref_un, got):
                assert g.shape == r.shape, (name, g.shape, r.shape)
                err = float(np.abs(g - r).max())
                err_un = float(np.abs(ru - r).max())
                report[f"{name}_B{B}_maxabs"] = err
                if err > 1e-4 or err_un > 1e-4:
                    raise SystemExit(f"ONNX/PyTorch mismatch on {name} (B={B}): {err} / {err_un}")
        log("verified ONNX vs PyTorch: " + ", ".join(f"{k}={v:.1e}" for k, v in report.items()))
    return report


def manifest_for(cfg: Config, meta: dict, onnx_path: Path, extra: dict | None = None) -> dict:
    kept = meta["kept"]
    fc = meta["feature_columns"]
    C = len(kept)
    man = {
        "format_version": FORMAT_VERSION,
        "model": {"kind": "gru_seq2seq_residual", "N": cfg.N, "T_e": cfg.T_e, "T_d": cfg.T_d,
                  "shared_encoder_decoder": cfg.shared,
                  "encoder_initial_state": "zeros",
                  "decoder_first_input": "last encoder input frame",
                  "decoder_initial_state": "last encoder state",
                  "readout": "y_t = y_{t-1} + Linear(h_t) (residual)"},
        "onnx": {"file": onnx_path.name, "sha256": sha256_file(onnx_path), "opset": OPSET,
                 "inputs": [{"name": "input", "shape": ["batch", cfg.T_e, C], "dtype": "float32"}],
                 "outputs": [
                     {"name": "predictions", "shape": ["batch", cfg.T_d, C], "dtype": "float32",
                      "meaning": "normalised kept-channel predictions of the next T_d frames"},
                     {"name": "encoder_states", "shape": ["batch", cfg.T_e, cfg.N], "dtype": "float32"},
                     {"name": "decoder_states", "shape": ["batch", cfg.T_d, cfg.N], "dtype": "float32"}]},
        "frame_rate": {"model_fps": meta["fps"], "source_fps": SOURCE_FPS if meta["data_kind"] != "synthetic" else meta["fps"],
                       "resample": {"method": "decimate", "stride": meta["stride"],
                                    "rule": "keep source frames whose 0-based index i satisfies "
                                            "i % stride == 0; no filtering"}},
        "input_transform": None,
        "normalisation": {
            "kept_channels": kept,
            "kept_channel_names": [fc[i] for i in kept],
            "mean": [meta["mean"][i] for i in kept],
            "std": [meta["std"][i] for i in kept],
            "rule": "input[c] = (feature[kept_channels[c]] - mean[c]) / std[c]",
            "drop_rule": f"feature channels with training std < {STD_EPS} are dropped",
            "full_mean": meta["mean"], "full_std": meta["std"]},
        "window": {"length": cfg.T_e, "rows": "consecutive resampled frames, oldest first",
                   "encoder_starts_from_zero_state": True},
        "training": {"files": meta["train_files"], "labels_used": False,
                     "config": {k: v for k, v in asdict(cfg).items() if k not in ("threads",)}},
    }
    if meta["data_kind"] == "cmu86_expmap":
        man["input_transform"] = {
            "raw_layout": {"channels": 96, "columns": RAW_COLUMNS, "joints": BONES,
                           "doc": "canonical CMU exp-map frame: root translation (AMC units) then 31 "
                                  "bones x exp-map (radians), bone order = root then 86.asf order"},
            "root_transform": ROOT_TRANSFORM_DOC,
            "feature_columns": fc,
            "order": ["resample (decimate)", "root_transform", "select kept_channels",
                      "normalise (mean/std)"],
        }
    else:
        man["input_transform"] = {"raw_layout": {"channels": len(fc), "columns": fc},
                                  "root_transform": {"name": "none"}, "feature_columns": fc,
                                  "order": ["select kept_channels", "normalise (mean/std)"]}
    if extra:
        man.update(extra)
    return man


def cmd_export(args):
    torch = _torch()
    torch.set_num_threads(1)
    run_dir = Path(args.run)
    cfg, meta, row, model = load_run(run_dir, args.select)
    out = Path(args.out)
    onnx_export(model, cfg, meta["C_in"], out)
    vl = float(row["val_loss"])
    man = manifest_for(cfg, meta, out, {"checkpoint": {
        # null without a validation split (e.g. training on --extra-npy takes alone): JSON has no NaN
        "iter": int(row["iter"]), "select": args.select, "val_loss": vl if math.isfinite(vl) else None,
        "dev_ari": float(row["dev_ari"]), "dev_acc": float(row["dev_acc"]),
        "dev_takes": meta["dev_takes"]}})
    mpath = out.with_suffix(".json")
    mpath.write_text(json.dumps(man, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} B, sha256 {man['onnx']['sha256']}) and {mpath}")
    if args.curve_dir:
        import shutil
        cd = Path(args.curve_dir)
        shutil.copy(run_dir / "monitor.csv", cd / (out.stem + ".monitor.csv"))
        plot_curve(run_dir / "monitor.csv", cd / (out.stem + ".monitor.png"),
                   f"{out.name}: N={cfg.N} T_e={cfg.T_e} T_d={cfg.T_d} fps={cfg.fps} "
                   f"geo={cfg.w_geodesic} fid={cfg.w_fidelity} con={cfg.w_continuity}; "
                   f"exported checkpoint: iter {row['iter']} ({args.select})")


# --------------------------------------------------------------------------------------------
# Synthetic reproduction, fixture, bench
# --------------------------------------------------------------------------------------------

def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_synthetic(out_dir: Path, iters: int = 600, seed: int = 0, log=print) -> dict:
    """Paper Fig. 3-5: circle vs ellipse, T_e = T_d = 50, GRU 16 units.  Trains, exports, runs the
    ONNX model under ONNX Runtime and clusters the mean decoder state per window into 2 groups."""
    cfg = Config(N=16, T_e=50, T_d=50, fps=1.0, dataset="synthetic", seed=seed, iters=iters,
                 eval_every=max(iters // 3, 1), batch=16, lr=3e-3, hop=5, val_frac=0.0)
    res = train(cfg, out_dir, log=log)
    cfg2, meta, row, model = load_run(out_dir, "last")
    onnx_path = out_dir / "synthetic.onnx"
    onnx_export(model, cfg2, meta["C_in"], onnx_path, log=log)
    man = manifest_for(cfg2, meta, onnx_path)
    onnx_path.with_suffix(".json").write_text(json.dumps(man, indent=1) + "\n")
    sess = ort_session(onnx_path)
    data = load_synthetic(seed)
    mean, std, kept = np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32), np.array(meta["kept"])
    (W, lab), = dev_window_sets(data.dev, cfg2, mean, std, kept)
    _, _, dec = sess.run(None, {"input": W})
    Z = dec.mean(1)
    ari, acc = cluster_scores(Z, lab)
    log(f"synthetic: ONNX decoder-state clustering ARI={ari:.3f} acc={acc:.3f} "
        f"({len(Z)} windows, last train loss {res['rows'][-1]['train_loss']:.4f})")
    return {"ari": ari, "acc": acc, "onnx": str(onnx_path), "Z": Z, "labels": lab}


def make_fixture(out: Path, seed: int = 0):
    """Tiny random-weight model (N=4, T_e=10, T_d=5, 30 fps) with the real CMU input transform and
    normalisation statistics from CMU 86 dev takes, so Rust tests exercise the full contract."""
    torch = _torch()
    torch.manual_seed(seed)
    cfg = Config(N=4, T_e=10, T_d=5, fps=30.0, shared=True, seed=seed, iters=0)
    try:
        data = load_cmu(DEFAULT_DATA, ["01", "03", "05", "07"], [], cfg.fps, cfg.val_frac)
    except FileNotFoundError:
        raise SystemExit(f"fixture needs the CMU 86 data under {DEFAULT_DATA} (set MOTIONSEG_DATA)")
    mean, std, kept = normalisation(data.train)
    model = build_model(cfg, len(kept)).eval()
    meta = {"kept": kept.tolist(), "feature_columns": data.feature_columns, "mean": mean.tolist(),
            "std": std.tolist(), "fps": data.fps, "stride": data.stride, "data_kind": data.kind,
            "train_files": data.train_files + ["(normalisation only; weights are random)"],
            "C_in": len(kept)}
    # Unrolled, as the fixture was always exported: the Rust tests then cover that graph form
    # too (the shipped model is compact), and `compact` has a model to be tested on.
    onnx_export(model, cfg, len(kept), out, compact=False)
    man = manifest_for(cfg, meta, out, {"fixture": "random weights (torch.manual_seed(%d)); for tests only" % seed})
    out.with_suffix(".json").write_text(json.dumps(man, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} B)")
    # Golden transform + inference check for the Rust side: raw rows -> features -> model input -> outputs.
    raw_all = np.load(DEFAULT_DATA / "cmu" / "86" / "expmap" / "86_01.npy")
    start = int(np.nonzero(np.linalg.norm(raw_all[:, 3:6], axis=1) > 3.1)[0][0])  # near the +-pi wrap
    start -= start % data.stride
    n_raw = (cfg.T_e + 2) * data.stride
    raw = raw_all[start:start + n_raw]
    feats = mocap_features(raw, data.stride, 0)
    x = ((feats - mean) / std)[:, kept].astype(np.float32)
    sess = ort_session(out)
    p, e, dd = sess.run(None, {"input": x[None, :cfg.T_e]})
    check = {
        "doc": "raw rows are consecutive 120 fps frames of 86_01.npy starting at source_start (a multiple "
               "of the stride, so the decimation keeps raw rows 0, stride, 2*stride, ... of this excerpt "
               "and velocity is 0 at its first kept frame, as at the start of a stream). features = the "
               "100 feature_columns; model_input = normalised kept channels; outputs are for the first "
               "window (model_input rows 0..T_e-1), batch 1. Compare with tolerance ~1e-4.",
        "model": out.name, "source": "cmu/86/expmap/86_01.npy", "source_start": start,
        "raw": raw.tolist(), "features": feats.tolist(), "model_input": x.tolist(),
        "predictions": p[0].tolist(), "encoder_states": e[0].tolist(), "decoder_states": dd[0].tolist()}
    cpath = out.with_name(out.stem + ".golden.json")
    cpath.write_text(json.dumps(check) + "\n")
    print(f"wrote {cpath}")


def bench(path: Path, batch: int = 32, threads: int = 2, seconds: float = 3.0, cpu: bool = False) -> float:
    sess = ort_session(path, threads)
    shp = sess.get_inputs()[0].shape
    x = np.random.default_rng(0).standard_normal((batch, shp[1], shp[2])).astype(np.float32)
    for _ in range(3):
        sess.run(None, {"input": x})
    n, t0 = 0, time.perf_counter()
    times, cpus = [], []
    while time.perf_counter() - t0 < seconds or n < 5:
        t1, c1 = time.perf_counter(), time.process_time()
        sess.run(None, {"input": x})
        times.append(time.perf_counter() - t1)
        cpus.append(time.process_time() - c1)
        n += 1
    if cpu:  # CPU seconds of this process per window: robust to other load, for 1 thread
        return float(np.median(cpus) / batch * 1000)
    return float(np.median(times) / batch * 1000)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def cmd_analyse(args):
    """Which state summary clusters best on the dev takes (ARI / window acc., average-linkage cosine)?"""
    torch = _torch()
    torch.set_num_threads(1)
    cfg, meta, row, model = load_run(Path(args.run), args.select)
    data = load_cmu(DEFAULT_DATA, [], cfg.dev_trials, cfg.fps, 0.0)
    mean, std, kept = (np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32),
                       np.array(meta["kept"]))
    sets = dev_window_sets(data.dev, cfg, mean, std, kept)
    print(f"run {args.run} checkpoint iter {row['iter']} ({args.select})")
    res: dict[str, list] = {}
    for W, lab in sets:
        with torch.no_grad():
            outs = [model(torch.from_numpy(W[i:i + 256])) for i in range(0, len(W), 256)]
        enc = np.concatenate([o[1].numpy() for o in outs])
        dec = np.concatenate([o[2].numpy() for o in outs])
        S = np.concatenate([enc, dec], 1)  # [n, T_e+T_d, N]
        # POD basis of the stacked state matrix (as the Rust pipeline does), 90 % energy
        flat = S.reshape(-1, S.shape[-1])
        mu = flat.mean(0)
        _, sv, Vt = np.linalg.svd(flat[:: max(1, len(flat) // 20000)] - mu, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(sv ** 2) / np.sum(sv ** 2), 0.90) + 1)
        cand = {"dec_mean": dec.mean(1), "dec_last": dec[:, -1], "enc_last": enc[:, -1],
                "enc_dec_mean": S.mean(1), "pod90_dec_mean": ((dec - mu) @ Vt[:k].T).mean(1),
                "window_stats": np.concatenate([W.mean(1), W.std(1)], 1)}
        for name, Z in cand.items():
            res.setdefault(name, []).append(cluster_scores(Z, lab))
    for name, v in res.items():
        a = np.array(v)
        print(f"  {name:16s} ARI {a[:, 0].mean():.3f}  acc {a[:, 1].mean():.3f}  per take "
              + " ".join(f"{x:.2f}" for x in a[:, 0]))


def cmd_table(args):
    """Markdown table row per run: val loss, dev ARI/acc, ONNX size, ms/window (ORT, batch 32)."""
    torch = _torch()
    torch.set_num_threads(1)
    print("| run | N | checkpoint (iter, train CPU s) | val MSE | dev ARI | dev window acc. | ONNX size | CPU ms/window (1 thread) | wall ms/window 1 thread | wall ms/window 2 threads |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        run_dir = Path(run)
        cfg, meta, row, model = load_run(run_dir, args.select)
        out = run_dir / f"table_{row['iter']}.onnx"
        onnx_export(model, cfg, meta["C_in"], out, log=lambda *_: None)
        ms1c = bench(out, 32, 1, args.seconds, cpu=True)
        ms1 = bench(out, 32, 1, args.seconds)
        ms2 = bench(out, 32, 2, args.seconds)
        print(f"| {run_dir.name} | {cfg.N} | {row['iter']}, {float(row['train_cpu_s']):.0f} | "
              f"{float(row['val_loss']):.4f} | {float(row['dev_ari']):.3f} | {float(row['dev_acc']):.3f} | "
              f"{out.stat().st_size / 1e6:.2f} MB | {ms1c:.3f} | {ms1:.3f} | {ms2:.3f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train")
    d = Config()
    for k, v in asdict(d).items():
        if isinstance(v, bool):
            tr.add_argument(f"--{k.replace('_', '-')}", dest=k, type=lambda s: s.lower() in ("1", "true", "yes"), default=v)
        elif k == "extra_npy":
            tr.add_argument("--extra-npy", dest=k, nargs="+", default=v, metavar="NPY",
                            help="extra unlabeled takes, raw [frames, 96] exp-map layout at 120 fps (as written by "
                                 "`motionseg inspect TAKE.amc --asf cmu/86/86.asf --features OUT.npy`), used whole "
                                 "for training; the normalisation is computed over them too")
        elif isinstance(v, list):
            tr.add_argument(f"--{k.replace('_', '-')}", dest=k, type=lambda s: [x for x in s.split(",") if x], default=v)
        else:
            tr.add_argument(f"--{k.replace('_', '-')}", dest=k, type=type(v), default=v)
    tr.add_argument("--out", required=True, help="run directory (checkpoints, monitor.csv/png)")
    ex = sub.add_parser("export")
    ex.add_argument("--run", required=True)
    ex.add_argument("--select", default="best_ari", help="best_ari | best_val | last | iter=N")
    ex.add_argument("--out", required=True, help="path of the .onnx file; manifest goes next to it (.json)")
    ex.add_argument("--curve-dir", default=None, help="copy monitor.csv/png next to the model here")
    cp = sub.add_parser("compact", help="rewrite an exported unrolled model with ONNX GRU operators (same outputs)")
    cp.add_argument("--onnx", required=True, help="the .onnx file; its manifest (.json beside it) is updated")
    cp.add_argument("--basis", default=None, help="a basis fitted on this model: its model_sha256 is updated")
    sy = sub.add_parser("synthetic")
    sy.add_argument("--out", required=True)
    sy.add_argument("--iters", type=int, default=600)
    sy.add_argument("--seed", type=int, default=0)
    fx = sub.add_parser("fixture")
    fx.add_argument("--out", required=True)
    be = sub.add_parser("bench")
    be.add_argument("models", nargs="+")
    be.add_argument("--batch", type=int, default=32)
    be.add_argument("--threads", type=int, default=2)
    an = sub.add_parser("analyse")
    an.add_argument("run")
    an.add_argument("--select", default="last")
    tb = sub.add_parser("table")
    tb.add_argument("runs", nargs="+")
    tb.add_argument("--select", default="last")
    tb.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    if args.cmd == "train":
        cfg = Config(**{k: getattr(args, k) for k in asdict(d)})
        train(cfg, Path(args.out))
    elif args.cmd == "export":
        cmd_export(args)
    elif args.cmd == "compact":
        cmd_compact(args)
    elif args.cmd == "synthetic":
        _torch().set_num_threads(1)
        r = run_synthetic(Path(args.out), args.iters, args.seed)
        if r["ari"] < 1.0:
            sys.exit(f"synthetic reproduction did not separate the shapes (ARI {r['ari']:.3f})")
    elif args.cmd == "fixture":
        make_fixture(Path(args.out))
    elif args.cmd == "analyse":
        cmd_analyse(args)
    elif args.cmd == "table":
        cmd_table(args)
    elif args.cmd == "bench":
        for m in args.models:
            ms = bench(Path(m), args.batch, args.threads)
            print(f"{m}: {ms:.3f} ms/window (batch {args.batch}, {args.threads} threads, "
                  f"{os.path.getsize(m)} B)")


if __name__ == "__main__":
    main()
