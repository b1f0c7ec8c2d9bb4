"""Kept for old imports: exports now live in rewardsmith.exports."""

from rewardsmith.exports.reward import ExportError, export_reward

__all__ = ["ExportError", "export_reward"]
