"""Offline Speech Commands: the keywords spoken by espeak-ng voices, in the data set's layout.

The espeak-ng engine ships inside the PyPI package ``espeakng-loader`` (a shared library plus its
voice data), so the data set builds with no network and no system packages. A "speaker" is one
combination of English accent, voice variant, pitch and rate; its id is 8 hex digits derived from
those, like the anonymised ids of the real data set, and the validation/test lists come from the
same speaker hash (:func:`v2i_jax.speech.dataset.which_set`), so no speaker is in two splits.

espeak-ng keeps its state (voice, parameters, callback) in the process, and its output depends on
the calls made before (the same word twice differs by a few samples) and, for breathy voices, on
a noise generator it seeds from the clock. A build therefore seeds that generator for every clip
and makes every call in one fixed order in one process: the same config gives the same wav files
and lists, byte for byte, in any fresh process (dataset_info.json also records the build time).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import threading
import time
import wave
from typing import Any, Sequence

import numpy as np
import soxr

from v2i_jax import audio
from v2i_jax.speech import augment
from v2i_jax.speech import dataset
from v2i_jax.speech import voices
from v2i_jax.speech.words import BABBLE_SENTENCES


# The eight English accents of espeak-ng ("en" is en-gb). en-shaw is left out: it reads the
# Shavian alphabet and speaks Latin text as plain "en".
ENGLISH_ACCENTS = ("en", "en-us", "en-us-nyc", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-029")
# Voice variants kept out of the default training data: the out-of-distribution keyword
# yardstick (configs/speech_data_ood.py) speaks with them. The Klatt family synthesises by
# another method (Klatt's formant synthesiser); the rest are distinct characters.
HELD_OUT_VARIANTS = ("klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "grandma",
                     "grandpa", "aunty", "announcer", "f4", "m7")
# "fast" is marked unstable in its own voice file; "Mr serious" has a space espeak cannot parse.
UNUSABLE_VARIANTS = ("fast", "Mr serious")

# Format version of what build_dataset writes; bump it when the output for a config changes, so
# folders built by older code are rebuilt instead of reused.
GENERATOR_VERSION = 2
INFO_FILE = "dataset_info.json"

_MAX_RATE = 450  # espeak-ng's fastest words per minute without its "sonic" speed-up.
# espeak volume 100 drives some voices to full scale; half leaves headroom against clipping.
_VOLUME = 50
# Samples more than this far below the clip's peak count as silence when trimming.
_TRIM_DB = 45.0
_TRIM_MARGIN_S = 0.015


class SynthError(ValueError):
  """A speaker, config or output folder the synthesiser cannot use; the message says the fix."""


@dataclasses.dataclass(frozen=True)
class Speaker:
  """One synthetic speaker: an espeak-ng accent + variant at a fixed pitch (0-99) and rate (wpm)."""
  accent: str
  variant: str
  pitch: int
  rate: int

  @property
  def id(self) -> str:
    """8 hex digits, stable across runs and machines (the real data set's id format)."""
    key = f"{self.accent}|{self.variant}|{self.pitch}|{self.rate}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]

  @property
  def voice(self) -> str:
    return f"{self.accent}+{self.variant}"


# --------------------------------------------------------------------------------------------
# The engine: ctypes over libespeak-ng.

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH = 1, 2, 3
_POS_CHARACTER, _ESPEAK_CHARS_UTF8 = 1, 1


class _Espeak:
  """The process's one espeak-ng instance (the library keeps global state, so there is one)."""

  def __init__(self):
    import espeakng_loader
    self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
    # A linked copy of the package's data, where generated variants (speech.voices) can go.
    self.data_path = voices.data_mirror(espeakng_loader.get_data_path())
    # Without an explicit data path the library looks in its build machine's path and exit()s.
    self.sample_rate = self._lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0)
    if self.sample_rate <= 0:
      raise SynthError(f"espeak-ng failed to start (data {self.data_path}); reinstall the "
                       "espeakng-loader package.")
    self._lib.espeak_Info.restype = ctypes.c_char_p
    self.version = self._lib.espeak_Info(None).decode()
    self._chunks: list[np.ndarray] = []
    # The library keeps only a raw pointer: this reference keeps the callback alive.
    self._callback = _SYNTH_CALLBACK(self._collect)
    self._lib.espeak_SetSynthCallback(self._callback)
    self._lib.espeak_SetParameter(_ESPEAK_VOLUME, _VOLUME, 0)
    self._lock = threading.Lock()
    self.spoken = False  # Whether anything was said: later output depends on it.

  def _collect(self, samples, n, events):
    del events
    if n > 0:
      self._chunks.append(np.ctypeslib.as_array(samples, shape=(n,)).copy())
    return 0

  def speak(self, text: str, voice: str, pitch: int, rate: int, rand_seed: int) -> np.ndarray:
    """int16 samples at ``self.sample_rate``."""
    with self._lock:
      self.spoken = True
      # Breathy voices (whisper, f2-f5, ...) draw noise from a generator espeak-ng seeds from
      # the clock at start-up; seeding it per call makes them reproducible.
      self._lib.espeak_ng_SetRandSeed(ctypes.c_long(rand_seed))
      variant = voice.partition("+")[2]
      if voices.is_generated(variant):
        voices.install(self.data_path, variant)
      if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SynthError(f"espeak-ng has no voice {voice!r}; use an accent from "
                         f"{ENGLISH_ACCENTS} and a variant from available_variants().")
      # Rate and pitch persist across voice changes, so set them on every call.
      self._lib.espeak_SetParameter(_ESPEAK_RATE, int(rate), 0)
      self._lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
      self._chunks.clear()
      encoded = text.encode("utf-8")
      self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8,
                             None, None)
      self._lib.espeak_Synchronize()
      chunks, self._chunks = self._chunks, []
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@functools.cache
def _engine() -> _Espeak:
  return _Espeak()


def espeak_version() -> str:
  return _engine().version


def available_variants() -> list[str]:
  """Voice variants (``accent+variant``) shipped with espeak-ng, minus the unusable ones."""
  import espeakng_loader
  folder = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
  return sorted(v for v in os.listdir(folder) if v not in UNUSABLE_VARIANTS)


# --------------------------------------------------------------------------------------------
# Speakers and single clips.

def sample_speakers(n: int, seed: int, *, accents: Sequence[str] = ENGLISH_ACCENTS,
                    variants: Sequence[str] | None = None,
                    pitch_range: tuple[int, int] = (0, 99),
                    rate_range: tuple[int, int] = (120, 240)) -> list[Speaker]:
  """``n`` distinct speakers. Accent x variant pairs are dealt from shuffled decks, so every
  pair is used once before any repeats; pitch and rate are uniform in their (inclusive) ranges."""
  variants = available_variants() if variants is None else list(variants)
  _check_speaker_ranges(n, accents, variants, pitch_range, rate_range)
  rng = np.random.default_rng([seed, 0])
  pairs = [(a, v) for a in accents for v in variants]
  speakers, ids = [], set()
  while len(speakers) < n:
    for i in rng.permutation(len(pairs)):
      accent, variant = pairs[i]
      speaker = Speaker(accent, variant, int(rng.integers(pitch_range[0], pitch_range[1] + 1)),
                        int(rng.integers(rate_range[0], rate_range[1] + 1)))
      if speaker.id not in ids:
        ids.add(speaker.id)
        speakers.append(speaker)
        if len(speakers) == n:
          break
  return speakers


def synthesize(text: str, speaker: Speaker, *, max_seconds: float | None = None,
               seed: int = 0) -> np.ndarray:
  """``text`` spoken by ``speaker``: float32 mono at 16 kHz, leading/trailing silence trimmed.

  With ``max_seconds``, a voice too slow for the limit speaks faster until the words fit, so a
  clip never has to be cut. ``seed`` fixes the breath noise of breathy voices. The same calls in
  the same order give the same samples in any fresh process.
  """
  if not text.strip():
    raise SynthError("nothing to say: the text is empty.")
  if speaker.variant in UNUSABLE_VARIANTS or (speaker.variant not in _variant_set() and
                                              not voices.is_generated(speaker.variant)):
    # An unknown variant would silently give the plain accent voice.
    raise SynthError(f"espeak-ng has no usable variant {speaker.variant!r}; pick one of "
                     "available_variants() or a generated one (speech.voices).")
  engine = _engine()
  rate = speaker.rate
  while True:
    raw = engine.speak(text, speaker.voice, speaker.pitch, rate, seed)
    x = soxr.resample(raw.astype(np.float32) / 32768.0, engine.sample_rate,
                      audio.SAMPLE_RATE).astype(np.float32)
    x = _trim_silence(x)
    if max_seconds is None or x.size <= max_seconds * audio.SAMPLE_RATE:
      return x
    if rate >= _MAX_RATE:
      raise SynthError(f"{text!r} by {speaker.voice} lasts {x.size / audio.SAMPLE_RATE:.2f} s "
                       f"even at {_MAX_RATE} wpm; raise max_seconds or pick another voice.")
    # Speed up in proportion to the overshoot (plus 5%), then check again.
    rate = min(_MAX_RATE, math.ceil(rate * x.size / (max_seconds * audio.SAMPLE_RATE) * 1.05))


@functools.cache
def _variant_set() -> frozenset[str]:
  return frozenset(available_variants())


def _trim_silence(x: np.ndarray) -> np.ndarray:
  peak = float(np.max(np.abs(x))) if x.size else 0.0
  if peak == 0.0:
    return x[:0]
  loud = np.nonzero(np.abs(x) > peak * 10 ** (-_TRIM_DB / 20))[0]
  margin = int(_TRIM_MARGIN_S * audio.SAMPLE_RATE)
  return x[max(0, loud[0] - margin):loud[-1] + 1 + margin]


def _check_speaker_ranges(n, accents, variants, pitch_range, rate_range):
  if n < 1:
    raise SynthError(f"num_speakers must be >= 1, got {n}.")
  if not accents or not variants:
    raise SynthError("need at least one accent and one variant.")
  bad_accents = [a for a in accents if not a.startswith("en")]
  if bad_accents:
    raise SynthError(f"accents {bad_accents} are not English; use some of {ENGLISH_ACCENTS}.")
  if not 0 <= pitch_range[0] <= pitch_range[1] <= 99:
    raise SynthError(f"pitch_range {tuple(pitch_range)} must lie in 0..99, low <= high.")
  if not 80 <= rate_range[0] <= rate_range[1] <= _MAX_RATE:
    raise SynthError(f"rate_range {tuple(rate_range)} must lie in 80..{_MAX_RATE} words per "
                     "minute, low <= high.")
  combos = len(accents) * len(variants) * (pitch_range[1] - pitch_range[0] + 1) * (
      rate_range[1] - rate_range[0] + 1)
  if n > combos // 2:
    raise SynthError(f"{n} speakers is too many for {combos} accent/variant/pitch/rate "
                     "combinations; widen the ranges or ask for fewer speakers.")


# --------------------------------------------------------------------------------------------
# Background noise.

def make_background_noise(seconds: float, seed: int) -> dict[str, np.ndarray]:
  """Generated noise recordings for ``_background_noise_/``: white, pink (1/f), brown (1/f^2),
  a 50 Hz mains hum with harmonics, and a fan (low rumble with a blade tone)."""
  n = int(seconds * audio.SAMPLE_RATE)
  rng = np.random.default_rng([seed, 1])
  freqs = np.fft.rfftfreq(n, 1.0 / audio.SAMPLE_RATE)
  t = np.arange(n) / audio.SAMPLE_RATE

  def coloured(power_exponent: float, lowest_hz: float = 20.0) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= np.maximum(freqs, lowest_hz) ** (-power_exponent / 2)
    return np.fft.irfft(spectrum, n)

  hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8))
  fan_rumble = coloured(2.0, lowest_hz=60.0)
  blade = np.sin(2 * np.pi * 120 * t) * (1 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
  noises = {
      "white_noise": rng.standard_normal(n),
      "pink_noise": coloured(1.0),
      "brown_noise": coloured(2.0),
      "mains_hum": hum + 0.05 * _unit_rms(coloured(1.0)),
      "fan": _unit_rms(fan_rumble) + 0.3 * blade,
  }
  # The real recordings sit around -20 dBFS RMS.
  return {name: (0.1 * _unit_rms(x)).astype(np.float32) for name, x in noises.items()}


def make_babble(seconds: float, seed: int, talkers: int,
                speakers: Sequence[Speaker]) -> np.ndarray:
  """``talkers`` voices of ``speakers`` talking at once (sentences back to back, each voice at
  its own level): the crowd noise of a cafe or an office, at -20 dBFS RMS."""
  n = int(seconds * audio.SAMPLE_RATE)
  rng = np.random.default_rng([seed, 3])
  mix = np.zeros(n)
  for talker in range(talkers):
    speaker = speakers[talker % len(speakers)]
    track, filled = np.zeros(n), int(rng.integers(0, audio.SAMPLE_RATE // 2))
    while filled < n:
      sentence = BABBLE_SENTENCES[int(rng.integers(len(BABBLE_SENTENCES)))]
      x = synthesize(sentence, speaker, seed=int(rng.integers(2**31)))
      x = x[:n - filled]
      track[filled:filled + x.size] = x
      filled += x.size + int(rng.integers(800, 4000))
    mix += _unit_rms(track + 1e-9) * 10 ** (rng.uniform(-6.0, 0.0) / 20)
  return (0.1 * _unit_rms(mix)).astype(np.float32)


def _build_in_fresh_process(out_dir: str, config, progress: bool) -> dict[str, Any]:
  import concurrent.futures  # pylint: disable=g-import-not-at-top
  import multiprocessing  # pylint: disable=g-import-not-at-top
  with concurrent.futures.ProcessPoolExecutor(
      1, mp_context=multiprocessing.get_context("spawn")) as pool:
    return pool.submit(build_dataset, out_dir, config, progress).result()


def _unit_rms(x: np.ndarray) -> np.ndarray:
  return x / np.sqrt(np.mean(x ** 2))


# --------------------------------------------------------------------------------------------
# The data set.

def build_dataset(out_dir: str, config, progress: bool = True) -> dict[str, Any]:
  """Writes the Speech Commands layout to ``out_dir`` and returns a summary.

  ``config`` is an ``ml_collections.ConfigDict`` like ``configs/speech_data.py``. When ``out_dir``
  already holds a complete build of the same config, nothing is rebuilt (``summary["skipped"]``).
  The build goes to ``<out_dir>.partial`` and is renamed at the end, so an interrupted build never
  looks finished.
  """
  started = time.time()
  out_dir = os.path.abspath(out_dir)
  identity = _config_identity(config)
  existing = _read_info(out_dir)
  if existing is not None and existing.get("config") == identity and existing.get(
      "generator_version") == GENERATOR_VERSION:
    return _summary(out_dir, existing, seconds=time.time() - started, skipped=True)
  if _engine.cache_info().currsize and _engine().spoken:
    # espeak-ng's output depends on what it said before in this process: build in a fresh one,
    # so that a data set is the same however it is built (launch.quickstart builds two in a row).
    return _build_in_fresh_process(out_dir, config, progress)
  if existing is None and os.path.isdir(out_dir) and os.listdir(out_dir):
    raise SynthError(f"{out_dir} exists and is not a data set built by this tool (no "
                     f"{INFO_FILE} of ours); pass an empty or new output folder.")

  words = list(config.words)
  _check_config(config)
  speakers = sample_speakers(
      config.num_speakers, config.seed, accents=list(config.accents),
      variants=[v for v in available_variants() if v not in set(config.exclude_variants)] +
      voices.generated_names(config.get("generated_variants", 0),
                             config.get("generated_variant_seed", 0)),
      pitch_range=tuple(config.pitch_range), rate_range=tuple(config.rate_range))
  split_of = {s.id: dataset.which_set(f"{s.id}_nohash_0.wav", config.validation_percentage,
                                      config.testing_percentage) for s in speakers}

  partial = out_dir.rstrip(os.sep) + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(os.path.join(partial, dataset.BACKGROUND_NOISE_DIR))
  noises = make_background_noise(config.background_noise_seconds, config.seed)
  for name, x in noises.items():
    _write_pcm16(os.path.join(partial, dataset.BACKGROUND_NOISE_DIR, f"{name}.wav"), x)
  noise_names = sorted(noises)
  noise_list = [noises[k] for k in noise_names]
  channel = config.get("channel")
  channel_noises = list(noise_list)
  if config.get("babble_talkers", 0):  # For channels here and augmentation in training.
    babble = make_babble(config.background_noise_seconds, config.seed, config.babble_talkers,
                         speakers)
    _write_pcm16(os.path.join(partial, dataset.BACKGROUND_NOISE_DIR, "babble.wav"), babble)
    channel_noises.append(babble)
    noise_names.append("babble")

  total = len(speakers) * len(words) * config.clips_per_word
  bar = None
  if progress:
    from v2i_jax.training.loop import progress as progress_bar
    bar = progress_bar(total, desc="speech clips")
  lists = {"validation": [], "test": []}
  for word in words:
    os.makedirs(os.path.join(partial, word))
  # One fixed call order (speaker, word, repetition): espeak-ng's output depends on it.
  for speaker_index, speaker in enumerate(speakers):
    for word_index, word in enumerate(words):
      for repetition in range(config.clips_per_word):
        rng = np.random.default_rng([config.seed, 2, speaker_index, word_index, repetition])
        clip = _make_clip(word, _repeat_of(speaker, repetition, rng), rng, noise_list, config)
        if channel is not None:  # Room, microphone, line, noise, level (speech.augment).
          clip = augment.random_channel(clip, rng, channel, channel_noises)
        name = f"{word}/{speaker.id}_nohash_{repetition}.wav"
        _write_pcm16(os.path.join(partial, name), clip)
        if split_of[speaker.id] in lists:
          lists[split_of[speaker.id]].append(name)
        if bar is not None:
          bar.update(1)
  extra = _write_non_keywords(partial, speakers, noise_list, channel_noises, config, channel,
                              split_of, lists)
  if bar is not None:
    bar.close()
  for split, file_name in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
    with open(os.path.join(partial, file_name), "w") as f:
      f.writelines(f"{name}\n" for name in sorted(lists[split]))

  info = _info(identity, words, speakers, split_of, config.clips_per_word, noise_names,
               seconds=time.time() - started)
  info["non_keyword_clips"] = extra
  with open(os.path.join(partial, INFO_FILE), "w") as f:
    json.dump(info, f, indent=1)
  if existing is not None:
    shutil.rmtree(out_dir)  # An older build of ours with another config.
  os.replace(partial, out_dir)
  return _summary(out_dir, info, seconds=time.time() - started, skipped=False)


def _write_non_keywords(partial, speakers, noise_list, channel_noises, config, channel,
                        split_of, lists) -> dict[str, int]:
  """``_unknown_/`` (``unknown_clips_per_speaker`` words of ``config.unknown_words`` by every
  speaker) and ``_silence_/`` (``silence_clips_per_speaker`` noise-only clips each: background
  noise, babble, clicks and breath-like bursts at any level, or near-silence)."""
  counts = {}
  for folder, per_speaker in ((dataset.UNKNOWN, config.get("unknown_clips_per_speaker", 0)),
                              (dataset.SILENCE, config.get("silence_clips_per_speaker", 0))):
    if not per_speaker:
      continue
    os.makedirs(os.path.join(partial, folder))
    for speaker_index, speaker in enumerate(speakers):
      for n in range(per_speaker):
        rng = np.random.default_rng([config.seed, 4 + (folder == dataset.SILENCE),
                                     speaker_index, n])
        if folder == dataset.UNKNOWN:
          word = config.unknown_words[int(rng.integers(len(config.unknown_words)))]
          clip = _make_clip(word, speaker, rng, noise_list, config)
        else:
          clip = _non_speech(rng, channel_noises)
        if channel is not None:
          clip = augment.random_channel(clip, rng, channel, channel_noises)
        name = f"{folder}/{speaker.id}_nohash_{n}.wav"
        _write_pcm16(os.path.join(partial, name), clip)
        if split_of[speaker.id] in lists:
          lists[split_of[speaker.id]].append(name)
    counts[folder] = len(speakers) * per_speaker
  return counts


def _non_speech(rng: np.random.Generator, noises: list[np.ndarray]) -> np.ndarray:
  """One second with no word in it: a stretch of a noise recording (babble included) at -60 to
  -10 dBFS RMS, with a click or a short breath-like burst half of the time."""
  n = audio.SAMPLE_RATE
  noise = noises[int(rng.integers(len(noises)))]
  start = int(rng.integers(0, noise.size - n + 1))
  clip = _unit_rms(noise[start:start + n].astype(np.float64) + 1e-9) * 10 ** (
      rng.uniform(-60.0, -10.0) / 20)
  if rng.uniform() < 0.5:
    length = int(rng.uniform(0.005, 0.25) * n)
    at = int(rng.integers(0, n - length))
    burst = rng.standard_normal(length) * np.hanning(length) * 10 ** (rng.uniform(-30, -3) / 20)
    clip[at:at + length] += np.convolve(burst, np.ones(int(rng.integers(1, 12))), "same") / 4
  return np.clip(clip, -1, 1).astype(np.float32)


def _repeat_of(speaker: Speaker, repetition: int, rng: np.random.Generator) -> Speaker:
  """Repetitions after the first vary a little, as a person's do: pitch +-4, rate +-8%."""
  if repetition == 0:
    return speaker
  return dataclasses.replace(
      speaker, pitch=int(np.clip(speaker.pitch + rng.integers(-4, 5), 0, 99)),
      rate=int(np.clip(round(speaker.rate * rng.uniform(0.92, 1.08)), 80, _MAX_RATE)))


def _make_clip(word: str, speaker: Speaker, rng: np.random.Generator,
               noise_list: list[np.ndarray], config) -> np.ndarray:
  """One 1 s clip: the word at a random offset and loudness, maybe over background noise."""
  x = synthesize(word, speaker, max_seconds=config.max_word_seconds,
                 seed=int(rng.integers(2**31)))
  peak_db = rng.uniform(*config.peak_dbfs_range)
  x = x * (10 ** (peak_db / 20) / max(float(np.max(np.abs(x))), 1e-9))
  clip = np.zeros(audio.SAMPLE_RATE, np.float32)
  # Like the real clips (cut around the loudest second of a recording), the word sits near the
  # middle, shifted at random by up to offset_jitter_seconds, and always wholly inside.
  jitter = int(config.offset_jitter_seconds * audio.SAMPLE_RATE)
  centred = (audio.SAMPLE_RATE - x.size) // 2
  offset = int(np.clip(centred + rng.integers(-jitter, jitter + 1), 0,
                       audio.SAMPLE_RATE - x.size))
  clip[offset:offset + x.size] = x
  if rng.uniform() < config.noise_probability:
    noise = noise_list[int(rng.integers(len(noise_list)))]
    start = int(rng.integers(0, noise.size - audio.SAMPLE_RATE + 1))
    segment = noise[start:start + audio.SAMPLE_RATE]
    snr_db = rng.uniform(*config.snr_db_range)
    speech_power = float(np.mean(x ** 2))
    clip = clip + segment * math.sqrt(
        speech_power / (float(np.mean(segment ** 2)) * 10 ** (snr_db / 10)))
    clip /= max(1.0, float(np.max(np.abs(clip))) / 0.99)
  return clip.astype(np.float32)


def _write_pcm16(path: str, x: np.ndarray) -> None:
  """16 kHz mono 16-bit PCM, like :func:`v2i_jax.audio.write_wav`, without its per-file fsync
  (soundfile syncs on close, which took over half of the build time)."""
  pcm = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
  with wave.open(path, "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(audio.SAMPLE_RATE)
    f.writeframes(pcm.tobytes())


def _check_config(config) -> None:
  """Config values the build cannot honour, each with the field to change."""
  words = list(config.words)
  if not words:
    raise SynthError("config.words is empty; list the keywords to synthesise.")
  bad = [w for w in words if not w.isalpha() or w != w.lower()]
  if bad:
    raise SynthError(f"words {bad} must be lowercase letters only (they name the folders).")
  if len(set(words)) != len(words):
    raise SynthError("config.words has duplicates.")
  problems = []
  if config.get("unknown_clips_per_speaker", 0):
    unknown = list(config.get("unknown_words", ()))
    if not unknown or set(unknown) & set(words):
      problems.append("unknown_words must be non-empty and hold none of config.words")
  if config.clips_per_word < 1:
    problems.append(f"clips_per_word={config.clips_per_word} must be >= 1")
  if not 0.2 <= config.max_word_seconds <= 1.0:
    problems.append(f"max_word_seconds={config.max_word_seconds} must lie in 0.2..1.0 (the "
                    "clips last 1 s)")
  if not 0 <= config.offset_jitter_seconds <= 0.5:
    problems.append(f"offset_jitter_seconds={config.offset_jitter_seconds} must lie in 0..0.5")
  low, high = config.peak_dbfs_range
  if not low <= high <= 0:
    problems.append(f"peak_dbfs_range={tuple(config.peak_dbfs_range)} must be low <= high <= 0")
  if not 0 <= config.noise_probability <= 1:
    problems.append(f"noise_probability={config.noise_probability} must lie in 0..1")
  if config.snr_db_range[0] > config.snr_db_range[1]:
    problems.append(f"snr_db_range={tuple(config.snr_db_range)} must be low <= high")
  if config.background_noise_seconds < 1:
    problems.append(f"background_noise_seconds={config.background_noise_seconds} must be >= 1")
  if not (0 <= config.validation_percentage and 0 <= config.testing_percentage and
          config.validation_percentage + config.testing_percentage < 100):
    problems.append("validation_percentage and testing_percentage must be >= 0 and leave some "
                    "speakers for training")
  if problems:
    raise SynthError("bad speech data config: " + "; ".join(problems) + ".")


def _config_identity(config) -> dict[str, Any]:
  """The config fields that decide the output (the output folder itself does not)."""
  d = json.loads(json.dumps(config.to_dict() if hasattr(config, "to_dict") else dict(config)))
  d.pop("out_dir", None)
  return d


def _read_info(out_dir: str) -> dict[str, Any] | None:
  """The folder's dataset_info.json if this module wrote it (tfds writes files of that name too)."""
  path = os.path.join(out_dir, INFO_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError):
    return None
  return info if isinstance(info, dict) and info.get("generator") == __name__ else None


def _info(identity, words, speakers, split_of, clips_per_word, noise_names, seconds):
  splits = ("train", "validation", "test")
  return {
      "generator": __name__,
      "generator_version": GENERATOR_VERSION,
      "espeak_ng": espeak_version(),
      "config": identity,
      "sample_rate": audio.SAMPLE_RATE,
      "words": list(words),
      "clips": len(speakers) * len(words) * clips_per_word,
      "clips_per_split": {s: sum(split_of[p.id] == s for p in speakers) * len(words) *
                          clips_per_word for s in splits},
      "speakers_per_split": {s: sum(split_of[p.id] == s for p in speakers) for s in splits},
      "background_noise": [f"{name}.wav" for name in noise_names],
      "build_seconds": round(seconds, 1),
      "speakers": [dict(id=p.id, split=split_of[p.id], **dataclasses.asdict(p))
                   for p in speakers],
  }


def _summary(out_dir, info, seconds, skipped):
  return {"out_dir": out_dir, "skipped": skipped, "seconds": round(seconds, 2),
          **{k: info[k] for k in ("clips", "clips_per_split", "speakers_per_split", "words")}}


# --------------------------------------------------------------------------------------------
# Phrases for demos and benchmarks: several words with pauses, by voices a model never heard.

PHRASE_PAUSE_SECONDS = 0.45  # Between words, so each one is its own segment for transcribe().


def unheard_speakers(data_dir: str, n: int, seed: int) -> list[Speaker]:
  """``n`` speakers none of whose ids appear in the Speech Commands-layout folder ``data_dir``."""
  heard = {dataset.speaker_of(p) for p, _ in dataset.list_clips(data_dir, "all")}
  fresh = [s for s in sample_speakers(2 * n + 8, seed, rate_range=(140, 200)) if s.id not in heard]
  return fresh[:n]


def speak_phrase(words: Sequence[str], speaker: Speaker,
                 pause_seconds: float = PHRASE_PAUSE_SECONDS) -> np.ndarray:
  """The words one after another with pauses around them, peak 0.5, float32 at 16 kHz."""
  pause = np.zeros(int(pause_seconds * audio.SAMPLE_RATE), np.float32)
  pieces = [pause]
  for word in words:
    pieces += [synthesize(word, speaker, max_seconds=0.9), pause]
  x = np.concatenate(pieces)
  return x * (0.5 / max(1e-6, float(np.abs(x).max())))
