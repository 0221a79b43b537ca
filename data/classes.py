"""Class names of each dataset in the nets' output order (ledger: data.classes), spelled as the reference spells
them (including NYUD's "refridgerator"). Label value 255 is "ignore" everywhere except PASCAL-Context,
which has none."""

from __future__ import annotations

IGNORE_LABEL = 255

VOC = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)

# Gupta et al.'s 40-class task after the reference's label - 1 shift (0 = wall; raw 0 = void became 255).
NYUD = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat",
    "clothes", "ceiling", "books", "refridgerator", "television", "paper", "towel", "shower curtain", "box",
    "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
    "otherfurniture", "otherprop",
)

# SIFT Flow after the - 1 shift. cow, desert and moon never occur in the test split.
SIFTFLOW_SEM = (
    "awning", "balcony", "bird", "boat", "bridge", "building", "bus", "car", "cow", "crosswalk", "desert",
    "door", "fence", "field", "grass", "moon", "mountain", "person", "plant", "pole", "river", "road", "rock",
    "sand", "sea", "sidewalk", "sign", "sky", "staircase", "streetlight", "sun", "tree", "window",
)
SIFTFLOW_GEO = ("sky", "horizontal", "vertical")

# The 59-class task plus class 0 (background: every other raw label). Names as in the task's 59-label list;
# the raw full list spells three of them differently (see CONTEXT_RENAMES).
PASCALCONTEXT = (
    "background",
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor", "bag", "bed",
    "bench", "book", "building", "cabinet", "ceiling", "clothes", "computer", "cup", "door", "fence", "floor",
    "flower", "food", "grass", "ground", "keyboard", "light", "mountain", "mouse", "curtain", "platform",
    "sign", "plate", "road", "rock", "shelves", "sidewalk", "sky", "snow", "bedcloth", "track", "tree",
    "truck", "wall", "water", "window", "wood",
)
# Task name -> the full list's spelling, applied before matching names (the reference's data layer does the
# same).
CONTEXT_RENAMES = {"diningtable": "table", "bedcloth": "bedclothes", "clothes": "cloth"}

# (dataset, label top) -> class names, in output order.
CLASSES: dict[tuple[str, str], tuple[str, ...]] = {
    ("voc", "label"): VOC,
    ("sbd", "label"): VOC,
    ("nyud", "label"): NYUD,
    ("siftflow", "sem"): SIFTFLOW_SEM,
    ("siftflow", "geo"): SIFTFLOW_GEO,
    ("pascalcontext", "label"): PASCALCONTEXT,
}


def num_classes(dataset: str, top: str = "label") -> int:
    """Number of classes a label top holds (valid values are 0..n-1, plus 255 where the dataset has ignore).
    """
    return len(CLASSES[(dataset, top)])
