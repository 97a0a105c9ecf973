#!/usr/bin/env python3
"""Generate recorded-signal fixtures with ground-truth peaks for the NHEM peak detector.

    python3 scripts/gen_signals.py [--out DIR]      (DIR defaults to fixtures/signals)

Writes, per signal, DIR/<name>.csv (header `gray`, then one gray value 0..255 per line,
at most 3 decimals, sampled at 60 Hz) and DIR/<name>.peaks.json
({"fps": 60, "peak_frames": [...]}, zero-based data-line indices, increasing).

Model: a cardiac-like pulse train. Each beat is a Gaussian bump (sigma MAIN_SIGMA_S) on a
baseline, optionally followed DICROTIC_DELAY_S later by a smaller, wider dicrotic bump, plus
Gaussian noise; values are clamped to 0..255. A beat's true peak frame is the argmax of its
noiseless main bump, i.e. the frame nearest the bump centre. Dicrotic bumps are never peaks.

Deterministic: each signal uses its own random.Random(seed); stdlib only; running twice
gives byte-identical files.
"""
import argparse
import json
import math
import random
from pathlib import Path

FPS = 60
MAIN_SIGMA_S = 0.070       # main bump width (70 ms)
DICROTIC_DELAY_S = 0.250   # dicrotic bump centre after the main bump centre
DICROTIC_SIGMA_S = 0.080
FIRST_BEAT_S = 1.30        # first main bump centre; the bump starts (centre - 3 sigma) after 1.0 s
TAIL_S = 0.80              # no beat centre in the last TAIL_S seconds (the peak must be confirmable)
MIN_INTERVAL_S = 0.400


def const(v):
    return lambda t, dur: v


def drift_baseline(t, dur):
    return 100.0 + 30.0 * math.sin(2.0 * math.pi * t / 25.0) + 20.0 * t / dur


def sweep_bpm(t, dur):
    """50 -> 130 bpm over the first half, 130 -> 60 bpm over the second half."""
    half = dur / 2.0
    if t <= half:
        return 50.0 + (130.0 - 50.0) * t / half
    return 130.0 + (60.0 - 130.0) * (t - half) / half


SIGNALS = [
    # name, seed, duration s, baseline(t, dur), amplitude, bpm(t, dur), jitter, noise sigma, dicrotic ratio
    dict(name="clean", seed=101, duration=45.0, baseline=const(120.0), amplitude=25.0,
         bpm=const(72.0), jitter=0.0, noise=0.5, dicrotic=0.0),
    dict(name="noisy", seed=202, duration=50.0, baseline=const(110.0), amplitude=22.0,
         bpm=const(75.0), jitter=0.05, noise=2.5, dicrotic=0.0),
    dict(name="drifting", seed=303, duration=60.0, baseline=drift_baseline, amplitude=20.0,
         bpm=const(66.0), jitter=0.0, noise=1.5, dicrotic=0.0),
    dict(name="variable_rate", seed=404, duration=60.0, baseline=const(110.0), amplitude=24.0,
         bpm=sweep_bpm, jitter=0.0, noise=1.0, dicrotic=0.25),
    dict(name="low_amplitude", seed=505, duration=40.0, baseline=const(90.0), amplitude=14.0,
         bpm=const(80.0), jitter=0.0, noise=1.0, dicrotic=0.0),
]


def gauss(t, c, s):
    d = (t - c) / s
    return math.exp(-0.5 * d * d)


def beat_centres(spec, rng):
    dur = spec["duration"]
    t = FIRST_BEAT_S
    centres = []
    while t <= dur - TAIL_S:
        centres.append(t)
        interval = 60.0 / spec["bpm"](t, dur)
        if spec["jitter"]:
            interval *= 1.0 + rng.uniform(-spec["jitter"], spec["jitter"])
        assert interval >= MIN_INTERVAL_S, (spec["name"], t, interval)
        t += interval
    return centres


def peak_frame(c, n):
    """Argmax over frames of the noiseless main bump centred at c seconds (lowest index on a tie)."""
    k = round(c * FPS)
    cand = [f for f in (k - 1, k, k + 1) if 0 <= f < n]
    return max(cand, key=lambda f: (gauss(f / FPS, c, MAIN_SIGMA_S), -f))


def fmt(v):
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def generate(spec):
    rng = random.Random(spec["seed"])
    dur = spec["duration"]
    n = round(dur * FPS)
    amp = spec["amplitude"]
    centres = beat_centres(spec, rng)
    peaks = [peak_frame(c, n) for c in centres]
    dic_amp = spec["dicrotic"] * amp
    assert dic_amp <= 0.30 * amp

    reach = 5.0 * max(MAIN_SIGMA_S, DICROTIC_SIGMA_S)
    values = []
    for i in range(n):
        t = i / FPS
        pulse = 0.0
        for c in centres:
            if c - reach <= t <= c + reach:
                pulse += amp * gauss(t, c, MAIN_SIGMA_S)
            if dic_amp and c + DICROTIC_DELAY_S - reach <= t <= c + DICROTIC_DELAY_S + reach:
                pulse += dic_amp * gauss(t, c + DICROTIC_DELAY_S, DICROTIC_SIGMA_S)
        v = spec["baseline"](t, dur) + pulse + rng.gauss(0.0, spec["noise"])
        values.append(min(255.0, max(0.0, v)))

    # Sanity: around each dicrotic centre (+-50 ms) the noiseless pulse stays below 35% of amp.
    if dic_amp:
        for c in centres:
            level = max(sum(amp * gauss(td, x, MAIN_SIGMA_S)
                            + dic_amp * gauss(td, x + DICROTIC_DELAY_S, DICROTIC_SIGMA_S)
                            for x in centres)
                        for td in (c + DICROTIC_DELAY_S + k / 1000.0 for k in range(-50, 51, 5)))
            assert level < 0.35 * amp, (spec["name"], c, level)
    return values, peaks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="fixtures/signals", help="output directory (default: fixtures/signals)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for spec in SIGNALS:
        values, peaks = generate(spec)
        name = spec["name"]
        with open(out / f"{name}.csv", "w", newline="\n", encoding="ascii") as f:
            f.write("gray\n")
            f.writelines(fmt(v) + "\n" for v in values)
        with open(out / f"{name}.peaks.json", "w", newline="\n", encoding="ascii") as f:
            f.write(json.dumps({"fps": FPS, "peak_frames": peaks}) + "\n")
        print(f"{name}: {len(values)} samples, {len(peaks)} peaks")


if __name__ == "__main__":
    main()
