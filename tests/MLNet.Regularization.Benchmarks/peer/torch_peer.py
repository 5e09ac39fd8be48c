#!/usr/bin/env python3
"""PyTorch CPU peer of the quick benchmark (QuickRunner.cs): the same GEMM shapes and MLP configurations,
timed the same way (best of five rounds of about 0.4 s after a warm-up). Prints one JSON object on stdout. 
Run it through the runner, or by hand with OpenBLAS' OpenMP build (the reference BLAS that python3-numpy pulls in
alone is some thirty times slower and would make the comparison meaningless) and glibc's malloc told to keep freed
memory (otherwise every training step hands PyTorch's multi-megabyte buffers back to the kernel and faults them in
again, which made the plain MLP run at a third of its speed, 3,600-6,000 instead of 11,700 samples/s):

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp MALLOC_MMAP_THRESHOLD_=4294967296 \
    MALLOC_TRIM_THRESHOLD_=4294967296 /usr/bin/python3 torch_peer.py data/fashion-mnist-small
"""
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROUNDS, ROUND_SECONDS = 5, 0.4

BATCH, HIDDEN = 128, 1024
GEMM_SHAPES = [  # name, transA, transB, m, n, k -- as in Workloads.cs
    ("1024x1024x1024 NN", False, False, 1024, 1024, 1024),
    ("128x1024x784 NT (fwd)", False, True, 128, 1024, 784),
    ("128x1024x1024 NT (fwd)", False, True, 128, 1024, 1024),
    ("1024x784x128 TN (dW)", True, False, 1024, 784, 128),
    ("128x784x1024 NN (dX)", False, False, 128, 784, 1024),
]


def rate(fn):
    """Calls per second: best of ROUNDS rounds after a warm-up, like QuickRunner.Rate."""
    start, warm = time.perf_counter(), 0
    while warm < 3 or time.perf_counter() - start < 1.0:
        fn()
        warm += 1
    per_call = (time.perf_counter() - start) / warm
    calls = max(1, int(ROUND_SECONDS / per_call))
    best = 0.0
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = max(best, calls / (time.perf_counter() - t))
    return best


def blas_libraries():
    """The BLAS shared objects this process really mapped."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if "blas" in name or "mkl" in name or "dnnl" in name:
                found.add(path)
    return sorted(found)


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        magic, count, rows, cols = struct.unpack(">iiii", f.read(16))
        assert magic == 0x803, f"{path}: bad magic {magic:#x}"
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(count, rows * cols).astype(np.float32) / 255.0


def read_idx_labels(path):
    with gzip.open(path, "rb") as f:
        magic, count = struct.unpack(">ii", f.read(8))
        assert magic == 0x801, f"{path}: bad magic {magic:#x}"
        return np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)


class DropConnectLinear(nn.Linear):
    """DropConnect with one Bernoulli weight mask per mini-batch (as DropConnectDense's default mode);
    inference with the expected weights (1 - p) W."""

    def __init__(self, inputs, outputs, rate):
        super().__init__(inputs, outputs)
        self.rate = rate

    def forward(self, x):
        if self.training:
            mask = torch.empty_like(self.weight).bernoulli_(1 - self.rate)
            return F.linear(x, self.weight * mask, self.bias)
        return F.linear(x, self.weight * (1 - self.rate), self.bias)


def mlp(config):
    h = HIDDEN
    if config == "none":
        layers = [nn.Linear(784, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10)]
    elif config == "dropout":
        layers = [nn.Dropout(0.2), nn.Linear(784, h), nn.ReLU(), nn.Dropout(0.5), nn.Linear(h, h), nn.ReLU(), nn.Dropout(0.5), nn.Linear(h, 10)]
    elif config == "dropconnect":
        layers = [DropConnectLinear(784, h, 0.5), nn.ReLU(), DropConnectLinear(h, h, 0.5), nn.ReLU(), nn.Linear(h, 10)]
    elif config == "batchnorm":
        layers = [nn.Linear(784, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, 10)]
    elif config == "batchnorm+dropout":
        layers = [nn.Linear(784, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.5), nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.5), nn.Linear(h, 10)]
    else:
        raise ValueError(config)
    return nn.Sequential(*layers)


def cnn(config):
    """conv32-pool-conv64-pool-dense128-dropout-dense10 with 3x3 'same' convolutions, as Workloads.Cnn."""
    bn = config == "cnn batchnorm"
    layers = [nn.Conv2d(1, 32, 3, padding=1)] + ([nn.BatchNorm2d(32)] if bn else []) + [nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 3, padding=1)] + ([nn.BatchNorm2d(64)] if bn else []) + [nn.ReLU(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


class VariationalLSTM(nn.Module):
    """LSTM(28 -> 128) with Gal & Ghahramani's variational dropout on the inputs and the recurrent state (one mask per
    sequence, reused at every step), as VariationalRecurrentDropout: nn.LSTM's fused kernel has no place for a mask
    on h, so this runs the usual nn.LSTMCell loop."""

    def __init__(self, inputs, hidden, rate):
        super().__init__()
        self.cell, self.hidden, self.rate = nn.LSTMCell(inputs, hidden), hidden, rate

    def forward(self, x):
        batch, steps, inputs = x.shape
        h = x.new_zeros(batch, self.hidden)
        c = x.new_zeros(batch, self.hidden)
        if self.training:
            keep = 1 - self.rate
            mx = x.new_empty(batch, inputs).bernoulli_(keep) / keep
            mh = x.new_empty(batch, self.hidden).bernoulli_(keep) / keep
        for t in range(steps):
            xt, hin = (x[:, t] * mx, h * mh) if self.training else (x[:, t], h)
            h, c = self.cell(xt, (hin, c))
        return h


class LstmClassifier(nn.Module):
    """LSTM(28 -> 128) on the 28 row steps, last step -> Dense(10), as Workloads.Lstm."""

    def __init__(self, variational):
        super().__init__()
        self.rnn = VariationalLSTM(28, 128, 0.25) if variational else nn.LSTM(28, 128, batch_first=True)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        h = self.rnn(x) if isinstance(self.rnn, VariationalLSTM) else self.rnn(x)[0][:, -1]
        return self.out(h)


def training_rate(model, batches):
    """Training samples per second of a model on a list of (x, y) batches: Adam 1e-3, cross-entropy."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = {"i": 0}

    def step():
        xb, yb = batches[state["i"] % len(batches)]
        state["i"] += 1
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()

    return rate(step) * BATCH


def lstm_rows(x, y, results):
    rows = x.reshape(-1, 28, 28)
    row_batches = [(rows[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(rows) - BATCH + 1, BATCH)]
    for config in ["lstm", "lstm variational"]:
        results[f"LSTM train/{config}"] = training_rate(LstmClassifier(config == "lstm variational"), row_batches)

    model = LstmClassifier(False).eval()
    xb = torch.randn(1024, 28, 28)

    def lstm_infer():
        with torch.no_grad():
            torch.softmax(model(xb), dim=1)

    results["LSTM infer/batch 1024"] = rate(lstm_infer) * 1024


def main():
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    data_dir = sys.argv[1]
    x = torch.from_numpy(read_idx_images(os.path.join(data_dir, "train-images-idx3-ubyte.gz")))
    y = torch.from_numpy(read_idx_labels(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")))
    results = {}
    only = sys.argv[2].lower() if len(sys.argv) > 2 else None
    if only is not None and only.startswith("lstm"):
        lstm_rows(x, y, results)
        malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
        print(json.dumps({"torch": torch.__version__, "threads": threads, "blas": blas_libraries(), "malloc": malloc, "results": results}))
        return

    for name, ta, tb, m, n, k in GEMM_SHAPES:
        a = torch.randn(k, m) if ta else torch.randn(m, k)
        b = torch.randn(n, k) if tb else torch.randn(k, n)
        out = torch.empty(m, n)
        op_a, op_b = (a.t() if ta else a), (b.t() if tb else b)
        results[f"GEMM/{name}"] = rate(lambda: torch.mm(op_a, op_b, out=out)) * 2.0 * m * n * k / 1e9

    batches = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x) - BATCH + 1, BATCH)]
    for config in ["none", "dropout", "dropconnect", "batchnorm", "batchnorm+dropout"]:
        results[f"MLP train/{config}"] = training_rate(mlp(config), batches)

    images = x.reshape(-1, 1, 28, 28)
    image_batches = [(images[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(images) - BATCH + 1, BATCH)]
    for config in ["cnn", "cnn batchnorm"]:
        results[f"CNN train/{config}"] = training_rate(cnn(config), image_batches)

    model = cnn("cnn").eval()
    xb = torch.randn(1024, 1, 28, 28)

    def cnn_infer():
        with torch.no_grad():
            torch.softmax(model(xb), dim=1)

    results["CNN infer/batch 1024"] = rate(cnn_infer) * 1024

    model = mlp("dropout").eval()
    for batch in (1, 1024):
        xb = torch.randn(batch, 784)

        def infer():
            with torch.no_grad():
                torch.softmax(model(xb), dim=1)

        results[f"MLP infer/batch {batch}"] = rate(infer) * batch

    lstm_rows(x, y, results)
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    print(json.dumps({"torch": torch.__version__, "threads": threads, "blas": blas_libraries(), "malloc": malloc, "results": results}))


if __name__ == "__main__":
    main()
