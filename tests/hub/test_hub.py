"""The live-call hub forgets old calls, so the console and memory stay bounded."""

from datetime import UTC, datetime, timedelta

from callscreen.hub import ENDED_VISIBLE_FOR, UNENDED_VISIBLE_FOR, CallHub, CallUpdate

START = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


def update(call_id: str, at: datetime, state: str = "ringing") -> CallUpdate:
    return CallUpdate(call_id=call_id, state=state, at=at, started_at=at, caller_masked="",
                      caller_key="", caller_block="", caller_name="", kind="mobile", region="",
                      did="", verdict="allow", category="normal", score=0, tag="")


def test_ended_call_is_forgotten_after_visible_period() -> None:
    hub = CallHub()
    hub.publish(update("a", START, state="ended"))

    hub.publish(update("b", START + ENDED_VISIBLE_FOR + timedelta(seconds=1)))

    assert hub.get("a") is None
    assert hub.get("b") is not None


def test_call_never_ended_is_forgotten_eventually() -> None:
    hub = CallHub()
    hub.publish(update("a", START))

    hub.publish(update("b", START + UNENDED_VISIBLE_FOR + timedelta(seconds=1)))

    assert [call.call_id for call in hub.active()] == ["b"]


def test_recent_ringing_call_stays() -> None:
    hub = CallHub()
    hub.publish(update("a", START))

    hub.publish(update("b", START + timedelta(hours=1)))

    assert {call.call_id for call in hub.active()} == {"a", "b"}
