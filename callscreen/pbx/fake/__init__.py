"""A fake Asterisk 22.10.1 for `callscreen demo` and end-to-end tests.

It speaks the AMI and FastAGI wire formats recorded from a real Asterisk and binds and
connects to loopback addresses only.
"""

from callscreen.pbx.fake.asterisk import FakeAsterisk, FakePbxError
from callscreen.pbx.fake.calls import FakeCall, FakeCallResult
from callscreen.pbx.fake.replay import CaptureReplay, load_chunks, replay_capture

__all__ = [
    "CaptureReplay",
    "FakeAsterisk",
    "FakeCall",
    "FakeCallResult",
    "FakePbxError",
    "load_chunks",
    "replay_capture",
]
