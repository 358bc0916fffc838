"""The embedded SDK: vehicle detection, type classification and re-ID embeddings (with a searchable
:class:`Gallery`) on ONNX Runtime, without torch.

>>> from vehiclekit.sdk import VehicleRecognizer
>>> for vehicle in VehicleRecognizer().recognize("street.jpg"):   # doctest: +SKIP
...     print(vehicle)

Images are a path, encoded bytes or a numpy BGR array (see :func:`load_image`); bad inputs raise
:class:`vehiclekit.InvalidImageError`.
"""

from vehiclekit.sdk.classifier import VehicleClassifier
from vehiclekit.sdk.detector import VehicleDetector
from vehiclekit.sdk.draw import annotate, annotate_whole_image
from vehiclekit.sdk.gallery import Gallery, Match
from vehiclekit.sdk.image import MAX_PIXELS, MAX_SIDE, ImageInput, load_image, load_images
from vehiclekit.sdk.recognizer import VehicleRecognizer
from vehiclekit.sdk.reid import VehicleReID
from vehiclekit.sdk.types import Detection, Prediction, RecognizedVehicle, VehicleLabel

__all__ = [
    "VehicleClassifier", "VehicleDetector", "VehicleRecognizer", "VehicleReID", "Gallery", "Match",
    "Prediction", "Detection", "RecognizedVehicle", "VehicleLabel",
    "load_image", "load_images", "ImageInput", "MAX_PIXELS", "MAX_SIDE",
    "annotate", "annotate_whole_image",
]
