"""The browser demo (launch.demo, v2i_jax.demo): its HTTP API, the launcher, and a real headless
Chromium driving the page.

The keyword model is the tests' tiny one, trained on tone "words" (kws_fixtures); Chromium's
fake microphone plays one such word from a wav file, so the page must really record it, post it
and show what the model heard. The GAN is untrained (step 0): the page only needs pictures of the
right shape. Chromium and chromedriver are Debian's (`chromium`, `chromium-driver`): the session
fixture installs them with apt-get when they are missing, and the browser tests skip, with the
reason, only when that cannot be done. Selenium is given both paths, so it downloads nothing.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import jax
import numpy as np
import pytest
import uvicorn
from selenium.webdriver.common.by import By

import kws_fixtures
from configs import gan_tiny
from v2i_jax import audio
from v2i_jax import pipeline as pipeline_lib
from v2i_jax.demo import app as demo_app
from v2i_jax.demo import browser as browser_lib
from v2i_jax.image import sampling
from v2i_jax.image import train as gan_train
from v2i_jax.training import checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = demo_app.Settings(num_images=2, max_images=4, max_upload_bytes=256 * 1024)
MIC_WORD = "high"  # what the fake microphone says


def _untrained_gan(workdir: str) -> str:
  """A GAN workdir as launch.train_gan writes it, with random weights drawn by numpy: the page
  does not care what the pictures show, and compiling even the tiny GAN's jitted init (let alone
  training it) costs tens of seconds on a shared 2-core CPU."""
  config = gan_tiny.get_config()
  config.embedding_dim = 100  # [min, max] of GloVe 50-d
  shapes = jax.eval_shape(lambda: gan_train.create_train_state(jax.random.PRNGKey(0), config))
  rng = np.random.default_rng(0)

  def draw(path, leaf):
    name = str(path[-1])
    if "kernel" in name or "embedding" in name:
      return rng.normal(0.0, 0.2, leaf.shape).astype(leaf.dtype)
    return np.full(leaf.shape, "scale" in name or "var" in name, leaf.dtype)  # BN: identity

  state = jax.tree_util.tree_map_with_path(draw, shapes)
  with checkpoint.Checkpointer(os.path.join(workdir, sampling.CHECKPOINT_DIR)) as ckpt:
    ckpt.save(0, state, gan_train.checkpoint_meta(config))
  return workdir


def _phrase(words, seed=3, pause_seconds=0.5):
  rng = np.random.default_rng(seed)
  pause = np.zeros(int(pause_seconds * audio.SAMPLE_RATE), np.float32)
  pieces = [pause]
  for word in words:
    pieces += [kws_fixtures.tone_word(word, rng), pause]
  return np.concatenate(pieces)


def _wav_bytes(waveform):
  path = io.BytesIO()
  import soundfile  # pylint: disable=g-import-not-at-top
  soundfile.write(path, waveform, audio.SAMPLE_RATE, format="WAV", subtype="PCM_16")
  return path.getvalue()


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  kws = kws_fixtures.trained_tone_run(str(tmp_path_factory.getbasetemp() / "kws_tones"))[3]
  return kws, _untrained_gan(str(tmp_path_factory.mktemp("gan_untrained")))


@pytest.fixture(scope="module")
def url(workdirs):
  """The demo app served by uvicorn in a thread of this process, on a free port."""
  app = demo_app.create_app(pipeline_lib.Pipeline.restore(*workdirs), SETTINGS)
  server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
  thread = threading.Thread(target=server.run, daemon=True)
  thread.start()
  deadline = time.monotonic() + 30
  while not server.started:
    assert thread.is_alive() and time.monotonic() < deadline, "the demo server did not start"
    time.sleep(0.05)
  port = server.servers[0].sockets[0].getsockname()[1]
  yield f"http://127.0.0.1:{port}"
  server.should_exit = True
  thread.join(timeout=10)


def _request(url, body=None, content_type="application/octet-stream"):
  """``(status, JSON)`` of a GET (no body) or POST."""
  request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
  try:
    with urllib.request.urlopen(request, timeout=120) as response:
      return response.status, json.load(response)
  except urllib.error.HTTPError as e:
    return e.code, json.load(e)


def _post_text(url, **values):
  return _request(f"{url}/api/text", json.dumps(values).encode(), "application/json")


def test_http_speech_and_text(url):
  status, info = _request(f"{url}/api/info")
  assert status == 200 and info["speech"] and info["words"] == list(kws_fixtures.WORDS)

  status, result = _request(f"{url}/api/speech?name=p.wav&seed=5&num_images=3",
                            _wav_bytes(_phrase(["low", "high"])), "audio/wav")
  assert status == 200, result
  assert [w["word"] for w in result["words"]] == ["low", "high"]
  assert result["caption"] == "low high" and result["seed"] == 5
  assert len(result["images"]) == 3
  assert all(src.startswith("data:image/png;base64,") for src in result["images"])
  peaks = np.array(result["waveform"]["peaks"])
  assert peaks.shape == (demo_app.WAVEFORM_BINS, 2) and np.all(peaks[:, 0] <= peaks[:, 1])
  assert result["waveform"]["seconds"] == pytest.approx(2.3, abs=0.01)

  status, result = _post_text(url, text="A red bird!", seed=1)
  assert status == 200, result
  assert result["caption"] == "a red bird" and result["waveform"] is None
  assert len(result["images"]) == SETTINGS.num_images
  assert _post_text(url, text="a red bird", seed=1)[1]["images"] == result["images"]


def test_http_speech_as_a_multipart_form(url):
  """``curl -F file=@clip.wav``: the file field of a multipart form, as well as a raw body."""
  boundary = "----v2iFormBoundary"
  body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.wav\"\r\n"
          "Content-Type: audio/wav\r\n\r\n").encode() + _wav_bytes(_phrase(["high"])) + (
              f"\r\n--{boundary}--\r\n").encode()
  status, result = _request(f"{url}/api/speech?num_images=1", body,
                            f"multipart/form-data; boundary={boundary}")
  assert status == 200, result
  assert result["caption"] == "high"
  status, result = _request(f"{url}/api/speech", b"name=clip.wav&seed=1",
                            "application/x-www-form-urlencoded")
  assert status == 400 and "Content-Type was application/x-www-form-urlencoded" in result["error"]


def test_http_bad_input_is_answered_and_the_server_keeps_serving(url):
  speech = f"{url}/api/speech?name=clip.wav"
  silence = _wav_bytes(np.zeros(audio.SAMPLE_RATE, np.float32))
  cases = [
      (_request(speech, silence), 400, "clip.wav: the audio is silent"),
      (_request(speech, b"GIF89a not a sound at all"), 400, "clip.wav: not a readable audio file"),
      (_request(speech, b""), 400, "the upload is empty"),
      (_request(speech, b"\0" * (2 * SETTINGS.max_upload_bytes)), 413,
       "the upload is 512 KB, over the 256 KB limit"),
      (_request(f"{speech}&seed=-3", silence), 400, "seed=-3 is out of range"),
      (_request(f"{speech}&num_images=9", silence), 400, "num_images=9 is out of range"),
      (_post_text(url, text=""), 400, "no word"),
      (_request(f"{url}/api/text", b"{not json", "application/json"), 400, "not JSON"),
      (_post_text(url, text=["a", "list"]), 400, "send JSON like"),
      (_post_text(url, text="dog " * 20_000), 400, "send a shorter caption"),
      (_request(f"{speech}&seed=1.5", silence), 400,
       "seed='1.5' is not a whole number; use a whole number from 0 to 2147483647"),
  ]
  for (status, answer), want_status, needle in cases:
    assert status == want_status and needle in answer["error"], (needle, status, answer)
  # The temporary file's path never leaks into a message.
  assert all("v2i_demo_" not in answer["error"] for (_, answer), _, _ in cases)
  status, result = _post_text(url, text="low")
  assert status == 200 and result["caption"] == "low"


def _served_url(server, stderr_path):
  """The address launch.demo prints once it serves."""
  for line in server.stdout:
    if "open http://" in line:
      return line.split("open ")[1].split()[0].rstrip("/")
  server.wait(timeout=30)
  raise AssertionError(f"launch.demo exited {server.returncode} without serving:\n"
                       f"{stderr_path.read_text()[-3000:]}")


def test_launcher_serves_text_only_and_refuses_a_bad_workdir(workdirs, tmp_path):
  _, gan = workdirs
  command = [sys.executable, "-m", "launch.demo", "--port=0", "--num_images=1"]
  # Both launches at once: each spends seconds importing JAX and TensorFlow.
  refused = subprocess.Popen(command + [f"--gan_workdir={tmp_path}"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  stderr_path = tmp_path / "stderr.txt"
  with open(stderr_path, "w") as stderr:
    server = subprocess.Popen(command + [f"--gan_workdir={gan}"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=stderr, text=True)
  try:
    base = _served_url(server, stderr_path)
    assert base.startswith("http://127.0.0.1:")
    status, info = _request(f"{base}/api/info")
    assert status == 200 and not info["speech"] and info["words"] == []
    status, answer = _request(f"{base}/api/speech", _wav_bytes(_phrase(["low"])))
    assert status == 400 and "without --kws_workdir" in answer["error"]
    status, result = _post_text(base, text="a cat")  # the page's default: --num_images
    assert status == 200 and result["caption"] == "a cat" and len(result["images"]) == 1
  finally:
    server.terminate()
    server.communicate(timeout=30)

  _, stderr = refused.communicate(timeout=300)
  assert refused.returncode != 0 and "error:" in stderr and "no GAN checkpoints" in stderr
  assert "Traceback" not in stderr


# A real browser.


@pytest.fixture(scope="session")
def chromium():
  """``(chromium, chromedriver)`` paths; installs Debian's packages when they are missing."""
  if browser_lib.find_chromium():
    return browser_lib.find_chromium()
  if not shutil.which("apt-get") or os.geteuid() != 0:
    pytest.skip("Chromium is not installed and cannot be here (no apt-get, or not root); "
                f"{browser_lib.INSTALL_HINT} to run the browser tests.")
  env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
  print("\ninstalling Debian's chromium and chromium-driver for the browser tests ...",
        file=sys.stderr, flush=True)
  for command in (["apt-get", "update", "-qq"],
                  ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                   "chromium-driver"]):
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
      pytest.skip(f"Chromium could not be installed: `{' '.join(command)}` exited "
                  f"{done.returncode}: {done.stderr.strip()[-400:]}")
  if not browser_lib.find_chromium():
    pytest.skip("apt-get installed chromium, but chromium or chromedriver is not on PATH.")
  return browser_lib.find_chromium()


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
  microphone = tmp_path_factory.mktemp("mic") / "word.wav"
  audio.write_wav(microphone, _phrase([MIC_WORD], pause_seconds=0.6))
  driver = browser_lib.start(chromium, microphone)
  yield driver
  driver.quit()


def _open(driver, url):
  browser_lib.open_page(driver, url + "/")
  assert "hears 3 words" in browser_lib.text(driver, "hears")


def _wait_for_images(driver, count):
  browser_lib.wait(driver, lambda: browser_lib.shown_images(driver) == count, 10)


def _message(driver):
  return browser_lib.text(driver, "message")


def test_browser_records_the_microphone(browser, url):
  _open(browser, url)
  browser_lib.record(browser, 1.7)  # the fake microphone: 0.6 s pause, the word, 0.6 s pause
  assert browser_lib.result_or_message(browser, MIC_WORD) == ""
  words = [row.text.split() for row in browser.find_elements(By.CSS_SELECTOR, "#words tbody tr")]
  assert [w[0] for w in words] == [MIC_WORD] and float(words[0][1]) >= SETTINGS.min_probability
  _wait_for_images(browser, SETTINGS.num_images)
  assert browser.find_element(By.ID, "waveform").is_displayed()


def test_browser_upload_and_text(browser, url, tmp_path):
  _open(browser, url)
  clip = tmp_path / "two words.wav"
  audio.write_wav(clip, _phrase(["mid", "low"]))
  browser.find_element(By.ID, "upload").send_keys(str(clip))
  assert browser_lib.result_or_message(browser, "mid low") == ""
  _wait_for_images(browser, SETTINGS.num_images)

  browser.find_element(By.ID, "num-images").clear()
  browser.find_element(By.ID, "num-images").send_keys("3")
  browser.find_element(By.ID, "text").send_keys("a happy dog")
  browser.find_element(By.ID, "paint").click()
  assert browser_lib.result_or_message(browser, "a happy dog") == ""
  _wait_for_images(browser, 3)
  assert not browser.find_element(By.ID, "waveform").is_displayed()  # no speech this time


def test_browser_bad_input_shows_a_message(browser, url, tmp_path):
  _open(browser, url)
  upload = browser.find_element(By.ID, "upload")
  not_audio = tmp_path / "notes.wav"
  not_audio.write_text("these are notes, not a recording")
  upload.send_keys(str(not_audio))
  browser_lib.wait(browser, lambda: _message(browser), 30)
  assert "notes.wav: not a readable audio file" in _message(browser)

  huge = tmp_path / "huge.wav"
  audio.write_wav(huge, _phrase(["low"] * 10))  # 9.5 s, 297 KB: refused by the page itself
  upload.send_keys(str(huge))
  browser_lib.wait(
      browser, lambda: "huge.wav is 297 KB, over the 256 KB limit" in _message(browser), 10)

  browser.execute_script(  # a machine without a microphone
      "navigator.mediaDevices.getUserMedia = () => Promise.reject("
      "new DOMException('Requested device not found', 'NotFoundError'));")
  browser.find_element(By.ID, "record").click()
  browser_lib.wait(browser, lambda: "No microphone was found" in _message(browser), 10)
  assert not browser.find_element(By.ID, "record").get_attribute("disabled")

  browser.find_element(By.ID, "text").send_keys("low")  # and the server still answers
  browser.find_element(By.ID, "paint").click()
  assert browser_lib.result_or_message(browser, "low") == ""
