"""``vehiclekit console``: the web review console where a person does what the models leave to a person.

Three pages, server-rendered (Flask + Jinja templates, one small script for the keyboard):

- **Label** (``/label``): the labeling queue written by ``train-vehicle select``: one image at a time
  with the model's guess and its top 3; keys ``1``-``9`` choose a label, ``s`` skips, ``u`` (or
  Backspace) undoes the last answer. Answers go to the project's label store
  (:class:`vehiclekit.labeling.LabelStore`) with who and when; a different answer from someone else
  is shown as a conflict, never overwritten.
- **Parking** (``/parking``): exits the car park did not charge; the exit picture beside each
  candidate entry; *match* charges that session once (:meth:`ParkingLot.resolve`), *no match* closes
  the case without a charge.
- **Traffic** (``/stats``): one day's counts per hour (plot and table) from the statistics store.

Security: binds 127.0.0.1 unless ``--host`` says otherwise (then ``--password-file`` for HTTP Basic
auth and ``--tls-cert``/``--tls-key`` for HTTPS); every state-changing request must carry
the console's secret form token (issued with its own pages) and, when the browser sends one, an
``Origin`` of the console itself, else 403 (CSRF); requests for another ``Host`` are refused (DNS
rebinding). Images are served by queue position or case id only, never by a path from the request.

The application is :func:`vehiclekit.apps.console.app.create_app` (Flask, from the ``apps`` extra:
importing this package does not import Flask).
"""
