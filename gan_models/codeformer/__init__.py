"""CodeFormer: the codebook-lookup face restorer (sczhou/CodeFormer) with the official key names.

Licence of the official weights and code: S-Lab License 1.0, non-commercial use only.
"""

from .codeformer import CodeFormer
from .known_files import KNOWN_FILES
from .registration import CODEFORMER, ENTRIES, FIDELITY

__all__ = ["CODEFORMER", "CodeFormer", "ENTRIES", "FIDELITY", "KNOWN_FILES"]
