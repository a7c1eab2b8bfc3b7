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


def define_config_file(name: str, default: str | None, help_string: str):
  """``config_flags.DEFINE_config_file(..., lock_config=True)``. With a default file, the config
  library applies ``--<name>.<field>`` overrides while defining the flag (at import), before
  :func:`parse_flags` runs: an override naming no field is answered here."""
  try:
    return config_flags.DEFINE_config_file(name, default, help_string, lock_config=True)
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


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing with usage, then every config flag loaded, so errors surface here; the
  scripts take no positional arguments."""
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
  where = f" in {info.object!r}" if info.object is not None else ""
  print(f"warning: cleanup failed{where}: {info.exc_type.__name__}: {info.exc_value}",
        file=sys.stderr)


def _one_line_thread_error(args) -> None:
  name = args.thread.name if args.thread is not None else "a thread"
  print(f"warning: {name} stopped: {args.exc_type.__name__}: {args.exc_value}", file=sys.stderr)
