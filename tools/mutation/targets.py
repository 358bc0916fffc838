"""What `make mutation` mutates, and with which fast tests (see docs/testing.md).

Each target names one module, the functions and methods of it that decide money, labels,
detections or rankings (``scope``: only their mutants are run; ``"f"`` or ``"Class.method"``), and
the pytest arguments selecting its fast unit tests (mutmut runs, for each mutant, those of them that
call the mutated function).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    scope: tuple[str, ...]
    tests: tuple[str, ...]

    @property
    def mutant_patterns(self) -> list[str]:
        """mutmut 3 mutant names of the scope (``module.x_function__mutmut_N``,
        ``module.xǁClassǁmethod__mutmut_N``)."""
        module = self.path.removesuffix(".py").replace("/", ".")
        return [f"{module}.x{'ǁ' + name.replace('.', 'ǁ') if '.' in name else '_' + name}__mutmut_*"
                for name in self.scope]


NOT_PG = ("-k", "not postgresql and not two_gates and not kill")   # servers, threads, kill -9: slow

TARGETS = (
    Target("tariff", "vehiclekit/apps/tariff.py",
           ("ClassTariff.raw_fee", "Rounding.apply", "Tariff.for_type", "Tariff.fee"),
           ("tests/test_apps_tariff.py", "tests/test_tariff_properties.py")),
    Target("matching", "vehiclekit/apps/matching.py",
           ("Decision.best", "compatible", "unit", "decide"),
           ("tests/test_apps_matching.py",)),
    Target("parking charge path", "vehiclekit/apps/parking.py",
           ("ParkingLot.exit", "ParkingLot.close", "ParkingLot.resolve", "ParkingLot._fee", "_receipt"),
           ("tests/test_apps_parking.py", "tests/test_parking_charge_path.py", *NOT_PG)),
    Target("store charge path", "vehiclekit/apps/parking_store.py",
           ("_session", "ParkingStore.open_embeddings", "ParkingStore.close_session", "ParkingStore.resolve_review"),
           ("tests/test_apps_parking.py", "tests/test_apps_store.py", "tests/test_parking_charge_path.py",
            "tests/test_parking_settlement.py", *NOT_PG)),
    Target("UPS selection", "vehiclekit/training/ups/selection.py",
           ("softmax_stats", "select_pseudo_labels", "balance_classes", "select_confident", "selection_stats",
            "top_n_precision"),
           ("tests/test_ups_selection.py", "tests/test_ups_selection_rules.py", "tests/test_ups_select_confident.py")),
    Target("UPS losses", "vehiclekit/training/ups/losses.py", ("negative_learning_loss",),
           ("tests/test_ups_losses.py",)),
    Target("re-ID metrics", "vehiclekit/training/reid/metrics.py", ("evaluate_ranking", "cosine_distance"),
           ("tests/test_reid_metrics.py", "tests/test_reid_metrics_properties.py")),
    Target("detector post-processing", "vehiclekit/sdk/detector.py",
           ("letterbox", "grid_and_strides", "decode", "nms", "merge_across_classes",
            "VehicleDetector.detect", "VehicleDetector._vehicles"),
           ("tests/test_sdk_detector.py", "tests/test_sdk_detector_postprocess.py")),
    Target("classifier probabilities", "vehiclekit/sdk/classifier.py",
           ("softmax", "group_matrix", "VehicleClassifier.predict_batch", "VehicleClassifier.predict_groups",
            "VehicleClassifier.group_predictions", "VehicleClassifier._answer", "VehicleClassifier._group_answer",
            "VehicleClassifier._class_probabilities", "VehicleClassifier._predict_loaded",
            "VehicleClassifier._prediction"),
           ("tests/test_sdk_classifier.py", "tests/test_sdk_classifier_probabilities.py")),
    Target("pre-processing", "vehiclekit/models/preprocess.py", ("classifier_input",),
           ("tests/test_sdk_classifier.py", "tests/test_preprocess.py")),
    Target("corpus dedup", "vehiclekit/training/corpus/dhash.py",
           ("dhash", "popcount", "DuplicateIndex.__init__", "DuplicateIndex._sort", "DuplicateIndex.find", "DuplicateIndex.add"),
           ("tests/test_corpus.py", "-k", "dhash or multi_index")),
)
