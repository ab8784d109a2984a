"""The paper's published numbers (Tables 1-3, 5, 7-9) that the report prints beside ours."""

from __future__ import annotations

# (DI, accuracy) per method: clean, poisoned. Paper Tables 1-3 and 5.

# (DI, accuracy) per method: clean, poisoned. Paper Tables 1-3 and 5.
PAPER_MAIN: dict[str, dict[str, tuple[tuple[float, float], tuple[float, float]]]] = {
    "table1": {
        "FC": ((0.822, 0.806), (0.831, 0.760)),
        "LBC": ((0.819, 0.760), (0.827, 0.715)),
        "AD": ((0.807, 0.811), (0.834, 0.769)),
        "RML+FC": ((0.822, 0.806), (0.802, 0.529)),
        "RML+LBC": ((0.819, 0.760), (0.810, 0.752)),
        "RML+AD": ((0.807, 0.811), (0.808, 0.756)),
        "LR": ((0.409, 0.885), (0.446, 0.819)),
        "RML": ((0.471, 0.876), (0.395, 0.869)),
        "FR-Train": ((0.818, 0.807), (0.827, 0.814)),
    },
    "table2": {
        "FC": ((0.777, 0.682), (0.794, 0.612)),
        "LBC": ((0.866, 0.671), (0.838, 0.671)),
        "AD": ((0.846, 0.680), (0.813, 0.570)),
        "RML+FC": ((0.777, 0.682), (0.560, 0.645)),
        "RML+LBC": ((0.866, 0.671), (0.869, 0.646)),
        "RML+AD": ((0.846, 0.680), (0.820, 0.573)),
        "LR": ((0.465, 0.674), (0.454, 0.631)),
        "RML": ((0.493, 0.680), (0.575, 0.646)),
        "FR-Train": ((0.838, 0.676), (0.846, 0.670)),
    },
    "table3": {
        "FC": ((0.825, 0.826), (0.741, 0.801)),
        "LBC": ((0.825, 0.825), (0.760, 0.792)),
        "AD": ((0.850, 0.767), (0.755, 0.563)),
        "RML+FC": ((0.825, 0.826), (0.821, 0.780)),
        "RML+LBC": ((0.825, 0.825), (0.762, 0.788)),
        "RML+AD": ((0.850, 0.767), (0.834, 0.647)),
        "LR": ((0.328, 0.847), (0.189, 0.819)),
        "RML": ((0.327, 0.846), (0.268, 0.840)),
        "FR-Train": ((0.828, 0.824), (0.847, 0.809)),
    },
    "table5": {
        "Without R": ((0.846, 0.678), (0.802, 0.580)),
        "Without F": ((0.482, 0.681), (0.420, 0.632)),
        "Without RW": ((0.832, 0.677), (0.840, 0.624)),
        "FR-Train": ((0.838, 0.676), (0.846, 0.670)),
    },
}
#: Table 7: (DI, accuracy) of FR-Train on poisoned data per validation source.
PAPER_TABLE7 = {
    ("compas", "crowd"): (0.846, 0.670),
    ("compas", "truth"): (0.899, 0.674),
    ("adult", "crowd"): (0.847, 0.809),
    ("adult", "truth"): (0.864, 0.809),
}
#: Table 8: RML on synthetic data, (DI, accuracy) per (setting, validation size).
PAPER_TABLE8 = {
    ("clean", "10%"): (0.429, 0.883),
    ("poisoned", "10%"): (0.395, 0.869),
    ("poisoned", "5%"): (0.378, 0.852),
    ("poisoned", "0.5%"): (0.290, 0.830),
    ("poisoned", "0.1%"): (0.098, 0.714),
}
#: Table 9: (EO Y=0, EO Y=1, accuracy) per (data set, method), clean training data.
PAPER_TABLE9 = {
    ("synthetic", "LR"): (0.351, 0.804, 0.885),
    ("synthetic", "FR-Train"): (0.888, 0.936, 0.865),
    ("compas", "LR"): (0.427, 0.557, 0.674),
    ("compas", "FR-Train"): (0.718, 0.959, 0.628),
    ("adult", "LR"): (0.286, 0.909, 0.848),
    ("adult", "FR-Train"): (0.503, 0.917, 0.842),
}
DATASET_NAME = {"synthetic": "Synthetic", "compas": "COMPAS", "adult": "AdultCensus"}
