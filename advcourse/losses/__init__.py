"Training objectives: every one has the shape `loss, parts = fn(model, x, y, *, attack, ...)`."
from .at import *
from .trades import *
from .invariance import *
from .arat import *
from .arrest import *
from .cure import *
