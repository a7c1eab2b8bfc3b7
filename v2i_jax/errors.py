"""The exceptions that mean "bad input" (as opposed to a bug), gathered for entry points.

Launch scripts catch exactly these and exit with ``error: <message>``: each names the problem and
the fix. Anything else is a bug and keeps its traceback. ``OSError`` is here because its message
names the path and the cause (no such file, permission denied, read-only file system, no space
left on device), which is what the user has to fix.
"""

from v2i_jax.audio import AudioError
from v2i_jax.options import OptionError
from v2i_jax.pipeline import PipelineError
from v2i_jax.speech.recognizer import RecognitionError
from v2i_jax.text.captions import CaptionError
from v2i_jax.text.types import CaptionDataError
from v2i_jax.text.vectors import VectorsError
from v2i_jax.training.checkpoint import CheckpointError
from v2i_jax.training.loop import NonFiniteLossError

USER_ERRORS = (AudioError, OptionError, PipelineError, RecognitionError, CaptionError, CaptionDataError,
               VectorsError, CheckpointError, NonFiniteLossError, OSError)
