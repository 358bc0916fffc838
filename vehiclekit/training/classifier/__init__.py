"""Image classifiers (vehicle type, make-model-year): ``train-vehicle supervised`` (:mod:`train`),
warm starts from a trained model, the vehicle-type v2 data, ONNX export, and the evaluations of the
type and attribute models."""
