"""The default image-caption set: emoji artwork from installed packages, 64x64 on white.

Build it (once; later runs find it by its fingerprint and skip) and write a contact sheet:

  python -m launch.build_image_data --config=configs/image_data.py \
      --contact_sheet=docs/emoji_contact_sheet.png
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "emoji_captions"
  # Built copies live in <data_dir>/<name>_<fingerprint>/<version>/ (tfds layout).
  config.data_dir = "data_cache/emoji_captions"
  # "noto" is used only where Debian's fonts-noto-color-emoji is installed.
  config.sources = ("twemoji", "openmoji", "noto")
  config.image_size = 64
  # White pixels between the artwork's longer side and the image border.
  config.margin = 2
  # Skin-tone variants repeat their base emoji's picture and captions ~5 times; leave them out.
  config.skin_tones = False
  # Empty: every fully-qualified emoji of the emoji package. Else only these.
  config.emoji = ()
  config.max_captions = 10
  # Words of emojilib's tags in the one tag caption per emoji (0: no tag caption).
  config.tag_words = 6
  config.test_percent = 10.0
  config.split_seed = 0
  return config
