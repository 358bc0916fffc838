"""vehiclekit: vehicle detection, type classification and re-identification.

``from vehiclekit import VehicleClassifier, VehicleDetector, VehicleRecognizer, VehicleReID``. The SDK classes
are imported lazily so ``import vehiclekit.models`` stays light.
"""

from vehiclekit.errors import DatasetNotFoundError, InvalidImageError, ModelNotFoundError, ServerError, VehiclekitError

__version__ = "0.1.0"
_SDK_NAMES = {"VehicleClassifier", "VehicleDetector", "VehicleRecognizer", "VehicleReID", "Gallery", "Prediction",
              "Detection", "RecognizedVehicle"}

__all__ = [
    "VehiclekitError", "InvalidImageError", "ModelNotFoundError", "DatasetNotFoundError", "ServerError", *sorted(_SDK_NAMES),
]


def __getattr__(name: str):
    if name in _SDK_NAMES:
        import vehiclekit.sdk as sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'vehiclekit' has no attribute {name!r}")
