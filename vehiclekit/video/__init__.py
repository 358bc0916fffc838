"""Video: find vehicles in each frame, follow them from frame to frame, and count them where they
cross a line, by type. A library beside the SDK, without command-line code and without the
applications: ``vehiclekit count`` and ``vehiclekit parking watch``
(:mod:`vehiclekit.commands.count`, :mod:`vehiclekit.commands.parking_watch`) and the statistics use it.

Frames come from a file, a folder of frames or an ``rtsp://`` / ``http://`` stream
(:mod:`.source`); vehicles from background subtraction for fixed cameras or from the YOLOX detector
(:mod:`.proposals`); tracks from an IoU tracker (:mod:`.tracking`); crossings from counting lines
(:mod:`.lines`); the vehicle type of each track from the SDK's classifier, voted over several crops
(:mod:`.counter`). Everything here uses the SDK, never the training code or ``vehiclekit.apps``;
like the SDK it never imports torch.
"""
