"""Image-caption data: the emoji set (rendering, captions, split, tfds round trip) and the
flickr30k, CUB-200 and Oxford-102 readers on tiny folders made here."""

import os

import numpy as np
import pytest
from PIL import Image

from configs import image_data_tiny
from v2i_jax.image import data
from v2i_jax.image import real_data


@pytest.fixture(scope="module")
def tiny_config():
  return image_data_tiny.get_config()


@pytest.fixture(scope="module")
def tiny_set(tiny_config):
  return data.build_emoji_dataset(tiny_config)


def _image(data_set, emoji, source="twemoji"):
  key = f"{source}/" + "-".join(f"{ord(c):x}" for c in emoji)
  return data_set.ids.index(key)


def test_keyword_table_covers_every_word_with_artwork_in_both_packages():
  assert set(data.KEYWORD_ART) == set(data.KEYWORDS)
  assert len(data.KEYWORDS) == 35 and list(data.KEYWORDS) == sorted(data.KEYWORDS)
  owners = data.keyword_of_emoji()  # Raises if an emoji illustrates two words.
  for emoji, word in owners.items():
    for source in ("twemoji", "openmoji"):
      assert data.render_emoji(emoji, source, 64, 2) is not None, (word, emoji, source)
    captions = data.emoji_captions(emoji, max_captions=10, tag_words=6)
    assert word in captions, (emoji, captions)


def test_spoken_words_are_in_the_captions():
  five = data.emoji_captions("5️⃣", max_captions=10, tag_words=6)
  assert five[0] == "keycap 5"
  assert {"five", "number five", "5"} <= set(five)
  up = data.emoji_captions("⬆️", max_captions=10, tag_words=6)
  assert {"up", "up arrow"} <= set(up)
  for e, word in (("🛑", "stop"), ("😀", "happy"), ("✅", "yes"), ("❌", "no"), ("🐈", "cat")):
    assert word in data.emoji_captions(e, max_captions=10, tag_words=6)
  # File-name short names ("cat2") have no word vector; they must not become captions.
  assert not any("cat2" in c for c in data.emoji_captions("🐈", 10, 6))
  assert len(data.emoji_captions("🐈", max_captions=2, tag_words=6)) == 2


def test_tiny_build_images_are_64px_rgb_on_white(tiny_set, tiny_config):
  images, splits = tiny_set
  n_emoji, n_sources = len(tiny_config.emoji), len(tiny_config.sources)
  assert images.images.shape == (n_emoji * n_sources, 64, 64, 3)
  assert images.images.dtype == np.uint8
  corners = images.images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
  assert (corners == 255).all()
  # Artwork is there, and fitted to the margin on its longer side.
  for picture in images.images:
    ink = (picture < 245).any(axis=-1)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    assert 64 - 2 * tiny_config.margin - 3 <= extent <= 64 - 2 * tiny_config.margin
  # Twemoji and OpenMoji draw the same emoji differently.
  cat = _image(images, "🐈")
  assert not np.array_equal(images.images[cat], images.images[_image(images, "🐈", "openmoji")])
  assert len(set(images.ids)) == len(images)
  assert set(splits) <= {"train", "test"}


def test_tiny_build_classes_and_captions(tiny_set):
  images, _ = tiny_set
  five = _image(images, "5️⃣")
  assert images.class_names[images.class_ids[five]] == "five"
  assert "five" in images.captions[five] and "5" in images.captions[five]
  assert images.class_names[images.class_ids[_image(images, "🐱", "openmoji")]] == "cat"
  # Other emoji are classes of their own, after the keywords, named by their CLDR name.
  pizza, rocket = _image(images, "🍕"), _image(images, "🚀", "openmoji")
  assert images.class_ids[pizza] >= len(data.KEYWORDS)
  assert images.class_names[images.class_ids[pizza]] == "pizza"
  assert images.class_ids[pizza] == images.class_ids[_image(images, "🍕", "openmoji")]
  assert images.class_ids[pizza] != images.class_ids[rocket]
  assert len(images.class_names) == len(data.KEYWORDS) + 3
  assert all(len(c) >= 2 for c in images.captions)
  coverage = data.keyword_coverage(images)
  assert coverage["cat"] == 4 and coverage["bird"] == 0


def test_build_is_deterministic_and_split_is_stable(tiny_set, tiny_config):
  images, splits = tiny_set
  again, again_splits = data.build_emoji_dataset(tiny_config)
  assert again.images.tobytes() == images.images.tobytes()
  assert again.captions == images.captions and again.ids == images.ids
  assert list(again_splits) == list(splits)
  # An image keeps its split when other sources are added or left out.
  one_source = tiny_config.copy_and_resolve_references()
  one_source.sources = ("twemoji",)
  alone, alone_splits = data.build_emoji_dataset(one_source)
  together = dict(zip(images.ids, splits))
  assert all(together[i] == s for i, s in zip(alone.ids, alone_splits))
  share = np.mean([data.split_of(str(k), 10.0) == "test" for k in range(20000)])
  assert 0.09 < share < 0.11


def test_tfds_builder_round_trip_and_skip_when_built(tiny_config, tiny_set, tmp_path):
  config = tiny_config.copy_and_resolve_references()
  config.data_dir = str(tmp_path)
  _, seconds = data.prepare_emoji_dataset(config)
  assert seconds > 0
  _, seconds = data.prepare_emoji_dataset(config)
  assert seconds == 0.0
  built, splits = tiny_set
  for split in ("train", "test"):
    loaded = data.load_caption_dataset("emoji", split, config=config)
    expected = built.subset(np.argsort(built.ids)[np.isin(np.sort(built.ids),
                                                          np.asarray(built.ids)[splits == split])])
    assert loaded.ids == expected.ids
    np.testing.assert_array_equal(loaded.images, expected.images)
    assert loaded.captions == expected.captions
    np.testing.assert_array_equal(loaded.class_ids, expected.class_ids)
  changed = config.copy_and_resolve_references()
  changed.margin = 4
  assert data.emoji_builder(changed).data_dir != data.emoji_builder(config).data_dir


def test_emoji_needs_config_and_bad_sources_fail():
  with pytest.raises(ValueError, match="configs.image_data"):
    data.load_caption_dataset("emoji", "train")
  with pytest.raises(ValueError, match="unknown emoji sources"):
    data.available_sources(("twemoji", "apple"))
  with pytest.raises(ValueError, match="unknown split"):
    data.load_caption_dataset("emoji", "validation")


def test_contact_sheet_shows_every_keyword_first(tiny_set):
  images, _ = tiny_set
  indices = data.contact_sheet_indices(images, 16, lead_classes=len(data.KEYWORDS))
  assert len(indices) == len(set(indices)) == 16
  keywords = sorted({c for c in images.class_ids.tolist() if c < len(data.KEYWORDS)})
  assert images.class_ids[indices[:len(keywords)]].tolist() == keywords
  sheet = data.contact_sheet(images, indices, columns=8)
  assert sheet.size[0] == 8 * (2 * 64 + 8)


# ------------------------------------------------------------------------------------------------
# Real caption data on tiny folders.


def _write_jpeg(path, width=120, height=80, seed=0):
  """A picture whose centre square is green and whose left and right 20 px are red."""
  pixels = np.zeros((height, width, 3), np.uint8)
  pixels[:] = (0, 200, 0)
  side = (width - height) // 2
  pixels[:, :side] = pixels[:, width - side:] = (220, 0, 0)
  pixels[0, 0, 2] = seed  # Different files.
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(pixels).save(path, quality=95)


def _assert_green_centre(images):
  assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
  red = (images[..., 0] > 120) & (images[..., 1] < 100)
  assert not red.any(), "the centre crop kept the red side bands"


def _flickr_folder(root, layout):
  # Two names from train and one from test, so that both splits can be read.
  test_name = next(f"{k}.jpg" for k in range(3000000, 4000000)
                   if data.split_of(f"{k}.jpg", 5.0) == "test")
  names = ["1000092795.jpg", "10002456.jpg", test_name]
  assert [data.split_of(n, 5.0) for n in names] == ["train", "train", "test"]
  for k, name in enumerate(names):
    _write_jpeg(str(root / "flickr30k_images" / name), seed=k)
  if layout == "results.csv":
    lines = ["image_name| comment_number| comment"]
    for name in names:
      lines += [f"{name}| 0| A dog runs .", f"{name}| 1| Two men , one hat ."]
    lines.insert(3, "10002456.jpg| 4   broken line without a second separator")
    (root / "results.csv").write_text("\n".join(lines) + "\n")
  elif layout == "captions.txt":
    lines = ["image,caption"] + [f'{n},"A dog, wet, runs ."' for n in names]
    lines += [f"{names[0]},A child plays ."]
    (root / "captions.txt").write_text("\n".join(lines) + "\n")
  else:
    lines = [f"{n}#{k}\t{c}" for n in names for k, c in enumerate(["A dog runs .", "Snow ."])]
    (root / "flickr30k_images" / layout).write_text("\n".join(lines) + "\n\n")
  return names


@pytest.mark.parametrize("layout", ["results.csv", "captions.txt", "results_20130124.token"])
def test_flickr30k_layouts(tmp_path, layout):
  names = _flickr_folder(tmp_path, layout)
  every = data.load_caption_dataset(str(tmp_path), "all")
  assert every.ids == [f"flickr30k/{n}" for n in sorted(names)]
  _assert_green_centre(every.images)
  assert every.class_ids is None
  by_id = dict(zip(every.ids, every.captions))
  assert len(every) == 3
  if layout == "results.csv":
    assert by_id["flickr30k/1000092795.jpg"] == ["A dog runs .", "Two men , one hat ."]
    assert by_id["flickr30k/10002456.jpg"] == ["A dog runs .", "Two men , one hat ."]
  elif layout == "captions.txt":
    assert by_id["flickr30k/1000092795.jpg"] == ["A dog, wet, runs .", "A child plays ."]
  else:
    assert all(c == ["A dog runs .", "Snow ."] for c in every.captions)
  train = data.load_caption_dataset("flickr30k", "train", manual_dir=str(tmp_path))
  test = data.load_caption_dataset("flickr30k", "test", manual_dir=str(tmp_path))
  assert sorted(train.ids + test.ids) == every.ids and len(test) == 1


def test_flickr30k_errors_say_what_layout_is_expected(tmp_path):
  with pytest.raises(data.CaptionDataError, match="(?s)no image folder.*results.csv"):
    os.makedirs(tmp_path / "empty")
    (tmp_path / "empty" / "results.csv").write_text("x")
    data.load_caption_dataset(str(tmp_path / "empty"))
  _flickr_folder(tmp_path / "bad", "results.csv")
  (tmp_path / "bad" / "results.csv").write_text("name,text\na.jpg,hello\n")
  with pytest.raises(data.CaptionDataError, match="image_name\\| comment_number\\| comment"):
    data.load_caption_dataset(str(tmp_path / "bad"), "all")
  _flickr_folder(tmp_path / "nocaps", "captions.txt")
  os.remove(tmp_path / "nocaps" / "captions.txt")
  with pytest.raises(data.CaptionDataError, match="no captions file"):
    real_data.read_flickr30k(str(tmp_path / "nocaps"))
  with pytest.raises(data.CaptionDataError, match="(?s)not a caption data set folder.*text_c10"):
    data.load_caption_dataset(str(tmp_path / "empty" / ".."))
  with pytest.raises(data.CaptionDataError, match="no such folder"):
    data.load_caption_dataset(str(tmp_path / "missing"))
  with pytest.raises(ValueError, match="manual_dir"):
    data.load_caption_dataset("cub")


def _cub_folder(root, with_split_files=True):
  classes = {"001.Black_footed_Albatross": ["Black_Footed_Albatross_0001_796111",
                                            "Black_Footed_Albatross_0002_55"],
             "002.Laysan_Albatross": ["Laysan_Albatross_0003_1033"]}
  rows = []
  for cls, names in classes.items():
    for name in names:
      _write_jpeg(str(root / "CUB_200_2011" / "images" / cls / f"{name}.jpg"), seed=len(rows))
      text = root / "text_c10" / cls / f"{name}.txt"
      os.makedirs(text.parent, exist_ok=True)
      text.write_text("\n".join(f"this bird {k} has a white belly" for k in range(10)) + "\n")
      rows.append(f"{cls}/{name}.jpg")
  if with_split_files:
    (root / "CUB_200_2011" / "images.txt").write_text(
        "".join(f"{i + 1} {r}\n" for i, r in enumerate(rows)))
    (root / "CUB_200_2011" / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n")
  return rows


def test_cub_reader_with_official_split(tmp_path):
  rows = _cub_folder(tmp_path)
  train = data.load_caption_dataset(str(tmp_path), "train")
  test = data.load_caption_dataset("cub", "test", manual_dir=str(tmp_path))
  assert train.ids == [f"cub/{rows[0]}", f"cub/{rows[2]}"] and test.ids == [f"cub/{rows[1]}"]
  assert train.class_names == ("black footed albatross", "laysan albatross")
  np.testing.assert_array_equal(train.class_ids, [0, 1])
  assert len(train.captions[0]) == 10 and train.captions[0][3] == "this bird 3 has a white belly"
  _assert_green_centre(train.images)


def test_cub_errors(tmp_path):
  rows = _cub_folder(tmp_path, with_split_files=False)
  every = real_data.read_cub(str(tmp_path), "all")
  assert len(every) == len(rows)
  os.remove(tmp_path / "text_c10" / (rows[1][:-4] + ".txt"))
  with pytest.raises(data.CaptionDataError, match="Albatross_0002_55.txt is missing"):
    real_data.read_cub(str(tmp_path), "all")
  os.rename(tmp_path / "text_c10", tmp_path / "captions")
  with pytest.raises(data.CaptionDataError, match="(?s)no text_c10 folder.*CUB_200_2011/images/"):
    real_data.read_cub(str(tmp_path), "all")


def test_oxford102_reader(tmp_path):
  for k, (cls, name) in enumerate([("class_00001", "image_06734"), ("class_00002", "image_06735"),
                                   ("class_00002", "image_06736")]):
    _write_jpeg(str(tmp_path / "jpg" / f"{name}.jpg"), seed=k)
    text = tmp_path / "text_c10" / cls / f"{name}.txt"
    os.makedirs(text.parent, exist_ok=True)
    text.write_text("a flower with pink petals\nthis flower is pink\n")
  every = data.load_caption_dataset(str(tmp_path), "all")
  assert every.ids == [f"oxford102/image_0673{k}.jpg" for k in (4, 5, 6)]
  np.testing.assert_array_equal(every.class_ids, [0, 1, 1])
  assert every.captions[0] == ["a flower with pink petals", "this flower is pink"]
  _assert_green_centre(every.images)
  os.remove(tmp_path / "jpg" / "image_06735.jpg")
  with pytest.raises(data.CaptionDataError, match="image_06735.jpg is missing"):
    real_data.read_oxford102(str(tmp_path), "all")
