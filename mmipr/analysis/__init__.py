"""Analyses of the paper that are more than one formula (simulations)."""
from .toy_dynamics import TOY_CASES, simulate_toy_dynamics, toy_initial_heatmaps

__all__ = ['TOY_CASES', 'simulate_toy_dynamics', 'toy_initial_heatmaps']
