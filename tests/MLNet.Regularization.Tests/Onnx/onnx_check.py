"""Runs the official ONNX checker (full_check: also strict shape and type inference) on every model given.

    /usr/bin/python3 onnx_check.py a.onnx b.onnx ...

Prints "OK <path>" or "FAIL <path> <reason>" per model; exits 1 if any failed. Debian's python3-onnx
(./build.sh setup installs it), hence /usr/bin/python3 rather than whatever python is first on PATH.
"""
import sys

import onnx

failed = 0
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("OK", path)
    except Exception as error:  # report every model, not just the first failure
        failed += 1
        print("FAIL", path, str(error).replace("\n", " "))
sys.exit(1 if failed else 0)
