"""OpenLFR: open, accountable live facial recognition for watchlist alerting."""

from openlfr.errors import OpenLFRError
from openlfr.faces import Faces
from openlfr.metrics import Proportion

__all__ = ["Faces", "OpenLFRError", "Proportion", "__version__"]
__version__ = "0.1.0"
