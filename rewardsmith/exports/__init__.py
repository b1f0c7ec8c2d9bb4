"""Exports of a run's reward (and policy) as standalone code: numpy, gymnasium, jax, torch, isaaclab."""

from rewardsmith.exports.reward import FORMATS, ExportError, export_reward

__all__ = ["FORMATS", "ExportError", "export_reward"]
