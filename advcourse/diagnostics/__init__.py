"""Diagnostics, each exported from the chapter whose question it answers.

Gradient conflict (chapter 14), drift (15), BN statistics and the runner's probe set (16), representations (18)."""
from .conflict import *
from .drift import *
from .bnstats import *
from .representations import *
