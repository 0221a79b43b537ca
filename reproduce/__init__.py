"""Experiments on top of the library: scoring, Caffe-faithful training, evaluation and one script per paper
table. Nothing in nets/, weights/ or data/ imports this package."""

try:  # the kit's data package: importing it refuses a package in the working folder that shadows the kit's
    import data.shadowing  # noqa: F401
except ModuleNotFoundError:  # a package named data in the working folder came first
    raise SystemExit(f"error: {getattr(__import__('sys').modules.get('data'), '__file__', 'data')} shadows the "
                     "kit's data package; run the command from another folder (or rename that package)") from None
