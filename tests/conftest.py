import sys
from pathlib import Path

# Make tests/rcheck.py importable as `rcheck` from every test module.
sys.path.insert(0, str(Path(__file__).parent))
