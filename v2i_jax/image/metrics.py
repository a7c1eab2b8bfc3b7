"""Sample-set metrics beyond accuracy: diversity over z, coverage of the real artworks, copying.

All work per keyword, on feature vectors (the judge's penultimate features, see
:mod:`v2i_jax.image.evaluate`) or on raw pixels, with numpy only:

* diversity: the mean pairwise distance between a keyword's samples divided by the mean pairwise
  distance between its real images (1 = as varied as the real artwork, 0 = one picture for
  every z); and the mean per-pixel standard deviation over the samples, in 0..255 units;
* coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative models"):
  the share of real images whose k-nearest-neighbour ball (among the real images of the same
  keyword) holds at least one sample, and density, the mean number of such balls a sample falls
  in, over k; plus ``nearest_real_coverage``, the share of a keyword's real images that are the
  nearest real image of at least one sample;
* memorisation: each sample's pixel distance to its nearest real image (of any keyword) over
  the typical nearest-neighbour distance between real images; near 0 means copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MetricsError(ValueError):
  """Sample or real sets these metrics cannot use; the message says what to pass."""


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distances [N, M] between the rows of ``a`` [N, D] and ``b`` [M, D] (float64)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.sqrt(np.maximum(squared, 0.0))


def mean_pairwise_distance(x: np.ndarray) -> float:
  """Mean distance over the distinct pairs of rows of ``x`` [N, D] (N >= 2)."""
  x = np.asarray(x)
  if x.ndim != 2 or len(x) < 2:
    raise MetricsError(f"need at least 2 vectors [N, D]; got shape {x.shape}.")
  d = pairwise_distances(x, x)
  return float(d[np.triu_indices(len(x), 1)].mean())


def pixel_spread(images: np.ndarray) -> float:
  """Mean over pixels and channels of the standard deviation across images (0..255 units)."""
  images = np.asarray(images, np.float64)
  if images.ndim != 4 or len(images) < 2:
    raise MetricsError(f"need at least 2 images [N, H, W, C]; got shape {images.shape}.")
  return float(images.std(axis=0).mean())


def coverage_density(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
  """Naeem et al.'s (coverage, density) of ``fake`` against ``real`` (rows are features).

  Each real image gets the radius to its k-th nearest other real image (k is capped at
  len(real) - 1, so two real images use each other's distance)."""
  real, fake = np.asarray(real), np.asarray(fake)
  if len(real) < 2 or len(fake) < 1:
    raise MetricsError(f"coverage needs >= 2 real and >= 1 fake vectors; got {len(real)} and "
                       f"{len(fake)}.")
  k = max(1, min(int(k), len(real) - 1))
  real_real = pairwise_distances(real, real)
  np.fill_diagonal(real_real, np.inf)
  radii = np.sort(real_real, axis=1)[:, k - 1]
  inside = pairwise_distances(fake, real) <= radii[None, :]  # [M, N]
  return float(inside.any(axis=0).mean()), float(inside.sum() / (k * len(fake)))


def nearest_real_coverage(real: np.ndarray, fake: np.ndarray) -> float:
  """The share of ``real`` rows that are the nearest real row of at least one ``fake`` row."""
  nearest = pairwise_distances(fake, real).argmin(axis=1)
  return float(len(np.unique(nearest)) / len(real))


def _flat(images: np.ndarray) -> np.ndarray:
  return np.asarray(images, np.float32).reshape(len(images), -1) / 255.0


def nearest_neighbour_distances(queries: np.ndarray, reference: np.ndarray,
                                exclude_self: bool = False, chunk: int = 512) -> np.ndarray:
  """Pixel distance from each image of ``queries`` to its nearest image in ``reference``
  (uint8 images, distances on [0, 1] pixels); ``exclude_self`` when they are the same set."""
  q, r = _flat(queries), _flat(reference)
  out = np.empty(len(q))
  for start in range(0, len(q), chunk):
    d = pairwise_distances(q[start:start + chunk], r)
    if exclude_self:
      rows = np.arange(d.shape[0])
      d[rows, start + rows] = np.inf
    out[start:start + chunk] = d.min(axis=1)
  return out


def memorisation(fake_images: np.ndarray, real_images: np.ndarray,
                 copy_fraction: float = 0.25) -> dict[str, float]:
  """How close samples sit to real images, against how close real images sit to each other.

  ``memorisation_ratio``: median sample-to-nearest-real pixel distance / median real-to-nearest-
  other-real distance (near 0: samples are copies; about 1: as far from the data as real
  artworks are from each other; larger: off the data). ``near_copy_rate``: the share of
  samples closer to a real image than ``copy_fraction`` times that real median."""
  real_nn = np.median(nearest_neighbour_distances(real_images, real_images, exclude_self=True))
  fake_nn = nearest_neighbour_distances(fake_images, real_images)
  if real_nn <= 0:
    raise MetricsError("the real images hold duplicates only; memorisation needs distinct ones.")
  return {"memorisation_ratio": float(np.median(fake_nn) / real_nn),
          "near_copy_rate": float((fake_nn < copy_fraction * real_nn).mean()),
          "real_nearest_distance": float(real_nn)}


def per_keyword_spread(fake_features: np.ndarray, fake_labels: np.ndarray,
                       real_features: np.ndarray, real_labels: np.ndarray,
                       fake_images: np.ndarray, real_images: np.ndarray,
                       k: int = 3) -> dict[int, dict[str, Any]]:
  """{keyword id: diversity, pixel spreads, coverage, density, nearest-real coverage} for every
  keyword that has >= 2 samples and >= 2 real images."""
  out = {}
  for c in np.unique(fake_labels):
    fake_rows, real_rows = fake_labels == c, real_labels == c
    if fake_rows.sum() < 2 or real_rows.sum() < 2:
      continue
    f, r = fake_features[fake_rows], real_features[real_rows]
    real_distance = mean_pairwise_distance(r)
    coverage, density = coverage_density(r, f, k)
    out[int(c)] = {
        "diversity": (mean_pairwise_distance(f) / real_distance) if real_distance > 0 else 0.0,
        "pixel_spread": pixel_spread(fake_images[fake_rows]),
        "real_pixel_spread": pixel_spread(real_images[real_rows]),
        "coverage": coverage, "density": density,
        "nearest_real_coverage": nearest_real_coverage(r, f),
        "num_real": int(real_rows.sum()),
    }
  return out
