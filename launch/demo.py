r"""A local web page: speak (or upload, or type) a few words, see the pictures.

  pip install -e ".[demo]"
  python -m launch.demo --kws_workdir runs/quickstart/kws --gan_workdir runs/quickstart/gan
  # then open http://127.0.0.1:7860/

The page records from the microphone (or takes an uploaded wav/flac/ogg), shows the waveform
with the recognised words and their probabilities, and a grid of generated pictures; a text box
skips speech; a seed field picks the latent vectors. Without --kws_workdir the page is text only.
It binds 127.0.0.1 by default: pass --host 0.0.0.0 only on a network you trust.

The README's screenshot: the same command with
``--screenshot docs/demo_screenshot.png --screenshot_audio phrase.wav``.
"""

import os
import socket
import sys

# XLA reads its flags when JAX starts its backend: add the fast-CPU conv flag before any JAX work.
from v2i_jax.image import layers  # Imports jax but does not start the backend.

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))

# pylint: disable=g-import-not-at-top,wrong-import-position
import json
import threading

from absl import app
from absl import flags
from absl import logging

from launch import cli

_KWS = flags.DEFINE_string("kws_workdir", None,
                           "Keyword-classifier workdir; without it the page is text only.")
_GAN = flags.DEFINE_string("gan_workdir", None, "GAN workdir.", required=True)
_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to serve on.")
_PORT = flags.DEFINE_integer("port", 7860, "Port to serve on (0: any free one).", lower_bound=0,
                             upper_bound=65535)
_NUM = cli.define_num_images_flag(8, "The page's default number of pictures.", high=32)
_MAX_SECONDS = cli.define_max_seconds_flag()
_MIN_P = flags.DEFINE_float("min_probability", 0.3,
                            "Recognised words below this probability are shown but not painted.",
                            lower_bound=0.0, upper_bound=1.0)
_MAX_MB = flags.DEFINE_float("max_upload_mb", 10.0, "Largest accepted upload, in MB.",
                             lower_bound=0.01)
_SCREENSHOT = flags.DEFINE_string(
    "screenshot", None, "Instead of serving until Ctrl-C: play --screenshot_audio into a "
    "headless Chromium's fake microphone, record it on the page, save a PNG of the page here and "
    "exit (needs Debian's chromium and chromium-driver, and selenium: pip install -e '.[test]').")
_SCREENSHOT_AUDIO = flags.DEFINE_string("screenshot_audio", None,
                                        "The wav the fake microphone plays for --screenshot.")
_VECTORS = cli.define_vectors_flag()


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  if _SCREENSHOT.value and not (_SCREENSHOT_AUDIO.value and _KWS.value):
    sys.exit("error: --screenshot records speech: it needs --screenshot_audio (a wav for the "
             "fake microphone) and --kws_workdir.")
  logging.set_verbosity(logging.WARNING)
  try:
    import uvicorn
    from v2i_jax.demo import app as demo_app
  except ImportError as e:
    sys.exit(f"error: the demo needs its optional packages ({e}); install them with "
             "`pip install -e '.[demo]'`.")
  from v2i_jax import errors
  from v2i_jax import pipeline as pipeline_lib
  from v2i_jax.text import vectors as vectors_lib

  settings = demo_app.Settings(num_images=_NUM.value, min_probability=_MIN_P.value,
                               max_upload_bytes=int(_MAX_MB.value * 2**20),
                               max_seconds=_MAX_SECONDS.value)
  try:
    spec = vectors_lib.parse_source(_VECTORS.value)
    pipe = pipeline_lib.Pipeline.restore(_KWS.value, _GAN.value, spec)
    demo_app.warm_up(pipe, settings.num_images)
  except errors.USER_ERRORS as e:
    sys.exit(f"error: {e}")
  # Bound here, not by uvicorn, so a busy port is a one-line error and the URL is printed only
  # once the page can be opened.
  family = socket.AF_INET6 if ":" in _HOST.value else socket.AF_INET
  sock = socket.socket(family, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  try:
    sock.bind((_HOST.value, _PORT.value))
    sock.listen(128)  # connections from now on wait for the server instead of being refused
  except OSError as e:
    sys.exit(f"error: cannot serve on {_HOST.value}:{_PORT.value} ({e.strerror}); pass another "
             "--port (or --host).")
  host, port = sock.getsockname()[:2]
  url = f"http://[{host}]:{port}/" if family == socket.AF_INET6 else f"http://{host}:{port}/"
  server = uvicorn.Server(uvicorn.Config(demo_app.create_app(pipe, settings), log_level="warning"))
  if _SCREENSHOT.value:
    screenshot(server, sock, url, settings)
    return
  print(f"v2i_jax demo: open {url} (Ctrl-C stops it)", flush=True)
  server.run(sockets=[sock])


def screenshot(server, sock, url, settings):
  """Serves in a thread while a headless Chromium records --screenshot_audio on the page."""
  from v2i_jax import audio as audio_lib
  try:
    from v2i_jax.demo import browser
  except ImportError as e:
    sys.exit(f"error: --screenshot needs selenium ({e}); pip install -e '.[test]'.")
  paths = browser.find_chromium()
  if paths is None:
    sys.exit(f"error: --screenshot needs Chromium; {browser.INSTALL_HINT}.")
  try:
    seconds = audio_lib.load_audio(_SCREENSHOT_AUDIO.value).size / audio_lib.SAMPLE_RATE
  except audio_lib.AudioError as e:
    sys.exit(f"error: {e}")
  thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
  thread.start()
  driver = browser.start(paths, os.path.abspath(_SCREENSHOT_AUDIO.value))
  try:
    browser.open_page(driver, url)
    browser.record(driver, seconds + 0.3)
    message = browser.result_or_message(driver)
    if message:
      sys.exit(f"error: the page answered: {message}")
    browser.wait(driver, lambda: browser.shown_images(driver) == settings.num_images, 30)
    path = browser.screenshot(driver, _SCREENSHOT.value)
    caption = browser.text(driver, "caption")
  finally:
    driver.quit()
    server.should_exit = True
    thread.join(timeout=10)
  print(json.dumps({"screenshot": os.path.abspath(path), "caption": caption}))


def run():
  """The ``v2i-demo`` console command (``python -m launch.demo``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
