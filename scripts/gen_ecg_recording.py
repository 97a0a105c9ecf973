#!/usr/bin/env python3
"""Extract a real ECG recording for the `ecg` profile's `--source FILE`.

Writes fixtures/signals/ecg-mitbih-208.csv: header line `mv`, then one value per line, in mV,
sampled at 250 Hz, rounded to 3 decimals (trailing zeros dropped, as in gen_signals.py).
Provenance, licence and checksum: fixtures/signals/ecg-mitbih-208.md.

Source: `scipy.misc.electrocardiogram()`, which SciPy 1.1 to 1.11 ship inside the wheel: five
minutes (108000 samples at 360 Hz, mV, lead MLII) of MIT-BIH Arrhythmia Database record 208.
The function was removed in SciPy 1.12 (its successor, `scipy.datasets.electrocardiogram`,
downloads the same file over the network, which we avoid). CI does not install SciPy: the CSV
is committed and this script only documents how it was made. To regenerate (Python 3.11):

    python3.11 -m venv /tmp/ecgvenv
    /tmp/ecgvenv/bin/pip install scipy==1.11.4 "numpy<2"      # numpy 1.26.4 was used
    /tmp/ecgvenv/bin/python scripts/gen_ecg_recording.py      # or --out FILE

Steps:
  1. Resample the whole 5-minute signal from 360 Hz to 250 Hz with
     scipy.signal.resample_poly(x, 25, 36) (exact rational ratio 250/360 = 25/36; default
     Kaiser-windowed FIR). Resampling the whole signal and cutting afterwards keeps the
     filter's zero-padding edge transients out of the excerpt.
  2. Keep 60 s starting at OFFSET_S = 146 s into SciPy's excerpt (samples 36500..51499 at
     250 Hz; 52560..74159 at 360 Hz). That stretch has the least baseline wander and
     high-frequency noise of all 60 s windows, and ends 3 s before the large motion artifact
     at about 209..216 s. Record 208 is an arrhythmia record: the window still contains
     premature ventricular contractions, which is realistic and intended.
  3. Round to 3 decimals and write.

Deterministic: no randomness; the FIR design and the polyphase filter are fixed functions of
the input, so rerunning with the same SciPy/NumPy gives a byte-identical file.
"""
import argparse
import warnings
from pathlib import Path

import numpy as np
import scipy
from scipy import signal

SOURCE_FS = 360
TARGET_FS = 250
UP, DOWN = 25, 36          # 360 * 25 / 36 = 250 exactly
OFFSET_S = 146             # start of the excerpt, seconds into scipy.misc.electrocardiogram()
LENGTH_S = 60


def load() -> np.ndarray:
    try:
        from scipy.misc import electrocardiogram
    except ImportError as e:  # SciPy >= 1.12
        raise SystemExit(f"needs SciPy < 1.12 (has scipy.misc.electrocardiogram); found {scipy.__version__}") from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        x = electrocardiogram()
    assert x.shape == (5 * 60 * SOURCE_FS,), x.shape
    return np.asarray(x, dtype=np.float64)


def fmt(v: float) -> str:
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent.parent / "fixtures" / "signals" / "ecg-mitbih-208.csv")
    args = ap.parse_args()

    x = load()
    y = signal.resample_poly(x, UP, DOWN)
    assert y.shape == (len(x) * UP // DOWN,), y.shape
    start = OFFSET_S * TARGET_FS
    excerpt = np.round(y[start:start + LENGTH_S * TARGET_FS], 3)
    assert excerpt.shape == (LENGTH_S * TARGET_FS,), excerpt.shape
    assert -3.0 <= excerpt.min() and excerpt.max() <= 4.0, (excerpt.min(), excerpt.max())

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="\n", encoding="ascii") as f:
        f.write("mv\n")
        f.writelines(fmt(float(v)) + "\n" for v in excerpt)
    print(f"{args.out}: {len(excerpt)} samples at {TARGET_FS} Hz, {excerpt.min():.3f}..{excerpt.max():.3f} mV "
          f"(scipy {scipy.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
