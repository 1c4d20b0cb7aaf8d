import os

from streamer.memory import limit_malloc_arenas


def test_glibc_accepts_the_arena_limit_on_linux():
    assert limit_malloc_arenas(2) is True


def test_process_tuning_follows_the_cpus_it_may_use() -> None:
    from streamer.process import settings_for, usable_cpus

    small, big = settings_for(2), settings_for(32)
    assert (small.malloc_arenas, small.model_threads) == (2, 1)  # the 2-core box: the encoder owns the other core
    assert (big.malloc_arenas, big.model_threads) == (8, 4)
    assert settings_for(8).model_threads == 2 and settings_for(8).malloc_arenas == 4
    assert small.switch_interval_s == big.switch_interval_s == 0.001  # one GIL whatever the cores
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)
