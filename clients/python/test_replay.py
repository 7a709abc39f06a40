#!/usr/bin/env python3
"""The Python grpcio client against a real `motionseg serve` on an ephemeral loopback port.

Run by scripts/test.sh (plain script, no pytest needed; exits non-zero on the first failure):

    .venv/bin/python clients/python/test_replay.py --bin target/release/motionseg

Checks, with stubs generated from proto/ at test time: ListModels and Health answer; the bundled
take's first 1500 frames streamed from Python give events and a summary whose final segments
equal `motionseg segment` on the same frames; a NaN frame gets INVALID_ARGUMENT naming its
sequence number; K = 0 gets INVALID_ARGUMENT; synthetic frames of the width ListModels reports
are accepted.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replay as client  # noqa: E402

REPO = client.REPO
FRAMES = 1500


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


def start_server(binary):
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--idle-timeout", "20"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"motionseg serve did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def main():
    import grpc
    import numpy as np

    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("MOTIONSEG_BIN", "target/release/motionseg"))
    args = ap.parse_args()
    binary = os.path.abspath(os.path.join(REPO, args.bin))

    tmp = tempfile.mkdtemp(prefix="motionseg_py_")
    pb2, pb2_grpc = client.load_stubs(os.path.join(tmp, "stubs"))

    # The bundled take's canonical features, cut to FRAMES frames.
    full = os.path.join(tmp, "86_01.npy")
    subprocess.run(
        [binary, "inspect", "examples/data/86_01.amc", "--asf", "examples/data/86.asf",
         "--features", full],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL,
    )
    frames = np.load(full)[:FRAMES].astype("float32")
    cut = os.path.join(tmp, "86_01_cut.npy")
    np.save(cut, frames)

    proc, addr = start_server(binary)
    try:
        with grpc.insecure_channel(addr) as channel:
            stub = pb2_grpc.SegmentationStub(channel)
            health = stub.Health(pb2.HealthRequest())
            check(health.status == pb2.HealthResponse.SERVING, "Health says SERVING")
            models = stub.ListModels(pb2.ListModelsRequest()).models
            check(len(models) == 1 and models[0].is_default, "ListModels lists the default model")
            check(models[0].channels == frames.shape[1], f"{frames.shape[1]} channels per frame")

            counts, summary = client.replay(stub, pb2, frames.tolist(), 120.0, actions=4)
            check(counts.get("started") == 1, "SessionStarted first")
            check(counts.get("event", 0) > 0, f"{counts.get('event', 0)} segment events arrived")
            check(counts.get("window", 0) == summary.windows > 0, f"{summary.windows} windows")
            check(summary.frames_received == FRAMES, "every frame received")
            check(summary.reason == pb2.END_REASON_CLIENT_END, "ended by the client")
            got = [(s.start_frame, s.end_frame, s.label if s.HasField("label") else -1)
                   for s in summary.segments]

            # The same frames through the batch labeler.
            out = subprocess.run(
                [binary, "segment", cut, "--fps", "120", "--actions", "4"],
                cwd=REPO, check=True, capture_output=True, text=True,
            ).stdout
            want = [(j["start_frame"], j["end_frame"], j["label"])
                    for j in map(json.loads, out.splitlines())]
            check(got == want, f"final segments equal `motionseg segment`: {got}")

            bad = frames[:300].tolist()
            bad[250][3] = float("nan")
            try:
                client.replay(stub, pb2, bad, 120.0)
                check(False, "a NaN frame is refused")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.INVALID_ARGUMENT
                      and "seq=250 values[3]" in e.details(),
                      f"NaN frame: {e.code().name}: {e.details()}")
            try:
                client.replay(stub, pb2, frames[:10].tolist(), 120.0, actions=0)
                check(False, "K = 0 is refused")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "actions" in e.details(),
                      f"K = 0: {e.code().name}: {e.details()}")

            synthetic = client.synthetic_frames(400, models[0].channels, 120.0)
            counts, summary = client.replay(stub, pb2, synthetic, 120.0, actions=1)
            check(summary.frames_received == 400 and summary.segments,
                  "synthetic frames of the listed width are labeled")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("python client: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
