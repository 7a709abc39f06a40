#!/usr/bin/env python3
"""Streams a take to a running `motionseg serve` with plain grpcio and prints what comes back.

Shows that capture software outside Rust can use proto/motionseg/v1/motionseg.proto with its
ordinary gRPC tooling: the Python stubs are generated from the proto at run time with
grpcio-tools (which bundles protoc), nothing is copied from the Rust side.

    python clients/python/replay.py FEATURES.npy --server 127.0.0.1:50051 [--fps 120] [--actions K]

FEATURES.npy is the canonical feature matrix `[frames, channels]` (float32), as written by
`motionseg inspect TAKE --features FEATURES.npy`; `--synthetic N` streams N frames of smooth
synthetic motion of the width ListModels reports instead.
"""

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_ROOT = os.path.join(REPO, "proto")
PROTO = "motionseg/v1/motionseg.proto"


def load_stubs(out_dir=None):
    """Generates the message and service modules from the proto; returns (pb2, pb2_grpc)."""
    from grpc_tools import protoc

    out_dir = out_dir or tempfile.mkdtemp(prefix="motionseg_pb_")
    os.makedirs(out_dir, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_ROOT, PROTO),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"grpc_tools.protoc failed on {PROTO}")
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("motionseg.v1.motionseg_pb2")
    pb2_grpc = importlib.import_module("motionseg.v1.motionseg_pb2_grpc")
    return pb2, pb2_grpc


def synthetic_frames(n, channels, fps):
    """Smooth periodic motion: each channel a slow sine with its own phase (radians)."""
    return [
        [0.3 * math.sin(2 * math.pi * 0.5 * i / fps + c) for c in range(channels)]
        for i in range(n)
    ]


def requests(pb2, frames, fps, actions=None, speed=0.0, hop=None):
    """The session's client messages: start, frames (paced at `speed` x real time), end."""
    start = pb2.SessionStart(channels=len(frames[0]), fps=fps, skeleton="python-client")
    if actions is not None:
        start.actions = actions
    if hop is not None:
        start.hop = hop
    yield pb2.ClientMessage(start=start)
    t0 = time.monotonic()
    for i, row in enumerate(frames):
        if speed > 0:
            delay = t0 + i / (fps * speed) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = pb2.PoseFrame(seq=i, timestamp_us=int(i * 1e6 / fps), values=row)
        yield pb2.ClientMessage(frame=frame)
    yield pb2.ClientMessage(end=pb2.EndOfStream())


def replay(stub, pb2, frames, fps, actions=None, speed=0.0, hop=None, on_message=None):
    """Runs one session; returns (messages by kind, summary)."""
    counts = {}
    summary = None
    for msg in stub.Segment(requests(pb2, frames, fps, actions, speed, hop)):
        kind = msg.WhichOneof("msg")
        counts[kind] = counts.get(kind, 0) + 1
        if on_message:
            on_message(msg)
        if kind == "summary":
            summary = msg.summary
    return counts, summary


def main():
    import grpc
    from google.protobuf import json_format

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features", nargs="?", help="canonical feature matrix (.npy)")
    ap.add_argument("--server", default="127.0.0.1:50051")
    ap.add_argument("--fps", type=float, default=120.0)
    ap.add_argument("--actions", type=int)
    ap.add_argument("--speed", type=float, default=1.0, help="0 = as fast as possible")
    ap.add_argument("--synthetic", type=int, metavar="N", help="stream N synthetic frames")
    args = ap.parse_args()

    pb2, pb2_grpc = load_stubs()
    with grpc.insecure_channel(args.server) as channel:
        stub = pb2_grpc.SegmentationStub(channel)
        models = stub.ListModels(pb2.ListModelsRequest()).models
        if args.synthetic:
            frames = synthetic_frames(args.synthetic, models[0].channels, args.fps)
        elif args.features:
            import numpy as np

            frames = np.load(args.features).astype("float32").tolist()
        else:
            ap.error("give a features .npy or --synthetic N")

        def show(msg):
            print(json.dumps(json_format.MessageToDict(msg)), flush=True)

        try:
            replay(stub, pb2, frames, args.fps, args.actions, args.speed, on_message=show)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
