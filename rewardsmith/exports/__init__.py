"""Exports of a run's reward (and policy) as standalone code, in the formats of one registry (formats.py)."""

from rewardsmith.exports.formats import FORMATS, ExportError
from rewardsmith.exports.reward import export_reward

__all__ = ["FORMATS", "ExportError", "export_reward"]
