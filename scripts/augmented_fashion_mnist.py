#!/usr/bin/python3
"""A Fashion-MNIST training set of any size, for trying data larger than memory: raw IDX files of N images drawn from
the 60,000 training images, each block of 500 shifted by up to 2 pixels and every pixel given noise in [-20, 20].

    /usr/bin/python3 scripts/augmented_fashion_mnist.py N OUT_PREFIX [FASHION_MNIST_DIR]

writes OUT_PREFIX-images.idx (16 + N * 784 bytes) and OUT_PREFIX-labels.idx, a chunk of 60,000 at a time (memory stays
near 200 MB whatever N is); the images are a permutation of the originals in each chunk (numpy seed 18). Needs numpy.
Test on the real t10k files, which none of the generated images come from.
"""
import gzip
import struct
import sys

import numpy as np


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    src = sys.argv[3] if len(sys.argv) > 3 else '/work/shared/data/fashion-mnist'
    with gzip.open(f'{src}/train-images-idx3-ubyte.gz') as f:
        f.read(16)
        base = np.frombuffer(f.read(), np.uint8).reshape(-1, 28, 28)
    with gzip.open(f'{src}/train-labels-idx1-ubyte.gz') as f:
        f.read(8)
        base_labels = np.frombuffer(f.read(), np.uint8)
    rng = np.random.default_rng(18)
    m = len(base)
    with open(out + '-images.idx', 'wb') as images, open(out + '-labels.idx', 'wb') as labels:
        images.write(struct.pack('>IIII', 0x803, n, 28, 28))
        labels.write(struct.pack('>II', 0x801, n))
        done = 0
        while done < n:
            k = min(m, n - done)
            picked = rng.permutation(m)[:k]
            chunk = base[picked].astype(np.int16)
            for start in range(0, k, 500):
                dy, dx = rng.integers(-2, 3, 2)
                chunk[start:start + 500] = np.roll(chunk[start:start + 500], (dy, dx), axis=(1, 2))
            chunk += rng.integers(-20, 21, chunk.shape, dtype=np.int16)
            np.clip(chunk, 0, 255, out=chunk)
            images.write(chunk.astype(np.uint8).tobytes())
            labels.write(base_labels[picked].tobytes())
            done += k


if __name__ == '__main__':
    main()
