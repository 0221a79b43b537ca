"""One record per net: everything the kit knows about a net, in one place.

A record names the net's spec builder, how each input is preprocessed, its released weights (sources and
checksums), the splits it was trained and scored on, the reference's solver and the paper's other regimes
(``recipes``: the CVPR regime), its training variants (``variants``: FCN-32s-fixed), the score the reference
published for the release and the paper rows the net stands for. Everything else reads the records and says so:
``nets.NAMES`` and ``nets.spec``, the weights zoo (``weights.zoo``), the feeding and solver of ``reproduce``,
the paper tables (``reproduce.tables``), the audit and the benchmark.

Adding a net is one record below plus its spec builder (README: "Adding a net"). Records are data: no torch is
imported here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from data.preprocess import MEAN_VALUES, TOP_KINDS

from . import alexnet, googlenet, vgg
from .spec import NetSpec


@dataclass(frozen=True)
class Input:
    """One input blob of a net: the reader top that feeds it and the mean subtracted from it. How a picture
    becomes the top (channel order, log depth) is the top's kind in data.preprocess."""

    blob: str
    top: str
    mean: tuple[float, ...]

    @property
    def kind(self) -> str:
        """"color" (RGB -> BGR, minus mean), "hha" (stored channel order, minus mean) or "depth" (log mm)."""
        return TOP_KINDS[self.top]


@dataclass(frozen=True)
class Source:
    """One place a weights file can be fetched from, with the checksums someone published for that file.
    ``format`` is what the file is expected to hold, a name of weights.formats ("caffemodel", "state_dict",
    "torchvision-vgg16", "chainer-npz"; "" for unknown): the converter tells it by content all the same."""

    url: str
    format: str = "caffemodel"
    checksums: Mapping[str, str] = field(default_factory=dict)  # algorithm ("sha1", "md5", "sha256") -> hex
    checksums_by: str = ""  # who published them (and the file)
    file: str = ""  # the file's name in the weights folder, where the URL's path does not give it (Drive)
    # Why the source is not expected to give the file any more (the reference's server, dead for years); empty
    # for a source known to survive. A gone source is still tried, last-resort and in order, but never listed
    # as a surviving copy.
    gone: str = ""

    @property
    def survives(self) -> bool:
        return not self.gone

    @property
    def filename(self) -> str:
        return self.file or PurePosixPath(unquote(urlsplit(self.url).path)).name


@dataclass(frozen=True)
class Weights:
    """A downloadable weights file: the release of a kit net, or an ILSVRC classifier nets start from."""

    name: str  # the zoo name: the net's name for a release
    sources: tuple[Source, ...]  # tried in order
    size: int | None = None  # bytes, where published
    note: str = ""

    @property
    def surviving(self) -> tuple[Source, ...]:
        """The sources known to survive: none for the releases that were only ever on the reference's server."""
        return tuple(s for s in self.sources if s.survives)


@dataclass(frozen=True)
class Solver:
    """A training recipe: the reference's solver.prototxt and solve.py for a net (ledger: train.*), or another
    regime of the paper's (``NetRecord.recipes``)."""

    base_lr: float
    momentum: float
    iter_size: int
    normalize: bool  # SoftmaxWithLoss normalize
    max_iter: int  # what solve.py runs (its step loop), not the prototxt's max_iter
    init: tuple[str, ...]  # zoo names weights.transplant makes the starting weights from
    init_note: str  # what the reference started from, in words
    weight_decay: float = 5e-4
    note: str = ""
    # True: every bias learns at twice its layer's weight rate, lr_mult(bias) = 2 x lr_mult(weight) (the CVPR
    # paper's "doubled learning rate for biases"); False: the lr_mult of the net's own param blocks.
    double_bias_lr: bool = False


@dataclass(frozen=True)
class Variant:
    """A training variant of a net that the reference never ran: the same layers and weights, with only the
    ``trained`` layers learning; every other parameter layer has lr_mult 0 for the run (nets.spec(NAME,
    variant)), so Caffe never updates it and skips its backward pass. ``regime`` is the recipe the paper trained
    the variant with (a key of NetRecord.recipes, or "reference")."""

    name: str
    trained: tuple[str, ...]
    regime: str
    note: str = ""


@dataclass(frozen=True)
class PaperRow:
    """A row (Table 1: a column) of a paper table that this net stands for, with the numbers as printed.
    ``variant`` names a training variant of the net that the reference never released (FCN-32s-fixed); empty
    numbers mark a release the paper has no row for, scored beside the table for information."""

    table: int
    method: str
    numbers: Mapping[str, float | None] = field(default_factory=dict)
    note: str = ""
    variant: str = ""
    # Columns where what the kit derives from the net differs from the printed number: column -> (the kit's
    # value, why). The audit checks the kit's value and states the reason instead of failing.
    differs: Mapping[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class NetRecord:
    name: str
    spec: Callable[[str], NetSpec]  # builder of the deploy net, called with the name
    classifier: str  # the ILSVRC net whose trunk it has (a CLASSIFIERS key)
    inputs: tuple[Input, ...]
    train: tuple[str, str]  # (dataset, split) the reference trained on, drawn with replacement
    test: tuple[str, str]  # (dataset, split) it was scored on, in order
    solver: Solver
    weights: Weights | None  # the reference's release; None: never released
    published: Mapping[str, float] = field(default_factory=dict)  # split -> mean IU the reference published
    present_only: frozenset[str] = frozenset()  # outputs whose mean IU averages classes present in the labels
    paper: tuple[PaperRow, ...] = ()
    note: str = ""
    # Other training regimes than the reference's, by name ("cvpr": the CVPR paper's; filled by with_cvpr below).
    recipes: Mapping[str, Solver] = field(default_factory=dict)
    variants: Mapping[str, Variant] = field(default_factory=dict)

    def recipe(self, regime: str = "reference") -> Solver:
        """The solver of a training regime: "reference" (``solver``) or one of ``recipes``."""
        if regime == "reference":
            return self.solver
        if regime not in self.recipes:
            why = self.recipes_note or f"{self.name} has recipes {['reference', *self.recipes]}"
            raise KeyError(f"{self.name} has no {regime!r} recipe: {why}")
        return self.recipes[regime]

    @property
    def recipes_note(self) -> str:
        """Why a net lacks the CVPR regime (empty when it has it)."""
        if "cvpr" in self.recipes:
            return ""
        return CVPR_REFUSED.get(self.test[0], f"the CVPR paper gives no regime for {self.test[0]} nets")

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            have = ", ".join(self.variants) or "none"
            raise KeyError(f"{self.name} has no training variant {name!r}; its variants: {have}")
        return self.variants[name]

    @property
    def input_tops(self) -> dict[str, str]:
        """Net input blob -> the reader top feeding it."""
        return {i.blob: i.top for i in self.inputs}

    def paper_row(self, table: int) -> PaperRow | None:
        """This net's row in a paper table with printed numbers, if any."""
        return next((r for r in self.paper if r.table == table and r.numbers and not r.variant), None)


# ---- weights ---------------------------------------------------------------------------------------------

BERKELEY = "http://dl.caffe.berkeleyvision.org"
# The reference's server: down repeatedly since 2017 and dead for years; the only place the NYUD, SIFT Flow,
# PASCAL-Context and FCN-AlexNet releases were ever published (ledger: release.survivors).
BERKELEY_GONE = "the reference's server, dead for years"
VGG_PAGE = "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe"  # Simonyan & Zisserman's page
# Mirrors of the ILSVRC caffemodels: OpenVINO's Open Model Zoo storage (its models/public/*/model.yml name each
# file's size and hash: SHA-256 until October 2021, SHA-384 since) and MXNet's S3 bucket (its
# tools/caffe_converter names the SHA-1 it checks).
OPENVINO = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1"
MXNET = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/caffe/models"


# Third-party copies of the reference's files on Google Drive, each with the md5 its own project publishes
# (torchfcn's in torchfcn/models/*.py, wkentaro/fcn's in fcn/models/*.py), tried after the reference's server in
# this order. torchfcn (wkentaro/pytorch-fcn) converted the caffemodels to torch state_dicts with the Caffe layer
# names; its at-once file lacks the Scale blobs, filled from the net's definition (ledger: format.ports).
# wkentaro/fcn converted them to Chainer .npz files; its model code pairs each md5 with an old-style Drive id
# (0B9P1L--7Wd2v...), and the ids here are its README's current links for the same file names (gdown's README
# shows fcn8s_from_caffe.npz at its id with that md5).
DRIVE = "https://drive.google.com/uc?id="
TORCHFCN = "torchfcn (wkentaro/pytorch-fcn, torchfcn/models/*.py)"
CHAINER_FCN = "wkentaro/fcn (md5 in fcn/models/*.py, Drive id in its README)"
# torchfcn re-uploaded its files under new Drive ids in 2021 but not the at-once one, whose id is old-style.
TORCHFCN_AT_ONCE_GONE = "may be gone: an old-style Drive id that torchfcn's 2021 re-upload of its files skipped"


def _drive(file_id: str, file: str, fmt: str, md5: str, by: str, gone: str = "") -> Source:
    return Source(f"{DRIVE}{file_id}", fmt, {"md5": md5}, by, file, gone)


def _torchfcn(file_id: str, file: str, md5: str, gone: str = "") -> Source:
    return _drive(file_id, file, "state_dict", md5, TORCHFCN, gone)


def _chainer(file_id: str, file: str, md5: str) -> Source:
    return _drive(file_id, file, "chainer-npz", md5, CHAINER_FCN)


# The checksums of the reference's FCN-8s and FCN-32s caffemodels (it publishes none itself), and of the ILSVRC
# classifiers, each with who publishes it. A copy of a file on another host is verified by the same hashes.
FCN8S_HEAVY = {"sha1": "c449ea74dd7d83751d1357d6a8c323fcf4038962", "md5": "c03b2953ebd846c270da1a8e8f200c09"}
FCN8S_HEAVY_BY = ("sha1: OpenCV (samples/dnn/download_models.py and data/models/fcn/link.meta4); md5: wkentaro/fcn "
                  "(its data.py, 2016-2017)")
FCN32S_HEAVY = {"sha1": "05eb922d7829c39448f57e5ab9d8cd75d6c0be6d"}
FCN32S_HEAVY_BY = "sha1: OpenCV (samples/dnn/download_models.py, before opencv_extra pull request 565)"
VGG16_ILSVRC = {"sha1": "9363e1f6d65f7dba68c4f27a1e62105cdf6c4e24",
                "sha256": "a6196bc498e45ea4cb2637114ae8db9410cf1556fd60a55ae93272371beba197",
                "sha384": "8ed7890af721fa22a9a356c00ec8360984f572b37991d1a5d70993ece85a0d25d675f02ff27c443523be1b61b"
                          "9bb3d15"}
VGG16_ILSVRC_BY = ("sha1: dividiti/ck-caffe (package/caffemodel-vgg16 meta), MXNet (tools/caffe_converter), "
                   "OpenCV (download_models.py before opencv_extra pull request 565); sha256, sha384: OpenVINO Open "
                   "Model Zoo (models/public/vgg16/model.yml)")
CAFFENET_ILSVRC = {"sha1": "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46",
                   "sha256": "472d4a06035497b180636d8a82667129960371375bd10fcb6df5c6c7631f25e0",
                   "sha384": "6677844301d6c7f68f5b6a299cf41c4f0955bab7d1fb8719375fae6d05b6173db9deccf3ac4aaa4225bf6c6e"
                             "99d81a68"}
CAFFENET_ILSVRC_BY = ("sha1: BVLC (models/bvlc_reference_caffenet/readme.md of BVLC Caffe); sha256, sha384: OpenVINO "
                      "Open Model Zoo (models/public/caffenet/model.yml)")
GOOGLENET_ILSVRC = {"sha1": "405fc5acd08a3bb12de8ee5e23a96bec22f08204",
                    "sha384": "c95413cd55c390f439ccc9842ec5953b31f85090d5f262e3093e38c78f378acdfb069fa28da2f49dbb8b9e5"
                              "c8a816276"}
GOOGLENET_ILSVRC_BY = ("sha1: BVLC (models/bvlc_googlenet/readme.md of BVLC Caffe), MXNet (tools/caffe_converter); "
                       "sha384: OpenVINO Open Model Zoo (models/public/googlenet-v1/model.yml)")

MIRRORS: dict[str, tuple[Source, ...]] = {
    "voc-fcn32s": (_torchfcn("11k2Q0bvRQgQbT6-jYWeh6nmAsWlSCY3f", "fcn32s_from_caffe.pth",
                             "d3eb467a80e7da0468a20dfcbc13e6c8"),
                   _chainer("1l5Ubj7zflQAwaNI7G35DzNcMoTf8CDLW", "fcn32s_from_caffe.npz",
                            "b7f0a2e66229ccdb099c0a60b432e8cf")),
    "voc-fcn16s": (_torchfcn("1bctu58B6YH9bu6lBBSBB2rUeGlGhYLoP", "fcn16s_from_caffe.pth",
                             "a2d4035f669f09483b39c9a14a0d6670"),
                   _chainer("1kwLpLz1jzQqqF5QxQphsO4-aObQIQMWS", "fcn16s_from_caffe.npz",
                            "7c9b50a1a8c6c20d3855d4823bbea61e")),
    # Huawei Ascend's model bucket keeps the reference's own caffemodel (Ascend-Huawei/models, FCN-8s README).
    "voc-fcn8s": (Source("https://obs-model-ascend.obs.cn-east-2.myhuaweicloud.com/fcn-8s/fcn8s-heavy-pascal.caffemodel",
                         "caffemodel", FCN8S_HEAVY, FCN8S_HEAVY_BY),
                  _torchfcn("1ieXWyoG68xqoHJPWdyrDyaIaaWlfmUxI", "fcn8s_from_caffe.pth",
                            "de93e540ec79512f8770033849c8ae89"),
                  _chainer("1l_5RK28JRL19wpT22B-DY9We3TVXnnQQ", "fcn8s_from_caffe.npz",
                           "256c2a8235c1c65e62e48d3284fbd384")),
    "voc-fcn8s-atonce": (_torchfcn("0B9P1L--7Wd2vblE1VUIxV1o2d2M", "fcn8s-atonce_from_caffe.pth",
                                   "bfed4437e941fef58932891217fe6464", TORCHFCN_AT_ONCE_GONE),
                         _chainer("1lNHAz5QEo-OoHL8uAUuBPki-8xrEArhs", "fcn8s-atonce_from_caffe.npz",
                                  "5f3ffdc7fae1066606e1ef45cfda548f")),
    "vgg16": (Source(f"{OPENVINO}/vgg16/VGG_ILSVRC_16_layers.caffemodel", "caffemodel", VGG16_ILSVRC, VGG16_ILSVRC_BY),
              Source(f"{MXNET}/vgg/VGG_ILSVRC_16_layers.caffemodel", "caffemodel", VGG16_ILSVRC, VGG16_ILSVRC_BY),
              _drive("1adDBTGY3GcEB_47dvcibajyzi872RAs3", "vgg16_from_caffe.pth", "torchvision-vgg16",
                     "aa75b158f4181e7f6230029eb96c1b13", TORCHFCN),
              _chainer("1lKjYpFOc9EAPIt7foOO2nbaOWIpIZRaw", "vgg16_from_caffe.npz",
                       "54a0cddc1392ccc4056bbeecbb30f3d4")),
    "caffenet": (Source(f"{OPENVINO}/caffenet/bvlc_reference_caffenet.caffemodel", "caffemodel", CAFFENET_ILSVRC,
                        CAFFENET_ILSVRC_BY),),
    "googlenet": (Source(f"{OPENVINO}/googlenet-v1/bvlc_googlenet.caffemodel", "caffemodel", GOOGLENET_ILSVRC,
                         GOOGLENET_ILSVRC_BY),
                  Source(f"{MXNET}/bvlc_googlenet/bvlc_googlenet.caffemodel", "caffemodel", GOOGLENET_ILSVRC,
                         GOOGLENET_ILSVRC_BY)),
}


def _release(name: str, file: str, checksums: Mapping[str, str] | None = None, by: str = "",
             note: str = "") -> Weights:
    """A caffemodel the reference published on its server (it publishes no hashes or sizes; the ones known come
    from third parties), then its known mirrors. The server is tried first all the same: it has come back
    before."""
    return Weights(name, (Source(f"{BERKELEY}/{file}.caffemodel", "caffemodel", dict(checksums or {}), by,
                                 gone=BERKELEY_GONE), *MIRRORS.get(name, ())), note=note)


# The ILSVRC classifiers the FCNs start from (ledger: init.ilsvrc), each with its size and checksums as their
# publishers give them. Their means are not recorded: the FCN recipe fine-tunes them with the target dataset's
# mean.
CLASSIFIERS: dict[str, Weights] = {w.name: w for w in (
    Weights("vgg16", (Source(f"{VGG_PAGE}/VGG_ILSVRC_16_layers.caffemodel", "caffemodel", VGG16_ILSVRC,
                             VGG16_ILSVRC_BY), *MIRRORS["vgg16"]),
            size=553_432_081, note="V1 'layers' format"),
    Weights("caffenet", (Source(f"{BERKELEY}/bvlc_reference_caffenet.caffemodel", "caffemodel", CAFFENET_ILSVRC,
                                CAFFENET_ILSVRC_BY, gone=BERKELEY_GONE), *MIRRORS["caffenet"]),
            size=243_862_418, note="BVLC CaffeNet; voc-fcn-alexnet starts from it"),
    Weights("googlenet", (Source(f"{BERKELEY}/bvlc_googlenet.caffemodel", "caffemodel", GOOGLENET_ILSVRC,
                                 GOOGLENET_ILSVRC_BY, gone=BERKELEY_GONE), *MIRRORS["googlenet"]),
            size=53_533_754, note="BVLC GoogLeNet (68.7% top-1); voc-fcn-googlenet starts from it"),
)}

# ---- solvers (the reference's "heavy" recipe; FCN-AlexNet keeps the older regime) --------------------------

_ROUNDS = "the reference's solve.py runs 2000-step rounds, scoring the test split after each"


def _heavy(base_lr: float, init: str, init_note: str, max_iter: int = 100_000, note: str = "") -> Solver:
    """Batch 1, momentum 0.99, summed loss (ledger: train.heavy)."""
    return Solver(base_lr, 0.99, 1, False, max_iter, (init,), init_note, note=note)


# The CVPR 2015 regime (ledger: train.cvpr-regime): its optimisation section, stated once for all
# of the paper's experiments. Minibatch 20 images (iter_size 20 of one image, or ranks x passes per rank),
# momentum 0.9, normalised loss, a fixed learning rate per classifier trunk chosen by line search, doubled for
# biases, dropout kept where the classifier had it (the nets keep their Dropout layers), scores zero-initialised
# (surgery). The paper names two weight decays, 5e-4 and 2e-4, without saying which net used which: the kit takes
# 5e-4, the value of every reference solver. No iteration count is given: the reference solver's is kept.
CVPR_BATCH = 20
CVPR_MOMENTUM = 0.9
CVPR_LEARNING_RATES = {"caffenet": 1e-3, "vgg16": 1e-4, "googlenet": 5e-5}  # FCN-AlexNet, -VGG16, -GoogLeNet
CVPR_WEIGHT_DECAY = 5e-4
CVPR_NOTE = ("CVPR 2015 regime: minibatch 20, momentum 0.9, normalised loss, fixed learning rate by trunk "
             "(1e-3 AlexNet, 1e-4 VGG16, 5e-5 GoogLeNet), bias learning rate doubled; weight decay 5e-4 of the "
             "paper's two (5e-4, 2e-4); iterations not given by the paper (the reference solver's)")
# Datasets whose nets the CVPR paper trained (Tables 1-5: VOC, NYUDv2, SIFT Flow); the others are refused.
CVPR_DATASETS = ("voc", "nyud", "siftflow")
CVPR_REFUSED = {"pascalcontext": "the PASCAL-Context rows (arXiv v2 appendix, Table 6) do not say how they were "
                                 "trained, and the CVPR paper has no PASCAL-Context experiment; train it with the "
                                 "reference's recipe (--regime reference)"}


def cvpr_recipe(classifier: str, max_iter: int, init: tuple[str, ...], init_note: str) -> Solver:
    """The CVPR regime for a net of ``classifier``'s trunk."""
    return Solver(CVPR_LEARNING_RATES[classifier], CVPR_MOMENTUM, CVPR_BATCH, True, max_iter, init, init_note,
                  CVPR_WEIGHT_DECAY, note=CVPR_NOTE, double_bias_lr=True)


def with_cvpr(record: NetRecord) -> NetRecord:
    """The record with its "cvpr" recipe, for the nets of the datasets the CVPR paper trained (one rule for all
    of them, as the paper states it once): FCN-AlexNet's trunk biases then learn at lr_mult 2 as the paper says,
    where its reference prototxt keeps Caffe's default 1 (``--regime reference`` keeps that); the VGG16 and
    GoogLeNet nets have lr_mult 2 on their biases already."""
    if record.test[0] not in CVPR_DATASETS:
        return record
    # It starts from what the reference solver starts from (the ILSVRC net, or the coarser FCN: the paper
    # fine-tunes 16s from 32s and 8s from 16s too).
    ref = record.solver
    recipe = cvpr_recipe(record.classifier, ref.max_iter, ref.init, ref.init_note)
    return replace(record, recipes={**record.recipes, "cvpr": recipe})


# ---- the VOC nets ----------------------------------------------------------------------------------------

VOC_SPLITS = {"train": ("sbd", "train"), "test": ("voc", "seg11valid")}
VOC_INPUT = (Input("data", "data", MEAN_VALUES["voc"]),)
SCORES = ("pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu")


def four_scores(*values: float | None) -> dict[str, float | None]:
    """Pixel accuracy, mean accuracy, mean IU and frequency-weighted IU as a table row's numbers."""
    return dict(zip(SCORES, values, strict=True))


_VOC = (
    NetRecord("voc-fcn32s", partial(vgg.fcn, stride=32, classes=21), "vgg16", VOC_INPUT, **VOC_SPLITS,
              solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC (fc6/fc7 reshaped)"),
              weights=_release("voc-fcn32s", "fcn32s-heavy-pascal", FCN32S_HEAVY, FCN32S_HEAVY_BY),
              published={"seg11valid": 63.6},
              paper=(PaperRow(1, "FCN-VGG16", {"mean_iu": 56.0, "forward_ms": 210, "conv_layers": 16,
                                               "params_millions": 134, "rf_size": 404, "max_stride": 32},
                              "the closest release is the heavy FCN-32s (seg11valid 63.6), not the paper's "
                              "batch-20 model"),
                     PaperRow(2, "FCN-32s-fixed", four_scores(83.0, 59.7, 45.4, 72.0),
                              "only the final classifier trained; never released", variant="fixed"),
                     PaperRow(2, "FCN-32s", four_scores(89.1, 73.3, 59.4, 81.4))),
              variants={"fixed": Variant("fixed", ("score_fr",), "cvpr",
                                         "CVPR Table 2's FCN-32s-fixed: only the final classifier score_fr "
                                         "learns; conv1_1 .. fc7 keep the VGG16 ILSVRC weights (lr_mult 0)")}),
    NetRecord("voc-fcn16s", partial(vgg.fcn, stride=16, classes=21), "vgg16", VOC_INPUT, **VOC_SPLITS,
              solver=_heavy(1e-12, "voc-fcn32s", "voc-fcn32s"),
              weights=_release("voc-fcn16s", "fcn16s-heavy-pascal"), published={"seg11valid": 65.0},
              paper=(PaperRow(2, "FCN-16s", four_scores(90.0, 75.7, 62.4, 83.0)),)),
    NetRecord("voc-fcn8s", partial(vgg.fcn, stride=8, classes=21), "vgg16", VOC_INPUT, **VOC_SPLITS,
              solver=_heavy(1e-14, "voc-fcn16s", "voc-fcn16s"),
              weights=_release("voc-fcn8s", "fcn8s-heavy-pascal", FCN8S_HEAVY, FCN8S_HEAVY_BY,
                               "about 513 MB (third party)"),
              published={"seg11valid": 65.5, "voc2012-test": 67.2},
              paper=(PaperRow(2, "FCN-8s", four_scores(90.3, 75.9, 62.7, 83.2)),
                     PaperRow(3, "FCN-8s", {"mean_iu_voc2011_test": 62.7, "mean_iu_voc2012_test": 62.2,
                                            "inference_ms": 175}, "~175 ms"))),
    NetRecord("voc-fcn8s-atonce", partial(vgg.fcn, stride=8, classes=21, at_once=True), "vgg16", VOC_INPUT,
              **VOC_SPLITS, solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC", max_iter=300_000),
              weights=_release("voc-fcn8s-atonce", "fcn8s-atonce-pascal"), published={"seg11valid": 65.4},
              paper=(PaperRow(2, "FCN-8s at-once (PAMI)",
                              note="released by the reference; no row in the CVPR table"),)),
    NetRecord("voc-fcn-alexnet", partial(alexnet.fcn_alexnet, classes=21), "caffenet", VOC_INPUT, **VOC_SPLITS,
              solver=Solver(1e-4, 0.9, 20, True, 100_000, ("caffenet",), "CaffeNet ILSVRC"),
              weights=_release("voc-fcn-alexnet", "fcn-alexnet-pascal"), published={"seg11valid": 48.0},
              paper=(PaperRow(1, "FCN-AlexNet", {"mean_iu": 39.8, "forward_ms": 50, "conv_layers": 8,
                                                 "params_millions": 57, "rf_size": 355, "max_stride": 32},
                              "the release is the reference's FCN-AlexNet (seg11valid 48.0), trained longer "
                              "than the paper's"),)),
)

# ---- NYUDv2 ----------------------------------------------------------------------------------------------

NYUD_SPLITS = {"train": ("nyud", "trainval"), "test": ("nyud", "test")}
NYUD_COLOR = Input("color", "color", MEAN_VALUES["nyud"])
NYUD_HHA = Input("hha", "hha", MEAN_VALUES["nyud-hha"])
_NYUD = (
    NetRecord("nyud-fcn32s-color", partial(vgg.fcn, stride=32, classes=40), "vgg16",
              (Input("data", "color", NYUD_COLOR.mean),), **NYUD_SPLITS,
              solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC", note=_ROUNDS),
              weights=_release("nyud-fcn32s-color", "nyud-fcn32s-color-heavy"),
              paper=(PaperRow(4, "FCN-32s RGB", four_scores(60.0, 42.2, 29.2, 43.9)),)),
    NetRecord("nyud-fcn32s-hha", partial(vgg.fcn, stride=32, classes=40), "vgg16",
              (Input("data", "hha", NYUD_HHA.mean),), **NYUD_SPLITS,
              solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC", note=_ROUNDS),
              weights=_release("nyud-fcn32s-hha", "nyud-fcn32s-hha-heavy"),
              paper=(PaperRow(4, "FCN-32s HHA", four_scores(57.1, 35.2, 24.2, 40.4)),)),
    NetRecord("nyud-fcn32s-color-d", partial(vgg.fcn_color_depth, classes=40), "vgg16",
              (NYUD_COLOR, Input("depth", "depth", MEAN_VALUES["nyud-log-depth"])), **NYUD_SPLITS,
              solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC, depth filter = mean of conv1_1's RGB filters",
                            note=_ROUNDS),
              weights=None, note="the reference released no caffemodel for nyud-fcn32s-color-d",
              paper=(PaperRow(4, "FCN-32s RGBD", four_scores(61.5, 42.4, 30.5, 45.5),
                              "the reference published no nyud-fcn32s-color-d caffemodel"),)),
    NetRecord("nyud-fcn32s-color-hha", partial(vgg.fcn_two_stream, classes=40), "vgg16", (NYUD_COLOR, NYUD_HHA),
              **NYUD_SPLITS,
              solver=Solver(1e-12, 0.99, 1, False, 100_000, ("nyud-fcn32s-color", "nyud-fcn32s-hha"),
                            "nyud-fcn32s-color and nyud-fcn32s-hha"),
              weights=_release("nyud-fcn32s-color-hha", "nyud-fcn32s-color-hha-heavy"),
              paper=(PaperRow(4, "FCN-32s RGB-HHA", four_scores(64.3, 44.9, 32.8, 48.0),
                              "the reference averages the two streams (0.5, 0.5) where the paper says sum"),)),
)

# ---- SIFT Flow: one trunk, a semantic (33) and a geometric (3) head --------------------------------------

SIFTFLOW_SPLITS = {"train": ("siftflow", "trainval"), "test": ("siftflow", "test")}
SIFTFLOW_INPUT = (Input("data", "data", MEAN_VALUES["siftflow"]),)
SIFTFLOW_HEADS = {"sem": 33, "geo": 3}
# The paper averages the semantic mean IU over the classes present in the test labels
# (ledger: metrics.siftflow-present).
SIFTFLOW_PRESENT_ONLY = frozenset({"score_sem"})
_SIFTFLOW = (
    NetRecord("siftflow-fcn32s", partial(vgg.fcn_two_headed, stride=32, heads=SIFTFLOW_HEADS), "vgg16",
              SIFTFLOW_INPUT, **SIFTFLOW_SPLITS, solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC"),
              weights=_release("siftflow-fcn32s", "siftflow-fcn32s-heavy"), present_only=SIFTFLOW_PRESENT_ONLY,
              paper=(PaperRow(5, "FCN-32s (reference release)", note="no paper row; scored for information"),)),
    NetRecord("siftflow-fcn16s", partial(vgg.fcn_two_headed, stride=16, heads=SIFTFLOW_HEADS), "vgg16",
              SIFTFLOW_INPUT, **SIFTFLOW_SPLITS, solver=_heavy(1e-12, "siftflow-fcn32s", "siftflow-fcn32s"),
              weights=_release("siftflow-fcn16s", "siftflow-fcn16s-heavy"), present_only=SIFTFLOW_PRESENT_ONLY,
              paper=(PaperRow(5, "FCN-16s", {**four_scores(85.2, 51.7, 39.5, 76.1), "geo_pixel_accuracy": 94.3}),)),
    NetRecord("siftflow-fcn8s", partial(vgg.fcn_two_headed, stride=8, heads=SIFTFLOW_HEADS), "vgg16",
              SIFTFLOW_INPUT, **SIFTFLOW_SPLITS, solver=_heavy(1e-12, "siftflow-fcn16s", "siftflow-fcn16s"),
              weights=_release("siftflow-fcn8s", "siftflow-fcn8s-heavy"), present_only=SIFTFLOW_PRESENT_ONLY,
              paper=(PaperRow(5, "FCN-8s (reference release)", note="no paper row; scored for information"),)),
)

# ---- PASCAL-Context: 60 outputs (0 = background/other, 1..59) --------------------------------------------

CONTEXT_SPLITS = {"train": ("pascalcontext", "train"), "test": ("pascalcontext", "val")}
CONTEXT_INPUT = (Input("data", "data", MEAN_VALUES["pascalcontext"]),)


def _context33(pa: float, ma: float, iu: float, fw: float) -> dict[str, float]:
    return dict(zip(("pixel_accuracy_33", "mean_accuracy_33", "mean_iu_33", "fw_iu_33"), (pa, ma, iu, fw),
                    strict=True))


_CONTEXT = (
    NetRecord("pascalcontext-fcn32s", partial(vgg.fcn, stride=32, classes=60), "vgg16", CONTEXT_INPUT,
              **CONTEXT_SPLITS, solver=_heavy(1e-10, "vgg16", "VGG16 ILSVRC", max_iter=400_000),
              weights=_release("pascalcontext-fcn32s", "pascalcontext-fcn32s-heavy"),
              paper=(PaperRow(6, "FCN-32s", {**four_scores(63.8, 42.7, 31.8, 48.3),
                                             **_context33(69.8, 65.1, 50.4, 54.9)}),)),
    NetRecord("pascalcontext-fcn16s", partial(vgg.fcn, stride=16, classes=60), "vgg16", CONTEXT_INPUT,
              **CONTEXT_SPLITS, solver=_heavy(1e-12, "pascalcontext-fcn32s", "pascalcontext-fcn32s",
                                              max_iter=400_000),
              weights=_release("pascalcontext-fcn16s", "pascalcontext-fcn16s-heavy"),
              paper=(PaperRow(6, "FCN-16s", {**four_scores(65.7, 46.2, 34.8, 50.7),
                                             **_context33(71.8, 68.0, 53.4, 57.5)}),)),
    NetRecord("pascalcontext-fcn8s", partial(vgg.fcn, stride=8, classes=60), "vgg16", CONTEXT_INPUT,
              **CONTEXT_SPLITS, solver=_heavy(1e-14, "pascalcontext-fcn16s", "pascalcontext-fcn16s",
                                              max_iter=400_000),
              weights=_release("pascalcontext-fcn8s", "pascalcontext-fcn8s-heavy"),
              paper=(PaperRow(6, "FCN-8s", {**four_scores(65.9, 46.5, 35.1, 51.0),
                                            **_context33(71.8, 67.6, 53.5, 57.7)}),)),
)

# ---- the paper's nets that the reference never released ------------------------------------------------

# FCN-GoogLeNet (CVPR Table 1); nets/googlenet.py states the choices the paper leaves open (input pad, kernel 63).
# Trained in the CVPR regime (ledger: train.cvpr-regime), its only recipe: learning rate 5e-5 (the paper's "5^-5").
_PAPER_ONLY = (
    NetRecord("voc-fcn-googlenet", partial(googlenet.fcn_googlenet, classes=21), "googlenet", VOC_INPUT,
              **VOC_SPLITS,
              solver=replace(cvpr_recipe("googlenet", 100_000, ("googlenet",),
                                         "BVLC GoogLeNet ILSVRC (the paper started from its own GoogLeNet, 68.5% "
                                         "top-1)"),
                             note=CVPR_NOTE + "; 100k iterations as the reference's FCN-AlexNet in the same "
                                              "regime"),
              weights=None, note="FCN-GoogLeNet is the paper's (CVPR Table 1) and was never released",
              paper=(PaperRow(1, "FCN-GoogLeNet", {"mean_iu": 42.5, "forward_ms": 59, "conv_layers": 22,
                                                   "params_millions": 6, "rf_size": 907, "max_stride": 32},
                              "never released; the kit's net follows the paper from BVLC GoogLeNet",
                              differs={"rf_size": (715, "907 is the receptive field of pool5/7x7_s1, the 7x7 "
                                                        "average pooling the paper discards; score_fr sees 715")}),)),
    # NYUD FCN-16s RGB-HHA (CVPR Table 4): the late-fusion net upgraded to stride 16 as the kit reads the paper's
    # one sentence (nets/vgg.py fcn_two_stream states the construction and why).
    NetRecord("nyud-fcn16s-color-hha", partial(vgg.fcn_two_stream, classes=40, stride=16), "vgg16",
              (NYUD_COLOR, NYUD_HHA), **NYUD_SPLITS,
              solver=_heavy(1e-14, "nyud-fcn32s-color-hha", "nyud-fcn32s-color-hha (every layer copied; "
                            "score_pool4color and score_pool4hha zero)",
                            note="the kit's choice, no reference solver exists: the heavy recipe at 100x below "
                                 "the learning rate of the 32s net it starts from, as voc-fcn16s (1e-12) below "
                                 "voc-fcn32s (1e-10); " + _ROUNDS),
              weights=None,
              note="the paper's FCN-16s RGB-HHA (CVPR Table 4), never released; the kit's construction: each "
                   "stream scores its pool4 (score_pool4color, score_pool4hha), averaged 0.5 / 0.5 as the fr "
                   "scores are, then FCN-16s's head on the averages (nets/vgg.py fcn_two_stream)",
              paper=(PaperRow(4, "FCN-16s RGB-HHA", four_scores(65.4, 46.1, 34.0, 49.5),
                              "never released; the kit's construction: the average of an RGB and an HHA FCN-16s "
                              "(each stream's pool4 scores averaged as its fr scores), trained from "
                              "nyud-fcn32s-color-hha"),)),
)

RECORDS: dict[str, NetRecord] = {r.name: with_cvpr(r) for r in (*_VOC, *_NYUD, *_SIFTFLOW, *_CONTEXT,
                                                                  *_PAPER_ONLY)}
# The nets the reference release has a folder for (net.py, solve.py, prototxts), released weights or not.
REFERENCE_NAMES: tuple[str, ...] = tuple(r.name for r in (*_VOC, *_NYUD, *_SIFTFLOW, *_CONTEXT))


def canonical_name(name: str) -> str:
    """The kit's name of a net given as the kit spells it or as PyTorch Hub does (``voc_fcn8s``, hubconf.py:
    dashes as underscores), in any case. Anything else is a KeyError naming the closest names (difflib), then
    every name: the one check behind ``record``, ``spec``, ``build`` and every command line's NET."""
    if name in RECORDS:
        return name
    spelled = name.strip().replace("_", "-").lower()
    if spelled in RECORDS:
        return spelled
    close = difflib.get_close_matches(spelled, RECORDS, n=3, cutoff=0.6)
    guess = f"; did you mean {' or '.join(close)}?" if close else "."
    raise KeyError(f"unknown net {name!r}{guess} The kit's nets are: {', '.join(RECORDS)}")


def record(name: str) -> NetRecord:
    """The record of a kit net (``canonical_name``: the hub spelling is accepted); an unknown name is an error
    naming the closest names and listing the known ones."""
    return RECORDS[canonical_name(name)]
