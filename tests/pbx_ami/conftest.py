import sys
from pathlib import Path

# Test modules import the capture helpers next to them; --import-mode=importlib does not
# put this folder on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent))
