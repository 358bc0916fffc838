"""Surviving mutants that behave like the original code, and why (listed in docs/testing.md).

Each entry: (target name, original line, mutated line, reason), lines stripped as ``mutmut show``
prints them. A survivor matching one is counted as equivalent, not as a test gap.
"""

SAME_DTYPE = "numpy's default for these values is this dtype already: the same array"
WIDER_FLOAT = ("float64 instead of float32 for an intermediate whose result is float32 or compared with "
               "tolerance: the same values to float32 rounding (no decision changes)")
CV2_LINEAR = "cv2.resize's default interpolation is INTER_LINEAR: the same call"

EQUIVALENT: tuple[tuple[str, str, str, str], ...] = (
    ("tariff", "if stop <= first:", "if stop < first:",
     "at stop == first (> 0) the window charges 0 x period_price = 0, capped or not: nothing is added either way"),
    ("tariff", "continue", "break",
     "periods are at most 24 h (validated), so a period starts in every 24 h window until the last period: "
     "once a window has none, no later one has any"),
    ("detector post-processing", "grid = np.stack((xv, yv), axis=2).reshape(-1, 2)",
     "grid = np.stack((xv, yv), axis=2).reshape(-2, 2)", "numpy takes any negative size as the unknown one"),
    ("detector post-processing", "strides.append(np.full((len(grid), 1), stride))",
     "strides.append(np.full((len(grid), 2), stride))",
     "decode multiplies (x, y) and (w, h) pairs by the strides: two equal columns broadcast like one"),
    ("detector post-processing",
     "return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)",
     "return np.concatenate(grids).astype(None), np.concatenate(strides).astype(np.float32)", WIDER_FLOAT),
    ("detector post-processing",
     "return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)",
     "return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(None)", WIDER_FLOAT),
    ("detector post-processing", "canvas = np.full((size[0], size[1], 3), PAD_VALUE, dtype=np.uint8)",
     "canvas = np.full((size[0], size[1], 3), PAD_VALUE, dtype=None)",
     "an int64 canvas holds the same 0-255 values, converted to float32 right after"),
    ("detector post-processing", "canvas = np.full((size[0], size[1], 3), PAD_VALUE, dtype=np.uint8)",
     "canvas = np.full((size[0], size[1], 3), PAD_VALUE, )",
     "an int64 canvas holds the same 0-255 values, converted to float32 right after"),
    ("detector post-processing",
     "canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)",
     "canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=None)", CV2_LINEAR),
    ("detector post-processing",
     "canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)",
     "canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), )", CV2_LINEAR),
    ("detector post-processing", "boxes = np.array([d.bbox for d in detections], dtype=np.float64)",
     "boxes = np.array([d.bbox for d in detections], dtype=None)", SAME_DTYPE),
    ("detector post-processing", "boxes = np.array([d.bbox for d in detections], dtype=np.float64)",
     "boxes = np.array([d.bbox for d in detections], )", SAME_DTYPE),
    ("detector post-processing", "scores = np.array([d.score for d in detections], dtype=np.float64)",
     "scores = np.array([d.score for d in detections], dtype=None)", SAME_DTYPE),
    ("detector post-processing", "scores = np.array([d.score for d in detections], dtype=np.float64)",
     "scores = np.array([d.score for d in detections], )", SAME_DTYPE),
    ("classifier probabilities", "return softmax(logits.astype(np.float64))",
     "return softmax(logits.astype(None))", "astype(None) is astype(float64)"),
    ("classifier probabilities", "return self._answer(probabilities[None].astype(np.float64), groups)[0]",
     "return self._answer(probabilities[None].astype(None), groups)[0]", "astype(None) is astype(float64)"),
    ("pre-processing", "mean_arr = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)",
     "mean_arr = np.asarray(mean, dtype=None).reshape(3, 1, 1)", WIDER_FLOAT),
    ("pre-processing", "mean_arr = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)",
     "mean_arr = np.asarray(mean, ).reshape(3, 1, 1)", WIDER_FLOAT),
    ("pre-processing", "std_arr = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)",
     "std_arr = np.asarray(std, dtype=None).reshape(3, 1, 1)", WIDER_FLOAT),
    ("pre-processing", "std_arr = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)",
     "std_arr = np.asarray(std, ).reshape(3, 1, 1)", WIDER_FLOAT),
    ("pre-processing", "rgb = resized[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.0",
     "rgb = resized[:, :, ::-1].transpose(2, 0, 1).astype(None) / 255.0", WIDER_FLOAT),
    ("UPS losses", "mask = negative_mask.to(logits.dtype)", "mask = negative_mask.to(None)",
     "a bool mask multiplies and sums as 0/1 like the float one; counts divide the same"),
    ("matching", 'order = np.argsort(-similarities, kind="stable")[:top]',
     'order = np.argsort(-similarities, kind="STABLE")[:top]', "numpy reads the sort kind case-insensitively"),
    *(("store charge path", 'fields.pop("embedding", None)', mutated,
       "ParkingSession ignores fields it does not declare: the embedding left in is dropped there")
      for mutated in ('fields.pop(None, None)', 'fields.pop("embedding", )', 'fields.pop("XXembeddingXX", None)',
                      'fields.pop("EMBEDDING", None)')),
    *(("store charge path", 'fields["fee"] = Decimal(fields["fee"]) if fields["fee"] is not None else None',
       f'fields["{key}"] = Decimal(fields["fee"]) if fields["fee"] is not None else None',
       "ParkingSession validates the fee text into the same Decimal; the extra key is ignored")
      for key in ("XXfeeXX", "FEE")),
    *(("store charge path",
       "vectors = np.stack([_vector(row.embedding) for row in rows]) if rows else np.zeros((0, 0), np.float32)",
       f"vectors = np.stack([_vector(row.embedding) for row in rows]) if rows else np.zeros({shape})",
       "with no open session the only caller indexes these vectors with an empty list (0 rows) and decides "
       "'unmatched' before any arithmetic")
      for shape in ("(0, 0), None", "(0, 0), ", "(1, 0), np.float32", "(0, 1), np.float32")),
    ("re-ID metrics", 'order = np.argsort(distances[i], kind="stable")',
     'order = np.argsort(distances[i], kind="STABLE")', "numpy reads the sort kind case-insensitively"),
    ("re-ID metrics", "keep = np.ones_like(same_cam)", "keep = None",
     "same_id[None] only adds a leading axis, which flatnonzero flattens away: the same hits"),
    ("re-ID metrics", "if first < max_rank:", "if first <= max_rank:",
     "at first == max_rank the slice cmc_sum[first:] is empty: nothing is added either way"),
    ("re-ID metrics", "distances = np.asarray(distances, dtype=np.float64)",
     "distances = np.asarray(distances, dtype=None)", "only the order of each row is used: the same for any numeric dtype"),
    ("re-ID metrics", "distances = np.asarray(distances, dtype=np.float64)", "distances = np.asarray(distances, )",
     "only the order of each row is used: the same for any numeric dtype"),
)
