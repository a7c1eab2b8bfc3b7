// The demo page: record (WebAudio -> 16-bit WAV), upload or type; post to the server; draw the
// waveform with the recognised words, the word table and the pictures; say clearly what failed.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;  // /api/info: words, limits
let recording = null;  // {context, stream, node, chunks, timer, started} while recording
let lastInput = null;  // {kind: "audio", blob, name} or {kind: "text", text}: for "repaint"

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

function clearMessage() {
  $("message").hidden = true;
}

function sizeText(bytes) {  // as the server words it
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${(bytes / 1024).toFixed(0)} KB`;
}

function setBusy(busy) {
  const speech = info !== null && info.speech;
  $("busy").hidden = !busy;
  $("paint").disabled = busy;
  $("repaint").disabled = busy || lastInput === null;
  $("upload").disabled = busy || !speech;
  $("record").disabled = busy || recording !== null || !speech;
}

async function loadInfo() {
  try {
    const response = await fetch("/api/info");
    info = await response.json();
  } catch (e) {
    showMessage(`Could not reach the demo server (${e.message}); is it still running?`);
    return;
  }
  $("num-images").value = info.num_images;
  $("num-images").max = info.max_images;
  if (info.speech) {
    $("hears").textContent = `The keyword model hears ${info.words.length} words: ` +
        `${info.words.join(", ")}. Say one or more, with short pauses between them.`;
  } else {
    $("hears").textContent = "Text only: the demo was started without a keyword model.";
    $("voice").hidden = true;
  }
  setBusy(false);
}

function options() {
  return {seed: $("seed").value.trim(), num_images: $("num-images").value.trim()};
}

async function submit(input) {
  clearMessage();
  lastInput = input;
  let url, body, type;
  if (input.kind === "audio") {
    if (input.blob.size > info.max_upload_bytes) {
      showMessage(`${input.name} is ${sizeText(input.blob.size)}, over the ` +
          `${sizeText(info.max_upload_bytes)} limit; upload a shorter recording (a few seconds ` +
          "of speech is enough).");
      return;
    }
    url = "/api/speech?" + new URLSearchParams({name: input.name, ...options()});
    body = input.blob;
    type = input.blob.type || "application/octet-stream";
  } else {
    url = "/api/text";
    body = JSON.stringify({text: input.text, ...options()});
    type = "application/json";
  }
  setBusy(true);
  try {
    const response = await fetch(url, {method: "POST", body, headers: {"Content-Type": type}});
    let data;
    try {
      data = await response.json();
    } catch (e) {
      data = {error: `the server answered ${response.status} ${response.statusText}.`};
    }
    if (!response.ok) {
      showMessage(data.error || `the server answered ${response.status}.`);
    } else {
      render(data);
    }
  } catch (e) {
    showMessage(`Could not reach the demo server (${e.message}); is it still running?`);
  } finally {
    setBusy(false);
  }
}

function render(data) {
  $("result").hidden = false;
  $("caption").textContent = data.caption;
  const spoken = data.waveform !== null;
  $("speech-result").hidden = !spoken;
  if (spoken) {
    const rows = $("words").tBodies[0];
    rows.replaceChildren();
    const all = data.words.map((w) => ({...w, kept: true}))
        .concat(data.dropped.map((w) => ({...w, kept: false})))
        .sort((a, b) => a.start_seconds - b.start_seconds);
    for (const w of all) {
      const row = rows.insertRow();
      row.className = w.kept ? "kept" : "dropped";
      row.insertCell().textContent = w.word;
      const p = row.insertCell();
      p.className = "p";
      p.textContent = w.probability.toFixed(2);
      row.insertCell().textContent = w.start_seconds.toFixed(2);
      row.insertCell().textContent = w.end_seconds.toFixed(2);
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(120 * w.probability)}px`;
      const note = row.insertCell();
      note.append(bar, w.kept ? "" : `  below ${info.min_probability}: not painted`);
    }
    drawWaveform(data.waveform, all);
  }
  $("oov").hidden = data.oov_words.length === 0;
  $("oov").textContent = `Not in the word vectors' vocabulary (skipped): ${data.oov_words.join(", ")}`;
  const images = $("images");
  images.replaceChildren();
  data.images.forEach((src, i) => {
    const img = document.createElement("img");
    img.src = src;
    img.alt = `picture ${i + 1} of "${data.caption}" (seed ${data.seed})`;
    images.append(img);
  });
  $("timing").textContent = `seed ${data.seed}; ${data.images.length} pictures in ` +
      `${(1000 * data.seconds).toFixed(0)} ms` + (spoken ? " (speech recognition included)." : ".");
}

function drawWaveform(waveform, words) {
  const canvas = $("waveform");
  const ctx = canvas.getContext("2d");
  const {width, height} = canvas;
  const top = 22;  // room for the word labels
  const middle = top + (height - top) / 2;
  const scale = (height - top) / 2 - 4;
  const x = (seconds) => (seconds / waveform.seconds) * width;
  ctx.clearRect(0, 0, width, height);
  for (const w of words) {
    ctx.fillStyle = w.kept ? "rgba(58, 138, 58, 0.18)" : "rgba(200, 80, 80, 0.18)";
    ctx.fillRect(x(w.start_seconds), top, x(w.end_seconds) - x(w.start_seconds), height - top);
    ctx.fillStyle = w.kept ? "#1d541d" : "#7a1010";
    ctx.font = "15px 'DejaVu Sans', sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(`${w.word} (${w.probability.toFixed(2)})`,
                 (x(w.start_seconds) + x(w.end_seconds)) / 2, 16);
  }
  ctx.strokeStyle = "#444";
  ctx.beginPath();
  const step = width / waveform.peaks.length;
  waveform.peaks.forEach(([low, high], i) => {
    ctx.moveTo(i * step + 0.5, middle - high * scale);
    ctx.lineTo(i * step + 0.5, middle - low * scale + 1);
  });
  ctx.stroke();
  ctx.fillStyle = "#888";
  ctx.font = "11px 'DejaVu Sans', sans-serif";
  ctx.textAlign = "left";
  for (let s = 0; s < waveform.seconds; s += 1) ctx.fillText(`${s} s`, x(s) + 2, height - 4);
}

function microphoneMessage(error) {
  const fallback = "upload a recording or type words instead.";
  switch (error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Microphone access was refused; allow it in the browser's site settings, or ${fallback}`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No microphone was found; plug one in, or ${fallback}`;
    case "NotReadableError":
      return `The microphone could not be opened (is another program using it?); ${fallback}`;
    default:
      return `Could not open the microphone (${error.name}: ${error.message}); ${fallback}`;
  }
}

async function startRecording() {
  clearMessage();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("This page has no microphone access (open it as http://127.0.0.1:PORT or " +
        "https); upload a recording or type words instead.");
    return;
  }
  // The context and the worklet are ready before the microphone opens, so no sound is lost.
  const context = new AudioContext();
  let stream;
  try {
    await context.audioWorklet.addModule("/static/recorder_worklet.js");
    stream = await navigator.mediaDevices.getUserMedia(
        {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  } catch (e) {
    context.close();
    showMessage(microphoneMessage(e));
    return;
  }
  const node = new AudioWorkletNode(context, "recorder");
  const chunks = [];
  node.port.onmessage = (event) => chunks.push(event.data);
  context.createMediaStreamSource(stream).connect(node);
  node.connect(context.destination);  // pulled by the graph; its output is silence
  await context.resume();
  const started = performance.now();
  const limit = Math.max(1, info.max_seconds - 1);
  const timer = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    $("rec-status").textContent = `recording… ${seconds.toFixed(1)} s`;
    if (seconds >= limit) stopRecording();
  }, 100);
  recording = {context, stream, node, chunks, timer};
  $("record").disabled = true;
  $("stop").disabled = false;
  $("rec-status").textContent = "recording…";
}

function stopRecording() {
  if (recording === null) return;
  const {context, stream, node, chunks, timer} = recording;
  recording = null;
  clearInterval(timer);
  stream.getTracks().forEach((track) => track.stop());
  node.disconnect();
  const sampleRate = context.sampleRate;
  context.close();
  $("stop").disabled = true;
  $("record").disabled = false;
  $("rec-status").textContent = "";
  const length = chunks.reduce((n, c) => n + c.length, 0);
  if (length === 0) {
    showMessage("Nothing was recorded (the microphone sent no sound); check it, or upload a " +
        "recording or type words instead.");
    return;
  }
  const samples = new Float32Array(length);
  let offset = 0;
  for (const c of chunks) {
    samples.set(c, offset);
    offset += c.length;
  }
  const wav = encodeWav(samples, sampleRate);
  const playback = $("playback");
  if (playback.src) URL.revokeObjectURL(playback.src);
  playback.src = URL.createObjectURL(wav);
  playback.hidden = false;
  submit({kind: "audio", blob: wav, name: "recording.wav"});
}

function encodeWav(samples, sampleRate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + 2 * samples.length, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);  // PCM header size
  view.setUint16(20, 1, true);  // PCM
  view.setUint16(22, 1, true);  // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, 2 * sampleRate, true);  // bytes per second
  view.setUint16(32, 2, true);  // bytes per frame
  view.setUint16(34, 16, true);  // bits per sample
  text(36, "data");
  view.setUint32(40, 2 * samples.length, true);
  samples.forEach((s, i) => view.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([view], {type: "audio/wav"});
}

$("record").addEventListener("click", startRecording);
$("stop").addEventListener("click", stopRecording);
$("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  event.target.value = "";  // choosing the same file again fires "change" again
  if (file) submit({kind: "audio", blob: file, name: file.name});
});
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit({kind: "text", text: $("text").value});
});
$("new-seed").addEventListener("click", () => {
  $("seed").value = Math.floor(Math.random() * 2 ** 31);
  if (lastInput) submit(lastInput);
});
$("repaint").addEventListener("click", () => submit(lastInput));
loadInfo();
