import random

import pytest

from streamer.backoff import Backoff
from streamer.publish.sinks import TargetError, parse_target, redact


def test_stream_keys_come_from_the_environment_and_never_show():
    t = parse_target("rtmp://live.example.com/app/${KEY}", env={"KEY": "sk_live_abcdef123456"})
    assert t.url.endswith("sk_live_abcdef123456")
    assert "abcdef" not in t.display and t.display == "rtmp://live.example.com/app/****"


def test_missing_env_var_is_a_clear_error_without_the_key():
    with pytest.raises(TargetError, match=r"\$\{NOPE\}"):
        parse_target("rtmp://h/app/${NOPE}", env={})


def test_targets_by_scheme_and_extension():
    assert parse_target("out/show.flv", env={}).container_format == "flv"
    assert parse_target("out/show.mp4", env={}).container_format == "mp4"
    assert parse_target("rtmps://h:443/app/key", env={}).kind == "rtmp"
    for bad in ("http://h/x", "show.mkv", "rtmp://hostonly"):
        with pytest.raises(TargetError):
            parse_target(bad, env={})


def test_redact_hides_everything_after_the_app():
    assert redact("rtmp://a.b:1935/live/secret?x=1") == "rtmp://a.b:1935/live/****"
    assert redact("rtmps://a/app") == "rtmps://a/app"
    assert redact("recordings/x.flv") == "recordings/x.flv"


def test_backoff_grows_with_jitter_and_caps():
    b = Backoff(base_s=0.5, max_s=8.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(10)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 8.0 for d in delays) and max(delays) > 4.0
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay() <= 0.5


def test_backoff_stays_at_its_cap_after_days_of_failures():
    b = Backoff(base_s=0.5, max_s=30.0, rng=random.Random(4))
    for _ in range(5000):  # ~1.7 days of a dead target at the 30 s cap; 2**1024 would overflow a float
        delay = b.next_delay()
    assert 15.0 <= delay <= 30.0
    b.at_least(2)
    assert b.attempt == 5000  # never lowers


def test_one_reconnect_policy_forgets_failures_after_a_stable_connection_and_some_after_a_short_one():
    from streamer.backoff import ReconnectPolicy

    now = [0.0]
    policy = ReconnectPolicy(now=lambda: now[0], max_s=8.0, stable_after_s=10.0, backoff=Backoff(rng=random.Random(1)))
    delays = [policy.next_delay() for _ in range(4)]  # down at start: 0.5, 1, 2, 4 s ceilings
    assert policy.attempt == 4 and delays[3] > delays[0]
    policy.connected()
    now[0] = 5.0  # up for 5 s, then lost: not stable; one doubling forgiven per 2.5 s up (4 -> 2, then +1)
    assert 1.0 <= policy.next_delay() <= 2.0 and policy.attempt == 3
    policy.attempting()
    policy.connected()  # lost at once: no forgiveness, the backoff grows again
    assert 2.0 <= policy.next_delay() <= 4.0 and policy.attempt == 4
    policy.attempting()
    policy.connected()
    now[0] = 20.0  # up for 15 s: stable, so the next wait is short again
    assert policy.stable()
    assert policy.next_delay() <= 0.5 and policy.attempt == 1
    assert policy.next_delay(at_least=4) >= 4.0  # a refusal that retrying soon will not fix
