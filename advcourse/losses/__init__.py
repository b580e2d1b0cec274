"Training objectives: every one has the shape `loss, parts = fn(model, x, y, *, attack, ...)`."
from .at import *
