"""The paper's conditional DC-GAN (SPEC section 3): full-width G and D, z 64-d, batch 64, Adam
2e-4 (beta1 0.5), 100 epochs, c_hat = c + 0.001 N(0, 1), matching-aware GAN-CLS loss.

Captions are embedded as [min, max] of GloVe 6B 50-d word vectors (100-d; the paper's 600-d
word2vec embedding needs its file: override embedding_source and embedding_dim to match).

  python -m launch.train_gan --config=configs/gan_paper.py --workdir=runs/gan_paper
"""

import ml_collections

from configs import image_data


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Data: "emoji" (built offline from installed packages with image_data's settings), or
  # "flickr30k" (the paper's) / "cub" / "oxford102" / a folder, read from manual_dir.
  config.dataset = "emoji"
  config.image_data = image_data.get_config()
  config.manual_dir = ""
  # Emoji only: how often each keyword image (the 35 spoken words' pictures, ~4% of the set)
  # appears per epoch; > 1 spends more of training on the pictures voice -> image draws.
  config.keyword_repeats = 1
  # Word vectors of the caption embeddings: how to load them (v2i_jax.text.vectors.parse_source)
  # and their id (vectors.source_id), stored in every checkpoint so the voice -> image pipeline
  # can check it embeds captions the same way.
  config.vectors = "glove50"
  config.embedding_source = "glove-6b-50d"
  config.embedding_dim = 100  # [min, max] pooling: 2 x the word-vector size.
  config.embedding_cache_dir = "data_cache/caption_embeddings"

  # Model.
  config.z_dim = 64
  config.width = 1.0  # Channel multiplier: 1.0 = the paper's 512/256/128/64.
  config.conditioning = "noise"  # "noise" (paper) or "augmentation" (StackGAN CA).
  config.noise_std = 0.001
  config.augmentation_features = 128
  config.augmentation_kl_weight = 2.0  # StackGAN's KL coefficient; unused by "noise".
  # True: conditional batch norm in G (a caption-dependent scale and shift after every BN,
  # BigGAN's form), so the caption steers every layer; False: the paper (caption in z only).
  config.g_conditional_bn = False
  # D as the paper has it: batch norm in the trunk and a head that is linear in [image features;
  # text map], i.e. logit = f(image) + g(caption), which cannot score matching. "layer" / True
  # are the fixes (v2i_jax.image.models.Discriminator); gan_quick uses them.
  config.d_norm = "batch"  # "batch" (paper), "layer" (per sample) or "none".
  config.d_joint = False  # True: Reed et al.'s 1x1 conv + LeakyReLU over the concatenation.
  # > 0: an auxiliary classifier head on D (AC-GAN) with this many classes, trained on real
  # images' labels, and a G loss term for fakes of the right class; the emoji set has 36 (its
  # 35 keywords + "other"). 0 = the paper.
  config.d_classes = 0
  config.class_loss_weight = 1.0
  # Miyato & Koyama's projection discriminator term on top: logit += <V c, sum-pooled features>.
  config.d_projection = False
  # > 0: pix2pix's L1 term in G's loss, l1_weight * mean |G(z, caption) - the caption's image|.
  config.l1_weight = 0.0
  # > 1: each of the first rows (l1_samples_fraction of the batch) trains on the nearest of this
  # many draws of z to its real image (picked by a pass of G without gradients): best-of-many /
  # IMLE-like, so z spreads over the caption's artworks instead of L1 averaging them into one
  # blur. The other rows get no L1 term.
  config.l1_samples = 1
  config.l1_samples_fraction = 0.25
  # The L1 term compares images box-averaged to this size (64 = full resolution): a coarse
  # target pulls layout and colour and leaves the detail to D instead of averaging it to blur.
  config.l1_resolution = 64
  # "bce" (the paper's, from logits) or "hinge" (Miyato et al.; Lim & Ye), for D and G alike.
  config.loss = "bce"
  # DiffAugment (Zhao et al. 2020) of every image D sees, e.g. ("color", "translation",
  # "cutout"); () = off (the paper). v2i_jax.image.augment.
  config.diff_augment = ()
  # > 0: MSGAN's mode-seeking term in G's loss (a second z for a quarter of the batch).
  config.mode_seeking_weight = 0.0
  config.gan_int = False  # Reed et al.'s GAN-INT: G also learns on interpolated captions.
  config.gan_int_beta = 0.5
  # Exact stride-1 forms of the 4x4 stride-2 layers (v2i_jax.image.layers); same parameters and
  # function as the plain ones, faster on CPU and GPU (benchmarks/gan_step.py).
  config.fast_layers = True
  # One D trunk pass over real and fake images (per-group BN) instead of three D calls.
  config.fuse_discriminator_passes = True
  config.dtype = "float32"  # Compute dtype; "bfloat16" for accelerators.

  # Optimisation.
  config.batch_size = 64
  config.learning_rate = 2e-4  # G's (and D's, unless d_learning_rate > 0).
  config.d_learning_rate = -1.0  # > 0: D's own rate (two time-scale update rule, e.g. 4e-4).
  config.beta1 = 0.5
  config.beta2 = 0.999
  config.g_ema_decay = 0.0  # > 0 keeps an EMA of G's weights for sampling (e.g. 0.999).
  config.num_epochs = 100
  config.num_train_steps = -1  # > 0 overrides num_epochs.

  # Loop.
  config.log_every = 50
  config.sample_every = 500
  config.checkpoint_every = 1000
  config.keep_checkpoints = 3
  config.samples_per_caption = 8
  config.sample_captions = ("cat", "dog", "house", "tree", "bird")
  return config
