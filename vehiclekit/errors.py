"""Typed errors. Every message says what went wrong and what to do next."""


class VehiclekitError(Exception):
    """Base class of every error vehiclekit raises on purpose."""


class InvalidImageError(VehiclekitError, ValueError):
    """The input is not an image vehiclekit can use (unreadable, empty, wrong shape, too large...)."""


class ModelNotFoundError(VehiclekitError, FileNotFoundError):
    """A model file is not where the zoo looks for it."""


class DatasetNotFoundError(VehiclekitError, FileNotFoundError):
    """A dataset folder is missing or incomplete."""


class DatasetError(VehiclekitError, ValueError):
    """Labelled images cannot be used as given (an empty or single class, unreadable files, a bad
    label file); the message names the folder, file or class."""


class ServerError(VehiclekitError):
    """A Triton inference server could not be started or reached, or refused a request; the message
    names the server and the model and says what to do."""
