"""Approve-before-speak: pure logic on a clock reading."""

import pytest

from streamer.dashboard.approvals import ApprovalDesk
from streamer.speaker import ReplyJob


def job(n: int) -> ReplyJob:
    return ReplyJob(
        reply_id=f"r{n}",
        kind="question",
        viewer=f"v{n}",
        text="how much?",
        arrived_s=0.0,
        sentences=["Hi!", "It is 19 dollars 99."],
    )


def test_an_answer_waits_until_approved_and_is_handed_back_once():
    desk = ApprovalDesk(enabled=True, timeout_s=30)
    item, evicted = desk.add(job(1), now_s=10.0)
    assert evicted is None
    assert desk.pending(15.0)[0] == {
        "id": item.approval_id,
        "user": "v1",
        "question": "how much?",
        "kind": "question",
        "sentences": ["Hi!", "It is 19 dollars 99."],
        "expires_in_s": 25.0,
    }
    assert desk.approve(item.approval_id) is item
    assert desk.approve(item.approval_id) is None and len(desk) == 0


def test_nobody_deciding_drops_the_answer_at_its_deadline():
    desk = ApprovalDesk(enabled=True, timeout_s=5)
    a, _ = desk.add(job(1), now_s=0.0)
    b, _ = desk.add(job(2), now_s=3.0)
    assert desk.expire(4.9) == []
    assert desk.expire(5.0) == [a]
    assert desk.reject(b.approval_id) is b
    assert desk.counts == {"held": 2, "expired": 1, "rejected": 1}


def test_a_full_desk_drops_the_oldest_and_says_so():
    desk = ApprovalDesk(enabled=True, timeout_s=60, max_pending=2)
    first, _ = desk.add(job(1), 0.0)
    desk.add(job(2), 0.0)
    _, evicted = desk.add(job(3), 0.0)
    assert evicted is first and len(desk) == 2


def test_timeout_outside_bounds_is_refused_and_changes_nothing():
    desk = ApprovalDesk(timeout_s=30)
    with pytest.raises(ValueError):
        desk.configure(enabled=True, timeout_s=0.1)
    assert desk.timeout_s == 30 and not desk.enabled
