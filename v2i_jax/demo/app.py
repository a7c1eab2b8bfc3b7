"""The demo's server: a Starlette app that serves the page and runs the pipeline.

  GET  /             the page (static/index.html, static/demo.js, static/recorder_worklet.js)
  GET  /api/info     what the models hear and the limits, for the page
  POST /api/speech   body: an audio file (the page's recording is a 16-bit WAV), raw or as
                     the file field of a multipart form (curl -F file=@clip.wav); query:
                     name, seed, num_images
  POST /api/text     body: JSON {"text", "seed", "num_images"}

Both POSTs answer a JSON result (caption, words with probabilities and times, the waveform the
model heard as min/max peaks, PNG data URLs of the pictures) or ``{"error": message}``: 400 for
bad input (the messages of v2i_jax.errors.USER_ERRORS, which name the problem and the fix), 413
for an upload over the limit, 500 for a bug (logged with its traceback). Any of them leaves the
server serving.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import os
import re
import tempfile
import threading
import time
from typing import Any, Mapping

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from v2i_jax import audio
from v2i_jax import errors
from v2i_jax import options
from v2i_jax import pipeline as pipeline_lib
from v2i_jax.speech import recognizer as recognizer_lib

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
WAVEFORM_BINS = 600  # min/max pairs sent for drawing; enough for a page-wide canvas


@dataclasses.dataclass(frozen=True)
class Settings:
  num_images: int = 8  # the page's default
  max_images: int = 32
  min_probability: float = 0.3  # recognised words below it are shown but not painted
  max_upload_bytes: int = 10 * 2**20
  max_seconds: float = audio.DEFAULT_MAX_SECONDS


class InputError(ValueError):
  """A request the page should not have sent (bad seed, image count, JSON)."""


class UploadTooLargeError(ValueError):
  pass


def safe_name(name: str | None) -> str:
  """An upload's file name fit to quote in a message: base name, printable, at most 80 chars."""
  base = os.path.basename((name or "").replace("\\", "/"))
  base = re.sub(r"[^\w.\- ()]", "_", base)[:80].strip()
  return base or "the upload"


def decode_upload(data: bytes, name: str, max_seconds: float) -> np.ndarray:
  """The bytes of an audio file -> float32 mono 16 kHz samples, through
  :func:`v2i_jax.audio.load_audio` so an upload gets the same checks and messages as a file
  (which are about ``name``, not the temporary file)."""
  if not data:
    raise audio.AudioError(f"{name}: the upload is empty; record again or pick an audio file.")
  extension = os.path.splitext(name)[1].lower()
  with tempfile.TemporaryDirectory(prefix="v2i_demo_") as folder:
    path = os.path.join(folder, "upload" + (extension if re.fullmatch(r"\.\w{1,5}", extension)
                                            else ""))
    with open(path, "wb") as f:
      f.write(data)
    try:
      return audio.load_audio(path, max_seconds=max_seconds)
    except audio.AudioError as e:
      raise audio.AudioError(str(e).replace(path, name)) from None


def audio_of_request(body: bytes, content_type: str, name: str | None) -> tuple[bytes, str | None]:
  """``(audio bytes, file name)`` of a speech upload: the raw body, or the file of a multipart
  form (``curl -F file=@clip.wav``: the first part with a file name, else a part named ``file``
  or ``audio``). A form without a file is an InputError that says what to send."""
  if not content_type.lower().startswith("multipart/form-data"):
    return body, name
  import email.parser  # pylint: disable=g-import-not-at-top
  import email.policy  # pylint: disable=g-import-not-at-top
  message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
      b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
  parts = list(message.iter_parts()) if message.is_multipart() else []
  for part in (sorted(parts, key=lambda p: p.get_filename() is None)):
    field = part.get_param("name", header="content-disposition")
    if part.get_filename() is not None or field in ("file", "audio"):
      return part.get_payload(decode=True) or b"", part.get_filename() or name
  raise InputError(
      f"the multipart form holds no file ({len(parts)} field(s), none with a file name); send the "
      "recording as a file field (curl -F file=@clip.wav) or as the raw request body.")


def waveform_peaks(waveform: np.ndarray, bins: int = WAVEFORM_BINS) -> list[list[float]]:
  """``[[min, max]] * bins`` of the waveform, for drawing it at page width."""
  bins = max(1, min(bins, waveform.size))
  per_bin = -(-waveform.size // bins)
  padded = np.pad(waveform, (0, per_bin * bins - waveform.size))
  chunks = padded.reshape(bins, per_bin)
  return np.round(np.stack([chunks.min(1), chunks.max(1)], 1), 4).tolist()


def png_data_url(image: np.ndarray) -> str:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def result_json(result: pipeline_lib.Result, *, seed: int, seconds: float,
                waveform: np.ndarray | None = None) -> dict[str, Any]:
  return {
      "caption": result.caption,
      "words": [pipeline_lib.segment_dict(s) for s in result.words],
      "dropped": [pipeline_lib.segment_dict(s) for s in result.dropped],
      "oov_words": list(result.oov_words),
      "images": [png_data_url(image) for image in result.images],
      "waveform": None if waveform is None else {
          "seconds": waveform.size / audio.SAMPLE_RATE, "peaks": waveform_peaks(waveform)},
      "seed": seed,
      "seconds": round(seconds, 3),
  }


def parse_options(values: Mapping[str, Any], settings: Settings) -> tuple[int, int]:
  """``(seed, num_images)`` from the request, by the rule every entry point shares
  (:mod:`v2i_jax.options`), with messages that say what is allowed."""
  try:
    return (options.check_seed(values.get("seed", 0)),
            options.check_num_images(values.get("num_images", settings.num_images),
                                     high=settings.max_images))
  except options.OptionError as e:
    raise InputError(str(e)) from None


def size_text(num_bytes: int) -> str:
  return (f"{num_bytes / 2**20:.1f} MB" if num_bytes >= 2**20 else f"{num_bytes / 1024:.0f} KB")


async def read_body(request: Request, limit: int,
                    what: str = "the upload", fix: str = "send a shorter recording (a few "
                    "seconds of speech is enough)") -> bytes:
  """The request body, refused as soon as it is known to pass ``limit`` bytes."""
  def too_large(size: str) -> UploadTooLargeError:
    return UploadTooLargeError(f"{what} is {size} the {size_text(limit)} limit; {fix}.")
  declared = request.headers.get("content-length")
  if declared is not None and declared.isdigit() and int(declared) > limit:
    raise too_large(f"{size_text(int(declared))}, over")
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > limit:
      raise too_large("over")
    chunks.append(chunk)
  return b"".join(chunks)


def warm_up(pipe: pipeline_lib.Pipeline, num_images: int) -> None:
  """Compiles the recogniser and the generator now rather than on the first visitor's request.

  The recogniser is run on one loud noise burst between pauses (one segment to classify); what
  it hears does not matter, only that it compiled: a model with a noise class (``_silence_``)
  rightly hears no keyword in it."""
  recognizer = pipe.recognizer
  pipe.from_text(recognizer.keywords[0] if recognizer else "picture", num_images=num_images)
  if recognizer is not None:
    burst = np.zeros(audio.SAMPLE_RATE, np.float32)
    burst[4000:10000] = np.random.default_rng(0).normal(0.0, 0.3, 6000)
    try:
      recognizer.transcribe_segments(burst)
    except recognizer_lib.RecognitionError:
      pass  # "no keyword in it": the answer for a noise, after compiling the same path.


def create_app(pipe: pipeline_lib.Pipeline, settings: Settings = Settings()) -> Starlette:
  """The demo app over a restored pipeline (its keyword model may be None: text only)."""
  lock = threading.Lock()  # one pipeline call at a time: they share the CPU anyway
  log = logging.getLogger("v2i_jax.demo")

  def run_speech(data: bytes, name: str, seed: int, num_images: int) -> dict[str, Any]:
    waveform = decode_upload(data, name, settings.max_seconds)
    with lock:
      start = time.perf_counter()
      result = pipe(waveform, audio.SAMPLE_RATE, num_images=num_images, seed=seed,
                    min_probability=settings.min_probability)
      seconds = time.perf_counter() - start
    return result_json(result, seed=seed, seconds=seconds, waveform=waveform)

  def run_text(text: str, seed: int, num_images: int) -> dict[str, Any]:
    with lock:
      start = time.perf_counter()
      result = pipe.from_text(text, num_images=num_images, seed=seed)
      seconds = time.perf_counter() - start
    return result_json(result, seed=seed, seconds=seconds)

  async def answer(work, *args) -> JSONResponse:
    try:
      return JSONResponse(await run_in_threadpool(work, *args))
    except errors.USER_ERRORS as e:
      return JSONResponse({"error": str(e)}, status_code=400)
    except Exception as e:  # A bug: keep serving, say so, log the traceback.
      log.exception("demo request failed")
      return JSONResponse({"error": f"internal error ({type(e).__name__}: {e}); see the server "
                                    "log."}, status_code=500)

  async def index(request: Request) -> FileResponse:
    del request
    return FileResponse(os.path.join(STATIC_DIR, "index.html"))

  async def info(request: Request) -> JSONResponse:
    del request
    recognizer = pipe.recognizer
    return JSONResponse({
        "speech": recognizer is not None,
        "words": list(recognizer.keywords) if recognizer is not None else [],
        **dataclasses.asdict(settings),
    })

  async def speech(request: Request) -> JSONResponse:
    try:
      if pipe.recognizer is None:
        raise InputError("speech input is off: the demo was started without --kws_workdir; "
                         "type words instead, or restart it with a keyword model.")
      seed, num_images = parse_options(request.query_params, settings)
      data = await read_body(request, settings.max_upload_bytes)
      content_type = request.headers.get("content-type", "")
      data, name = audio_of_request(data, content_type, request.query_params.get("name"))
    except InputError as e:
      return JSONResponse({"error": str(e)}, status_code=400)
    except UploadTooLargeError as e:
      return JSONResponse({"error": str(e)}, status_code=413)
    response = await answer(run_speech, data, safe_name(name), seed, num_images)
    if response.status_code == 400 and b"not a readable audio file" in response.body:
      got = json.loads(response.body)["error"]
      return JSONResponse({"error": f"{got} (the request's Content-Type was "
                                    f"{content_type or 'not set'}; send the audio file as the "
                                    "raw body, or as the file field of a multipart form: curl -F "
                                    "file=@clip.wav)"}, status_code=400)
    return response

  async def text(request: Request) -> JSONResponse:
    try:
      body = await read_body(request, 64 * 1024, what="the request",
                             fix="send a shorter caption (a few words)")
      values = json.loads(body or b"{}")
      if not isinstance(values, dict) or not isinstance(values.get("text", ""), str):
        raise InputError('send JSON like {"text": "a happy dog", "seed": 0, "num_images": 8}.')
      seed, num_images = parse_options(values, settings)
    except (InputError, UploadTooLargeError) as e:
      return JSONResponse({"error": str(e)}, status_code=400)
    except ValueError as e:  # JSON or UTF-8 decoding
      return JSONResponse({"error": f"the request is not JSON ({e}); send "
                                    '{"text": "a happy dog"}.'}, status_code=400)
    return await answer(run_text, values.get("text", ""), seed, num_images)

  return Starlette(routes=[
      Route("/", index),
      Route("/api/info", info),
      Route("/api/speech", speech, methods=["POST"]),
      Route("/api/text", text, methods=["POST"]),
      Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
  ])
