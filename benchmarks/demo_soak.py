r"""A bounded soak of the demo server: many mixed requests on loopback, its memory sampled as it goes.

  python benchmarks/demo_soak.py --kws_workdir runs/quickstart/kws \
      --gan_workdir runs/quickstart/gan --requests 2000 --json soak.json --plot docs/demo_soak.png

Starts ``python -m launch.demo --port 0`` as its own process, then sends --requests requests from
--clients threads, in a fixed pseudo-random mix: text captions of the keywords (1-8 pictures, any
seed), speech uploads (raw WAV and multipart forms; phrases of 1-3 keywords spoken by espeak-ng
voices), and bad input the server must refuse (silence, not-audio bytes, empty bodies, bad seeds,
unknown words, oversized bodies). The server's resident memory (VmRSS of /proc) is read every
--sample_every requests. Prints (and writes to --json) the memory at the start, halfway and at the
end, the growth over each half, latency percentiles per kind, and the status counts; with --plot,
a PNG of memory against requests. Memory that levels off shows as a second-half growth near zero.
"""

import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

_KWS = flags.DEFINE_string("kws_workdir", "runs/quickstart/kws", "Keyword model workdir.")
_GAN = flags.DEFINE_string("gan_workdir", "runs/quickstart/gan", "GAN workdir.")
_REQUESTS = flags.DEFINE_integer("requests", 2000, "Requests in all.", lower_bound=1)
_CLIENTS = flags.DEFINE_integer("clients", 2, "Concurrent clients.", lower_bound=1)
_SAMPLE = flags.DEFINE_integer("sample_every", 50, "Read the server's memory every N requests.",
                               lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the request mix.")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")
_PLOT = flags.DEFINE_string("plot", None, "Also plot memory against requests to this PNG.")

KINDS = ("text", "speech_raw", "speech_form", "bad_audio", "bad_option", "bad_text", "too_large")
WEIGHTS = (0.35, 0.2, 0.1, 0.12, 0.08, 0.1, 0.05)


def rss_mib(pid: int) -> float:
  with open(f"/proc/{pid}/status") as f:
    return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


def wav_bytes(x: np.ndarray) -> bytes:
  import soundfile
  buffer = io.BytesIO()
  soundfile.write(buffer, x, 16000, format="WAV", subtype="PCM_16")
  return buffer.getvalue()


def multipart(data: bytes) -> tuple[bytes, str]:
  boundary = "----v2iSoakBoundary"
  body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.wav\""
          "\r\nContent-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
  return body, f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str) -> int:
  request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
  try:
    with urllib.request.urlopen(request, timeout=300) as response:
      response.read()
      return response.status
  except urllib.error.HTTPError as e:
    e.read()
    return e.code


def start_server() -> tuple[subprocess.Popen, str]:
  command = [sys.executable, "-m", "launch.demo", f"--kws_workdir={_KWS.value}",
             f"--gan_workdir={_GAN.value}", "--port=0"]
  server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
  for line in server.stdout:
    match = re.search(r"open (http://\S+)", line)
    if match:
      return server, match.group(1).rstrip("/")
  raise SystemExit(f"error: the demo did not start (exit code {server.wait()}); run "
                   f"{' '.join(command)} to see why.")


def main(argv):
  del argv
  from v2i_jax.speech import synth
  from v2i_jax.speech import recognizer as recognizer_lib

  words = recognizer_lib.Recognizer.restore(_KWS.value).keywords
  rng = random.Random(_SEED.value)
  speakers = synth.sample_speakers(8, _SEED.value, rate_range=(140, 200))
  print(f"speaking {len(speakers) * 3} phrases for the uploads ...", flush=True)
  clips = [wav_bytes(synth.speak_phrase(rng.sample(words, rng.randint(1, 3)), s))
           for s in speakers for _ in range(3)]
  silence = wav_bytes(np.zeros(16000, np.float32))

  def request_of(kind: str) -> tuple[str, bytes, str]:
    seed = rng.randint(0, 2**31 - 1)
    n = rng.randint(1, 8)
    if kind == "text":
      caption = " ".join(rng.sample(words, rng.randint(1, 3)))
      return "/api/text", json.dumps({"text": caption, "seed": seed, "num_images": n}).encode(), \
          "application/json"
    if kind == "speech_raw":
      return f"/api/speech?seed={seed}&num_images={n}", rng.choice(clips), "audio/wav"
    if kind == "speech_form":
      return (f"/api/speech?seed={seed}&num_images={n}", *multipart(rng.choice(clips)))
    if kind == "bad_audio":
      body = rng.choice([silence, b"GIF89a not a sound", b"", os.urandom(2048)])
      return "/api/speech", body, "application/octet-stream"
    if kind == "bad_option":
      return f"/api/speech?seed={rng.choice(['-1', '1.5', '4294967296'])}", rng.choice(clips), \
          "audio/wav"
    if kind == "bad_text":
      text = rng.choice(["", "xyzzyq qwxzv", "   "])
      return "/api/text", json.dumps({"text": text}).encode(), "application/json"
    return "/api/text", json.dumps({"text": "dog " * 20_000}).encode(), "application/json"

  plan = [rng.choices(KINDS, WEIGHTS)[0] for _ in range(_REQUESTS.value)]
  bodies = [request_of(kind) for kind in plan]
  server, url = start_server()
  try:
    memory = [(0, rss_mib(server.pid))]
    latencies = {kind: [] for kind in KINDS}
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    next_index = [0]
    start = time.time()

    def client():
      while True:
        with lock:
          i = next_index[0]
          next_index[0] += 1
        if i >= len(plan):
          return
        path, body, content_type = bodies[i]
        t = time.perf_counter()
        status = post(url + path, body, content_type)
        seconds = time.perf_counter() - t
        with lock:
          latencies[plan[i]].append(seconds)
          statuses[str(status)] = statuses.get(str(status), 0) + 1
          done = sum(statuses.values())
          if done % _SAMPLE.value == 0 or done == len(plan):
            memory.append((done, rss_mib(server.pid)))
            if done % (10 * _SAMPLE.value) == 0:
              print(f"{done} requests, server {memory[-1][1]:.0f} MiB, "
                    f"{time.time() - start:.0f} s", flush=True)

    threads = [threading.Thread(target=client) for _ in range(_CLIENTS.value)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    alive = server.poll() is None
  finally:
    server.terminate()
    server.wait(timeout=30)
  half = min(memory, key=lambda m: abs(m[0] - len(plan) / 2))
  result = {
      "requests": len(plan), "clients": _CLIENTS.value, "server_alive": alive,
      "seconds": round(time.time() - start, 1), "statuses": statuses,
      "rss_mib": {"start": round(memory[0][1], 1), "after_first_sample": round(memory[1][1], 1),
                  "half": round(half[1], 1), "end": round(memory[-1][1], 1),
                  "max": round(max(m for _, m in memory), 1)},
      "growth_mib": {"first_half": round(half[1] - memory[1][1], 1),
                     "second_half": round(memory[-1][1] - half[1], 1)},
      "latency_ms": {kind: {"count": len(v), "p50": round(1000 * statistics.median(v), 1),
                            "p95": round(1000 * float(np.percentile(v, 95)), 1)}
                     for kind, v in latencies.items() if v},
      "load_average": os.getloadavg(), "cpu": cpu.describe(), "memory": memory,
  }
  print(json.dumps({k: v for k, v in result.items() if k != "memory"}, indent=1))
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(result, f, indent=1)
  if _PLOT.value:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot([m[0] for m in memory], [m[1] for m in memory], marker=".")
    ax.set(xlabel="requests served", ylabel="server resident memory (MiB)",
           title=f"demo soak: {len(plan)} mixed requests, {_CLIENTS.value} clients")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(_PLOT.value, dpi=100)


if __name__ == "__main__":
  app.run(main)
