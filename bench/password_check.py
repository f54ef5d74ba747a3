"""
Measure what one mailbox password check costs: the scrypt verify that every
login, Basic request and legacy ?password= request pays.

    .venv/bin/python bench/password_check.py [-n 20]

Prints the median and p90 wall time of one check and the scrypt parameters.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tempmail.passwords import SCRYPT_N, SCRYPT_P, SCRYPT_R, hash_password, verify_password


def main() -> int:
    """
    Time C{-n} password checks and print the figures.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("-n", "--checks", type=int, default=20, help="checks to time")
    args = parser.parse_args()
    encoded = hash_password("correct horse battery")
    timings = []
    for _ in range(args.checks):
        started = time.perf_counter()
        assert verify_password("correct horse battery", encoded)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(f"scrypt:  N={SCRYPT_N} r={SCRYPT_R} p={SCRYPT_P}")
    print(f"checks:  {args.checks}")
    print(f"median:  {statistics.median(timings):.1f} ms")
    print(f"p90:     {timings[int(len(timings) * 0.9) - 1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
