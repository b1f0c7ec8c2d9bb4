"""Build hook: a wheel carries the env folders and prompt templates inside the package (rewardsmith/data/), so an
installed rewardsmith finds them from any directory (rewardsmith/resources.py). The repository keeps them at the
top level, where the design puts them; everything else about the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("envs", "prompts")


class BuildWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the repository's own folders
        for name in DATA_DIRS:
            target = Path(self.build_lib, "rewardsmith", "data", name)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
