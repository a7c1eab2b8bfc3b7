"""v2i_jax: speak a word or a phrase, get a picture.

Data flows one way: ``audio`` -> ``speech`` (words from sound) -> ``text`` (vectors from
words) -> ``image`` (pictures from vectors), with ``training`` under both trainings and
``pipeline`` on top. Nothing below imports from above, and nothing outside the data modules
imports TensorFlow, so models, steps and benchmarks run where TensorFlow is absent.
"""

__version__ = "0.1.0"
