"""The claims ledger: every claim of the two FCN papers and of the reference release that the kit implements or
checks, one entry each. Read and checked by ``reproduce.audit.ledger`` (``make audit``).

Sources: CVPR = Long, Shelhamer, Darrell, CVPR 2015 (arXiv 1411.4038 v2, whose numbering the slides use); PAMI =
Shelhamer, Long, Darrell, PAMI 2016 (arXiv 1605.06211); reference = the authors' Caffe release (its net folders'
net.py / solve.py / prototxts, its README, score.py, surgery.py, the *_layers.py data layers). The claims are in
the kit's own words.

Statuses: ``checked`` (a fast-suite test checks it exactly), ``caffe`` (checked against real BVLC Caffe in
``make test-caffe``, usually with golden fixtures in ``make test`` too), ``informational`` (recorded and shown,
nothing to check), ``deviation`` (the kit chose differently or had to choose; the note says what and why),
``not-checkable`` (no test checks it; the note says what it needs and the command that checks it, and ``make
audit`` lists the table records the machine it runs on holds, with their verdicts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..tables import with_figures

STATUSES = ("checked", "caffe", "informational", "deviation", "not-checkable")
KINDS = ("architecture", "geometry", "initialisation", "training", "data", "metrics", "table", "release", "timing",
         "difference", "device", "format")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    claim: str
    kind: str
    status: str
    code: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    note: str = ""



# Test files, named once so that the entries stay readable.
NETS, GOLDEN, PARITY = "tests/test_nets.py", "tests/test_golden.py", "tests/caffe/test_net_parity.py"
REG, SOLVER, TRANSPLANT = "tests/test_registry.py", "tests/test_solver.py", "tests/test_weights_transplant.py"
READERS, METRICS, TABLES = "tests/test_data_readers.py", "tests/test_metrics.py", "tests/test_reproduce_tables.py"
SOURCES = "tests/test_data_sources.py"
NYUD = "tests/test_nyud_build.py"
HHA = "tests/test_hha.py"
HOSTILE, WEIGHTS_BAD = "tests/test_archives_hostile.py", "tests/test_weights_bad_input.py"
RUNNER, DIST, GOOGLENET = "tests/test_reproduce_runner.py", "tests/test_distributed.py", "tests/test_googlenet.py"
LIVE_PARITY = f"{PARITY}::test_blobs_loss_and_gradients_match_real_caffe"
GOLDEN_FORWARD = f"{GOLDEN}::test_forward_blobs_and_losses_match_the_caffe_fixture"
GOLDEN_GRADIENTS = f"{GOLDEN}::test_parameter_and_input_gradients_match_the_caffe_fixture"
PREC, PREC_CLI = "tests/test_precision.py", "tests/test_precision_entry_points.py"
PORT = "tests/test_audit_port.py"
CVPR, PAMI = "CVPR 2015 (arXiv 1411.4038 v2)", "PAMI 2016 (arXiv 1605.06211)"
# What a not-checkable claim needs, followed by the command that checks it where that is present; `make audit`
# says which table records exist on the machine it runs on (reproduce.audit.ledger: table_records).
NOT_HERE = "needs the weights and datasets"


CLAIMS: tuple[Claim, ...] = (
    # ---- the nets ----------------------------------------------------------------------------------------
    Claim(
        id="net.names",
        source="reference: one folder per net",
        claim="The fifteen released nets are named by the reference's directories (voc-fcn32s ... "
              "pascalcontext-fcn8s), one record each; the paper-only FCN-GoogLeNet follows.",
        kind="architecture",
        status="checked",
        code=("nets.registry:RECORDS", "nets.registry:REFERENCE_NAMES"),
        tests=(f"{REG}::test_every_record_is_the_net_of_its_name_the_fifteen_reference_directories_then_the_papers_two",)),
    Claim(
        id="net.layer-names",
        source="reference: net.py of every net",
        claim="Layer and blob names are Caffe's character for character, so a caffemodel's layer names are the "
              "module's parameter names (the weight map is the identity).",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:vgg16_trunk", "nets.net:CaffeNet", "weights.loader:LAYER_RENAMES"),
        tests=(f"{NETS}::test_caffe_layer_names_are_the_state_dict_keys_of_voc_fcn8s",
               f"{NETS}::test_variant_layer_names_follow_the_reference",
               "tests/test_weights_snapshot.py::test_layer_renames_table_is_empty",
               LIVE_PARITY)),
    Claim(
        id="net.vgg16-trunk",
        source="CVPR sec. 3.1, 4.1; reference net.py",
        claim="The VGG16 trunk: thirteen 3x3 convolutions in five blocks with in-place ReLUs and 2x2 max pooling, fc6 "
              "as a 7x7 and fc7 as a 1x1 convolution of 4096, each followed by ReLU and Dropout 0.5.",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:vgg16_trunk",),
        tests=(LIVE_PARITY, GOLDEN_FORWARD)),
    Claim(
        id="net.pad100",
        source="reference net.py (conv1_1 pad 100); PAMI sec. 4.1",
        claim="The first convolution pads by 100 pixels so that any input down to 1x1 leaves fc6 at least 1x1 and the "
              "crops room to align.",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:vgg16_trunk", "nets.alexnet:alexnet_trunk"),
        tests=(f"{GOLDEN}::test_a_mutated_input_padding_fails_the_golden_comparison",
               f"{NETS}::test_output_size_equals_input_size_for_every_size_from_1_to_520",
               LIVE_PARITY)),
    Claim(
        id="net.ceil-pooling",
        source="Caffe PoolingLayer",
        claim="Pooling rounds the output size up, ceil((in + 2p - k) / s) + 1, dropping a last window that would "
              "start in the padding.",
        kind="architecture",
        status="caffe",
        code=("nets.layers:caffe_max_pool", "nets.geometry:pool_out"),
        tests=(f"{NETS}::test_ceil_mode_pooling_rounds_up",
               f"{GOLDEN}::test_floor_mode_pooling_fails_the_golden_comparison",
               f"{GOOGLENET}::test_ceil_mode_pooling_with_padding_equals_caffes_loop_for_sizes_1_to_24",
               "tests/caffe/test_googlenet_parity.py::test_max_pooling_with_padding_in_ceil_mode_matches_caffe_for_many_sizes")),
    Claim(
        id="net.dropout-elementwise",
        source="reference net.py; Caffe DropoutLayer",
        claim="Dropout drops single elements with probability 0.5 and scales the kept ones by 2 at train time; it is "
              "the identity at test time (not channel dropout).",
        kind="architecture",
        status="caffe",
        code=("nets.layers:caffe_dropout",),
        tests=(f"{NETS}::test_dropout_is_elementwise_and_scales_kept_units_at_train_time",
               "tests/caffe/test_loss_and_dropout_parity.py::test_dropout_train_statistics_match_caffe")),
    Claim(
        id="net.inplace-blobs",
        source="Caffe in-place layers",
        claim="In-place layers overwrite their bottom: after a forward pass the blob conv1_1 holds the ReLU output "
              "and fc6 the post-dropout value.",
        kind="architecture",
        status="caffe",
        code=("nets.net:CaffeNet.forward_blobs",),
        tests=(f"{NETS}::test_inplace_relu_leaves_the_conv_blob_non_negative", LIVE_PARITY)),
    Claim(
        id="net.frozen-bilinear",
        source="PAMI sec. 4.2; reference surgery.interp",
        claim="Every upsampling layer is a Caffe Deconvolution without bias, frozen (lr_mult 0, a buffer in the kit), "
              "holding the bilinear kernel on the diagonal: f = ceil(k / 2), centre f - 1 (odd k) or f - 0.5.",
        kind="architecture",
        status="caffe",
        code=("nets.layers:bilinear_kernel", "nets.layers:Deconvolution", "nets.spec:FROZEN"),
        tests=(f"{NETS}::test_upsampling_and_scale_are_frozen_buffers_not_parameters",
               f"{NETS}::test_bilinear_kernel_matches_the_formula_for_k4_and_k63",
               LIVE_PARITY)),
    Claim(
        id="net.upsampling-frozen",
        source=f"{CVPR} sec. 3.3 and 4.2 (learned 2x upsampling); reference (all frozen)",
        claim="The paper learns its intermediate 2x upsamplings and fixes only the last; the reference freezes every "
              "upsampling at bilinear ('no significant difference').",
        kind="difference",
        status="deviation",
        code=("nets.layers:Deconvolution", "nets.spec:FROZEN"),
        tests=(f"{NETS}::test_upsampling_and_scale_are_frozen_buffers_not_parameters",),
        note="the kit follows the reference, whose released weights were trained that way; a learned upsampler read "
             "from a user's prototxt is kept frozen with a warning"),
    Claim(
        id="net.skips",
        source="CVPR sec. 4.2, Fig. 3",
        claim="FCN-16s adds a 1x1 score_pool4 to the 2x-upsampled score_fr; FCN-8s adds score_pool3 to the "
              "2x-upsampled sum; sums are Eltwise SUM; the final upsamplings are 32x (k64), 16x (k32) and 8x (k16).",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:skip_head",),
        tests=(LIVE_PARITY, GOLDEN_FORWARD)),
    Claim(
        id="net.at-once-scale",
        source="PAMI sec. 4.2; reference voc-fcn8s-atonce/net.py",
        claim="The at-once FCN-8s scales pool4 by 0.01 and pool3 by 0.0001 with frozen Scale layers before their "
              "score layers.",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:skip_head", "nets.layers:Scale"),
        tests=(f"{TRANSPLANT}::test_at_once_fcn8s_from_vgg16_gets_the_reference_scale_constants",
               LIVE_PARITY,
               GOLDEN_GRADIENTS)),
    Claim(
        id="net.alexnet",
        source="CVPR sec. 4.1; reference voc-fcn-alexnet/net.py",
        claim="FCN-AlexNet: CaffeNet's conv1 (11x11, stride 4, pad 100) to fc7 with LRN and grouped convolutions, "
              "score_fr, one k63 s32 upsampling.",
        kind="architecture",
        status="caffe",
        code=("nets.alexnet:fcn_alexnet", "nets.layers:caffe_lrn"),
        tests=(f"{NETS}::test_lrn_is_caffes_across_channel_formula", LIVE_PARITY, GOLDEN_GRADIENTS)),
    Claim(
        id="net.nyud-color-d",
        source="CVPR sec. 4.4; reference nyud-fcn32s-color-d",
        claim="RGB-D early fusion: color and depth concatenated into data, whose first convolution conv1_1_bgrd takes "
              "4 channels.",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:fcn_color_depth",),
        tests=(LIVE_PARITY, GOLDEN_FORWARD)),
    Claim(
        id="net.nyud-late-fusion",
        source="CVPR sec. 4.4 (sum); reference nyud-fcn32s-color-hha (0.5, 0.5)",
        claim="RGB-HHA late fusion: two full VGG16 streams whose score_fr are averaged (Eltwise SUM, coefficients 0.5 "
              "and 0.5) before one upsampling; the paper says the streams are summed.",
        kind="difference",
        status="caffe",
        code=("nets.vgg:fcn_two_stream",),
        tests=(LIVE_PARITY, GOLDEN_FORWARD),
        note="the kit follows the reference's prototxt, which the released weights were trained with"),
    Claim(
        id="net.siftflow-heads",
        source="CVPR sec. 4.5; reference siftflow-fcn*s",
        claim="SIFT Flow: one trunk, a semantic (33) and a geometric (3) head with _sem / _geo suffixes and a loss "
              "each (loss, loss_geo, weight 1).",
        kind="architecture",
        status="caffe",
        code=("nets.vgg:fcn_two_headed",),
        tests=(f"{NETS}::test_variant_layer_names_follow_the_reference", LIVE_PARITY)),
    Claim(
        id="net.context-60",
        source="arXiv v2 appendix (59 classes); reference pascalcontext-fcn*s (60 outputs)",
        claim="PASCAL-Context nets have 60 outputs: 0 is background / every other class, 1..59 the task's classes.",
        kind="difference",
        status="caffe",
        code=("nets.registry:RECORDS",),
        tests=(LIVE_PARITY,),
        note="the kit follows the reference's 60 outputs; Table 6 prints both 60- and 59-class means"),
    Claim(
        id="net.param-shapes",
        source="Caffe blob layouts",
        claim="Parameter blobs have Caffe's shapes: Convolution (out, in/group, k, k) and (out,), Deconvolution (in, "
              "out/group, k, k), Scale (C,).",
        kind="format",
        status="caffe",
        code=("nets.spec:NetSpec.param_shapes",),
        tests=(f"{TRANSPLANT}::test_parameter_shapes_are_caffes_blob_shapes",
               "tests/caffe/test_weights_fullsize.py::test_fullsize_caffemodel_written_by_caffe_reads_bit_identical")),
    # ---- geometry --------------------------------------------------------------------------------------------
    Claim(
        id="geometry.crop-offsets",
        source="reference net.py crop offsets; Caffe net_spec coord_map",
        claim="Crop offsets follow from each layer's coordinate map and equal the reference's: 19 (32s), 5 and 27 "
              "(16s), 5, 9 and 31 (8s), 18 (AlexNet); a non-integer or negative offset is an error naming the crop.",
        kind="geometry",
        status="caffe",
        code=("nets.geometry:derive_crop_offsets",
              "nets.geometry:REFERENCE_CROP_OFFSETS",
              "nets.geometry:resolve_crops"),
        tests=(f"{NETS}::test_derived_crop_offsets_equal_the_reference_table",
               f"{NETS}::test_a_mutated_input_pad_changes_the_derived_offset_and_is_rejected",
               f"{NETS}::test_a_fractional_offset_is_an_error_naming_the_crop",
               f"{GOLDEN}::test_a_mutated_crop_offset_fails_the_golden_comparison",
               LIVE_PARITY)),
    Claim(
        id="geometry.not-centred",
        source="reference (an issue asking to centre the last crop)",
        claim="The crop counts from the top-left: FCN-8s's last offset is 31, not the centred 34.",
        kind="geometry",
        status="checked",
        code=("nets.layers:caffe_crop",),
        tests=(f"{NETS}::test_fcn8s_crop_offsets_are_5_9_31_and_not_centred",)),
    Claim(
        id="geometry.alignment",
        source="CVPR sec. 3.2 (shift-and-stitch equivalence)",
        claim="Shifting the input by the net's stride shifts the output by the same; an impulse on score_fr lands "
              "where the coordinate map says.",
        kind="geometry",
        status="checked",
        code=("nets.geometry:coord_maps",),
        tests=(f"{NETS}::test_shifting_the_input_by_the_net_stride_shifts_the_output_by_the_same",
               f"{NETS}::test_an_impulse_on_score_fr_lands_where_the_coordinate_map_says")),
    Claim(
        id="geometry.any-size",
        source="CVPR sec. 3 (inputs of any size)",
        claim="Every net takes any input from 1x1 up and outputs the input's size; every blob's size is the geometry "
              "module's.",
        kind="geometry",
        status="checked",
        code=("nets.geometry:blob_sizes",),
        tests=(f"{NETS}::test_output_size_equals_input_size_for_every_size_from_1_to_520",
               f"{NETS}::test_every_blob_has_the_geometry_modules_size")),
    # ---- Table 1's structure ---------------------------------------------------------------------------------
    Claim(
        id="table1.structure",
        source=f"{CVPR} Table 1",
        claim="FCN-AlexNet has 8 conv layers, 57M parameters, receptive field 355; FCN-VGG16 16, 134M, 404; both max "
              "stride 32 (trunk conv1..fc7 plus a 21-class score_fr).",
        kind="table",
        status="checked",
        code=("reproduce.audit.geometry:structure", "reproduce.audit.geometry:table1_row"),
        tests=(f"{RUNNER}::test_table1_structure_columns_follow_from_the_nets",
               f"{NETS}::test_trainable_parameter_counts_are_the_papers_134M_and_57M",
               "tests/test_audit.py::test_audit_passes_and_prints_derived_beside_reference_offsets")),
    Claim(
        id="table1.googlenet-structure",
        source=f"{CVPR} Table 1",
        claim="FCN-GoogLeNet: 22 convolutions deep, 6M parameters, max stride 32; the paper's receptive field of 907 "
              "is that of the 7x7 average pooling it discards, the kit derives 715 at score_fr.",
        kind="difference",
        status="checked",
        code=("reproduce.audit.geometry:structure", "nets.googlenet:fcn_googlenet"),
        tests=(f"{GOOGLENET}::test_table1_structure_of_fcn_googlenet_22_deep_6_0M_stride_32_and_rf_715_not_907",
               f"{GOOGLENET}::test_the_audit_states_the_receptive_field_difference_and_passes_fcn_googlenet"),
        note="depth counts the most convolutions on any path to score_fr; the record states the 715 and why"),
    # ---- FCN-GoogLeNet ---------------------------------------------------------------------------------------
    Claim(
        id="googlenet.trunk",
        source=f"{CVPR} sec. 4.1; BVLC bvlc_googlenet/deploy.prototxt",
        claim="FCN-GoogLeNet keeps BVLC GoogLeNet's final classifier path name for name (nine inception modules of "
              "Concat'ed branches, no auxiliary heads), drops its average pooling, dropout and classifier, scores "
              "inception_5b/output with a 1x1 score_fr.",
        kind="architecture",
        status="caffe",
        code=("nets.googlenet:googlenet_trunk", "nets.googlenet:inception"),
        tests=("tests/caffe/test_googlenet_parity.py::test_the_kit_trunk_computes_every_blob_of_bvlc_googlenets_own_deploy_prototxt",
               f"{GOOGLENET}::test_the_trunk_keeps_bvlc_names_and_only_the_final_classifier_path",
               f"{GOOGLENET}::test_the_inception_module_is_one_composition_called_nine_times",
               LIVE_PARITY)),
    Claim(
        id="googlenet.pad-and-kernel",
        source=f"{CVPR} sec. 4.1 (silent)",
        claim="FCN-GoogLeNet pads its input by 100 pixels as the other FCNs and upsamples with a k63 s32 "
              "deconvolution; the crop offset 101 is derived and equals Caffe's coord_map.",
        kind="architecture",
        status="deviation",
        code=("nets.googlenet:fcn_googlenet",),
        tests=("tests/caffe/test_googlenet_parity.py::test_caffes_coord_map_derives_the_kits_crop_offset_101",
               "tests/caffe/test_googlenet_parity.py::test_caffes_coord_map_refuses_the_half_pixel_crop_of_a_kernel_64_upsampling",
               f"{GOOGLENET}::test_without_extra_padding_small_inputs_fail_and_15_pixels_is_the_least_that_fits_all"),
        note="the paper states neither: 100 follows the other FCNs (15 is the least that fits every size); k64 would "
             "need a half-pixel crop on GoogLeNet's odd-kernel trunk, which Caffe's coord_map refuses"),
    # ---- initialisation and surgery --------------------------------------------------------------------------
    Claim(
        id="init.ilsvrc",
        source=f"{CVPR} sec. 4.1; reference ilsvrc-nets/README.md",
        claim="The nets start from the ILSVRC classifiers: VGG16 (an old V1-format caffemodel), CaffeNet and BVLC "
              "GoogLeNet.",
        kind="initialisation",
        status="caffe",
        code=("nets.registry:CLASSIFIERS", "weights.transplant:transplant"),
        tests=("tests/caffe/test_weights_fullsize.py::test_fullsize_vgg16_v1_caffemodel_reads_bit_identical_and_transplants_into_fcn32s",
               "tests/caffe/test_googlenet_parity.py::test_transplant_from_a_bvlc_googlenet_caffemodel_equals_caffes_own_copy_by_name")),
    Claim(
        id="init.fc-reshape",
        source=f"{CVPR} sec. 3.1; reference surgery.transplant",
        claim="Fully connected layers become convolutions by a reshape in the same memory order: VGG16 fc6 4096x25088 "
              "-> 4096x512x7x7, CaffeNet fc6 4096x9216 -> 4096x256x6x6.",
        kind="initialisation",
        status="checked",
        code=("weights.transplant:_copy_or_coerce",),
        tests=(f"{TRANSPLANT}::test_vgg16_into_voc_fcn32s_reshapes_fc_layers_bilinear_upscore_zero_score_fr",
               f"{TRANSPLANT}::test_caffenet_into_fcn_alexnet_reshapes_fc6_to_256x6x6_via_the_command_line")),
    Claim(
        id="init.score-zero",
        source=f"{CVPR} sec. 4.1 (class scores zero-initialised)",
        claim="New score layers start at zero, weights and biases (Caffe's default constant filler); random "
              "initialisation was no better.",
        kind="initialisation",
        status="checked",
        code=("weights.transplant:_new_head_layer",),
        tests=(f"{TRANSPLANT}::test_vgg16_into_voc_fcn32s_reshapes_fc_layers_bilinear_upscore_zero_score_fr",
               f"{TRANSPLANT}::test_siftflow_from_vgg16_zeroes_both_heads")),
    Claim(
        id="init.finer-from-coarser",
        source=f"{CVPR} sec. 4.2",
        claim="FCN-16s starts from FCN-32s and FCN-8s from FCN-16s: the shared layers are copied, the new skip "
              "scorers start at zero, upsamplers are bilinear.",
        kind="initialisation",
        status="checked",
        code=("weights.transplant:transplant", "weights.transplant:_bilinear"),
        tests=(f"{TRANSPLANT}::test_fcn16s_from_fcn32s_keeps_score_fr_and_zeroes_the_new_skip_scorer",)),
    Claim(
        id="init.color-d",
        source="reference nyud-fcn32s-color-d/solve.py",
        claim="RGB-D's 4-channel first filter is VGG16's RGB filters plus a depth filter equal to their mean.",
        kind="initialisation",
        status="checked",
        code=("weights.transplant:_depth_from_rgb_mean",),
        tests=(f"{TRANSPLANT}::test_color_d_depth_filter_is_the_mean_of_the_rgb_filters",)),
    Claim(
        id="init.color-hha",
        source="reference nyud-fcn32s-color-hha/solve.py",
        claim="The two-stream net starts from the color and the HHA 32s nets, their layers renamed with the stream "
              "suffix.",
        kind="initialisation",
        status="checked",
        code=("weights.transplant:pool_sources",),
        tests=(f"{TRANSPLANT}::test_color_hha_is_made_from_the_color_and_hha_nets_with_suffixes",)),
    # ---- training --------------------------------------------------------------------------------------------
    Claim(
        id="train.sgd",
        source="Caffe SGDSolver; reference solver.prototxt",
        claim="Caffe's update: gradients of iter_size passes summed and divided by iter_size, L2 decay times "
              "decay_mult, V = momentum V + lr lr_mult g, W = W - V.",
        kind="training",
        status="caffe",
        code=("nets.solver:CaffeSGD",),
        tests=(f"{SOLVER}::test_sgd_two_steps_match_hand_computed_momentum_and_weight_decay",
               f"{SOLVER}::test_iter_size_averages_the_summed_gradients_of_its_passes",
               "tests/caffe/test_solver_parity.py::test_three_sgd_iterations_match_caffe_sgdsolver")),
    Claim(
        id="train.multipliers",
        source=f"{CVPR} sec. 4.1 (doubled bias rate); reference net.py",
        claim="VGG16 convolutions and every score layer learn with lr_mult 1 / decay 1 on weights and 2 / 0 on "
              "biases; FCN-AlexNet's trunk keeps Caffe's defaults (1 / 1 on both); upsamplers and Scale layers never "
              "learn.",
        kind="training",
        status="checked",
        code=("nets.spec:TRAINED", "nets.spec:CAFFE_DEFAULT", "nets.net:CaffeNet.param_multipliers"),
        tests=(f"{NETS}::test_param_multipliers_follow_the_reference_solvers",
               f"{SOLVER}::test_vgg_and_alexnet_multipliers_are_the_references")),
    Claim(
        id="train.heavy",
        source=f"{PAMI} sec. 4.3; reference solver.prototxt / solve.py",
        claim="The reference's 'heavy' online recipe: batch 1, momentum 0.99, summed loss, fixed learning rates 1e-10 "
              "/ 1e-12 / 1e-14 (32s / 16s / 8s), weight decay 5e-4, 100k iterations (300k at-once, 400k Context); "
              "FCN-AlexNet keeps 1e-4, momentum 0.9, iter_size 20, normalised loss.",
        kind="training",
        status="checked",
        code=("nets.registry:RECORDS", "nets.registry:Solver"),
        tests=(f"{SOLVER}::test_the_net_records_hold_the_reference_solver_settings",)),
    Claim(
        id="train.iterations",
        source="reference solve.py",
        claim="What runs is solve.py's step loop (25 x 4000, 75 x 4000, 50 x 2000, 50 x 8000), not solver.prototxt's "
              "max_iter.",
        kind="training",
        status="checked",
        code=("nets.registry:Solver",),
        tests=(f"{SOLVER}::test_the_net_records_hold_the_reference_solver_settings",)),
    Claim(
        id="train.loss",
        source="Caffe SoftmaxWithLossLayer; reference train.prototxt",
        claim="SoftmaxWithLoss ignores label 255; normalize false divides the sum over valid pixels by the batch "
              "size, true by the valid count; each pixel costs -log(max(p, FLT_MIN)) while the gradient stays p - "
              "onehot.",
        kind="training",
        status="caffe",
        code=("nets.layers:softmax_with_loss", "nets.layers:FLT_MIN"),
        tests=(f"{SOLVER}::test_summed_loss_divides_by_batch_and_normalized_by_valid_pixels",
               f"{SOLVER}::test_loss_caps_a_pixel_at_minus_log_flt_min_but_the_gradient_is_p_minus_onehot",
               "tests/caffe/test_loss_and_dropout_parity.py::test_loss_clamps_at_flt_min_like_caffe",
               LIVE_PARITY)),
    Claim(
        id="train.sampler",
        source="reference *_layers.py (random.seed(1337), random.randint)",
        claim="Training draws images uniformly with replacement in the reference's order: Python 2's randint under "
              "seed 1337 equals int(random() * N) in Python 3 (5249, 4531, 3108 for N = 8498).",
        kind="training",
        status="checked",
        code=("data.loaders:ReferenceSampler",),
        tests=("tests/test_data_loaders.py::test_reference_sampler_replays_python2_randint_first_draws_for_8498",
               "tests/test_reproduce_train.py::test_one_step_draws_iter_size_images_in_the_reference_order")),
    Claim(
        id="train.no-augmentation",
        source=f"{CVPR} sec. 4.3; reference data layers",
        claim="No augmentation and no resizing: one image per forward pass at its own size.",
        kind="training",
        status="checked",
        code=("reproduce.train:Trainer", "data.preprocess:preprocess_image"),
        tests=(f"{READERS}::test_voc_reader_matches_reference_load_image_and_label",
               "tests/test_reproduce_train.py::test_one_step_draws_iter_size_images_in_the_reference_order")),
    Claim(
        id="train.resume",
        source="Caffe snapshots",
        claim="A training run resumed from its snapshot continues bit for bit where an uninterrupted run would be.",
        kind="training",
        status="checked",
        code=("reproduce.train:Trainer.snapshot", "reproduce.train:Trainer.restore"),
        tests=("tests/test_reproduce_train.py::test_four_straight_steps_equal_two_steps_snapshot_resume_two_steps_bit_for_bit",
               "tests/test_reproduce_train.py::test_train_command_resumed_run_ends_with_the_weights_of_an_uninterrupted_run")),
    Claim(
        id="train.dropout-in-training",
        source="reference: train.prototxt history",
        claim="Dropout stays in training: the reference's net.py always had drop6 / drop7, though its VOC 32s / 16s / "
              "8s prototxts lacked them until September 2016.",
        kind="training",
        status="not-checkable",
        code=("nets.vgg:vgg16_trunk",),
        tests=(),
        note="whether the released VOC 32s / 16s / 8s models were trained with dropout is unknown; the authors' "
             "training logs would tell"),
    Claim(
        id="train.cvpr-regime",
        source=f"{CVPR} sec. 4.1",
        claim="The paper's own regime: minibatch 20, momentum 0.9, normalised loss, fixed learning rates 1e-3 / 1e-4 "
              "/ 5e-5 for AlexNet / VGG16 / GoogLeNet by line search, doubled bias rate, weight decay 5e-4 or 2e-4.",
        kind="training",
        status="checked",
        code=("reproduce.train:cvpr_solver",),
        tests=(f"{DIST}::test_the_cvpr_regime_is_minibatch_20_momentum_0_9_normalised_with_the_papers_learning_rates",)),
    Claim(
        id="train.cvpr-recipes",
        source=f"{CVPR} sec. 4.1",
        claim="The CVPR regime is a recipe of every VOC, NYUDv2 and SIFT Flow net's record (minibatch 20 through "
              "iter_size, momentum 0.9, weight decay, normalised loss, the trunk's learning rate, every bias at twice "
              "its weight's rate); FCN-GoogLeNet trains only in it; PASCAL-Context, which the CVPR paper does not "
              "train, refuses it and says why.",
        kind="training",
        status="checked",
        code=("nets.registry:cvpr_recipe", "nets.registry:NetRecord.recipe"),
        tests=("tests/test_cvpr_regime.py::test_every_voc_nyud_and_siftflow_record_has_the_cvpr_recipe_minibatch_20_momentum_0_9_normalised",
               "tests/test_cvpr_regime.py::test_the_cvpr_regime_doubles_fcn_alexnets_trunk_bias_rate_and_changes_nothing_for_vgg16",
               "tests/test_cvpr_regime.py::test_fcn_googlenet_trains_in_the_cvpr_regime_only",
               "tests/test_cvpr_regime.py::test_the_cvpr_regime_refuses_pascalcontext_saying_why")),
    Claim(
        id="train.fcn32s-fixed",
        source=f"{CVPR} Table 2 (FCN-32s-fixed)",
        claim=with_figures("FCN-32s-fixed learns only its last layer: a training variant of voc-fcn32s with lr_mult "
                           "0 on every layer but score_fr, in the CVPR regime; the frozen set is printed, the snapshot "
                           "is marked, and Table 2 judges the result against {voc-fcn32s:fixed T2} with --retrained. "
                           "Real Caffe's SGDSolver on the same prototxt leaves the same blobs bit-identical."),
        kind="training",
        status="caffe",
        code=("nets.registry:Variant", "nets.spec:frozen_except"),
        tests=("tests/caffe/test_solver_parity.py::test_three_sgd_iterations_match_caffe_sgdsolver",
               "tests/test_cvpr_regime.py::test_sgd_steps_of_the_fixed_variant_leave_every_frozen_weight_bit_identical_and_move_score_fr",
               "tests/test_cvpr_regime.py::test_train_command_prints_the_frozen_layers_and_the_trained_one",
               "tests/test_cvpr_regime.py::test_table2_judges_fixed_weights_against_the_45_4_row")),
    Claim(
        id="train.heavy-vs-batch",
        source=f"{PAMI} sec. 4.3",
        claim="Momentum 0.99 at batch 1 is argued equivalent to 0.9 at batch 20 (0.9^(1/20) ~ 0.99); the heavy online "
              "recipe scores about five points more.",
        kind="difference",
        status="informational",
        code=("nets.registry:Solver",),
        tests=(),
        note="shown; the kit trains either regime, the numbers need the datasets"),
    Claim(
        id="train.distributed",
        source="kit (torchrun)",
        claim="N ranks of iter_size / N passes update the weights as one process of iter_size passes over the same "
              "draws (draw j to rank j mod N), to float32 summation order.",
        kind="training",
        status="checked",
        code=("reproduce.distributed:data_parallel", "reproduce.train:training_solver"),
        tests=(f"{DIST}::test_three_steps_on_2_ranks_x_1_pass_equal_one_process_with_iter_size_2",
               f"{DIST}::test_three_steps_on_2_ranks_x_2_passes_equal_one_process_with_iter_size_4_to_float32_rounding",
               f"{DIST}::test_a_resumed_two_rank_run_continues_the_trajectory_bit_for_bit",
               f"{DIST}::test_a_killed_rank_fails_the_run_naming_it_and_leaves_no_half_written_snapshot")),
    Claim(
        id="train.data",
        source=f"{CVPR} sec. 4 (footnote); reference voc-fcn*/solve.py",
        claim="The VOC nets train on SBD train (8498 images) and are scored on seg11valid.",
        kind="data",
        status="informational",
        code=("nets.registry:VOC_SPLITS",),
        tests=(),
        note="the splits are records' facts; the images need the datasets"),
    # ---- data ------------------------------------------------------------------------------------------------
    Claim(
        id="data.preprocess",
        source="reference voc_layers.load_image",
        claim="Colour images: read with PIL, float32, RGB -> BGR, minus the dataset's mean, HWC -> CHW; no resizing, "
              "cropping or flipping.",
        kind="data",
        status="checked",
        code=("data.preprocess:preprocess_image",),
        tests=(f"{READERS}::test_user_image_and_reader_give_the_pixel_values_rgb_to_bgr_minus_the_mean",
               "tests/test_reproduce_evaluate.py::test_predict_feeds_the_net_bgr_minus_the_records_mean_at_the_pictures_size")),
    Claim(
        id="data.means",
        source="reference *_layers.py",
        claim="Means (B, G, R): VOC / SBD 104.00699, 116.66877, 122.67892; NYUD 116.190, 97.203, 92.318; SIFT Flow "
              "114.578, 115.294, 108.353; Context 104.007, 116.669, 122.679.",
        kind="data",
        status="checked",
        code=("data.preprocess:MEAN_VALUES",),
        tests=(f"{READERS}::test_reader_means_are_the_facts_values",
               f"{REG}::test_each_input_mean_is_the_mean_its_reader_applies")),
    Claim(
        id="data.nyud",
        source="reference nyud_layers.py",
        claim="NYUD: HHA keeps its stored channel order minus its own mean; depth is log(millimetres) - 7.844, one "
              "channel; labels are the .mat values minus 1, void 0 wrapping to 255.",
        kind="data",
        status="checked",
        code=("data.readers:NYUDReader", "data.preprocess:preprocess_depth"),
        tests=(f"{READERS}::test_nyud_reader_color_hha_depth_and_shifted_label",
               f"{READERS}::test_nyud_depth_is_read_as_16_bit_millimetres_not_clipped_to_8_bits")),
    Claim(
        id="data.nyud-zero-depth",
        source="reference nyud_layers.py",
        claim="A zero in a depth map would give -inf in the reference; the kit refuses it, naming the image.",
        kind="data",
        status="deviation",
        code=("data.preprocess:preprocess_depth",),
        tests=(f"{READERS}::test_zero_depth_is_an_error_naming_the_id",),
        note="a -inf input poisons every score silently; the reference's prepared depth maps have no holes"),
    Claim(
        id="data.nyud-build",
        source="s-gupta/nyu-hooks script_data.m, cropIt.m, getGroundTruth.m; NYU's nyu_depth_v2_labeled.mat and "
               "splits.mat; Gupta's classMapping40.mat (issue 26)",
        claim="The reference's nyud.tar.gz is gone (its server dead since 2017): make data DATASET=nyud builds its "
              "layout from NYU's originals as Gupta's script did: id 5000 + i, the crop rows 45:470 and columns "
              "40:600, the RGB crop, depth as MATLAB's uint16 of the single-precision depths * 1000, mapClass over "
              "the labels with 0 kept, HHA (data.hha) of the depth PNG with rawDepths == 0 as the missing mask, "
              "the reference's lists checked against splits.mat. A wrong checksum or a foreign .mat builds nothing; "
              "an interrupted build resumes and the folder is whole or absent; its provenance.json goes into every "
              "evaluation and table record.",
        kind="data",
        status="checked",
        code=("data.nyud:build", "data.nyud:depth_millimetres", "data.nyud:class_lookup", "data.nyud:compare_lists",
              "data.download:BUILDS"),
        tests=(f"{NYUD}::test_the_dead_archive_falls_through_to_the_originals_and_the_references_layout_is_built",
               f"{NYUD}::test_images_depth_labels_and_hha_are_made_as_guptas_script_made_them",
               f"{NYUD}::test_depth_is_matlabs_uint16_of_the_single_precision_product",
               f"{NYUD}::test_the_references_lists_are_checked_against_splits_mat",
               f"{NYUD}::test_a_wrong_checksum_builds_nothing",
               f"{NYUD}::test_an_interrupted_build_keeps_its_finished_images_reads_as_absent_and_resumes",
               f"{NYUD}::test_make_evaluate_runs_on_the_built_folder_and_its_record_says_how_it_was_made")),
    Claim(
        id="data.nyud-labels-from-nyu",
        source="s-gupta/nyu-hooks getGroundTruth.m (mapClass over groundTruth{1}.SegmentationClass)",
        claim="The built NYUD segmentation maps NYU's own labels through Gupta's mapClass; the reference's was "
              "mapped from Gupta's benchmark ground truth, NYU's labels cleaned of double contours.",
        kind="data",
        status="deviation",
        code=("data.nyud:image_maps",),
        tests=(f"{NYUD}::test_images_depth_labels_and_hha_are_made_as_guptas_script_made_them",
               f"{NYUD}::test_the_readers_read_the_built_folder_and_the_records_say_it_was_built"),
        note="the cleaned ground truth came only in Gupta's eccv14-data.tgz, 404 since 2019-2021 (s-gupta/rgbd "
             "issues 8 and 11, s-gupta/rcnn-depth issue 46), and the reference's nyud.tar.gz is gone (BVLC/caffe "
             "issues 5749, 6430): NYU's labels are the nearest original. How much the scores move cannot be "
             "measured without those files; every record says which way its folder was made"),
    Claim(
        id="data.hha-equals-gupta",
        source="Gupta et al. ECCV 2014; s-gupta/rcnn-depth rcnn/saveHHA.m, mcg/depth_features/processDepthImage.m; "
               "s-gupta/rgbdutils; s-gupta/nyu-hooks getCameraParam('color'), cropCamera",
        claim="HHA is Gupta's saveHHA on the 425 x 560 crop with NYU's colour camera moved by cropCamera (cx - 40, "
              "cy - 45): disparity 31000 / max(z_cm, 100), height in cm above the lowest point (-130 cm when that "
              "is above -90 cm), angle with gravity + 38 degrees (NaN normals 218), MATLAB's uint8 rounding. Against "
              "Gupta's code run unmodified by GNU Octave: without raw-depth holes every pixel equal but 1 in 10,000, "
              "none off by more than 1; with holes 99% of the pixels equal per channel, 99.5% within 1.",
        kind="data",
        status="checked",
        code=("data.hha:hha", "data.hha:NYUD_CAMERA", "data.hha:matlab_uint8", "data.hha:gravity_direction"),
        tests=(f"{HHA}::test_hha_without_holes_equals_octaves_save_hha_but_1_pixel_in_10000_none_off_by_more_than_1",
               f"{HHA}::test_hha_with_raw_depth_holes_equals_octaves_in_99_percent_per_channel_and_995_within_1",
               f"{HHA}::test_the_python_ports_known_mistakes_fail_the_octave_tolerance",
               f"{HHA}::test_nyud_camera_is_nyus_colour_camera_moved_by_the_crop",
               f"{HHA}::test_without_a_floor_in_view_heights_start_130_cm_below_the_camera",
               f"{HHA}::test_window_sums_are_added_in_the_order_of_octaves_filter2_bit_for_bit",
               "tests/octave/test_octave_hha.py::test_the_kit_equals_octave_on_every_room_with_and_without_holes",
               "tests/octave/test_octave_hha.py::test_the_kit_equals_octave_on_guptas_demo_image"),
        note="the fixtures (tests/fixtures/hha/) are Octave 7.3's saveHHA of three synthetic rooms, with and without "
             "holes; make test-octave GUPTA=... rebuilds them with Octave and also compares Gupta's demo image, a "
             "real NYUD image"),
    Claim(
        id="data.siftflow",
        source="reference siftflow_layers.py",
        claim="SIFT Flow: semantic labels minus 1 (void -> 255); geometric -1 set to 0, then minus 1.",
        kind="data",
        status="checked",
        code=("data.readers:SIFTFlowReader",),
        tests=(f"{READERS}::test_siftflow_reader_semantic_and_geometric_transforms",)),
    Claim(
        id="data.pascalcontext",
        source="reference pascalcontext_layers.py; dataset labels.txt / 59_labels.txt",
        claim="PASCAL-Context: the 459 raw labels map to the 59 task classes by name (spaces removed, three renames), "
              "everything else to 0; no ignore value.",
        kind="data",
        status="checked",
        code=("data.readers:context_lookup",),
        tests=(f"{READERS}::test_pascalcontext_maps_raw_labels_to_59_classes_by_name",
               f"{READERS}::test_pascalcontext_renames_and_space_removal_pick_the_right_raw_lines")),
    Claim(
        id="data.context-raw-range",
        source="reference pascalcontext_layers.py",
        claim="A raw PASCAL-Context value outside 0..459 is refused, naming the image.",
        kind="data",
        status="deviation",
        code=("data.readers:PASCALContextReader",),
        tests=(f"{READERS}::test_label_values_out_of_range_are_errors_naming_the_id",),
        note="the reference's lookup would fail or silently wrap; a value outside the list is a damaged file"),
    Claim(
        id="data.classes",
        source="reference data/*/classes.txt; dataset label lists",
        claim="Class names in output order as the reference spells them: VOC 21, NYUDv2 40 (with 'refridgerator'), "
              "SIFT Flow 33 semantic and 3 geometric, PASCAL-Context 59 plus background.",
        kind="data",
        status="checked",
        code=("data.classes:CLASSES",),
        tests=(f"{READERS}::test_class_names_are_the_reference_lists",)),
    Claim(
        id="data.seg11valid",
        source=f"{CVPR} sec. 4 footnote; reference data/pascal/seg11valid.txt",
        claim="seg11valid is VOC2011 val minus SBD train: 736 images, MD5 7984b6ce736bd3666d8b7ee70b5401da of the "
              "sorted list.",
        kind="data",
        status="checked",
        code=("data.splits:seg11valid", "data.splits:REFERENCE_SPLITS"),
        tests=(f"{READERS}::test_seg11valid_is_voc2011_val_minus_sbd_train",
               f"{READERS}::test_seg11valid_is_checked_against_the_reference_736_ids_by_default")),
    Claim(
        id="data.seg11valid-from-voc2012",
        source="torchfcn's VOC2011ClassSeg (reads seg11valid from VOCdevkit/VOC2012 with the reference's "
               "seg11valid.txt) and its evaluation of the released weights: 63.63 / 65.01 / 65.51 / 65.40 against the "
               "published 63.6 / 65.0 / 65.5 / 65.4",
        claim="VOC2012's segmentation release holds VOC2011's images and labels: seg11valid read from VOC2012 with "
              "the reference's list (736 ids, MD5 checked, every id present) scores as from VOC2011. VOC2011's files "
              "are read first where present; records name the folder that fed them and the list's MD5.",
        kind="data",
        status="not-checkable",
        code=("data.readers:VOCReader", "data.layout:voc_root", "data.download:TARGETS"),
        tests=(f"{SOURCES}::test_make_data_voc_places_voc2012_sbd_and_the_list_and_seg11valid_reads_all_736_from_voc2012",
               f"{SOURCES}::test_with_both_years_present_seg11valid_reads_voc2011",
               f"{SOURCES}::test_seg11valid_over_voc2012_must_be_the_references_list"),
        note=f"{NOT_HERE}: the same scores from VOC2011 and VOC2012 need both releases and the weights; the tests "
             "check the mechanism on miniature trees"),
    Claim(
        id="data.sources",
        source="torchvision's and PaddlePaddle's dataset code, d2l's DATA_HUB, skdata, GluonCV, Segmenter (their "
               "published checksums and mirrors); torchvision pull requests 9216 and 9335 (the VOC hosts in 2026)",
        claim="Every dataset archive has its sources in order (the original first, then each mirror known) and the "
              "checksums its publishers give; an archive is verified before it is unpacked, one that fails is "
              "never unpacked, and a user's own file is read in place and never changed.",
        kind="data",
        status="checked",
        code=("data.download:PARTS", "data.download:get_part", "data.download:unpack"),
        tests=(f"{SOURCES}::test_the_real_parts_carry_their_publishers_checksums_and_mirrors",
               f"{SOURCES}::test_sources_are_tried_in_order_until_one_gives_the_verified_archive",
               f"{SOURCES}::test_a_mirror_serving_another_file_is_set_aside_and_the_next_source_used",
               f"{SOURCES}::test_your_own_archive_is_checked_against_the_published_checksum_and_kept_when_it_fails",
               f"{SOURCES}::test_another_releases_archive_is_refused_even_when_its_own_checksum_holds",
               f"{SOURCES}::test_your_own_url_with_its_own_md5_is_not_held_to_the_published_size")),
    Claim(
        id="data.archive-members",
        source="the datasets' published layouts (VOCdevkit/VOC2012 in VOC2012's tar, benchmark_RELEASE/dataset in "
               "SBD's tgz, SiftFlowDataset in its zip, trainval in PASCAL-Context's tgz, the reference's nyud tree); "
               "CVE-2007-4559 and CVE-2025-4517 (tarfile's filter='data' bypassed by a symlink chain past PATH_MAX, "
               "fixed in Python 3.11.13 / 3.12.11 / 3.13.4)",
        claim="The published archives hold only regular files and folders, so the kit unpacks only those: every tar "
              "and zip member is checked before anything is written (no symbolic or hard link, device, FIFO, "
              "absolute path or '..'; each folder resolved inside the destination), by the kit, not by the "
              "interpreter's filter; a refused archive is named unsafe with its member.",
        kind="data",
        status="checked",
        code=("data.download:unpack", "data.download:_plan"),
        tests=(f"{HOSTILE}::test_the_cve_2025_4517_symlink_chain_is_refused_before_anything_is_written_outside",
               f"{HOSTILE}::test_a_tar_member_that_no_published_archive_holds_is_refused_as_unsafe_naming_it",
               f"{HOSTILE}::test_a_zip_member_that_no_published_archive_holds_is_refused_as_unsafe_naming_it",
               f"{HOSTILE}::test_every_published_layout_is_regular_files_and_folders_and_unpacks"),
        note="the layouts are checked on miniature trees packed as each publisher lays them out; a real archive goes "
             "through the same checks when make data DATASET=NAME unpacks it"),
    Claim(
        id="data.splits",
        source="reference data/nyud, data/sift-flow lists",
        claim="NYUD train 381, val 414, test 654; SIFT Flow trainval 2486 (2488 minus the two unannotated images) and "
              "test 200 (TestSet1.txt); checked by count and MD5.",
        kind="data",
        status="checked",
        code=("data.splits:REFERENCE_SPLITS", "data.splits:siftflow_trainval_ids"),
        tests=(f"{READERS}::test_reference_split_table_holds_the_published_counts_and_hashes",
               f"{READERS}::test_siftflow_trainval_leaves_out_test_and_the_two_unannotated_images",
               f"{READERS}::test_siftflow_test_split_is_testset1_in_file_order")),
    Claim(
        id="data.nyud-trainval-order",
        source="reference nyud-fcn32s-*/solve.py (trainval.txt)",
        claim="The reference trained NYUD on a trainval.txt it never published; the kit uses train followed by val.",
        kind="data",
        status="deviation",
        code=("data.readers:NYUDReader",),
        tests=(f"{READERS}::test_nyud_trainval_is_train_followed_by_val",),
        note="the set is checked (795 ids); the order, which the sampler's positions depend on, cannot be replayed"),
    Claim(
        id="data.eval-order",
        source="reference score.py",
        claim="Evaluation reads the split in list order, one image at a time at its own size.",
        kind="data",
        status="checked",
        code=("reproduce.evaluate:predictions",),
        tests=("tests/test_reproduce_evaluate.py::test_confusion_matrix_accumulates_argmax_against_labels_over_the_split_in_order",)),
    # ---- metrics ---------------------------------------------------------------------------------------------
    Claim(
        id="metrics.formulas",
        source=f"{CVPR} sec. 4 (eq. for pixel acc., mean acc., mean IU, f.w. IU)",
        claim="Scores come from one confusion matrix over the whole split: pixel accuracy, mean accuracy, mean IU and "
              "frequency-weighted IU as the paper defines them.",
        kind="metrics",
        status="checked",
        code=("reproduce.metrics:scores", "reproduce.metrics:fast_hist"),
        tests=(f"{METRICS}::test_scores_of_a_3_class_matrix_match_the_hand_computed_values",
               f"{METRICS}::test_fast_hist_summed_over_images_equals_hist_of_all_pixels")),
    Claim(
        id="metrics.nanmean",
        source="reference score.py (np.nanmean)",
        claim="A class with neither labels nor predictions is skipped; a class predicted but absent counts with IU 0; "
              "labels outside [0, C) are ignored.",
        kind="metrics",
        status="checked",
        code=("reproduce.metrics:scores",),
        tests=(f"{METRICS}::test_nan_mean_skips_an_absent_class_and_counts_a_predicted_but_absent_class_as_zero",
               f"{METRICS}::test_fast_hist_rows_are_ground_truth_and_255_is_not_counted")),
    Claim(
        id="metrics.float-hist",
        source="reference score.py compute_hist (float64)",
        claim="The reference accumulates its histogram in float64; the kit takes integer counts or a float matrix of "
              "whole numbers.",
        kind="metrics",
        status="checked",
        code=("reproduce.metrics:scores",),
        tests=(f"{METRICS}::test_scores_accept_the_reference_scorers_float64_histogram",)),
    Claim(
        id="metrics.siftflow-present",
        source=f"{CVPR} Table 5; reference siftflow README",
        claim="The paper averages SIFT Flow's semantic mean IU over the classes present in the test labels; the "
              "reference's scorer also counts predicted but absent classes. Both are printed.",
        kind="difference",
        status="checked",
        code=("nets.registry:SIFTFLOW_PRESENT_ONLY", "reproduce.metrics:scores"),
        tests=(f"{METRICS}::test_present_only_averages_mean_iu_over_ground_truth_classes_only",)),
    Claim(
        id="metrics.context-59-or-60",
        source="arXiv v2 Table 6",
        claim="Whether the paper's 59-class mean IU averages 59 or 60 classes is not known: both are printed.",
        kind="metrics",
        status="not-checkable",
        code=("reproduce.table6:measure",),
        tests=(),
        note="the authors' scoring of Table 6 would tell"),
    Claim(
        id="metrics.sharded-sum",
        source="kit (torchrun)",
        claim="A sum of per-rank int64 confusion matrices over disjoint shards is the single-process matrix, so every "
              "score is identical.",
        kind="metrics",
        status="checked",
        code=("reproduce.distributed:all_reduce_counts", "reproduce.evaluate:merge"),
        tests=(f"{DIST}::test_two_rank_evaluation_has_the_single_process_confusion_matrix_bit_for_bit",
               f"{DIST}::test_shards_cover_every_position_exactly_once_whatever_the_world_size")),
    # ---- the tables and the releases ---------------------------------------------------------------------------
    Claim(
        id="table.numbers",
        source=f"{CVPR} Tables 1-5, arXiv v2 Table 6",
        claim="Every printed number of Tables 1-6 is recorded as printed: the kit's rows in their net records, the "
              "other methods' rows in the tables.",
        kind="table",
        status="checked",
        code=("reproduce.tables:TABLES", "nets.registry:PaperRow"),
        tests=(f"{TABLES}::test_every_cell_of_tables_1_to_6_is_recorded_as_printed",
               f"{REG}::test_paper_rows_of_every_table_come_out_in_the_papers_order_each_once")),
    Claim(
        id="table.release-scores",
        source="reference README",
        claim=with_figures("The releases score on seg11valid: voc-fcn32s {voc-fcn32s}, voc-fcn16s {voc-fcn16s}, "
                           "voc-fcn8s {voc-fcn8s}, voc-fcn8s-atonce {voc-fcn8s-atonce}, voc-fcn-alexnet "
                           "{voc-fcn-alexnet}; the kit's pass/fail is 0.1 mean IU."),
        kind="release",
        status="not-checkable",
        code=("nets.registry:RECORDS", "reproduce.tables:check_release"),
        tests=(f"{TABLES}::test_the_five_voc_releases_are_checked_against_the_reference_readme_at_0_1",
               f"{RUNNER}::test_release_rows_pass_within_0_1_of_the_reference_readme_and_fail_beyond"),
        note=f"{NOT_HERE}: `make weights NET=... && make data DATASET=voc && make reproduce-table2` checks them"),
    Claim(
        id="table.voc2012-test",
        source=with_figures(PAMI + " ({voc-fcn8s voc2012-test}); " + CVPR + " Table 3 "
                            "({voc-fcn8s T3 mean_iu_voc2012_test} / {voc-fcn8s T3 mean_iu_voc2011_test})"),
        claim=with_figures("VOC test scores come only from the PASCAL server: the heavy FCN-8s "
                           "{voc-fcn8s voc2012-test} on VOC2012 test, the CVPR FCN-8s "
                           "{voc-fcn8s T3 mean_iu_voc2011_test} (2011) / {voc-fcn8s T3 mean_iu_voc2012_test} (2012)."),
        kind="release",
        status="not-checkable",
        code=("reproduce.table3:finish",),
        tests=(f"{RUNNER}::test_table3_smoke_run_writes_records_and_a_server_submission",
               f"{RUNNER}::test_table3_server_score_completes_the_row_and_is_checked_against_67_2"),
        note="test labels are private: upload the tarball make reproduce-table3 writes, then pass --server-2012"),
    Claim(
        id="table.paper-rows",
        source=f"{CVPR} Tables 1-6",
        claim=with_figures("The paper's FCN rows came from the CVPR recipe (batch 20) and score below the heavy "
                           "releases ({voc-fcn32s T2} / {voc-fcn16s T2} / {voc-fcn8s T2} against {voc-fcn32s} / "
                           "{voc-fcn16s} / {voc-fcn8s}); released weights are compared with them for information, "
                           "a kit re-training run is judged at 1.0 mean IU."),
        kind="difference",
        status="checked",
        code=("reproduce.runner:judge", "reproduce.tables:check_retrained"),
        tests=(f"{RUNNER}::test_a_retraining_run_is_judged_against_its_paper_row_at_1_0",
               f"{RUNNER}::test_nothing_is_judged_on_a_smoke_run_a_partial_split_or_informational_rows")),
    Claim(
        id="net.two-stream-16s",
        source=f"{CVPR} sec. 4.3 (NYUDv2: late fusion upgraded to stride 16)",
        claim="The kit's reading of the paper's one sentence, nyud-fcn16s-color-hha: each stream scores its fc7 and "
              "its pool4, the two streams' scores are averaged (coefficients 0.5, 0.5) at each stride, and FCN-16s's "
              "head runs once on the averages, so the net is the average of an RGB FCN-16s and an HHA FCN-16s, as the "
              "reference's 32s net is of two FCN-32s. The paper states no construction: this is the kit's "
              "interpretation.",
        kind="architecture",
        status="checked",
        code=("nets.vgg:fcn_two_stream",),
        tests=("tests/test_two_stream_16s.py::test_each_stream_scores_fr_and_pool4_the_scores_are_averaged_then_fcn16s_head_runs_once",
               "tests/test_two_stream_16s.py::test_the_net_is_the_average_of_an_rgb_fcn16s_and_an_hha_fcn16s"),
        note="an interpretation: the authors' prototxt, never released, would settle it"),
    Claim(
        id="net.two-stream-16s-offsets",
        source="kit (geometry; Caffe's coord_map)",
        claim="nyud-fcn16s-color-hha's crop offsets are 5 (score_pool4c) and 27 (score), derived by the kit with no "
              "reference table to check against, and derived the same by Caffe's own net-spec tool; real Caffe's "
              "forward pass gives the golden fixture.",
        kind="architecture",
        status="caffe",
        code=("nets.geometry:resolve_crops",),
        tests=("tests/test_two_stream_16s.py::test_its_crop_offsets_are_5_and_27_derived_only_with_no_reference_table",
               "tests/caffe/test_two_stream_16s_parity.py::test_caffes_coord_map_derives_the_kits_crop_offsets_5_and_27",
               GOLDEN_FORWARD)),
    Claim(
        id="init.two-stream-16s",
        source="kit (surgery, as FCN-16s from FCN-32s)",
        claim="nyud-fcn16s-color-hha starts from nyud-fcn32s-color-hha: every layer copied, the two new pool4 scorers "
              "zero, so the untrained 16s net computes the 32s net's scores.",
        kind="training",
        status="checked",
        code=("weights.transplant:transplant",),
        tests=("tests/test_two_stream_16s.py::test_surgery_from_the_32s_two_stream_net_copies_every_layer_and_zeroes_both_pool4_scorers",
               "tests/test_two_stream_16s.py::test_the_record_starts_it_from_the_32s_two_stream_net_and_holds_its_table4_row",
               "tests/test_two_stream_16s.py::test_train_command_runs_the_recipe_on_a_miniature_nyud_tree")),
    Claim(
        id="table.unreleased-rows",
        source=f"{CVPR} Tables 1, 2, 4",
        claim="FCN-GoogLeNet, FCN-32s-fixed, NYUD RGBD and FCN-16s RGB-HHA were never released; their rows name the "
              "kit net or training that stands for them.",
        kind="table",
        status="checked",
        code=("reproduce.tables:TABLES",),
        tests=(f"{TABLES}::test_rows_without_released_weights_are_the_four_the_reference_never_published",)),
    Claim(
        id="table.context-33",
        source="arXiv v2 Table 6 (33 classes)",
        claim="The 33-class columns of Table 6 need the 33-class task's label mapping.",
        kind="table",
        status="not-checkable",
        code=("reproduce.table6:measure",),
        tests=(),
        note="the kit has no 33-class mapping; the paper's subset definition would make them checkable"),
    Claim(
        id="table3.claims",
        source=f"{CVPR} Table 3 and sec. 4.3",
        claim=with_figures("FCN-8s improves 20% relative on SDS ({voc-fcn8s T3 mean_iu_voc2012_test} / 51.6) and "
                           "runs 286x faster overall (~{voc-fcn8s T3 inference_ms} ms against ~50 s; 114x for the "
                           "convnet alone)."),
        kind="table",
        status="informational",
        code=("reproduce.tables:TABLE3",),
        tests=(),
        note="the ratios follow from the printed numbers; 114x needs SDS's convnet time"),
    Claim(
        id="table.unpublished-scores",
        source="reference README",
        claim="No scores are published for the NYUD, SIFT Flow and Context releases: those rows are informational.",
        kind="release",
        status="informational",
        code=("reproduce.tables:release",),
        tests=()),
    Claim(
        id="release.sha1-fcn8s",
        source="OpenCV's model downloader",
        claim="fcn8s-heavy-pascal.caffemodel (about 513 MB) has SHA-1 c449ea74dd7d83751d1357d6a8c323fcf4038962; the "
              "reference publishes no hashes.",
        kind="release",
        status="not-checkable",
        code=("nets.registry:RECORDS", "weights.zoo:verify"),
        tests=("tests/test_weights_zoo.py::test_the_known_hashes_are_opencvs_sha1_of_fcn8s_heavy_pascal_and_bvlcs_of_googlenet",),
        note="needs the file: `make weights NET=voc-fcn8s` verifies it (and every other checksum of the zoo)"),
    Claim(
        id="release.survivors",
        source="kit survey of PyTorch, Chainer, MXNet, OpenCV, OpenVINO, ONNX and model hubs (2026); OpenVINO Open "
               "Model Zoo model.yml files; MXNet tools/caffe_converter; dividiti/ck-caffe; OpenCV download_models.py; "
               "BVLC Caffe model readmes; wkentaro/fcn; Ascend-Huawei/models",
        claim="Of the reference's fifteen releases only the four VOC VGG nets survive (torchfcn's and wkentaro/fcn's "
              "converted copies, and Huawei Ascend's copy of fcn8s-heavy-pascal.caffemodel, which OpenCV's SHA-1 and "
              "wkentaro/fcn's MD5 verify); the NYUD, SIFT Flow, PASCAL-Context and FCN-AlexNet releases were only on "
              "the reference's server. The ILSVRC classifiers survive on OpenVINO's and MXNet's mirrors with their "
              "published sizes and SHA-1, SHA-256 and SHA-384 checksums; every row without surviving weights names "
              "its retraining command.",
        kind="release",
        status="checked",
        code=("nets.registry:CLASSIFIERS", "nets.registry:MIRRORS", "weights.zoo:retrain_table", "weights.zoo:listing"),
        tests=("tests/test_retrain.py::test_the_surviving_sources_and_their_checksums_are_in_the_records",
               "tests/test_retrain.py::test_docs_weights_page_shows_the_records_sources_and_checksums",
               "tests/test_retrain.py::test_a_net_whose_release_is_gone_says_retrain_in_one_message_after_its_server"),
        note="the records are checked; whether each host still answers is what make weights finds out"),
    Claim(
        id="train.staged-retrain",
        source="reference solve.py of every net (each finer net starts from the coarser net's final weights); "
               f"{CVPR} sec. 4.2",
        claim="The rows without surviving weights come back by the reference's staged recipe: the ILSVRC net "
              "transplanted into the first stage, each stage trained with its reference solver, its final weights "
              "transplanted into the next (FCN-32s -> 16s -> 8s; NYUD's color and HHA nets into the two-stream "
              "net), then the row evaluated and judged at the retrained tolerance; interrupted anywhere, a rerun "
              "loses at most one snapshot interval.",
        kind="training",
        status="checked",
        code=("reproduce.retrain:stages_for", "reproduce.retrain:run_stage", "weights.transplant:transplant"),
        tests=("tests/test_retrain.py::test_every_retrainable_row_is_the_references_chain_of_stages",
               "tests/test_retrain.py::test_the_staged_transplant_chain_of_every_retrainable_row",
               "tests/test_retrain.py::test_a_run_killed_inside_a_stage_and_between_stages_resumes_to_the_weights_of_an_uninterrupted_run"),
        note="checked on narrowed nets and the miniature datasets; the full recipe takes days on a GPU"),
    Claim(
        id="release.mirrors",
        source="torchfcn torchfcn/models/*.py; wkentaro/fcn fcn/models/*.py and README",
        claim="The reference's server has been down repeatedly (2017, 2018, 2019, 2024); torchfcn's .pth and Chainer "
              "fcn's .npz copies of the four VOC VGG16 releases and of VGG16 are tried after it, each file verified "
              "against the md5 its own project published.",
        kind="release",
        status="checked",
        code=("nets.registry:MIRRORS", "weights.zoo:fetch", "weights.zoo:verify"),
        tests=("tests/test_weights_mirrors.py::test_the_vgg_voc_releases_and_vgg16_list_the_reference_then_torchfcn_then_chainer_fcn_each_with_its_md5",
               "tests/test_weights_mirrors.py::test_sources_are_tried_in_order_and_each_file_is_checked_against_its_own_sources_md5",
               "tests/test_weights_mirrors.py::test_a_user_source_with_each_hash_kind_is_tried_first_and_verified"),
        note="the order and the verification are checked on 127.0.0.1; the real files cannot be fetched here"),
    Claim(
        id="release.drive",
        source="Google Drive's large-file confirmation",
        claim="Drive's confirmation page (form with confirm and uuid, confirm link, download_warning cookie) is "
              "followed to the file, which then resumes with Range; a page without the file is an error quoting it.",
        kind="release",
        status="checked",
        code=("data.drive:resolve", "data.drive:download"),
        tests=("tests/test_weights_mirrors.py::test_a_drive_file_arrives_whole_whichever_way_drive_asks_to_confirm_it",
               "tests/test_weights_mirrors.py::test_a_drive_page_without_the_file_is_an_error_naming_the_source_and_quoting_the_page",
               "tests/test_weights_mirrors.py::test_an_interrupted_drive_download_resumes_with_range_after_a_fresh_confirmation"),
        note="checked against a local imitation of Drive; whether Drive itself honours Range is not checkable here"),
    Claim(
        id="release.at-once-complete",
        source="torchfcn FCN8sAtOnce (scales pool4 and pool3 in forward)",
        claim="A torchfcn at-once file converts to a complete .h5: the Scale blobs it lacks are filled from the net's "
              "definition.",
        kind="format",
        status="checked",
        code=("weights.convert:convert", "weights.zoo:convert_checked"),
        tests=("tests/test_weights_mirrors.py::test_a_torchfcn_mirror_converts_to_a_complete_h5_with_the_scale_blobs_from_the_nets_definition",)),
    # ---- timings ---------------------------------------------------------------------------------------------
    Claim(
        id="timing.paper",
        source=f"{CVPR} Tables 1 and 3; {PAMI} abstract",
        claim=with_figures("Forward times on a 2015 Tesla K40c at 500x500: {voc-fcn-alexnet T1 forward_ms} / "
                           "{voc-fcn32s T1 forward_ms} / {voc-fcn-googlenet T1 forward_ms} ms (AlexNet / VGG16 / "
                           "GoogLeNet), FCN-8s ~{voc-fcn8s T3 inference_ms} ms; one tenth of a second per typical "
                           "image."),
        kind="timing",
        status="informational",
        code=("benchmarks.inference:paper_ms",),
        tests=(),
        note="a 2015 GPU: the kit compares ratios measured in one run, never absolute times"),
    # ---- weights and formats -------------------------------------------------------------------------------------
    Claim(
        id="format.caffemodel",
        source="Caffe caffe.proto (NetParameter, V1LayerParameter, BlobProto)",
        claim="Caffemodels are read without Caffe, the current 'layer' and the V1 'layers' formats, legacy blob dims "
              "as Caffe resolves them, bit-identical to what Caffe loads.",
        kind="format",
        status="caffe",
        code=("weights.caffemodel:read_caffemodel",),
        tests=("tests/test_weights_fixtures.py::test_reader_is_bit_identical_to_the_parameters_caffe_loads",
               "tests/caffe/test_weights_fullsize.py::test_fullsize_caffemodel_written_by_caffe_reads_bit_identical")),
    Claim(
        id="format.strict-load",
        source="reference FAQ ('why are all outputs zero')",
        claim="Loading is strict: every layer of the file lands on the net and every parameter and frozen buffer is "
              "filled, or one error lists what is missing, unexpected or mis-shaped.",
        kind="format",
        status="checked",
        code=("weights.loader:load", "weights.loader:check_fit"),
        tests=("tests/test_weights_snapshot.py::test_strict_load_lists_missing_unexpected_and_mismatched_in_one_error",)),
    Claim(
        id="format.h5-self-contained",
        source="Caffe's HDF5 snapshot layout (Net::ToHDF5: float32 datasets /data/<layer>/<i> in the file itself)",
        claim="A weights .h5 holds its arrays in itself: external links, external storage, virtual datasets, soft "
              "links and anything not a group or dataset are refused naming the object, before any array is "
              "read; float32 blobs are taken as they are, float64 converted, float16 and integers refused naming "
              "the dataset and its type.",
        kind="format",
        status="checked",
        code=("data.hdf5:refuse_outside_storage", "weights.h5:open_h5", "weights.h5:read_h5"),
        tests=(f"{WEIGHTS_BAD}::test_an_h5_whose_blob_reads_outside_the_file_is_refused_naming_the_dataset",
               f"{WEIGHTS_BAD}::test_an_h5_blob_of_float16_or_integers_is_refused_naming_the_dataset_and_type",
               f"{WEIGHTS_BAD}::test_an_h5_blob_of_float64_is_converted_to_float32")),
    Claim(
        id="format.ports",
        source="torchfcn and Chainer fcn (their model files)",
        claim="torchfcn's .pth and Chainer fcn's .npz hold the same Caffe-named weights; their at-once files lack the "
              "Scale blobs, which are filled from the net's definition with one line saying so.",
        kind="format",
        status="checked",
        code=("weights.formats:read",),
        tests=("tests/test_weights_formats.py::test_torchfcn_at_once_file_gets_scale_from_the_nets_definition_and_says_so_in_one_line",
               "tests/test_weights_formats.py::test_chainer_save_npz_spelling_layer_slash_W_and_b_loads_into_the_net")),
    Claim(
        id="format.torchfcn-outputs",
        source="torchfcn README",
        claim="The kit's nets loaded with torchfcn's weights give torchfcn's outputs: within 2e-7 relative, argmax "
              "identical, not bit for bit.",
        kind="difference",
        status="checked",
        code=("weights.export:write_torchfcn",),
        tests=("tests/test_weights_export.py::test_torchfcn_export_loads_strictly_into_torchfcns_class_and_gives_the_kits_outputs",),
        note="the kit upsamples each class on its own (the diagonal kernel), torchfcn runs the full transposed "
             "convolution: the same sum in another order"),
    Claim(
        id="format.torchvision-vgg16",
        source="torchfcn's vgg16_from_caffe.pth (torchvision layout)",
        claim="A torchvision VGG16 state_dict's features 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 are conv1_1 "
              ".. conv5_3 and classifier 0 and 3 fc6 and fc7; surgery takes it as it takes Caffe's VGG16.",
        kind="format",
        status="checked",
        code=("weights.formats:read",),
        tests=("tests/test_weights_formats.py::test_torchvision_vgg16_layout_maps_features_and_classifier_to_caffes_vgg16_layers",
               "tests/test_weights_formats.py::test_transplant_takes_torchvision_vgg16_as_it_takes_caffes_vgg16")),
    Claim(
        id="format.pickle-safety",
        source="torch.load documentation",
        claim="A .pth is read with torch.load(weights_only=True): a pickle that would run code is refused, never "
              "executed.",
        kind="format",
        status="checked",
        code=("weights.formats:read",),
        tests=("tests/test_weights_formats.py::test_a_pth_whose_pickle_would_run_code_is_refused_and_never_executed",)),
    Claim(
        id="format.onnx",
        source="kit",
        claim="Every reference net exports to ONNX (opset 17, dynamic H and W) and onnxruntime agrees with the kit "
              "within 1e-4 relative, argmax >= 99.99%.",
        kind="format",
        status="checked",
        code=("weights.export:write_onnx",),
        tests=("tests/test_weights_onnx.py::test_onnxruntime_matches_the_kit_within_1e_4_with_dynamic_height_and_width",)),
    Claim(
        id="format.caffemodel-export",
        source="kit",
        claim="The kit writes caffemodels real Caffe loads into the reference's prototxt bit for bit.",
        kind="format",
        status="caffe",
        code=("weights.export:write_caffemodel_of",),
        tests=("tests/caffe/test_export_loads_in_caffe.py::test_caffe_loads_the_kits_caffemodel_export_bit_for_bit",
               "tests/test_weights_export.py::test_kit_caffemodel_kit_round_trip_is_bit_identical")),
    Claim(
        id="reference.prototxts",
        source="reference net folders (train/val, trainval/test, deploy)",
        claim="The reference's prototxts describe exactly the kit's nets: the auditor reads them without Caffe and "
              "reports every difference by layer and field; nets built from them compute what nets.build computes.",
        kind="architecture",
        status="checked",
        code=("reproduce.audit.prototxt:audit_reference_repo", "nets:from_prototxt"),
        tests=("tests/test_prototxt_audit_of_kit_written_files.py::"
               "test_a_tree_written_from_the_kits_own_specs_audits_clean_for_all_fifteen_nets",
               "tests/test_prototxt_audit_of_kit_written_files.py::test_a_deliberate_change_is_reported_by_layer_and_field",
               "tests/test_from_prototxt.py::test_nets_built_from_reference_files_compute_what_nets_build_computes_bit_for_bit",
               "tests/caffe/test_from_prototxt_parity.py::test_a_users_fcn_variant_loads_the_caffemodel_real_caffe_wrote_and_matches_every_blob")),
    Claim(
        id="reference.deploy-no-dropout",
        source="reference voc-fcn8s/deploy.prototxt",
        claim="The reference's only deploy prototxt (voc-fcn8s) has an Input layer and no Dropout (identity at test "
              "time).",
        kind="architecture",
        status="checked",
        code=("reproduce.audit.prototxt:audit_file",),
        tests=("tests/test_prototxt_audit_of_kit_written_files.py::test_a_deploy_file_may_leave_dropout_out_but_a_training_file_may_not",)),
    Claim(
        id="audit.port",
        source="kit",
        claim="The port audit tells whether a third-party PyTorch FCN computes a kit net: the kit's weights mapped "
              "into the port by forward order and shape, both nets run at 500x500, 375x500 and a size where every "
              "pooling rounds, compared blob by blob at the Caffe parity tolerance; the first blob that differs is "
              "named with its kind (a crop's offset, an input padding, floor pooling, an interpolated upsampling, a "
              "constant factor, an error); a layer without a partner is refused by name. The kit's own nets and "
              "torchfcn 1.9.7's four models come out equal; mutants of torchfcn's FCN8s are found at the right blob.",
        kind="architecture",
        status="checked",
        code=("reproduce.audit.port:audit_port", "reproduce.audit.port_mapping:map_weights",
              "reproduce.audit.port_localise:localise"),
        tests=(f"{PORT}::test_the_kits_own_nets_audited_as_ports_come_out_equal",
               f"{PORT}::test_torchfcn_narrowed_is_equal_to_the_kit_net_it_implements",
               f"{PORT}::test_crop_offset_6_is_a_spatial_shift_at_score_pool4c_offset_6_not_5",
               f"{PORT}::test_floor_pooling_is_found_at_the_first_pooling_whose_input_is_odd_naming_the_sizes",
               f"{PORT}::test_conv1_1_padding_0_is_an_input_padding_difference_explained_by_0",
               f"{PORT}::test_final_interpolation_is_an_upsampling_difference_at_upscore8_naming_the_mode",
               f"{PORT}::test_a_layer_without_a_partner_is_refused_naming_it",
               f"{PORT}::test_torchfcn_full_size_is_equal_to_the_kit_net_at_the_default_sizes"),
        note="checked on the seeded weights of the kit and on narrowed nets in the fast tier, torchfcn's full-size "
             "models at the default sizes in the slow tier; docs/audit.md shows it on public ports"),
    # ---- devices ---------------------------------------------------------------------------------------------
    Claim(
        id="device.gpu-parity",
        source="kit",
        claim="The kit's exact mode matches Caffe on a GPU as on the CPU, at the same tolerances.",
        kind="device",
        status="not-checkable",
        code=("nets.net:CaffeNet",),
        tests=(),
        note="no GPU was available to this kit's tests so far: `bash tests/gpu/check.sh` on a CUDA machine checks it"),
    Claim(
        id="device.released-weights",
        source="reference README",
        claim="Released caffemodels loaded by the kit give Caffe's numbers on a real image.",
        kind="release",
        status="not-checkable",
        code=("weights.convert:convert",),
        tests=("tests/caffe/test_released_weights.py::test_released_weights_match_real_caffe_on_an_image",),
        note="needs a released caffemodel and a Caffe build: `make test-caffe WEIGHTS=x.caffemodel NET=... "
             "IMAGE=...` checks it"),
    # ---- the precision policy ------------------------------------------------------------------------------
    Claim(
        id="precision.exact-default",
        source="kit",
        claim="Every entry point and nets.build run in exact precision unless asked: float32 with Caffe's arithmetic, "
              "TF32 off for convolutions and matrix products (on CUDA and in oneDNN) while the kit's forward runs, "
              "the caller's settings restored; records say precision exact and why.",
        kind="device",
        status="checked",
        code=("nets.precision:EXACT",
              "nets:build",
              "reproduce.options:add_common",
              "reproduce.evaluate:precision_record"),
        tests=(f"{PREC_CLI}::test_every_command_runs_exact_unless_asked",
               f"{PREC_CLI}::test_an_exact_evaluation_record_says_exact_and_why",
               f"{PREC}::test_an_exact_cpu_forward_forces_ieee_float32_and_restores_the_callers_settings",
               f"{RUNNER}::test_table3_smoke_run_writes_records_and_a_server_submission"),
        note="TF32 off inside an exact CUDA forward is checked by make test-gpu "
             f"({PREC}::test_tf32_is_off_inside_an_exact_cuda_forward_and_restored_after)"),
    Claim(
        id="precision.fast-modes-report-agreement",
        source="kit",
        claim="A fast mode (tf32, bf16, fp16) is opt-in (--precision); an evaluation or table made in it also runs "
              "every image in exact and records argmax agreement in percent, the mean-IU difference and the largest "
              "relative score error (summed over ranks and merged over shards like the confusion matrices), and a "
              "table verdict made in it says so and is not called a reproduction at exact.",
        kind="device",
        status="checked",
        code=("reproduce.evaluate:ExactAgreement",
              "reproduce.evaluate:evaluate_reader",
              "reproduce.runner:fast_mode_note",
              "nets.precision:compare"),
        tests=(f"{PREC_CLI}::test_a_fast_mode_with_exact_arithmetic_agrees_perfectly_with_exact",
               f"{PREC_CLI}::test_a_fast_mode_evaluation_carries_its_measured_agreement_with_exact",
               f"{PREC_CLI}::test_the_agreement_of_shards_merges_into_the_whole_splits",
               f"{PREC_CLI}::test_a_table_verdict_in_a_fast_mode_says_so_with_its_agreement",
               f"{DIST}::test_a_two_rank_fast_mode_evaluation_has_the_single_process_agreement_with_exact",
               f"{PREC_CLI}::test_training_in_a_fast_mode_autocasts_the_trunk_keeps_the_loss_float32_and_snapshots_say_it"),
        note="on this CPU the fast-mode plumbing is tested with bf16 emulated through autocast; the real modes' "
             "agreement on a GPU is measured by make test-gpu"),
    Claim(
        id="precision.unsupported-is-an-error",
        source="kit",
        claim="An unknown precision, or one the device cannot run (tf32 or fp16 on a CPU, bf16 on a CPU without "
              "native bf16 instructions), is one clear error naming the modes the device can run, at every command "
              "line and in nets.build; moving a net to a device that cannot run its mode is an error too.",
        kind="device",
        status="checked",
        code=("nets.precision:Precision",
              "reproduce.options:start",
              "reproduce.options:precision_name",
              "nets.net:CaffeNet"),
        tests=(f"{PREC_CLI}::test_an_unknown_precision_is_one_clear_error_naming_the_modes",
               f"{PREC_CLI}::test_a_cuda_mode_on_the_cpu_stops_the_run_in_one_line_naming_the_modes_it_can",
               f"{PREC_CLI}::test_bf16_runs_only_on_a_cpu_with_native_bf16",
               f"{PREC_CLI}::test_evaluate_in_a_mode_the_device_cannot_run_writes_nothing",
               f"{PREC_CLI}::test_nets_build_takes_the_mode_and_a_move_keeps_no_mode_the_device_cannot_run",
               f"{PREC}::test_a_mode_the_cpu_cannot_run_is_an_error_naming_the_ones_it_can")),
    # ---- the exact inference path and its speed ---------------------------------------------------------------
    Claim(
        id="speed.inference-path-exact",
        source="kit (125 of 181 GMAC depend on the image)",
        claim="The inference path computes each trunk blob as a per-channel constant plus a window over what the "
              "image reaches (the far field of the 100-pixel pad depends only on the weights), fc6/fc7 as matrix "
              "products, the last upsampling only where the crop keeps it and, on a CPU where it measures "
              "faster, conv4/conv5 as Winograd F(2x2, 3x3): equal to the plain path to 1e-10 in float64 at every "
              "residue modulo 32, and to real Caffe at the parity tolerances.",
        kind="device",
        status="caffe",
        code=("nets.inference:forward", "nets.inference:winograd_conv", "nets.inference:make_plan"),
        tests=("tests/test_inference.py::test_inference_path_equals_the_plain_path_in_float64_at_every_size",
               "tests/test_inference.py::test_inference_path_with_winograd_in_every_3x3_layer_equals_the_plain_path_in_float64_at_every_size",
               "tests/test_inference.py::test_winograd_f2x2_3x3_equals_the_direct_convolution",
               "tests/test_inference.py::test_winograd_runs_where_this_machine_measured_it_faster_unless_forced",
               "tests/test_inference.py::test_the_windows_cover_conv1_1_to_pool4_and_the_work_is_126_of_181_gmac_at_500",
               LIVE_PARITY,
               GOLDEN_FORWARD)),
    Claim(
        id="speed.cpu-ratios",
        source="kit (make bench)",
        claim="On a CPU, exact, voc-fcn8s at 500x500, the kit runs at least 2x real Caffe's speed on the reference's "
              "prototxt and 1.5x torchfcn's, timed in the same run (on shared 2-core machines runs have given 2.2x "
              "to 3.4x Caffe and 1.7x to 2.2x torchfcn).",
        kind="device",
        status="informational",
        code=("benchmarks.inference:main",),
        tests=("tests/test_bench.py::test_torchfcn_on_the_kits_weights_gives_the_kits_scores",
               "tests/test_bench.py::test_a_kit_worker_speaks_the_protocol"),
        note="a measurement, not a test: the figures are in docs/performance.md, rendered from the kept record "
             "benchmarks/records/bench-cpu.json; make bench measures it again on any machine"),
)


# ---- every row of Tables 1-6, one claim each, read from the tables (nothing typed twice) ----------------------

def _what_checks(table, row) -> str:
    """What checks a table row's claim: the table's run on the released weights where a copy survives, the
    retraining command where the weights are gone or were never released, the training commands of a variant."""
    from weights.zoo import retrain_table, survives

    if row.status == "released" and survives(row.net):
        return f"{NOT_HERE}: make reproduce-table{table.number} with them checks it (make weights NET={row.net})"
    if not row.variant and retrain_table(row.net) == table.number:
        why = "never released" if row.status == "not released" else "no copy of its weights survives"
        return (f"{NOT_HERE} ({why}): make retrain-table{table.number} ROWS={row.net} retrains it from the ILSVRC "
                "net and judges it")
    return (f"{NOT_HERE}: train {row.net} (make train NET={row.net}), then make reproduce-table{table.number} "
            f'ARGS="--retrained --weights {row.key}=SNAPSHOT.h5" checks it')


def _row_claims() -> tuple[Claim, ...]:
    """A claim per table row: an FCN row is a result of the paper the kit can rerun but not here (the command
    that would is in the note); another method's row is printed beside it for information."""
    from .. import tables

    out = []
    for table in tables.TABLES.values():
        source = "arXiv 1411.4038 v2 appendix, Table 6" if table.number == 6 else f"{CVPR} Table {table.number}"
        for row in table.rows:
            slug = re.sub(r"[^a-z0-9]+", "-", row.method.lower()).strip("-")
            cells = ", ".join(f"{tables.COLUMNS[k]} {'-' if v is None else f'{v:g}'}" for k, v in row.paper.items())
            claim = f"{row.method} ({table.paper_split}): {cells or 'no paper row; the release is scored beside'}"
            code = (f"reproduce.tables:TABLE{table.number}",) + (("nets.registry:RECORDS",) if row.net else ())
            tests = (f"{TABLES}::test_every_cell_of_tables_1_to_6_is_recorded_as_printed",)
            if row.status == "baseline":
                out.append(Claim(id=f"table{table.number}.{slug}", source=source, claim=claim, kind="table",
                                 status="informational", code=code, tests=tests,
                                 note="another method's number, printed beside the kit's"))
                continue
            out.append(Claim(id=f"table{table.number}.{slug}", source=source, claim=claim, kind="table",
                             status="not-checkable", code=code, tests=tests, note=_what_checks(table, row)))
    return tuple(out)


CLAIMS = CLAIMS + _row_claims()
