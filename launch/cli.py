"""What every launch script shares: flag parsing whose config errors are one line, not a traceback,
a one-line exit for user errors, and tool caches kept in the data cache.

  app.run(main, flags_parser=cli.parse_flags)
  ...
  except errors.USER_ERRORS as e:
    cli.exit_with_error(e, workdir)

absl already answers a malformed flag value with one line (``FATAL Flags parsing error: flag
--config.batch_size=big: invalid literal for int()``). A ``--config`` file that does not load and a
``--config.<field>`` override that names no field raise from inside the config library instead;
:func:`parse_flags` turns those into ``error: <what>; <fix>`` and exit code 1 before ``main``
runs.
"""

import importlib.util
import os
import re
import sys
import threading
from typing import NoReturn

from absl import app
from absl import flags
from ml_collections import config_flags
# Public (its docstring says so) but not re-exported by ml_collections.config_flags.
from ml_collections.config_flags.config_flags import is_config_flag

DATA_CACHE = "data_cache"
# matplotlib writes its font cache under $HOME (~/.cache/matplotlib) on first use; keep it in the
# data cache with everything else this project writes besides a workdir.
os.environ.setdefault("MPLCONFIGDIR", os.path.abspath(os.path.join(DATA_CACHE, "matplotlib")))


def config_path(path: str) -> str:
  """``configs/<file>.py`` (or ``configs/<file>.py:<arg>``) as given when it exists from the
  current folder, else the copy installed with the package, so the launch scripts and their
  config defaults work from any folder."""
  file, colon, arg = path.partition(":")
  parts = os.path.normpath(file).split(os.sep)
  if os.path.exists(file) or len(parts) != 2 or parts[0] != "configs":
    return path
  spec = importlib.util.find_spec("configs")
  if spec is None or not spec.submodule_search_locations:
    return path
  installed = os.path.join(list(spec.submodule_search_locations)[0], parts[1])
  return installed + colon + arg if os.path.exists(installed) else path


def _with_config_paths(argv: list[str]) -> list[str]:
  """argv with every ``configs/...py`` value of a flag resolved by :func:`config_path`."""
  out = []
  for i, arg in enumerate(argv):
    if arg.startswith("--") and "=" in arg:
      flag, value = arg.split("=", 1)
      arg = f"{flag}={config_path(value)}"
    elif i and argv[i - 1].startswith("--") and "=" not in argv[i - 1]:
      arg = config_path(arg)
    out.append(arg)
  return out


def define_config_file(name: str, default: str | None, help_string: str):
  """``config_flags.DEFINE_config_file(..., lock_config=True)``. With a default file, the config
  library applies ``--<name>.<field>`` overrides while defining the flag (at import), before
  :func:`parse_flags` runs: an override naming no field is answered here."""
  sys.argv[:] = _with_config_paths(sys.argv)
  try:
    return config_flags.DEFINE_config_file(
        name, None if default is None else config_path(default), help_string, lock_config=True)
  except (AttributeError, KeyError) as e:
    message = _unknown_field_message(e, sys.argv)
    if message is None:
      raise
    sys.exit(f"error: {message}")


def define_vectors_flag():
  """``--vectors``: the word vectors a GAN was trained with, for scripts that embed captions."""
  return flags.DEFINE_string(
      "vectors", "glove50", "Word vectors the GAN was trained with: 'glove50' or "
      "'word2vec:<file>[@<limit>]'.")


class _WholeNumberParser(flags.ArgumentParser):
  """A flag value checked by a :mod:`v2i_jax.options` rule, so the CLI answers a bad seed or
  count with the same message as the API and the demo."""

  def __init__(self, check):
    self._check = check

  def parse(self, argument):
    from v2i_jax import options  # pylint: disable=g-import-not-at-top (light, no JAX)
    try:
      return self._check(argument)
    except options.OptionError as e:
      raise ValueError(str(e)) from None

  def flag_type(self) -> str:
    return "int"


def define_seed_flag(default: int = 0, what: str = "the latent vectors"):
  """``--seed``: a whole number from 0 to 2^31 - 1 (the rule of :mod:`v2i_jax.options`)."""
  from v2i_jax import options  # pylint: disable=g-import-not-at-top
  return flags.DEFINE(_WholeNumberParser(options.check_seed), "seed", default,
                      f"Seed of {what}: a whole number from 0 to {options.MAX_SEED}; the same "
                      "seed gives the same pictures.")


def define_num_images_flag(default: int, help_string: str, high: int | None = None):
  """``--num_images``: a whole number from 1 to ``high`` (default: the API's limit)."""
  from v2i_jax import options  # pylint: disable=g-import-not-at-top
  high = options.MAX_IMAGES if high is None else high
  return flags.DEFINE(_WholeNumberParser(lambda v: options.check_num_images(v, high=high)),
                      "num_images", default, f"{help_string} A whole number from 1 to {high}.")


def define_max_seconds_flag():
  """``--max_seconds``: the longest recording accepted (the audio errors name this flag)."""
  from v2i_jax import audio  # pylint: disable=g-import-not-at-top
  return flags.DEFINE_float(
      "max_seconds", audio.DEFAULT_MAX_SECONDS, "Longest recording accepted, in seconds; "
      "longer ones are refused (cut them to the spoken words, or raise this).", lower_bound=0.1)


def define_restore_step_flag():
  """``--restore_step``: resume training from a given checkpoint step (a rollback)."""
  return flags.DEFINE_integer(
      "restore_step", None, "Resume from this checkpoint step instead of the newest one that "
      "verifies; the newer steps are deleted at the first save (a rollback, e.g. to the step a "
      "NaN message names).", lower_bound=0)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing with usage, then every config flag loaded, so errors surface here; the
  scripts take no positional arguments. ``configs/...py`` values resolve as in
  :func:`config_path`."""
  argv = _with_config_paths(argv)
  try:
    args = app.parse_flags_with_usage(argv)
    for name in list(flags.FLAGS):
      flag = flags.FLAGS[name]
      if is_config_flag(flag) and flag.value is not None:
        flag.value.keys()  # A config file that failed to load raises on first access.
  except (AttributeError, KeyError) as e:
    message = _unknown_field_message(e, argv)
    if message is None:
      raise  # Not an override's typo: a bug in the config file, keep its traceback.
    sys.exit(f"error: {message}")
  except OSError as e:  # The config library collects "no such file" and similar here.
    detail = str(e).strip().splitlines()[-1].strip()
    sys.exit(f"error: cannot load the config file: {detail}; pass an existing configs/*.py "
             "file.")
  if len(args) > 1:
    sys.exit(f"error: unexpected arguments {args[1:]}; pass options as --flag=value.")
  return args


def _unknown_field_message(error: Exception, argv: list[str]) -> str | None:
  """``--config.optimiser.lr=0.1 names no config field 'optimiser' (did you mean ...)``, or None
  when no override on the command line names the missing field."""
  while error.args and isinstance(error.args[0], Exception):  # AttributeError(KeyError(...))
    error = error.args[0]
  text = str(error.args[0]) if error.args else str(error)
  field = re.search(r"'([^'\\]+)'", text)
  if not field:
    return None
  field = field.group(1)
  culprit = next((a for a in argv[1:] if a.startswith("--") and "." in a.split("=")[0]
                  and field in a.split("=")[0].split(".")[1:]), None)
  if culprit is None:
    return None
  hint = re.search(r'Did you mean "([^"]+)"', text)
  suggestion = f' (did you mean "{hint.group(1)}"?)' if hint else ""
  return (f"{culprit} names no config field {field!r}{suggestion}; the config file lists the "
          "fields (overrides are --config.<field>=<value>).")


def exit_with_error(error: BaseException, workdir: str | None = None) -> NoReturn:
  """Exits with ``error: <message>`` and code 1. An OSError without a file name (a write into an
  open file failed: disk full, quota) gets ``(writing under <workdir>)``.

  A user error ends the run, and cleanups at exit then often fail for the same reason (a logger
  flushing into the full or read-only disk, its thread finding the file closed): those are reported
  in one line each, so the message above is not buried under their tracebacks.
  """
  message = str(error)
  if isinstance(error, OSError) and not error.filename and workdir:
    message += f" (writing under {workdir})"
  sys.unraisablehook = _one_line_unraisable
  threading.excepthook = _one_line_thread_error
  sys.exit(f"error: {message}")


def _one_line_unraisable(info) -> None:
  from v2i_jax.training import checkpoint  # pylint: disable=g-import-not-at-top
  if checkpoint.is_abandoned_read(info.exc_type, info.exc_value, info.exc_traceback, info.object):
    return  # A read orbax gave up on, reporting itself once more: not the user's problem.
  where = f" in {info.object!r}" if info.object is not None else ""
  print(f"warning: cleanup failed{where}: {info.exc_type.__name__}: {info.exc_value}",
        file=sys.stderr)


def _one_line_thread_error(args) -> None:
  from v2i_jax.training import checkpoint  # pylint: disable=g-import-not-at-top
  if checkpoint.is_abandoned_read(args.exc_type, args.exc_value, args.exc_traceback):
    return
  name = args.thread.name if args.thread is not None else "a thread"
  print(f"warning: {name} stopped: {args.exc_type.__name__}: {args.exc_value}", file=sys.stderr)
