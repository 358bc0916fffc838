"""Python-backend models: code that runs inside Triton's python stub.

These modules import ``triton_python_backend_utils``, which only exists inside the stub; each
repository ``model.py`` is a one-line import of one of them (see
:mod:`vehiclekit.serving.repository`). Every request gets its own response: a bad input becomes that
request's error and never stops the model instance.
"""
