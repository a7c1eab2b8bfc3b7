"""The browser demo: a local web page over :class:`v2i_jax.pipeline.Pipeline`.

  pip install -e ".[demo]"
  python -m launch.demo --kws_workdir runs/quickstart/kws --gan_workdir runs/quickstart/gan

``app`` is the server (a Starlette app); ``static/`` is the page, which records from the
microphone in the browser and posts a WAV, or posts an uploaded file or a caption.
"""
