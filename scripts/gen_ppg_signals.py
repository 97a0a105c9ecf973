#!/usr/bin/env python3
"""Generate realistic PPG gray-level recordings with simulator ground truth for the NHEM detector.

    python3 -m pip install --quiet neurokit2==0.2.13      # into the user's Python 3.11 (not a venv)
    python3 scripts/gen_ppg_signals.py [--out DIR]       (DIR defaults to fixtures/signals/ppg)

Used and verified with: Python 3.11.7, neurokit2 0.2.13, numpy 2.4.6, scipy 1.17.1 (what pip
resolved for neurokit2 0.2.13). It was run with the user's `python3` (pyenv 3.11.7), not
`.tools/venv`. The script prints a warning if your versions differ. Different numpy or scipy
versions may change the last digits; the Akima interpolator and the distortion chain belong to
those libraries.

Output, per recording, in the format of fixtures/signals (see fixtures/signals/README.md):
  DIR/<name>.csv         header `gray`, then one gray value 0..255 per line (at most 3 decimals),
                         60 Hz
  DIR/<name>.peaks.json  {"fps": 60, "peak_frames": [...]}, zero-based data-line indices of the
                         true systolic peaks, increasing
Also DIR/README.md (how the files were made, the parameter table and the sanity summary).

Model
-----
1. `neurokit2.ppg_simulate` at SIM_RATE = 1200 Hz (20 simulator samples per 60 Hz frame),
   with random_state=<seed> for each recording. It places four landmarks (knots) per beat:
   onset, systolic peak (x_sys), dicrotic notch and diastolic peak. Then it runs an Akima
   interpolation through them and applies its own distortions: drift, motion, bursts and
   powerline. The simulator runs for LEAD_S + duration + TAIL_S seconds, and the recording is
   the part from LEAD_S to LEAD_S + duration. So it starts mid-stream and never contains the
   flat tail that the simulator puts after its last knot.
2. Dicrotic notch strength. ppg_simulate has no parameter for it. It draws
   y_notch = y_sys * N(0.49, 0.01) and y_dia = y_sys * N(0.51, 0.01). To change that, this
   script wraps the simulator's module-level `signal_interpolate` for the duration of the call.
   The wrapper scales the simulator's own random notch and diastolic knot heights by
   notch_ratio/0.49 and dia_ratio/0.51. Knot *times* and all random draws are untouched. At
   the simulator default ("weak", 0.49/0.51) the factors are exactly 1. The script checks that
   in every recording:
     - with factors 1, the wrapped call returns exactly what a plain `ppg_simulate` call
       returns (every sample equal);
     - the knot times are the same with and without the notch change;
     - replaying the simulator's random draws (its own `_frequency_modulation` and
       `_random_x_offset` helpers, same seed) gives ceil(x_sys * SIM_RATE) equal to every 4th
       knot from index 1, i.e. the captured knots really are the systolic ones.
3. Ground truth: the systolic knots that the simulator itself passes to its interpolator,
   converted to 60 Hz frames (nearest frame) relative to the recording start. Only knots whose
   frame lies in 0..n-1 are kept. No detector is involved.
4. Conversion to 60 Hz imitates a camera with a full-frame exposure. Frame k is the mean of
   the 1200 Hz signal over a 1/60 s window centred on k/60 s: 21 samples with half weight on
   both ends, so the window is exactly centred and the frame time has no bias.
5. Gray levels:
     gray = baseline + wander(t) + (amplitude / 1.5) * (gain(t) * clean(t) + artefacts(t)) + noise
   - clean: the noise-free interpolated wave. Onset is about 0 and systole about 1.5, so
     `amplitude` is the nominal onset-to-systole swing in gray levels.
   - artefacts: the simulator's distorted output minus clean (drift, motion, bursts, powerline).
   - gain(t): a slowly varying gain on the pulsatile part only (perfusion change). Its knots
     are 1 + depth*U(-1, 1) every GAIN_STEP_S seconds, with raised-cosine interpolation between
     them.
   - wander(t): extra baseline wander in gray levels (lighting, respiration). It is
     wander * (0.65 sin(2π f1 t + φ1) + 0.35 sin(2π f2 t + φ2)), f1 ~ U(0.02, 0.06) Hz,
     f2 ~ U(0.15, 0.30) Hz.
   - noise: white Gaussian sensor noise at 60 Hz, σ in gray levels.
   gain, wander and noise use numpy.random.RandomState(seed + AUX_SEED_OFFSET). The pulse goes
   *up*, as in the existing fixtures. Values must stay within 1..254; the script fails rather
   than clamp.

Deterministic: every random draw comes from a seeded legacy RandomState (the simulator turns an
int seed into RandomState and spawns its distortion streams from it). Two runs give
byte-identical files.
"""
import argparse
import contextlib
import io
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

import neurokit2 as nk

SIM_MODULE = sys.modules["neurokit2.ppg.ppg_simulate"]

FPS = 60
SIM_RATE = 1200                  # Hz; a multiple of FPS and >= 500 (powerline needs that)
SUB = SIM_RATE // FPS            # simulator samples per frame
LEAD_S = 2.0                     # simulated seconds discarded before the recording
TAIL_S = 4.0                     # simulated seconds discarded after it (covers the flat tail)
GAIN_STEP_S = 6.0
AUX_SEED_OFFSET = 7919
SYS_NOMINAL = 1.5                # ppg_simulate: y_sys = y_onset + N(1.5, 0.15), y_onset ~ N(0, 0.1)
SIM_NOTCH, SIM_DIA = 0.49, 0.51  # ppg_simulate's mean notch / diastolic heights (x y_sys)
TESTED_VERSIONS = {"neurokit2": "0.2.13", "numpy": "2.4.6", "scipy": "1.17.1"}

NOTCH = {  # name: (notch height, diastolic peak height) as multiples of the systolic knot, note
    "none": (0.50, 0.50, "no mean dip, a shoulder; the ±0.01 per-beat jitter of each knot still "
                         "leaves a tiny dip in about half of the beats"),
    "weak": (SIM_NOTCH, SIM_DIA, "ppg_simulate default: a barely visible dip"),
    "medium": (0.42, 0.55, "clear notch"),
    "strong": (0.33, 0.62, "deep notch and a high diastolic wave"),
}

# seed, duration s, heart_rate bpm, frequency_modulation, ibi_randomness, notch,
# drift (sim), motion (sim), burst_number/burst_amplitude (sim), powerline (sim),
# wander (gray, extra), baseline (gray), amplitude (gray), gain depth, noise sigma (gray), tags
_D = dict(fm=0.1, ibi=0.05, notch="weak", drift=0.0, motion=0.0, bursts=0, burst_amp=0.0,
          powerline=0.0, wander=0.0, gain=0.0, noise=0.5)


def R(num, seed, dur, hr, base, amp, tags, **kw):
    spec = dict(_D)
    spec.update(kw)
    spec.update(num=num, seed=seed, duration=float(dur), hr=hr, baseline=float(base),
                amplitude=float(amp), tags=tags)
    spec["name"] = f"ppg-{num:02d}-hr{hr:03d}-{tags}"
    return spec


RECORDINGS = [
    R(1, 2401, 45, 62, 120, 24, "clean"),
    R(2, 2402, 60, 50, 110, 22, "notch-strong", notch="strong", noise=0.8),
    R(3, 2403, 30, 150, 115, 20, "clean", fm=0.05, ibi=0.03, noise=0.6),
    R(4, 2404, 50, 75, 105, 22, "wander", drift=1.0, wander=12.0, noise=1.0),
    R(5, 2405, 40, 110, 125, 20, "motion", motion=1.0, noise=1.0),
    R(6, 2406, 45, 90, 110, 22, "noisy", noise=2.5),
    R(7, 2407, 40, 70, 90, 10, "lowamp", noise=0.8),
    R(8, 2408, 35, 130, 115, 18, "notch-strong-wander", notch="strong", drift=0.8, wander=8.0,
      noise=1.0),
    R(9, 2409, 60, 58, 120, 24, "gain", gain=0.5, noise=0.8),
    R(10, 2410, 45, 98, 110, 20, "burst", bursts=4, burst_amp=1.0, noise=0.8),
    R(11, 2411, 40, 82, 100, 20, "powerline-noisy", powerline=0.3, noise=1.5),
    R(12, 2412, 35, 120, 120, 22, "motion-noisy", motion=0.6, noise=2.0, fm=0.15),
    R(13, 2413, 55, 54, 95, 12, "notch-none-lowamp", notch="none", noise=0.7),
    R(14, 2414, 30, 142, 100, 12, "lowamp-noisy", noise=1.5, fm=0.05),
    R(15, 2415, 50, 66, 115, 22, "wander-motion-gain", drift=1.0, motion=0.5, gain=0.4,
      wander=6.0, noise=1.0),
    R(16, 2416, 40, 106, 110, 20, "notch-strong-gain", notch="strong", gain=0.5, noise=0.8),
    R(17, 2417, 60, 86, 100, 20, "drift-strong", drift=2.0, wander=25.0, noise=1.5),
    R(18, 2418, 35, 125, 120, 18, "notch-medium-burst", notch="medium", bursts=3,
      burst_amp=1.0, noise=1.0),
    R(19, 2419, 50, 72, 110, 16, "notch-strong-all", notch="strong", drift=0.8, motion=0.5,
      bursts=2, burst_amp=1.0, powerline=0.1, wander=6.0, gain=0.4, noise=1.5),
    R(20, 2420, 45, 94, 90, 11, "lowamp-gain", gain=0.4, noise=0.8),
    R(21, 2421, 30, 136, 120, 20, "wander-noisy", drift=1.0, wander=10.0, noise=2.0,
      fm=0.08),
    R(22, 2422, 50, 78, 100, 13, "notch-strong-motion-lowamp", notch="strong", motion=0.6,
      noise=1.0),
    R(23, 2423, 40, 115, 115, 20, "notch-medium-powerline-gain-wander", notch="medium",
      powerline=0.2, gain=0.4, drift=0.6, wander=8.0, noise=1.0),
    R(24, 2424, 55, 102, 110, 22, "hrv", fm=0.4, ibi=0.15, noise=1.0),
]


# ---------------------------------------------------------------------------------------------
# Simulator call with knot capture and notch scaling
# ---------------------------------------------------------------------------------------------

def _sim_kwargs(spec):
    return dict(
        duration=LEAD_S + spec["duration"] + TAIL_S,
        sampling_rate=SIM_RATE,
        heart_rate=spec["hr"],
        frequency_modulation=spec["fm"],
        ibi_randomness=spec["ibi"],
        drift=spec["drift"],
        motion_amplitude=spec["motion"],
        powerline_amplitude=spec["powerline"],
        burst_number=spec["bursts"],
        burst_amplitude=spec["burst_amp"],
        random_state=spec["seed"],
    )


def _quiet_call(fn, **kw):
    """Call fn; fail on anything printed (ppg_simulate prints when it skips a modulation)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(**kw)
    if buf.getvalue():
        raise RuntimeError(f"ppg_simulate complained: {buf.getvalue().strip()}")
    return out


def simulate(spec, notch_factor, dia_factor):
    """ppg_simulate with its interpolation knots captured and notch/diastolic heights scaled.

    Returns (distorted, clean, x_knots, y_knots) at SIM_RATE; x_knots in simulator samples.
    """
    original = SIM_MODULE.signal_interpolate
    captured = {}

    def hooked(x_values, y_values, x_new, method):
        y = np.array(y_values, dtype=float)
        if notch_factor != 1.0:
            y[2::4] = y[2::4] * notch_factor
        if dia_factor != 1.0:
            y[3::4] = y[3::4] * dia_factor
        out = original(x_values=x_values, y_values=y, x_new=x_new, method=method)
        captured["x"] = np.array(x_values)
        captured["y"] = y
        captured["clean"] = out.copy()
        return out

    SIM_MODULE.signal_interpolate = hooked
    try:
        ppg = _quiet_call(nk.ppg_simulate, **_sim_kwargs(spec))
    finally:
        SIM_MODULE.signal_interpolate = original
    return np.asarray(ppg, dtype=float), captured["clean"], captured["x"], captured["y"]


def replay_systolic_samples(spec):
    """Replay ppg_simulate's random draws (same seed, its own helpers) up to x_sys."""
    kw = _sim_kwargs(spec)
    rng = np.random.RandomState(spec["seed"])   # == check_random_state(int)
    period = 60 / kw["heart_rate"]
    n_period = int(np.floor(kw["duration"] / period))
    periods = np.ones(n_period) * period
    x_onset = np.cumsum(periods)
    x_onset -= x_onset[0]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        periods, x_onset = SIM_MODULE._frequency_modulation(
            periods, x_onset, modulation_frequency=0.05,
            modulation_strength=kw["frequency_modulation"])
        x_onset = SIM_MODULE._random_x_offset(x_onset, kw["ibi_randomness"], rng)
    rng.normal(0, 0.1, n_period)                          # y_onset
    x_sys = x_onset + rng.normal(0.175, 0.01, n_period) * periods
    return np.ceil(x_sys * SIM_RATE).astype(int)


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

def to_frames(sig, s0, n):
    """Camera exposure: centred 1/60 s boxcar (21 taps, half-weight ends) sampled every SUB."""
    w = np.ones(SUB + 1)
    w[0] = w[-1] = 0.5
    w /= SUB
    half = SUB // 2
    idx = s0 + SUB * np.arange(n)
    return np.array([np.dot(w, sig[i - half:i + half + 1]) for i in idx])


def smooth_gain(t, depth, rs, dur):
    n_knots = int(math.ceil(dur / GAIN_STEP_S)) + 2
    knots = 1.0 + depth * rs.uniform(-1.0, 1.0, n_knots)
    if depth == 0:
        return np.ones_like(t)
    pos = t / GAIN_STEP_S
    i = np.floor(pos).astype(int)
    f = pos - i
    c = 0.5 - 0.5 * np.cos(np.pi * f)
    return knots[i] * (1 - c) + knots[i + 1] * c


def wander_curve(t, amp, rs):
    f1, f2 = rs.uniform(0.02, 0.06), rs.uniform(0.15, 0.30)
    p1, p2 = rs.uniform(0, 2 * np.pi, 2)
    if amp == 0:
        return np.zeros_like(t)
    return amp * (0.65 * np.sin(2 * np.pi * f1 * t + p1) + 0.35 * np.sin(2 * np.pi * f2 * t + p2))


def local_maxima(x):
    i = np.arange(1, len(x) - 1)
    return i[(x[i] > x[i - 1]) & (x[i] >= x[i + 1])]


def nearest_dist(points, maxima):
    maxima = np.asarray(maxima)
    return np.array([np.min(np.abs(maxima - p)) for p in points])


def generate(spec):
    notch_ratio, dia_ratio, _ = NOTCH[spec["notch"]]
    nf, df = notch_ratio / SIM_NOTCH, dia_ratio / SIM_DIA

    # --- Simulator, with verification that the hook is transparent and the knots are systolic.
    ppg, clean, xk, yk = simulate(spec, nf, df)
    ppg1, clean1, xk1, _ = simulate(spec, 1.0, 1.0)
    plain = np.asarray(_quiet_call(nk.ppg_simulate, **_sim_kwargs(spec)), dtype=float)
    assert np.array_equal(ppg1, plain), spec["name"]
    assert np.array_equal(xk, xk1), spec["name"]
    if nf == 1.0 and df == 1.0:
        assert np.array_equal(ppg, plain), spec["name"]
    x_sys = xk[1::4]
    assert np.array_equal(x_sys, replay_systolic_samples(spec)), spec["name"]
    # Landmark order onset < sys < notch < dia < next onset, and systole is the beat's top knot.
    assert np.all(np.diff(xk) > 0), spec["name"]
    assert np.all(yk[1::4] > yk[0::4]) and np.all(yk[1::4] > yk[3::4]), spec["name"]

    # --- Crop and convert to 60 Hz.
    dur = spec["duration"]
    n = int(round(dur * FPS))
    s0 = int(round(LEAD_S * SIM_RATE))
    last = s0 + SUB * (n - 1) + SUB // 2
    assert last < xk[-1], (spec["name"], "recording reaches the simulator's flat tail")
    assert not np.isnan(clean[s0 - SUB:last + 1]).any()
    artefacts = ppg - clean
    t = np.arange(n) / FPS
    rs = np.random.RandomState(spec["seed"] + AUX_SEED_OFFSET)
    gain = smooth_gain(t, spec["gain"], rs, dur)
    wander = wander_curve(t, spec["wander"], rs)
    noise = rs.normal(0.0, spec["noise"], n)
    clean60 = to_frames(clean, s0, n)
    art60 = to_frames(artefacts, s0, n)
    scale = spec["amplitude"] / SYS_NOMINAL
    gray = spec["baseline"] + wander + scale * (gain * clean60 + art60) + noise
    if gray.min() < 1.0 or gray.max() > 254.0:
        raise ValueError(f"{spec['name']}: gray out of 1..254 ({gray.min():.1f}..{gray.max():.1f})")

    # --- Ground truth: systolic knots -> nearest 60 Hz frame in the recording.
    frames = np.floor((x_sys - s0) / SUB + 0.5).astype(int)
    keep = (frames >= 0) & (frames < n)
    peaks = [int(f) for f in frames[keep]]
    assert all(b > a for a, b in zip(peaks, peaks[1:]))

    # --- Sanity numbers.
    knots_in = x_sys[keep]
    d_sim_ms = nearest_dist(knots_in, local_maxima(clean)) * 1000.0 / SIM_RATE
    d_60_ms = nearest_dist(peaks, local_maxima(clean60)) * 1000.0 / FPS
    ibi = np.diff(peaks) / FPS
    # Offset of the final signal's maximum within +-100 ms (6 frames) of each truth frame.
    off = []
    for p in peaks:
        lo, hi = max(0, p - 6), min(n, p + 7)
        off.append(abs(lo + int(np.argmax(gray[lo:hi])) - p) * 1000.0 / FPS)
    summary = dict(
        name=spec["name"], samples=n, beats=len(peaks),
        bpm=60.0 / float(np.mean(ibi)), ibi_min=float(ibi.min()), ibi_max=float(ibi.max()),
        gmin=float(gray.min()), gmax=float(gray.max()),
        d_sim_med=float(np.median(d_sim_ms)), d_sim_max=float(np.max(d_sim_ms)),
        d_60_med=float(np.median(d_60_ms)), d_60_max=float(np.max(d_60_ms)),
        off_med=float(np.median(off)), off_max=float(np.max(off)),
        edge=int(sum(1 for p in peaks if p < FPS or p >= n - int(0.8 * FPS))),
    )
    return gray, peaks, summary


def fmt(v):
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def versions():
    import scipy
    return {"neurokit2": nk.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def readme(summaries):
    v = versions()
    lines = [
        "# PPG recordings (`ppg-*.csv`)",
        "",
        "Realistic photoplethysmogram (PPG) gray-level recordings with ground-truth systolic peaks,",
        "for evaluating the NHEM peak detector. They use the same format as `../README.md`:",
        "",
        "- `<name>.csv`: header line `gray`, then one gray value (0–255, decimal, at most 3",
        "  decimals) per line, sampled at 60 Hz. `--source fixtures/signals/ppg/<name>.csv` replays it.",
        "- `<name>.peaks.json`: `{\"fps\": 60, \"peak_frames\": [...]}`, the zero-based line indices",
        "  (header not counted) of the true systolic peaks, increasing.",
        "",
        "They live in this subfolder, so the top-level detection test",
        "(`reference-server/tests/it/detection.rs`, which lists `fixtures/signals/*.csv` and does not",
        "descend into folders) does not pick them up.",
        "",
        "## How they were made",
        "",
        "    python3 -m pip install --quiet neurokit2==0.2.13",
        "    python3 scripts/gen_ppg_signals.py          # or --out DIR; byte-identical on rerun",
        "",
        f"Simulator: `neurokit2.ppg_simulate` from neurokit2 {v['neurokit2']} (numpy {v['numpy']},",
        f"scipy {v['scipy']}, Python 3.11). It runs at {SIM_RATE} Hz with `random_state=<seed>` for each",
        f"recording, over {LEAD_S:g} s + duration + {TAIL_S:g} s. The recording is the part from",
        f"{LEAD_S:g} s onwards, so it starts mid-stream and never reaches the flat tail that the",
        "simulator leaves after its last beat. To get 60 Hz, each frame is the mean of the 1200 Hz",
        "signal over a 1/60 s window centred on the frame time, like a camera exposure.",
        "",
        "Gray value = baseline + wander(t) + (amplitude / 1.5) · (gain(t) · clean(t) + artefacts(t)) + noise:",
        "",
        "- *clean*: the simulator's interpolated pulse wave. Onset is about 0 and systole about 1.5,",
        "  so *amplitude* is the nominal onset-to-systole swing in gray levels. Pulses go up, as in the",
        "  other fixtures.",
        "- *artefacts*: the simulator's own distortions (its output minus clean): `drift`",
        "  (≈0.05 Hz baseline drift), `motion_amplitude` (0.5 Hz motion artefact), `burst_number` /",
        "  `burst_amplitude` (100 Hz noise bursts, each 0.1–1 % of the simulated length; the 60 Hz",
        "  exposure averages them down, but they still leave spikes of up to about 15 gray levels) and",
        "  `powerline_amplitude` (50 Hz; the exposure attenuates it to about 19 % and it aliases to",
        "  10 Hz). Each is relative to the standard deviation of the signal.",
        "- *gain*: a slowly varying gain on the pulsatile part only (perfusion change). Its knots are",
        f"  1 ± depth every {GAIN_STEP_S:g} s, joined by raised-cosine interpolation.",
        "- *wander*: extra baseline wander in gray levels (lighting and respiration), two sines at",
        "  0.02–0.06 Hz and 0.15–0.30 Hz with weights 0.65 and 0.35.",
        "- *noise*: white Gaussian sensor noise, σ in gray levels.",
        "",
        "Dicrotic notch. ppg_simulate has no parameter for it: it sets the notch knot to",
        "0.49 × and the diastolic-peak knot to 0.51 × the systolic knot. The script wraps the",
        "simulator's interpolation call and scales those two knot heights to the ratios below.",
        "Knot times and random draws do not change. At `weak` (the simulator default) the output is",
        "verified to be identical to a plain `ppg_simulate` call.",
        "",
        "| notch | notch knot × systole | diastolic knot × systole | shape |",
        "|-------|----------------------|--------------------------|-------|",
    ]
    for k, (a, b, note) in NOTCH.items():
        lines.append(f"| {k} | {a:.2f} | {b:.2f} | {note} |")
    lines += [
        "",
        "**Ground truth comes from the simulator, not from a detector.** It is the systolic",
        "interpolation knots (`x_sys`) that `ppg_simulate` places and passes to its Akima",
        "interpolator. The script captures them, checks them against a replay of the simulator's",
        "random draws with the same seed, and converts each to the nearest 60 Hz frame of the",
        "recording. Every knot inside the recording is kept, including those close to either end: see",
        "the `edge` column, the peaks in the first 1 s or the last 0.8 s, where a causal detector may",
        "still be warming up or cannot confirm. The existing fixtures avoid such peaks by design.",
        "Because of the noise and the 60 Hz exposure, the maximum of the final signal can sit a frame",
        "or two away from the knot (column `off`).",
        "",
        "## Parameters",
        "",
        "fm = `frequency_modulation` (respiratory sinus arrhythmia at 0.05 Hz: HR ± fm/2),",
        "ibi = `ibi_randomness`, drift / motion / bursts (number×amplitude) / powerline = the simulator's",
        "parameters. wander, baseline, amplitude and noise σ are in gray levels, and gain is the depth.",
        "",
        "| # | name | seed | s | bpm | fm | ibi | notch | drift | motion | bursts | powerline | wander | baseline | amplitude | gain | noise σ |",
        "|---|------|------|---|-----|----|-----|-------|-------|--------|--------|-----------|--------|----------|-----------|------|---------|",
    ]
    for s in RECORDINGS:
        bursts = f"{s['bursts']}×{s['burst_amp']:g}" if s["bursts"] else "0"
        lines.append(
            f"| {s['num']} | `{s['name']}` | {s['seed']} | {s['duration']:g} | {s['hr']} | {s['fm']:g} "
            f"| {s['ibi']:g} | {s['notch']} | {s['drift']:g} | {s['motion']:g} | {bursts} "
            f"| {s['powerline']:g} | {s['wander']:g} | {s['baseline']:g} | {s['amplitude']:g} "
            f"| {s['gain']:g} | {s['noise']:g} |")
    lines += [
        "",
        "## Sanity summary (printed by the script)",
        "",
        "beats = ground-truth peaks; bpm = 60 / mean interval. IBI is the smallest and largest",
        "interval in seconds. The `knot→max` columns give the distance from each truth peak to the",
        "nearest local maximum of the noise-free wave: first at 1200 Hz (the knot itself), then at",
        "60 Hz (the truth frame against the exposure-averaged clean wave); median / max in ms. `off`",
        "is the distance from the truth frame to the largest value of the final recording within",
        "±100 ms (median / max, ms). `edge` counts the truth peaks in the first 1 s or the last 0.8 s.",
        "",
        "| name | frames | beats | bpm | IBI min–max s | gray min–max | knot→max 1200 Hz ms | knot→max 60 Hz ms | off ms | edge |",
        "|------|--------|-------|-----|---------------|--------------|---------------------|-------------------|--------|------|",
    ]
    for r in summaries:
        lines.append(
            f"| `{r['name']}` | {r['samples']} | {r['beats']} | {r['bpm']:.1f} | {r['ibi_min']:.3f}–{r['ibi_max']:.3f} "
            f"| {r['gmin']:.1f}–{r['gmax']:.1f} | {r['d_sim_med']:.1f} / {r['d_sim_max']:.1f} "
            f"| {r['d_60_med']:.1f} / {r['d_60_max']:.1f} | {r['off_med']:.1f} / {r['off_max']:.1f} | {r['edge']} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="fixtures/signals/ppg",
                    help="output directory (default: fixtures/signals/ppg)")
    args = ap.parse_args()
    v = versions()
    if v != TESTED_VERSIONS:
        print(f"warning: versions {v} differ from the tested {TESTED_VERSIONS}; output may differ",
              file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = []
    for spec in RECORDINGS:
        gray, peaks, summary = generate(spec)
        name = spec["name"]
        with open(out / f"{name}.csv", "w", newline="\n", encoding="ascii") as f:
            f.write("gray\n")
            f.writelines(fmt(x) + "\n" for x in gray)
        with open(out / f"{name}.peaks.json", "w", newline="\n", encoding="ascii") as f:
            f.write(json.dumps({"fps": FPS, "peak_frames": peaks}) + "\n")
        summaries.append(summary)
        r = summary
        print(f"{name}: {r['samples']} frames, {r['beats']} beats, {r['bpm']:.1f} bpm, "
              f"ibi {r['ibi_min']:.3f}-{r['ibi_max']:.3f} s, gray {r['gmin']:.1f}-{r['gmax']:.1f}, "
              f"knot->max {r['d_sim_med']:.1f}/{r['d_sim_max']:.1f} ms (1200 Hz) "
              f"{r['d_60_med']:.1f}/{r['d_60_max']:.1f} ms (60 Hz), off {r['off_med']:.1f}/{r['off_max']:.1f} ms, "
              f"edge {r['edge']}")
    with open(out / "README.md", "w", newline="\n", encoding="utf-8") as f:
        f.write(readme(summaries))


if __name__ == "__main__":
    main()
