"""The names of the programs and losses, with no import: the command line builds its parser from them
before any numerical package is loaded (so Ctrl-C during start-up is handled like any other moment)."""

FORMULATIONS = ("exact", "sampled", "gated", "scp", "robust", "robust_gated", "robust_scp")
LOSS_NAMES = ("squared", "hinge", "logistic")
#: the formulations that take ``epsilon`` (and never perturb the bias column)
ROBUST_FORMULATIONS = ("robust", "robust_gated", "robust_scp")
