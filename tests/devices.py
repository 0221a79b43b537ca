"""The devices the golden, layer-semantics and precision tests run on, at the same tolerances: the CPU always,
CUDA when present (those cases carry the ``gpu`` marker; ``make test-gpu`` runs them and fails without CUDA)."""

from __future__ import annotations

import pytest
import torch

DEVICES = ["cpu"] + ([pytest.param("cuda", marks=pytest.mark.gpu)] if torch.cuda.is_available() else [])
NO_GPU = ("needs a CUDA device: none is visible here (torch.cuda.is_available() is False); run `make test-gpu` "
          "on a machine with one")
