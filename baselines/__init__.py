"""Matting methods the benchmark evaluates: the method registry and the classic baselines."""

from baselines import classic  # noqa: E402,F401  (registers the classic methods)
from baselines.methods import METHODS, MattingMethod, get_method, list_methods, register_method

__all__ = ["METHODS", "MattingMethod", "get_method", "list_methods", "register_method"]
