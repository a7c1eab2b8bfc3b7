"""The espeak-ng Speech Commands generator: voices, clips, layout, splits, determinism."""

import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from configs import speech_data, speech_data_tiny, speech_data_v1
from v2i_jax.speech import dataset, synth, words

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
  config = speech_data_tiny.get_config()
  for key, value in overrides.items():
    config[key] = value
  return config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("synth") / "speech")
  config = tiny_config()
  return out, config, synth.build_dataset(out, config, progress=False)


def test_word_lists_match_speech_commands():
  assert len(words.WORDS_V2) == len(set(words.WORDS_V2)) == 35
  assert list(words.WORDS_V2) == sorted(words.WORDS_V2)
  assert len(words.WORDS_V1) == 30 and set(words.WORDS_V1) < set(words.WORDS_V2)
  assert set(words.WORDS_V2) - set(words.WORDS_V1) == {
      "backward", "follow", "forward", "learn", "visual"}
  assert tuple(speech_data.get_config().words) == words.WORDS_V2
  assert tuple(speech_data_v1.get_config().words) == words.WORDS_V1
  assert speech_data.get_config().num_speakers >= 300


def test_sample_speakers_are_distinct_and_reproducible():
  speakers = synth.sample_speakers(200, seed=3, pitch_range=(10, 20), rate_range=(150, 160))
  assert speakers == synth.sample_speakers(200, seed=3, pitch_range=(10, 20),
                                           rate_range=(150, 160))
  assert speakers != synth.sample_speakers(200, seed=4, pitch_range=(10, 20),
                                           rate_range=(150, 160))
  ids = [s.id for s in speakers]
  assert len(set(ids)) == 200 and all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
  assert len({(s.accent, s.variant, s.pitch, s.rate) for s in speakers}) == 200
  # The accent x variant deck is dealt evenly: 200 draws from > 800 pairs never repeat a pair.
  assert len({(s.accent, s.variant) for s in speakers}) == 200
  assert {s.accent for s in speakers} == set(synth.ENGLISH_ACCENTS)
  assert all(10 <= s.pitch <= 20 and 150 <= s.rate <= 160 for s in speakers)
  assert not set(synth.UNUSABLE_VARIANTS) & {s.variant for s in speakers}


def test_sample_speakers_rejects_impossible_requests():
  with pytest.raises(synth.SynthError, match="too many"):
    synth.sample_speakers(10, 0, accents=["en-us"], variants=["m1"], pitch_range=(5, 5),
                          rate_range=(150, 151))
  with pytest.raises(synth.SynthError, match="pitch_range"):
    synth.sample_speakers(1, 0, pitch_range=(0, 120))


def test_synthesize_speaks_the_word_at_16khz():
  speaker = synth.Speaker("en-us", "m3", pitch=50, rate=175)
  x = synth.synthesize("cat", speaker)
  assert x.dtype == np.float32 and x.ndim == 1
  assert 0.15 < x.size / 16000 < 0.8
  assert 0.05 < np.max(np.abs(x)) <= 1.0
  # Speech energy sits well inside the 8 kHz band of a 16 kHz signal.
  spectrum = np.abs(np.fft.rfft(x)) ** 2
  assert spectrum[: spectrum.size // 2].sum() > 10 * spectrum[spectrum.size // 2:].sum()


def test_slow_voice_speeds_up_to_fit_instead_of_being_cut():
  slow = synth.Speaker("en-029", "Marco", pitch=50, rate=80)
  free = synth.synthesize("marvin", slow)
  fitted = synth.synthesize("marvin", slow, max_seconds=0.7)
  assert free.size > 0.7 * 16000  # Too long at its own rate...
  assert 0.3 * 16000 < fitted.size <= 0.7 * 16000  # ...so it speaks faster, whole.


def test_unknown_voices_fail_loudly():
  with pytest.raises(synth.SynthError, match="variant"):
    synth.synthesize("cat", synth.Speaker("en-us", "nobody", 50, 175))
  with pytest.raises(synth.SynthError, match="no voice"):
    synth.synthesize("cat", synth.Speaker("xx-nowhere", "m1", 50, 175))


def test_background_noise_colours():
  noises = synth.make_background_noise(2.0, seed=0)
  assert set(noises) == {"white_noise", "pink_noise", "brown_noise", "mains_hum", "fan"}
  freqs = np.fft.rfftfreq(32000, 1 / 16000)

  def low_to_high(x):
    power = np.abs(np.fft.rfft(x)) ** 2
    return power[(freqs > 100) & (freqs < 500)].mean() / power[freqs > 4000].mean()

  for x in noises.values():
    assert x.shape == (32000,) and x.dtype == np.float32
    np.testing.assert_allclose(np.sqrt(np.mean(x ** 2)), 0.1, rtol=1e-3)
  assert low_to_high(noises["white_noise"]) < 2
  assert low_to_high(noises["white_noise"]) * 10 < low_to_high(noises["pink_noise"])
  assert low_to_high(noises["pink_noise"]) * 10 < low_to_high(noises["brown_noise"])


def test_build_writes_the_speech_commands_layout(built):
  out, config, summary = built
  info = json.load(open(os.path.join(out, synth.INFO_FILE)))
  assert dataset.words_in(out) == sorted(config.words)
  assert summary["clips"] == info["clips"] == 12 * len(config.words)
  names = []
  for word in config.words:
    for name in os.listdir(os.path.join(out, word)):
      assert re.fullmatch(r"[0-9a-f]{8}_nohash_0\.wav", name)
      wav = soundfile.info(os.path.join(out, word, name))
      assert (wav.samplerate, wav.channels, wav.frames, wav.subtype) == (16000, 1, 16000,
                                                                         "PCM_16")
      names.append(f"{word}/{name}")
  assert len(names) == summary["clips"]
  noise_files = sorted(os.listdir(os.path.join(out, dataset.BACKGROUND_NOISE_DIR)))
  assert noise_files == sorted(info["background_noise"]) and len(noise_files) == 5
  for file_name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "test")):
    listed = open(os.path.join(out, file_name)).read().split()
    assert listed == sorted(n for n in names if dataset.which_set(
        n, config.validation_percentage, config.testing_percentage) == split)
    assert set(listed) <= set(names)
  kept = [v for v in synth.available_variants() if v not in config.exclude_variants]
  assert [s["id"] for s in info["speakers"]] == [s.id for s in synth.sample_speakers(
      config.num_speakers, config.seed, variants=kept)]


def test_splits_are_speaker_disjoint(built):
  out, _, summary = built
  speakers = {split: {dataset.speaker_of(p) for p, _ in dataset.list_clips(out, split)}
              for split in ("train", "validation", "test")}
  assert all(speakers.values())  # The tiny config's seed fills every split.
  assert not speakers["train"] & speakers["validation"]
  assert not speakers["train"] & speakers["test"]
  assert not speakers["validation"] & speakers["test"]
  assert {k: len(v) for k, v in speakers.items()} == summary["speakers_per_split"]


def test_clips_vary_in_offset_and_loudness_and_keep_the_whole_word(tmp_path):
  config = tiny_config(noise_probability=0.0, num_speakers=6)
  synth.build_dataset(str(tmp_path), config, progress=False)
  onsets, peaks = [], []
  for path, _ in dataset.list_clips(str(tmp_path), "all"):
    x, _ = soundfile.read(path, dtype="float32")
    peak = np.max(np.abs(x))
    loud = np.nonzero(np.abs(x) > peak * 10 ** (-35 / 20))[0]
    # Nothing loud at the clip's edges: the word was placed whole, never cut.
    assert loud[0] > 0 and loud[-1] < x.size - 1
    onsets.append(loud[0])
    peaks.append(20 * np.log10(peak))
  assert np.std(onsets) > 500  # Offsets spread around the middle.
  assert min(peaks) >= config.peak_dbfs_range[0] - 0.1
  assert max(peaks) <= config.peak_dbfs_range[1] + 0.1
  assert np.std(peaks) > 3


def test_rebuild_is_skipped_for_the_same_config_and_redone_for_another(built, tmp_path):
  out, config, _ = built
  clip = os.path.join(out, "cat", sorted(os.listdir(os.path.join(out, "cat")))[0])
  before = os.stat(clip).st_mtime_ns
  again = synth.build_dataset(out, config, progress=False)
  assert again["skipped"] and os.stat(clip).st_mtime_ns == before

  other = str(tmp_path / "speech")
  synth.build_dataset(other, tiny_config(), progress=False)
  changed = synth.build_dataset(other, tiny_config(num_speakers=4), progress=False)
  assert not changed["skipped"] and changed["clips"] == 4 * 3
  assert len(dataset.list_clips(other, "all")) == 12
  assert not os.path.exists(other + ".partial")


def test_build_refuses_a_folder_it_did_not_make(tmp_path):
  (tmp_path / "notes.txt").write_text("mine")
  with pytest.raises(synth.SynthError, match="not a data set built by this tool"):
    synth.build_dataset(str(tmp_path), tiny_config(), progress=False)
  (tmp_path / synth.INFO_FILE).write_text('{"name": "speech_commands"}')  # A tfds folder's.
  with pytest.raises(synth.SynthError, match="not a data set built by this tool"):
    synth.build_dataset(str(tmp_path), tiny_config(), progress=False)
  assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("field, value, message", [
    ("words", (), "words is empty"),
    ("words", ("cat", "Dog"), "lowercase"),
    ("max_word_seconds", 1.5, "max_word_seconds"),
    ("peak_dbfs_range", (-10.0, 3.0), "peak_dbfs_range"),
    ("noise_probability", 2.0, "noise_probability"),
    ("testing_percentage", 95.0, "leave some"),
])
def test_build_rejects_bad_configs(tmp_path, field, value, message):
  with pytest.raises(synth.SynthError, match=message):
    synth.build_dataset(str(tmp_path / "out"), tiny_config(**{field: value}), progress=False)
  assert not os.path.exists(tmp_path / "out")


# Plain, Klatt and breathy voices (whose noise generator espeak-ng seeds from the clock).
DETERMINISM_VARIANTS = ("m3", "klatt", "whisper", "f3")


def _build_in_subprocess(out_dir, seed):
  code = ("import sys, time; from configs import speech_data_tiny; from v2i_jax.speech import "
          "synth; c = speech_data_tiny.get_config(); c.num_speakers = 4; c.seed = int(sys.argv[2]); "
          "c.accents = ['en-us']; "
          f"c.exclude_variants = [v for v in synth.available_variants() if v not in "
          f"{DETERMINISM_VARIANTS}]; time.sleep(1.1); "  # A new second on espeak-ng's clock.
          "synth.build_dataset(sys.argv[1], c, progress=False)")
  subprocess.run([sys.executable, "-c", code, out_dir, str(seed)], cwd=REPO, check=True)
  info = json.load(open(os.path.join(out_dir, synth.INFO_FILE)))
  assert {s["variant"] for s in info["speakers"]} == set(DETERMINISM_VARIANTS)
  return _digests(out_dir)


def _digests(out_dir):
  digests = {}
  for root, _, files in os.walk(out_dir):
    for name in files:
      path = os.path.join(root, name)
      if name != synth.INFO_FILE:  # It records the build time.
        digests[os.path.relpath(path, out_dir)] = hashlib.sha256(
            open(path, "rb").read()).hexdigest()
  return digests


def _clip_names(digests):
  return {name for name in digests if name.endswith(".wav") and "_nohash_" in name}


def test_same_seed_gives_identical_bytes_in_fresh_processes(tmp_path):
  # espeak-ng state lives in the process, so each build gets its own interpreter.
  first = _build_in_subprocess(str(tmp_path / "a"), seed=7)
  second = _build_in_subprocess(str(tmp_path / "b"), seed=7)
  assert len(first) == 4 * 3 + 5 + 2
  assert first == second
  synth.build_dataset(str(tmp_path / "c"), tiny_config(num_speakers=4, seed=8), progress=False)
  # (Another seed, so other speakers: the same-seed files above cannot match by construction.)
  other_seed = _digests(str(tmp_path / "c"))
  assert len(other_seed) == len(first)
  assert not _clip_names(first) & _clip_names(other_seed)  # Other speakers...
  noise = os.path.join(dataset.BACKGROUND_NOISE_DIR, "pink_noise.wav")
  assert first[noise] != other_seed[noise]  # ...and other noise.


def test_a_build_after_other_speech_in_the_process_equals_a_fresh_build(tmp_path):
  fresh = _build_in_subprocess(str(tmp_path / "a"), seed=7)
  synth.synthesize("hello there", synth.sample_speakers(1, seed=3)[0])  # The engine has spoken.
  config = tiny_config(num_speakers=4, seed=7, accents=["en-us"],
                       exclude_variants=[v for v in synth.available_variants()
                                         if v not in DETERMINISM_VARIANTS])
  synth.build_dataset(str(tmp_path / "b"), config, progress=False)
  assert _digests(str(tmp_path / "b")) == fresh


def test_launch_script_builds_and_reports(tmp_path):
  out = str(tmp_path / "speech")
  cmd = [sys.executable, "-m", "launch.build_speech_data",
         "--config", "configs/speech_data_tiny.py", "--config.num_speakers=3", "--out_dir", out]
  done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr
  assert "9 clips of 3 words" in done.stdout and "validation" in done.stdout
  assert len(dataset.list_clips(out, "all")) == 9

  bad = subprocess.run(cmd[:-1] + [os.path.join(out, "cat")], cwd=REPO, capture_output=True,
                       text=True)
  assert bad.returncode != 0
  assert "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_out_of_distribution_yardstick_speaks_only_held_out_voices(tmp_path):
  from configs import speech_data_ood
  train_config, ood_config = speech_data.get_config(), speech_data_ood.get_config()
  assert set(train_config.exclude_variants) == set(synth.HELD_OUT_VARIANTS)
  used = set(synth.available_variants()) - set(ood_config.exclude_variants)
  assert used == set(synth.HELD_OUT_VARIANTS)
  # A small build: held-out voices only, channel applied, babble written beside the noises.
  ood_config.words = ("cat", "yes")
  ood_config.num_speakers = 4
  ood_config.background_noise_seconds = 3.0
  ood_config.channel.noise_probability = 1.0
  out = str(tmp_path / "ood")
  synth.build_dataset(out, ood_config, progress=False)
  with open(os.path.join(out, synth.INFO_FILE)) as f:
    info = json.load(f)
  assert {s["variant"] for s in info["speakers"]} <= set(synth.HELD_OUT_VARIANTS)
  assert os.path.exists(os.path.join(out, "_background_noise_", "babble.wav"))
  clips = [p for p, _ in dataset.list_clips(out, "all")]
  assert len(clips) == 8
  for path in clips:
    x, sr = soundfile.read(path, dtype="float32")
    assert sr == 16000 and x.shape == (16000,)
    # The channel's noise fills the whole second: no stretch of digital silence is left.
    assert np.abs(x[:1600]).max() > 0
