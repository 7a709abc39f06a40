"""Smoke tests of the whole train -> export -> ONNX Runtime path (CI: a couple of minutes, 2 cores).

Run from the repository root:  .venv/bin/python -m pytest models/tests -q
Needs no real data: the mocap path trains on generated 96-column takes with the real layout."""

import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(MODELS))
import seq2seq as s2s  # noqa: E402

OUTPUTS = ["predictions", "encoder_states", "decoder_states"]


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch
    torch.set_num_threads(1)


def _fake_cmu(root: Path, trials, frames=1200, seed=0):
    """Smooth random 96-column takes (root translation + exp-maps) and 2-label ACA CSVs."""
    rng = np.random.default_rng(seed)
    d = root / "cmu" / "86" / "expmap"
    ld = root / "cmu" / "86" / "labels" / "aca"
    d.mkdir(parents=True)
    ld.mkdir(parents=True)
    for t in trials:
        x = np.cumsum(rng.standard_normal((frames, 96)) * 0.01, axis=0)
        x[:, 6:9] = 0.0  # a missing-DOF bone, as in the real data (dropped channel)
        half = frames // 2
        x[half:, 10:20] += np.sin(np.arange(frames - half) / 7.0)[:, None]  # second "action"
        np.save(d / f"86_{t}.npy", x.astype(np.float32))
        with open(ld / f"86_{t}.csv", "w") as fh:
            fh.write(f"start,end,label,end_lo,end_hi\n0,{half},a,{half},{half}\n"
                     f"{half},{frames},b,{frames},{frames}\n")


def _check_model(onnx_path: Path, man: dict):
    import onnxruntime as ort
    assert man["format_version"] == s2s.FORMAT_VERSION
    assert man["onnx"]["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert man["onnx"]["opset"] == s2s.OPSET
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert [o.name for o in sess.get_outputs()] == OUTPUTS
    m = man["model"]
    C = len(man["normalisation"]["kept_channels"])
    assert len(man["normalisation"]["mean"]) == C == len(man["normalisation"]["std"])
    for B in (1, 7):  # dynamic batch
        x = np.random.default_rng(B).standard_normal((B, m["T_e"], C)).astype(np.float32)
        p, e, d = sess.run(None, {"input": x})
        assert p.shape == (B, m["T_d"], C)
        assert e.shape == (B, m["T_e"], m["N"])
        assert d.shape == (B, m["T_d"], m["N"])
        assert np.isfinite(p).all() and np.isfinite(d).all()


def test_heading_invariance():
    """Rotating a take about the vertical axis (and moving it) leaves the features unchanged."""
    rng = np.random.default_rng(1)
    raw = np.zeros((40, 96), np.float32)
    raw[:, 0:3] = np.cumsum(rng.standard_normal((40, 3)), 0)
    raw[:, 3:6] = rng.uniform(-1.5, 1.5, (40, 3))
    raw[:, 6:] = rng.standard_normal((40, 90))
    a = 0.7
    G = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = raw.copy().astype(np.float64)
    moved[:, 0:3] = raw[:, 0:3] @ G.T + np.array([5.0, 0.0, -3.0])
    # the layout's matrix is the transpose of the body orientation: A' = A G^T
    from scipy.spatial.transform import Rotation
    A = s2s.rodrigues(raw[:, 3:6])
    moved[:, 3:6] = Rotation.from_matrix(A @ G.T).as_rotvec()
    f0 = s2s.mocap_features(raw, 1)
    f1 = s2s.mocap_features(moved, 1)
    assert f0.shape == (40, 100)
    np.testing.assert_allclose(f0[1:], f1[1:], atol=2e-4)


def test_mocap_train_export(tmp_path):
    _fake_cmu(tmp_path / "data", ["01", "03"])
    cfg = s2s.Config(N=8, T_e=10, T_d=5, fps=30.0, iters=30, eval_every=15, batch=8,
                     trials=["01", "03"], dev_trials=["01"], w_geodesic=0.1, w_fidelity=0.01,
                     w_continuity=0.01)
    data = s2s.load_cmu(tmp_path / "data", cfg.trials, cfg.dev_trials, cfg.fps, cfg.val_frac)
    run = tmp_path / "run"
    s2s.train(cfg, run, data=data, log=lambda *_: None)
    rows = list(csv.DictReader(open(run / "monitor.csv")))
    assert [int(r["iter"]) for r in rows] == [15, 30]
    assert (run / "monitor.png").stat().st_size > 0
    out = tmp_path / "m.onnx"
    s2s.main(["export", "--run", str(run), "--select", "best_ari", "--out", str(out)])
    man = json.loads(out.with_suffix(".json").read_text())
    assert man["normalisation"]["kept_channels"] == [i for i in range(100) if i not in (10, 11, 12)]
    assert man["input_transform"]["root_transform"]["name"] == "heading_frame_velocity_height_rot6d"
    assert man["frame_rate"]["resample"]["stride"] == 4
    import onnx
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("GRU") == 1 + cfg.T_d and len(ops) < 10 * cfg.T_d, ops  # the compact graph
    _check_model(out, man)


def test_compact_rewrites_an_unrolled_model(tmp_path):
    """`compact` turns the unrolled fixture (exported before the compact graph) into GRU operators
    with the same outputs, and moves the manifest's sha256 and a basis's tie along."""
    import onnx
    import onnxruntime as ort
    for ext in (".onnx", ".json"):
        (tmp_path / f"m{ext}").write_bytes((MODELS / f"fixture_tiny{ext}").read_bytes())
    old_sha = json.loads((tmp_path / "m.json").read_text())["onnx"]["sha256"]
    basis = tmp_path / "b.json"
    basis.write_text(json.dumps({"format": "motionseg-pod-basis", "model_sha256": "0" * 64}))
    unrolled = (tmp_path / "m.onnx").read_bytes()
    with pytest.raises(SystemExit, match="fitted on another model"):
        s2s.main(["compact", "--onnx", str(tmp_path / "m.onnx"), "--basis", str(basis)])
    assert (tmp_path / "m.onnx").read_bytes() == unrolled  # a refusal writes nothing
    basis.write_text(json.dumps({"format": "motionseg-pod-basis", "model_sha256": old_sha}))
    before = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).standard_normal((4, 10, before.get_inputs()[0].shape[2])).astype(np.float32)
    want = before.run(None, {"input": x})
    s2s.main(["compact", "--onnx", str(tmp_path / "m.onnx"), "--basis", str(basis)])
    man = json.loads((tmp_path / "m.json").read_text())
    assert man["onnx"]["sha256"] != old_sha
    assert json.loads(basis.read_text())["model_sha256"] == man["onnx"]["sha256"]
    assert sum(n.op_type == "GRU" for n in onnx.load(str(tmp_path / "m.onnx")).graph.node) == 1 + 5
    _check_model(tmp_path / "m.onnx", man)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    for a, b in zip(want, got):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(SystemExit, match="already compact"):
        s2s.main(["compact", "--onnx", str(tmp_path / "m.onnx")])


def test_extra_takes_alone(tmp_path, monkeypatch):
    """`train --trials "" --extra-npy ...` trains on the extra takes alone (no validation split), and the
    exported manifest stays strict JSON (val_loss null, not NaN)."""
    _fake_cmu(tmp_path / "data", ["01"])
    monkeypatch.setattr(s2s, "DEFAULT_DATA", tmp_path / "data")
    extra = tmp_path / "other_subject.npy"
    rng = np.random.default_rng(2)
    np.save(extra, np.cumsum(rng.standard_normal((1200, 96)) * 0.01, axis=0).astype(np.float32))
    run = tmp_path / "run"
    s2s.main(["train", "--out", str(run), "--N", "8", "--T-e", "10", "--T-d", "5", "--iters", "30",
              "--eval-every", "15", "--batch", "8", "--trials", "", "--dev-trials", "01",
              "--extra-npy", str(extra)])
    cfg = json.loads((run / "run.json").read_text())
    assert cfg["config"]["trials"] == []
    out = tmp_path / "m.onnx"
    s2s.main(["export", "--run", str(run), "--select", "last", "--out", str(out)])

    def no_constants(c):
        raise AssertionError(f"manifest holds {c}, which is not JSON")
    man = json.loads(out.with_suffix(".json").read_text(), parse_constant=no_constants)
    assert man["checkpoint"]["val_loss"] is None
    assert [f for f in man["training"]["files"] if "expmap" in f] == []
    _check_model(out, man)


def test_synthetic_reproduction(tmp_path):
    """Paper Fig. 3-5: circle vs ellipse, T_e = T_d = 50, 16 GRU units: ONNX decoder states separate."""
    r = s2s.run_synthetic(tmp_path, iters=300, log=lambda *_: None)
    assert r["ari"] == 1.0
    man = json.loads(Path(r["onnx"]).with_suffix(".json").read_text())
    assert man["model"]["N"] == 16 and man["model"]["T_e"] == 50 and man["model"]["T_d"] == 50
    _check_model(Path(r["onnx"]), man)


@pytest.mark.parametrize("name", ["fixture_tiny", "motionseg_default"])
def test_shipped_models(name):
    onnx_path = MODELS / f"{name}.onnx"
    if not onnx_path.exists():
        pytest.skip(f"{onnx_path.name} not shipped yet")
    man = json.loads(onnx_path.with_suffix(".json").read_text())
    assert man["onnx"]["file"] == onnx_path.name
    _check_model(onnx_path, man)
