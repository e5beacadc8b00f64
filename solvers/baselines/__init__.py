"""Non-convex baselines the convex programs are compared with: back-propagation on the two-layer network,
PGD adversarial training, and the attacks (FGSM, PGD, exact worst case over the box vertices) that judge
robustness."""
from .adversarial import (AdversarialTrainingResult, RobustnessReport, adversarial_objective, evaluate_robustness,
                          stable_certificates, train_adversarial)
from .attacks import fgsm, input_gradient, pgd, robust_accuracy, worst_case_vertices
from .backprop import NonConvexResult, nc_objective_and_gradient, train_nonconvex
from .exact_robustness import ExactRobustnessResult, exact_robust_accuracy, exact_worst_margins

__all__ = ["train_nonconvex", "nc_objective_and_gradient", "NonConvexResult", "train_adversarial",
           "adversarial_objective", "evaluate_robustness", "stable_certificates", "AdversarialTrainingResult",
           "RobustnessReport", "fgsm", "pgd", "input_gradient", "worst_case_vertices", "robust_accuracy",
           "exact_robust_accuracy", "exact_worst_margins", "ExactRobustnessResult"]
