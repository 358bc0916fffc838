"""Serve the vehiclekit models with NVIDIA Triton Inference Server.

* :mod:`~vehiclekit.serving.repository` builds a model repository (``cpu`` flavor for the pip
  ``tritonserver``, ``gpu`` flavor for NVIDIA's image) from the model zoo;
* :mod:`~vehiclekit.serving.launcher` starts and stops the pip ``tritonserver``
  (:class:`~vehiclekit.serving.launcher.TritonServer`);
* :mod:`~vehiclekit.models.serving_contract` names the served models and their inputs and outputs;
* :mod:`~vehiclekit.serving.backend` holds the python-backend models that run inside the server;
* :mod:`vehiclekit.commands.serve` and :mod:`vehiclekit.commands.serving` (outside this package) define
  ``vehiclekit serve`` and ``vehiclekit serving build-repo``.

Clients use :mod:`vehiclekit.sdk.remote`, or simply ``VehicleRecognizer(url=...)``.
"""
