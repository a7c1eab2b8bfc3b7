"""A few emoji (keyword ones and three others) for tests: builds in a second or two.

  python -m launch.build_image_data --config=configs/image_data_tiny.py
"""

from configs import image_data


def get_config():
  config = image_data.get_config()
  config.name = "emoji_captions_tiny"
  config.data_dir = "data_cache/emoji_captions_tiny"
  config.sources = ("twemoji", "openmoji")
  config.emoji = ("🐈", "🐱", "🐕", "5️⃣", "⬆️", "🛑", "✅", "❌", "😀", "🌳", "🍕", "🚀", "🦄")
  config.test_percent = 25.0
  return config
