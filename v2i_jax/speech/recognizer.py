"""Words from audio with a trained keyword classifier: restore, predict, transcribe, evaluate.

  recognizer = Recognizer.restore("runs/kws_cnn")
  recognizer.predict(waveform, 16000)        # [("cat", 0.97), ("bed", 0.01), ...]
  recognizer.transcribe(waveform, 16000)     # ["cat", "up"] for two words with a pause between

A workdir's checkpoint meta holds the words, the MFCC front end and the normalisation statistics
(see :func:`v2i_jax.speech.train.checkpoint_meta`), so restoring needs no data set. Audio goes
through :func:`v2i_jax.audio.prepare_waveform` (checks, mix-down, resampling to 16 kHz) and the
same jitted MFCC function that built the training features.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from v2i_jax import audio
from v2i_jax.speech import dataset
from v2i_jax.speech import features
from v2i_jax.speech import models
from v2i_jax.speech import train
from v2i_jax.training import checkpoint
from v2i_jax.training import loop

# Energy-based segmentation of several words (transcribe).
FRAME_SECONDS = 0.025
HOP_SECONDS = 0.010
BELOW_PEAK_DB = 35.0  # Quieter than this under the loudest frame is not speech ...
ABOVE_FLOOR_DB = 12.0  # ... nor is anything within this of the noise floor (10th percentile),
MIN_CONTRAST_DB = 6.0  # ... but a clip that is all word has its floor inside the word.
MIN_GAP_SECONDS = 0.25  # Shorter pauses are inside a word ("sto-p"), not between words.
MIN_WORD_SECONDS = 0.08
PAD_SECONDS = 0.1  # Quiet onsets and decays kept around a segment (never past a neighbour's).
EVAL_BATCH_SIZE = 64
MIN_BATCH = 8  # predict() and short transcriptions share one compiled batch size.
OPERATING_WEIGHTS = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05)  # Non-keyword weights score_folder reports.


class RecognitionError(ValueError):
  """Nothing recognisable in the audio; the message says what was found and what to do."""


@dataclasses.dataclass(frozen=True)
class Segment:
  start_seconds: float
  end_seconds: float
  word: str
  probability: float


@dataclasses.dataclass(frozen=True)
class Recognizer:
  """A restored keyword classifier with its feature front end. Build with :meth:`restore`."""
  words: tuple[str, ...]
  mfcc_cfg: features.FrontEndConfig  # MFCCs or the speech embedding
  step: int
  workdir: str
  _variables: dict[str, Any]  # params and batch_stats
  # (variables, [batch, clip_samples] 16 kHz float32) -> [batch, len(words)] probabilities.
  _probabilities_fn: Callable[[dict[str, Any], jax.Array], jax.Array]
  # The non-keyword classes' probabilities are multiplied by this before the most probable
  # class is taken (see decide()); the training config's ``non_keyword_weight``, 1 by default.
  non_keyword_weight: float = 1.0

  @classmethod
  def restore(cls, workdir: str, step: int | None = None) -> "Recognizer":
    """Loads the newest (or the given) checkpoint of ``workdir`` onto the first device."""
    ckpt = checkpoint.Checkpointer(os.path.join(workdir, train.CHECKPOINT_DIR), create=False)
    try:
      meta = ckpt.restore_meta(step)
      for key in ("config", "words", "mfcc", "feature_mean", "feature_std"):
        if key not in meta:
          raise checkpoint.CheckpointError(
              f"the checkpoint in {workdir} lacks {key!r}; it was not written by "
              "launch.train_kws. Pass a keyword-classifier workdir.")
      config = ml_collections.ConfigDict(meta["config"])
      mfcc_cfg = features.front_end_from_any(meta["mfcc"])
      words = tuple(meta["words"])
      target = train.abstract_train_state(config, len(words), mfcc_cfg.feature_shape,
                                          jax.sharding.SingleDeviceSharding(jax.devices()[0]))
      restored_step, state, _ = ckpt.restore(train.state_to_save(target), step)
    finally:
      ckpt.close()

    model = models.build_model(config.model, len(words))
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    mfcc_fn = features.make_feature_fn(mfcc_cfg)
    mean = jnp.asarray(meta["feature_mean"], jnp.float32)
    std = jnp.asarray(meta["feature_std"], jnp.float32)

    @jax.jit
    def probabilities(variables, waveforms):
      x = features.normalize(mfcc_fn(waveforms), mean, std)
      return jax.nn.softmax(model.apply(variables, x, train=False), axis=-1)

    return cls(words=words, mfcc_cfg=mfcc_cfg, step=int(restored_step),
               workdir=os.path.abspath(workdir), _variables=variables,
               _probabilities_fn=probabilities,
               non_keyword_weight=check_non_keyword_weight(config.get("non_keyword_weight", 1.0)))

  def with_non_keyword_weight(self, weight: float) -> "Recognizer":
    """The same model with another :attr:`non_keyword_weight` (below 1: fewer keywords missed,
    more other words and noises taken for keywords; README "Keyword classifier")."""
    return dataclasses.replace(self, non_keyword_weight=check_non_keyword_weight(weight))

  def decide(self, probabilities: np.ndarray) -> np.ndarray:
    """``[batch, len(words)]`` probabilities -> the index of the word heard, per row."""
    return decide(probabilities, self.words, self.non_keyword_weight)

  @property
  def keywords(self) -> tuple[str, ...]:
    """The words it can hear (its classes less ``_unknown_`` and ``_silence_``)."""
    return tuple(w for w in self.words if dataset.is_keyword(w))

  def probabilities(self, clips: np.ndarray) -> np.ndarray:
    """``[batch, clip_samples]`` 16 kHz clips -> ``[batch, len(words)]`` probabilities.

    Batches are padded to a power of two (at least 8) so a few compilations serve every size.
    """
    clips = np.asarray(clips, np.float32)
    n = len(clips)
    padded = np.zeros((max(MIN_BATCH, 1 << (n - 1).bit_length()), clips.shape[1]), np.float32)
    padded[:n] = clips
    return np.asarray(self._probabilities_fn(self._variables, padded))[:n]

  def predict(self, waveform: np.ndarray, sample_rate: int = audio.SAMPLE_RATE,
              top_k: int = 3, max_seconds: float = audio.DEFAULT_MAX_SECONDS
              ) -> list[tuple[str, float]]:
    """The ``top_k`` most probable words for audio holding one word, most probable first.

    Audio longer than the model's clip (1 s) is cut to the clip centred on its energy.
    """
    x = audio.prepare_waveform(waveform, sample_rate, max_seconds=max_seconds)
    probs = self.probabilities(self._centre_on_energy(x)[None])[0]
    order = np.argsort(-probs)[:max(1, top_k)]
    return [(self.words[i], float(probs[i])) for i in order]

  def transcribe_segments(self, waveform: np.ndarray, sample_rate: int = audio.SAMPLE_RATE,
                          min_probability: float = 0.0,
                          max_seconds: float = audio.DEFAULT_MAX_SECONDS) -> list[Segment]:
    """Splits audio at pauses (energy below a threshold), classifies each part, and keeps the
    parts heard as keywords: a part the model calls ``_unknown_`` (another word) or
    ``_silence_`` (a noise) is dropped.

    Raises:
      RecognitionError: no part is loud enough to be a word, none is a keyword, or none
        reaches ``min_probability``.
    """
    x = audio.prepare_waveform(waveform, sample_rate, max_seconds=max_seconds)
    spans = speech_spans(x)
    if not spans:
      raise RecognitionError(
          f"no word found in {x.size / audio.SAMPLE_RATE:.2f} s of audio: its level never "
          "rises clearly above the background (silence or a steady noise); speak louder or "
          "closer to the microphone, or record in a quieter place.")
    background = background_of(x, spans)
    clips = [self._clip_of(x[start:end], background) for start, end in spans]
    probs = self.probabilities(np.stack(clips))
    segments = [Segment(start / audio.SAMPLE_RATE, end / audio.SAMPLE_RATE,
                        self.words[int(i)], float(p[i]))
                for (start, end), p, i in zip(spans, probs, self.decide(probs))]
    heard = [s for s in segments if dataset.is_keyword(s.word)]
    if not heard:
      raise RecognitionError(
          f"found {len(segments)} spoken part(s) but no keyword in them (heard: "
          + ", ".join("another word" if s.word == dataset.UNKNOWN else "a noise"
                      for s in segments) +
          f"); say one of the {len(self.keywords)} keywords: {', '.join(self.keywords)}.")
    kept = [s for s in heard if s.probability >= min_probability]
    if not kept:
      found = ", ".join(f"{s.word} ({s.probability:.2f})" for s in heard)
      raise RecognitionError(
          f"found {len(segments)} spoken part(s) but none is a known word with probability >= "
          f"{min_probability:g} (best guesses: {found}); the model knows {len(self.keywords)} "
          f"words: {', '.join(self.keywords)}.")
    return kept

  def transcribe(self, waveform: np.ndarray, sample_rate: int = audio.SAMPLE_RATE,
                 min_probability: float = 0.0) -> list[str]:
    """The words of audio holding several words separated by silence, in order."""
    return [s.word for s in self.transcribe_segments(waveform, sample_rate, min_probability)]

  def _clip_of(self, piece: np.ndarray, background: np.ndarray) -> np.ndarray:
    """One word's segment as the model's clip: centred on its energy, and where it is shorter,
    padded with the recording's own background (as the training clips are noisy throughout)
    instead of digital silence, which no microphone records."""
    length = self.mfcc_cfg.clip_samples
    missing = length - piece.size
    if missing <= 0 or background.size == 0:
      return audio.fit_length(self._centre_on_energy(piece), length)
    fill = np.resize(background, missing)  # Tiled when shorter.
    left = missing // 2
    return np.concatenate([fill[:left], piece, fill[left:]]).astype(np.float32)

  def _centre_on_energy(self, x: np.ndarray) -> np.ndarray:
    """The model's clip length of ``x``, centred on its energy centroid when ``x`` is longer."""
    length = self.mfcc_cfg.clip_samples
    if x.size <= length:
      return audio.fit_length(x, length)
    energy = x.astype(np.float64) ** 2
    centre = int(np.sum(np.arange(x.size) * energy) / max(np.sum(energy), 1e-20))
    start = int(np.clip(centre - length // 2, 0, x.size - length))
    return x[start:start + length]


def check_non_keyword_weight(weight) -> float:
  """``weight`` as a float in (0, 1]; otherwise a RecognitionError that says so."""
  try:
    value = float(weight)
  except (TypeError, ValueError):
    value = float("nan")
  if isinstance(weight, bool) or not 0.0 < value <= 1.0:
    raise RecognitionError(f"non_keyword_weight={weight!r} must be a number in (0, 1]: 1 takes "
                           "the most probable class; smaller values favour keywords.")
  return value


def decide(probabilities: np.ndarray, words, non_keyword_weight: float = 1.0) -> np.ndarray:
  """The most probable class per row after the non-keyword classes' probabilities are scaled by
  ``non_keyword_weight`` (a prior that trades missed keywords against false accepts)."""
  return np.argmax(np.asarray(probabilities) * _class_scale(words, non_keyword_weight), axis=-1)


def _class_scale(words, non_keyword_weight: float) -> np.ndarray:
  """Per class: 1 for a keyword, ``non_keyword_weight`` for ``_unknown_``/``_silence_``."""
  return np.where([dataset.is_keyword(w) for w in words], 1.0, non_keyword_weight)


def background_of(x: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
  """The samples of ``x`` outside every word span (the recording's background), or nothing when
  there are under 50 ms of it."""
  keep = np.ones(x.size, bool)
  for start, end in spans:
    keep[start:end] = False
  background = x[keep]
  return background if background.size >= int(0.05 * audio.SAMPLE_RATE) else background[:0]


def speech_spans(x: np.ndarray, sample_rate: int = audio.SAMPLE_RATE) -> list[tuple[int, int]]:
  """``[(start, end)]`` sample ranges of the words in ``x``: runs of frames clearly louder than
  the background, pauses shorter than ``MIN_GAP_SECONDS`` joined. A steady sound (level within
  ``MIN_CONTRAST_DB`` of its floor throughout) holds no word."""
  frame, hop = int(FRAME_SECONDS * sample_rate), int(HOP_SECONDS * sample_rate)
  if x.size < frame:
    x = np.pad(x, (0, frame - x.size))
  starts = np.arange(0, x.size - frame + 1, hop)
  power = np.array([np.mean(np.square(x[s:s + frame], dtype=np.float64)) for s in starts])
  level = 10 * np.log10(np.maximum(power, 1e-12))
  peak, floor = level.max(), np.percentile(level, 10)
  if peak - floor < MIN_CONTRAST_DB:
    return []
  threshold = max(peak - BELOW_PEAK_DB, min(floor + ABOVE_FLOOR_DB, peak - MIN_CONTRAST_DB))
  active = np.concatenate([[False], level > threshold, [False]])
  edges = np.flatnonzero(np.diff(active.astype(np.int8)))
  runs = []  # frame ranges [first, last + 1)
  for first, end in zip(edges[::2], edges[1::2]):
    if runs and first - runs[-1][1] < MIN_GAP_SECONDS / HOP_SECONDS:
      runs[-1][1] = end
    else:
      runs.append([first, end])
  spans = [(starts[first], starts[end - 1] + frame) for first, end in runs
           if (starts[end - 1] + frame - starts[first]) / sample_rate >= MIN_WORD_SECONDS]
  pad = int(PAD_SECONDS * sample_rate)
  out = []
  for i, (start, end) in enumerate(spans):
    previous_end = spans[i - 1][1] if i else 0
    next_start = spans[i + 1][0] if i + 1 < len(spans) else x.size
    out.append((max(start - pad, (previous_end + start) // 2),
                min(end + pad, (end + next_start) // 2)))
  return out


def evaluate_yardsticks(workdir: str, non_keyword_weight: float | None = None) -> dict[str, Any]:
  """The model of ``workdir`` on its training data's test split (``in_distribution``) and on its
  config's ``ood_data_dir`` (``out_of_distribution``, every clip; None when not configured).
  ``non_keyword_weight`` overrides the model's (see :func:`decide`)."""
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, train.CHECKPOINT_DIR), create=False)
  try:
    config = ml_collections.ConfigDict(ckpt.restore_meta()["config"])
  finally:
    ckpt.close()
  ood = config.get("ood_data_dir", "")
  if ood and not os.path.isdir(ood):
    raise RecognitionError(f"the out-of-distribution yardstick {ood} is not built; run python "
                           "-m launch.build_speech_data --config configs/speech_data_ood.py")
  for folder in (config.data_dir,) + ((ood,) if ood else ()):
    dataset.words_in(folder)  # Checks the folders before the slower restore.
  recognizer = _restored(workdir, non_keyword_weight)
  return {"in_distribution": score_folder(recognizer, config.data_dir, "test"),
          "out_of_distribution": score_folder(recognizer, ood, "all") if ood else None}


def _restored(workdir: str, non_keyword_weight: float | None) -> Recognizer:
  if non_keyword_weight is not None:
    check_non_keyword_weight(non_keyword_weight)  # Before the slower restore.
  recognizer = Recognizer.restore(workdir)
  if non_keyword_weight is None:
    return recognizer
  return recognizer.with_non_keyword_weight(non_keyword_weight)


def evaluate_folder(workdir: str, data_dir: str, split: str = "test",
                    batch_size: int = EVAL_BATCH_SIZE,
                    non_keyword_weight: float | None = None) -> dict[str, Any]:
  """Scores every clip of a Speech Commands-layout folder with the model of ``workdir``.

  ``split`` picks the files (``train``, ``validation``, ``test`` by the folder's lists or
  speaker hash, or ``all``). Word folders the model does not know are skipped and named.
  ``accuracy`` is over the keyword clips (the right keyword heard); the clips of ``_unknown_``
  and ``_silence_`` folders, if any, give each its false-accept rate (heard as some keyword),
  and ``keyword_rejection_rate`` is the share of keyword clips heard as no keyword.

  Returns:
    ``{'accuracy', 'count', 'keyword_rejection_rate', 'non_keywords': {name: {'count',
    'false_accept_rate'}}, 'per_word': {word: {'accuracy', 'count'}}, 'skipped_words', ...}``.
  """
  dataset.words_in(data_dir)  # Checks the folder before the slower restore.
  return score_folder(_restored(workdir, non_keyword_weight), data_dir, split, batch_size)


def score_folder(recognizer: Recognizer, data_dir: str, split: str = "test",
                 batch_size: int = EVAL_BATCH_SIZE) -> dict[str, Any]:
  """:func:`evaluate_folder` with a restored recogniser (one restore for several folders)."""
  folder_words = dataset.words_in(data_dir)
  # Non-keyword folders are scored even for a model without those classes: whatever keyword it
  # hears in them is a false accept.
  labels = list(recognizer.words) + [w for w in dataset.NON_KEYWORDS if w not in recognizer.words]
  clips = dataset.list_clips(data_dir, split, words=labels)
  if not any(dataset.is_keyword(labels[label]) for _, label in clips):
    raise RecognitionError(
        f"{data_dir} has no {split!r} clips of the model's words ({', '.join(recognizer.words)}); "
        "its word folders are " + (", ".join(folder_words) or "none") +
        ". Pass --split=all to score every file, or a folder of these words.")
  probabilities = np.zeros((len(clips), len(recognizer.words)), np.float32)
  bar = loop.progress(total=len(clips), desc=f"eval {split}")
  for start in range(0, len(clips), batch_size):
    chunk = clips[start:start + batch_size]
    padded = np.zeros((batch_size, recognizer.mfcc_cfg.clip_samples), np.float32)  # One shape.
    for i, (path, _) in enumerate(chunk):
      padded[i] = audio.fit_length(audio.load_audio(path, allow_silent=True),
                                   recognizer.mfcc_cfg.clip_samples)
    probabilities[start:start + len(chunk)] = recognizer.probabilities(padded)[:len(chunk)]
    bar.update(len(chunk))
  bar.close()
  label_ids = np.asarray([label for _, label in clips])
  keyword_rows = np.asarray([dataset.is_keyword(labels[i]) for i in label_ids])
  is_keyword = np.asarray([dataset.is_keyword(w) for w in recognizer.words])
  weighted = probabilities * _class_scale(recognizer.words, recognizer.non_keyword_weight)
  report = train.classification_report(np.log(np.maximum(weighted[keyword_rows], 1e-30)),
                                       label_ids[keyword_rows], recognizer.words)

  def operating_point(weight):
    heard = decide(probabilities, recognizer.words, weight)
    point = {"accuracy": float((heard == label_ids)[keyword_rows].mean()),
             "keyword_rejection_rate": float(1.0 - is_keyword[heard][keyword_rows].mean())}
    for name in dataset.NON_KEYWORDS:
      rows = label_ids == labels.index(name)
      if rows.any():
        point[name] = {"count": int(rows.sum()),
                       "false_accept_rate": float(is_keyword[heard][rows].mean())}
    return point

  chosen = operating_point(recognizer.non_keyword_weight)
  return {
      "accuracy": chosen["accuracy"],  # Over keyword clips: the right keyword heard.
      "count": report["count"],
      "keyword_rejection_rate": chosen["keyword_rejection_rate"],
      # Clips of no keyword heard as some keyword.
      "non_keywords": {name: chosen[name] for name in dataset.NON_KEYWORDS if name in chosen},
      "non_keyword_weight": recognizer.non_keyword_weight,
      # The trade-off: the same scores at other non-keyword weights.
      "operating_points": ({str(w): operating_point(w) for w in OPERATING_WEIGHTS}
                           if not is_keyword.all() else {}),
      "per_word": {w: v for w, v in report["per_word"].items() if v["count"]},
      "skipped_words": sorted(set(folder_words) - set(recognizer.keywords)),
      "split": split,
      "data_dir": os.path.abspath(data_dir),
      "workdir": recognizer.workdir,
      "checkpoint_step": recognizer.step,
  }
